// The variants op on the CPU after denoising: amplification, normalisation, the cast to the
// model's dtype and its memory format in one pass, with the float32 operations of
// ucfast/reference/variants.py as torch runs them on the CPU: x = p / 255, d = q / 255,
// v = torch.lerp(x, d, amplify), (v - mean) / std, .to(dtype).
#include <vector>

#include "cpu/ops.h"
#include "cpu/parallel.h"
#include "ucfast/float_bits.h"
#include "ucfast/pixel_math.h"

namespace ucfast::cpu {
namespace {

template <DType T>
inline void store(void* base, int64_t offset, float v) {
  if constexpr (T == DType::f32) {
    static_cast<float*>(base)[offset] = v;
  } else if constexpr (T == DType::bf16) {
    static_cast<uint16_t*>(base)[offset] = float_to_bf16(v);
  } else if constexpr (T == DType::f16) {
    static_cast<uint16_t*>(base)[offset] = float_to_f16(v);
  } else {
    static_cast<double*>(base)[offset] = static_cast<double>(v);
  }
}

// One row (image img, channel c, row y) of every variant. xrow: the original in 0..1.
template <DType T>
UCFAST_CLONES void write_row(const VariantsArgs& a, int64_t img, int64_t c, int64_t y, const float* xrow) {
  const float mean = a.mean[c], sd = a.std[c];
  const int64_t w = a.w;
  int64_t o = img * a.os.n + c * a.os.c + y * a.os.y;
  for (int64_t x = 0; x < w; ++x) store<T>(a.out, o + x * a.os.x, normalise(xrow[x], mean, sd));
  const int64_t src_off = ((img * 3 + c) * a.h + y) * w;
  for (size_t v = 0; v < a.denoised.size(); ++v) {
    o += a.b * a.os.n;
    const uint8_t* d = a.denoised[v] + src_off;
    for (int64_t x = 0; x < w; ++x) {
      const float value = lerp_fma(xrow[x], static_cast<float>(d[x]) / 255.0f, a.amplify);
      store<T>(a.out, o + x * a.os.x, normalise(value, mean, sd));
    }
  }
}

}  // namespace

void variants(const VariantsArgs& a, int threads) {
  const int64_t h = a.h, w = a.w;
  parallel_for(a.b * 3 * h, threads, [&](int64_t item) {
    const int64_t y = item % h, c = (item / h) % 3, img = item / (3 * h);
    thread_local std::vector<float> xrow;
    xrow.resize(static_cast<size_t>(w));
    const int64_t off = img * a.xs.n + c * a.xs.c + y * a.xs.y;
    if (a.x_type == DType::u8) {
      const uint8_t* p = static_cast<const uint8_t*>(a.x) + off;
      for (int64_t x = 0; x < w; ++x) xrow[x] = static_cast<float>(p[x * a.xs.x]) / 255.0f;
    } else {
      const float* p = static_cast<const float*>(a.x) + off;
      for (int64_t x = 0; x < w; ++x) xrow[x] = p[x * a.xs.x];
    }
    switch (a.out_type) {
      case DType::f32: write_row<DType::f32>(a, img, c, y, xrow.data()); break;
      case DType::bf16: write_row<DType::bf16>(a, img, c, y, xrow.data()); break;
      case DType::f16: write_row<DType::f16>(a, img, c, y, xrow.data()); break;
      default: write_row<DType::f64>(a, img, c, y, xrow.data()); break;
    }
  });
}

}  // namespace ucfast::cpu
