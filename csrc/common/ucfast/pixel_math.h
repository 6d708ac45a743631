// Per-pixel arithmetic shared by the CPU and the CUDA kernels (host and device): the 2 x 2 x 3 median
// of one pixel, the NLM estimate's rounding, the rounding of float pixels to 8 bits, and the float32
// steps of the variants op (ucfast/reference/variants.py): torch.lerp as one fused multiply-add and
// (v - mean) / std, each rounded once. The CPU tests run the same functions as the GPU.
#pragma once

#include <cmath>
#include <cstdint>

#include "ucfast/common.h"
#include "ucfast/sort_network.h"

namespace ucfast {

// The 2 x 2 x 3 cross-channel median of one pixel. a, b, d: the 2 x 2 windows of channels 0, 1, 2
// ({(y-1, x-1), (y-1, x), (y, x-1), (y, x)}, borders already reflected); channel -1 reads channel 0
// and channel 3 reads channel 2. out[c] is the 7th smallest of its 12 values (the upper middle).
template <typename T>
UCFAST_HD void median_2x2x3(const T* a, const T* b, const T* d, T* out) {
  T v0[12] = {a[0], a[1], a[2], a[3], a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]};
  T v1[12] = {a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3], d[0], d[1], d[2], d[3]};
  T v2[12] = {b[0], b[1], b[2], b[3], d[0], d[1], d[2], d[3], d[0], d[1], d[2], d[3]};
  out[0] = select_rank<12, 6>(v0);
  out[1] = select_rank<12, 6>(v1);
  out[2] = select_rank<12, 6>(v2);
}

// The NLM estimate of one channel: (est + wsum / 2) / wsum in unsigned integers, saturated to 255.
UCFAST_HD uint8_t nlm_estimate(uint32_t est, uint32_t wsum) {
  const uint32_t v = (est + wsum / 2) / wsum;
  return static_cast<uint8_t>(v < 255u ? v : 255u);
}

// A float pixel in 0..1 as 8 bits, as ucfast.images.to_uint8: round(v * 255) half to even, clamped.
UCFAST_HD uint8_t unit_to_u8(float v) {
#if defined(__CUDA_ARCH__)
  float r = rintf(__fmul_rn(v, 255.0f));
#else
  float r = std::nearbyint(v * 255.0f);
#endif
  r = r < 0.0f ? 0.0f : (r > 255.0f ? 255.0f : r);
  return static_cast<uint8_t>(r);
}

// torch.lerp(x, d, w) in float32 as torch's kernels compute it: one fused multiply-add,
// x + w * (d - x) for |w| < 0.5 and d + (w - 1) * (d - x) otherwise (exactly d when w == 1).
UCFAST_HD float lerp_fma(float x, float d, float w) {
#if defined(__CUDA_ARCH__)
  const float diff = __fsub_rn(d, x);
  return fabsf(w) < 0.5f ? __fmaf_rn(w, diff, x) : __fmaf_rn(__fsub_rn(w, 1.0f), diff, d);
#else
  const float diff = d - x;
  return std::fabs(w) < 0.5f ? std::fma(w, diff, x) : std::fma(w - 1.0f, diff, d);
#endif
}

// (v - mean) / std with an IEEE subtraction and division (no contraction, no approximate division).
UCFAST_HD float normalise(float v, float mean, float sd) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(__fsub_rn(v, mean), sd);
#else
  return (v - mean) / sd;
#endif
}

}  // namespace ucfast
