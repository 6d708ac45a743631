// Definitions shared by the CPU and the CUDA sources: host/device qualifiers, strides, dtype codes.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define UCFAST_HD __host__ __device__ __forceinline__
#else
#define UCFAST_HD inline
#endif

namespace ucfast {

// Element strides of an [N, C, H, W] tensor (torch's tensor.stride()).
struct Strides4 {
  int64_t n, c, y, x;
};

// Element types the compiled kernels read or write; the Python side maps torch dtypes to these.
enum class DType : int { u8 = 0, f32 = 1, bf16 = 2, f16 = 3, f64 = 4 };

// The denoised variants the variants op can compose, in the codes the Python side passes.
constexpr int kMaxVariants = 8;

}  // namespace ucfast
