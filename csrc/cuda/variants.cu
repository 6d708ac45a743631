// The fused variants kernel: pixels (uint8 0..255 or float32 0..1, any strides) and the denoised
// uint8 images -> the [V * B, 3, H, W] model input, amplification, normalisation, the cast to the
// model's dtype and its memory format in one pass. The float32 operations are those of
// ucfast/reference/variants.py as torch runs them on a GPU: x / 255 as x * (1 / 255) (torch
// multiplies by the reciprocal of a scalar divisor on CUDA), torch.lerp as one fused multiply-add,
// then (v - mean) / std with an IEEE division, then the dtype's round-to-nearest-even.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <string>

#include "cuda/check.h"
#include "cuda/ops.h"

namespace ucfast::cuda {
namespace {

constexpr int kBlock = 256;

struct Params {
  const void* x;
  Strides4 xs;
  const uint8_t* denoised[kMaxVariants - 1];
  int num_denoised;
  void* out;
  Strides4 os;
  int64_t b, h, w;
  float amplify;
  float mean[3], std[3];
  bool channel_fastest;  // walk (img, y, x, c) for channels_last outputs, else (img, c, y, x)
};

template <typename T>
__device__ __forceinline__ float load_unit(const void* base, int64_t offset);

template <>
__device__ __forceinline__ float load_unit<uint8_t>(const void* base, int64_t offset) {
  return float(static_cast<const uint8_t*>(base)[offset]) * (1.0f / 255.0f);
}

template <>
__device__ __forceinline__ float load_unit<float>(const void* base, int64_t offset) {
  return static_cast<const float*>(base)[offset];
}

template <typename T>
__device__ __forceinline__ void store(void* base, int64_t offset, float v) {
  static_cast<T*>(base)[offset] = T(v);
}

template <>
__device__ __forceinline__ void store<__nv_bfloat16>(void* base, int64_t offset, float v) {
  static_cast<__nv_bfloat16*>(base)[offset] = __float2bfloat16_rn(v);
}

template <>
__device__ __forceinline__ void store<__half>(void* base, int64_t offset, float v) {
  static_cast<__half*>(base)[offset] = __float2half_rn(v);
}

// torch.lerp(x, d, w): x + w * (d - x) for |w| < 0.5, else d - (d - x) * (1 - w), each one fma.
__device__ __forceinline__ float lerp(float x, float d, float w) {
  const float diff = __fsub_rn(d, x);
  return fabsf(w) < 0.5f ? __fmaf_rn(w, diff, x) : __fmaf_rn(__fsub_rn(w, 1.0f), diff, d);
}

__device__ __forceinline__ float normalise(float v, float mean, float sd) { return __fdiv_rn(__fsub_rn(v, mean), sd); }

template <typename TIn, typename TOut>
__global__ void variants_kernel(Params p) {
  const int64_t h = p.h, w = p.w, plane = h * w, total = p.b * 3 * plane;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t img, c, y, x;
    if (p.channel_fastest) {
      c = i % 3, x = (i / 3) % w, y = (i / (3 * w)) % h, img = i / (3 * plane);
    } else {
      x = i % w, y = (i / w) % h, c = (i / plane) % 3, img = i / (3 * plane);
    }
    const float xv = load_unit<TIn>(p.x, img * p.xs.n + c * p.xs.c + y * p.xs.y + x * p.xs.x);
    const float mean = p.mean[c], sd = p.std[c];
    int64_t o = img * p.os.n + c * p.os.c + y * p.os.y + x * p.os.x;
    store<TOut>(p.out, o, normalise(xv, mean, sd));
    const int64_t d_off = (img * 3 + c) * plane + y * w + x;
    for (int v = 0; v < p.num_denoised; ++v) {
      o += p.b * p.os.n;
      const float dv = float(p.denoised[v][d_off]) * (1.0f / 255.0f);
      store<TOut>(p.out, o, normalise(lerp(xv, dv, p.amplify), mean, sd));
    }
  }
}

template <typename TIn>
void launch(const Params& p, DType out_type, cudaStream_t stream) {
  const unsigned blocks = grid_for(p.b * 3 * p.h * p.w, kBlock);
  switch (out_type) {
    case DType::f32: variants_kernel<TIn, float><<<blocks, kBlock, 0, stream>>>(p); break;
    case DType::bf16: variants_kernel<TIn, __nv_bfloat16><<<blocks, kBlock, 0, stream>>>(p); break;
    case DType::f16: variants_kernel<TIn, __half><<<blocks, kBlock, 0, stream>>>(p); break;
    default: variants_kernel<TIn, double><<<blocks, kBlock, 0, stream>>>(p); break;
  }
  UCFAST_LAUNCH_CHECK("variants_kernel");
}

}  // namespace

void variants(const VariantsArgs& a, cudaStream_t stream) {
  require_ptr(a.x, "x");
  require_ptr(a.out, "out");
  require(a.x_type == DType::u8 || a.x_type == DType::f32, "x_type", "0 (uint8) or 1 (float32)",
          std::to_string(int(a.x_type)));
  require(a.out_type == DType::f32 || a.out_type == DType::bf16 || a.out_type == DType::f16 ||
              a.out_type == DType::f64,
          "out_type", "1 (float32), 2 (bfloat16), 3 (float16) or 4 (float64)", std::to_string(int(a.out_type)));
  require(a.denoised.size() <= size_t(kMaxVariants - 1), "denoised", "at most " + std::to_string(kMaxVariants - 1) +
          " pointers", std::to_string(a.denoised.size()));
  require(a.b >= 0 && a.h >= 0 && a.w >= 0, "b, h, w", "non-negative", "a negative size");
  for (float sd : a.std) require(sd > 0.0f, "std", "positive", std::to_string(sd));
  if (a.b * a.h * a.w == 0) return;
  Params p{};
  p.x = a.x;
  p.xs = a.xs;
  for (size_t v = 0; v < a.denoised.size(); ++v) {
    require_ptr(a.denoised[v], "denoised");
    p.denoised[v] = a.denoised[v];
  }
  p.num_denoised = int(a.denoised.size());
  p.out = a.out;
  p.os = a.os;
  p.b = a.b;
  p.h = a.h;
  p.w = a.w;
  p.amplify = a.amplify;
  for (int c = 0; c < 3; ++c) {
    p.mean[c] = a.mean[c];
    p.std[c] = a.std[c];
  }
  p.channel_fastest = a.os.c == 1;
  if (a.x_type == DType::u8) {
    launch<uint8_t>(p, a.out_type, stream);
  } else {
    launch<float>(p, a.out_type, stream);
  }
}

}  // namespace ucfast::cuda
