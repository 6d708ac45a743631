// The CPU kernels of ucfast._cpu. Every kernel takes raw pointers, sizes and element strides
// (no torch types), runs its own OpenMP parallel region on `threads` threads, and writes a
// contiguous output. Pixel images are [N, 3, H, W] uint8.
#pragma once

#include <cstdint>

#include "ucfast/common.h"
#include "ucfast/lab.h"
#include "ucfast/variants_args.h"

namespace ucfast::cpu {

// UltraClean's 2 x 2 x 3 cross-channel median (scipy size (2, 2, 3), mode "reflect").
void median(const uint8_t* src, Strides4 s, uint8_t* dst, int64_t n, int64_t h, int64_t w, int threads);

// Per-channel k x k median, k odd; rows[h + k - 1] and cols[w + k - 1] map the extended axes
// (k / 2 before and after) to source indices.
void median_kxk(const uint8_t* src, Strides4 s, uint8_t* dst, int64_t n, int64_t h, int64_t w, int k,
                const int32_t* rows, const int32_t* cols, int threads);

// dst = table[src] for every pixel (the colour-depth reduction, with its table built in Python).
void lookup(const uint8_t* src, Strides4 s, uint8_t* dst, int64_t n, int64_t h, int64_t w, const uint8_t* table,
            int threads);

struct NlmWeights {
  const int32_t* table;  // weight of D >> shift, clamped to len - 1; table[len - 1] is 0 unless D never reaches it
  int64_t len;
};

struct NlmParams {
  LabTables lab;
  NlmWeights weights[2];  // [0]: the L plane (one channel), [1]: the ab plane (two channels)
  int shift;
  int template_size, search_size;
  const int32_t* rows;  // [h + 2 * border] source row of each extended row (BORDER_REFLECT_101)
  const int32_t* cols;  // [w + 2 * border]
};

// cv2.fastNlMeansDenoisingColored, bit for bit.
void nlm(const uint8_t* src, Strides4 s, uint8_t* dst, int64_t n, int64_t h, int64_t w, const NlmParams& p,
         int threads);

// The variants op after denoising: x (uint8 0..255 or float32 0..1, any strides) and the denoised
// uint8 images -> [V * B, 3, H, W] normalised model input in `out_type`, written with `out` strides.
using VariantsArgs = ucfast::VariantsArgs;  // ucfast/variants_args.h
void variants(const VariantsArgs& a, int threads);

// The susceptibility reduction over float32 logits [V * B, K] (row stride `row_stride`).
// space: 0 softmax, 1 logits; distance: 0 l1, 1 l2, 2 kl.
void susceptibility(const float* logits, int64_t row_stride, int64_t v, int64_t b, int64_t k, int space,
                    int distance, float* total, float* dist, int64_t* pred, int threads);

}  // namespace ucfast::cpu
