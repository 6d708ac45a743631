// The arguments of the CPU variants op after denoising (the CUDA module fuses the denoisers, csrc/cuda/ops.h): x
// (uint8 0..255 or float32 0..1, any strides) and the denoised uint8 images -> [V * B, 3, H, W]
// normalised model input in `out_type`, written with `out` strides. Host-side only.
#pragma once

#include <cstdint>
#include <vector>

#include "ucfast/common.h"

namespace ucfast {

struct VariantsArgs {
  const void* x;
  DType x_type;  // u8 or f32
  Strides4 xs;
  std::vector<const uint8_t*> denoised;  // each [b, 3, h, w] contiguous
  void* out;
  DType out_type;  // f32, bf16, f16 or f64
  Strides4 os;
  int64_t b, h, w;
  float amplify;
  float mean[3], std[3];
};

}  // namespace ucfast
