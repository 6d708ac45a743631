// The CUDA launchers of ucfast._cuda. Same contracts as csrc/cpu/ops.h, with device pointers
// (tables included) and the stream to launch on; the caller has made the tensors' device current.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "ucfast/common.h"
#include "ucfast/lab.h"

namespace ucfast::cuda {

void median(const uint8_t* src, Strides4 s, uint8_t* dst, int64_t n, int64_t h, int64_t w, cudaStream_t stream);

void median_kxk(const uint8_t* src, Strides4 s, uint8_t* dst, int64_t n, int64_t h, int64_t w, int k,
                const int32_t* rows, const int32_t* cols, cudaStream_t stream);

void lookup(const uint8_t* src, Strides4 s, uint8_t* dst, int64_t n, int64_t h, int64_t w, const uint8_t* table,
            cudaStream_t stream);

struct NlmParams {
  LabTables lab;
  const int32_t* weights_l;  // weight of D >> shift for L, clamped to len_l - 1
  int64_t len_l;
  const int32_t* weights_ab;
  int64_t len_ab;
  int shift;
  int template_size, search_size;
  const int32_t* rows;  // [h + 2 * border] BORDER_REFLECT_101 source rows
  const int32_t* cols;  // [w + 2 * border]
};

// cv2.fastNlMeansDenoisingColored; scratch: [n, 3, h, w] uint8 for the Lab image.
void nlm(const uint8_t* src, Strides4 s, uint8_t* dst, uint8_t* scratch, int64_t n, int64_t h, int64_t w,
         const NlmParams& p, cudaStream_t stream);

// The denoiser codes of the fused variants op, in the order of ucfast.ops.denoisers.DENOISERS.
enum class Denoiser : int { median = 0, nlm = 1, bitdepth = 2 };

// The variants op in one launch: x (uint8 0..255 or float32 0..1, any strides) -> every requested
// denoiser on the rounded 8-bit pixels, v = x + amplify * (D(x) - x), (v - mean) / std, written as
// [V * B, 3, H, W] in `out_type` with `out` strides (the original first, then one block of B per
// denoiser in the order given).
struct FusedVariantsArgs {
  const void* x;
  DType x_type;  // u8 or f32
  Strides4 xs;
  std::vector<int> denoisers;  // Denoiser codes, at most kMaxVariants - 1, no repeats
  void* out;
  DType out_type;  // f32, bf16, f16 or f64
  Strides4 os;
  int64_t b, h, w;
  float amplify;
  float mean[3], std[3];
  NlmParams nlm;            // rows / cols: BORDER_REFLECT_101 maps with border template/2 + search/2 >= 1
  const uint8_t* bitdepth;  // [256] the colour-depth table
};
void variants(const FusedVariantsArgs& a, cudaStream_t stream);

// logits: [v * b, k] of `dtype` (f32, bf16, f16), row stride `row_stride` elements, unit column stride.
void susceptibility(const void* logits, DType dtype, int64_t row_stride, int64_t v, int64_t b, int64_t k, int space,
                    int distance, float* total, float* dist, int64_t* pred, cudaStream_t stream);

}  // namespace ucfast::cuda
