// The variants op on CUDA in one launch (ucfast/reference/variants.py). A block owns a 32 x 32 tile of
// one image: it stages the tile's extended region of the original pixels, rounded to 8 bits as
// ucfast.images.to_uint8 does, and, when NLM is requested, their Lab planes in shared memory; runs the
// tiled non-local means of csrc/cuda/nlm_tile.cuh on them and keeps the NLM result in shared memory;
// then the block's threads take each pixel's 2 x 2 x 3 median, NLM result and colour depth from shared
// memory and write the original and every variant, amplified, normalised and cast, straight into the
// model input. Only the
// pixels are read and only the model input is written in global memory.
//
// The float32 operations are those torch runs for the reference on a GPU: p / 255 as p * (1 / 255)
// (torch multiplies by the reciprocal of a scalar divisor on CUDA), torch.lerp as one fused
// multiply-add, (v - mean) / std with an IEEE division (csrc/common/ucfast/pixel_math.h, shared with
// the CPU module), then the dtype's round-to-nearest-even.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <string>

#include "cuda/check.h"
#include "cuda/nlm_tile.cuh"
#include "cuda/ops.h"

namespace ucfast::cuda {
namespace {

using namespace nlm_tile;

struct Params {
  const void* x;  // [b, 3, h, w] uint8 or float32
  Strides4 xs;
  bool x_float;
  void* out;  // [(1 + num_denoised) * b, 3, h, w]
  Strides4 os;
  DType out_type;
  int64_t b, first_image;
  int h, w;
  int num_denoised;
  int codes[kMaxVariants - 1];  // Denoiser codes in output order
  bool nlm;                     // NLM is among them
  float amplify;
  float mean[3], std[3];
  const int32_t* rows;  // [h + 2 * border] BORDER_REFLECT_101 source rows
  const int32_t* cols;  // [w + 2 * border]
  Weights weights;
  int t2, s2;
  LabTables lab;
  const uint8_t* bitdepth;  // [256]
};

__device__ __forceinline__ void store(const Params& p, int64_t offset, float v) {
  switch (p.out_type) {
    case DType::f32: static_cast<float*>(p.out)[offset] = v; break;
    case DType::bf16: static_cast<__nv_bfloat16*>(p.out)[offset] = __float2bfloat16_rn(v); break;
    case DType::f16: static_cast<__half*>(p.out)[offset] = __float2half_rn(v); break;
    default: static_cast<double*>(p.out)[offset] = double(v); break;
  }
}

__device__ __forceinline__ float u8_unit(int v) { return __fmul_rn(float(v), 1.0f / 255.0f); }

template <int T2>
__global__ void __launch_bounds__(kThreads, 3) variants_kernel(Params p) {
  extern __shared__ int32_t smem[];
  const Layout g(T2 > 0 ? T2 : p.t2, p.s2, p.weights);
  const Tile t = carve(smem, g);
  const int ew = g.ew, plane = g.eh * g.ew;
  uint8_t* rgb = t.end;  // [3][eh][ew] 8-bit pixels of the extended region
  const int x_tile = blockIdx.x * kTileW, y_tile = blockIdx.y * kTileH;
  const int64_t img = p.first_image + blockIdx.z;

  // Stage the extended region: tile (er, ec) is extended-image (y_tile + er, x_tile + ec).
  const int ext_h = p.h + 2 * g.border, ext_w = p.w + 2 * g.border;
  for (int i = threadIdx.x; i < plane; i += blockDim.x) {
    const int er = y_tile + i / ew, ec = x_tile + i % ew;
    const int64_t o =
        img * p.xs.n + int64_t(er < ext_h ? p.rows[er] : 0) * p.xs.y + int64_t(ec < ext_w ? p.cols[ec] : 0) * p.xs.x;
    uint8_t c[3];
#pragma unroll
    for (int k = 0; k < 3; ++k) {
      const int64_t ok = o + k * p.xs.c;
      c[k] = p.x_float ? unit_to_u8(static_cast<const float*>(p.x)[ok]) : static_cast<const uint8_t*>(p.x)[ok];
      rgb[k * plane + i] = c[k];
    }
    if (p.nlm) {
      uint8_t l, a, b;
      lbgr_to_lab(p.lab, c[0], c[1], c[2], l, a, b);
      t.tl[i] = l;
      t.ta[i] = a;
      t.tb[i] = b;
    }
  }
  // NLM: the denoised tile, [3][kTileH][kTileW], goes where the loop kept its sums.
  uint8_t* nlm_out = reinterpret_cast<uint8_t*>(t.hl);
  if (p.nlm) {  // the same for every block
    stage_tables(t, g, p.weights);
    __syncthreads();
    Acc acc;
    accumulate<T2>(t, g, p.weights, acc);
    if (threadIdx.x < kPhaseB) {
      const int x = threadIdx.x % kTileW, y0 = (threadIdx.x / kTileW) * kSeg;
#pragma unroll
      for (int j = 0; j < kSeg; ++j) {
        int l, ca, cb;
        acc.lab(j, l, ca, cb);
        uint8_t* o = nlm_out + (y0 + j) * kTileW + x;
        lab_to_lbgr(p.lab, l, ca, cb, o[0], o[kTileH * kTileW], o[2 * kTileH * kTileW]);
      }
    }
  }
  __syncthreads();

  // Every pixel of the tile: the original and each variant, into the model input.
  const int64_t variant_stride = p.b * p.os.n;
  for (int i = threadIdx.x; i < kTileH * kTileW; i += blockDim.x) {
    const int ty = i / kTileW, tx = i % kTileW, gy = y_tile + ty, gx = x_tile + tx;
    if (gy >= p.h || gx >= p.w) continue;
    const int er = ty + g.border, ec = tx + g.border;
    const int er_up = max(gy - 1, 0) - y_tile + g.border, ec_left = max(gx - 1, 0) - x_tile + g.border;  // -1 reads 0
    const int centre = er * ew + ec;
    float xv[3];
#pragma unroll
    for (int c = 0; c < 3; ++c) {
      xv[c] = p.x_float ? static_cast<const float*>(p.x)[img * p.xs.n + c * p.xs.c + gy * p.xs.y + gx * p.xs.x]
                        : u8_unit(rgb[c * plane + centre]);
    }
    int64_t o = img * p.os.n + int64_t(gy) * p.os.y + int64_t(gx) * p.os.x;
#pragma unroll
    for (int c = 0; c < 3; ++c) store(p, o + c * p.os.c, normalise(xv[c], p.mean[c], p.std[c]));
    for (int v = 0; v < p.num_denoised; ++v) {
      o += variant_stride;
      int d[3];
      if (p.codes[v] == int(Denoiser::median)) {
        const int q[4] = {er_up * ew + ec_left, er_up * ew + ec, er * ew + ec_left, centre};
        int w0[4], w1[4], w2[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) w0[k] = rgb[q[k]], w1[k] = rgb[plane + q[k]], w2[k] = rgb[2 * plane + q[k]];
        median_2x2x3(w0, w1, w2, d);
      } else if (p.codes[v] == int(Denoiser::nlm)) {
#pragma unroll
        for (int c = 0; c < 3; ++c) d[c] = nlm_out[c * kTileH * kTileW + i];
      } else {
#pragma unroll
        for (int c = 0; c < 3; ++c) d[c] = p.bitdepth[rgb[c * plane + centre]];
      }
#pragma unroll
      for (int c = 0; c < 3; ++c)
        store(p, o + c * p.os.c, normalise(lerp_fma(xv[c], u8_unit(d[c]), p.amplify), p.mean[c], p.std[c]));
    }
  }
}

}  // namespace

void variants(const FusedVariantsArgs& a, cudaStream_t stream) {
  require_ptr(a.x, "x");
  require_ptr(a.out, "out");
  require(a.x_type == DType::u8 || a.x_type == DType::f32, "x_type", "0 (uint8) or 1 (float32)",
          std::to_string(int(a.x_type)));
  require(a.out_type == DType::f32 || a.out_type == DType::bf16 || a.out_type == DType::f16 ||
              a.out_type == DType::f64,
          "out_type", "1 (float32), 2 (bfloat16), 3 (float16) or 4 (float64)", std::to_string(int(a.out_type)));
  require(a.denoisers.size() <= size_t(kMaxVariants - 1), "denoisers",
          "at most " + std::to_string(kMaxVariants - 1) + " codes", std::to_string(a.denoisers.size()));
  Params p{};
  for (size_t v = 0; v < a.denoisers.size(); ++v) {
    const int code = a.denoisers[v];
    require(code >= 0 && code <= 2, "denoisers", "codes 0 (median), 1 (nlm) or 2 (bitdepth)", std::to_string(code));
    require(std::count(a.denoisers.begin(), a.denoisers.end(), code) == 1, "denoisers", "codes without repeats",
            std::to_string(code) + " twice");
    p.codes[v] = code;
    p.nlm = p.nlm || code == int(Denoiser::nlm);
    if (code == int(Denoiser::bitdepth)) require_ptr(a.bitdepth, "bitdepth");
  }
  require(a.b >= 0 && a.h >= 0 && a.w >= 0, "b, h, w", "non-negative", "a negative size");
  require(a.h < (1 << 30) && a.w < (1 << 30), "h, w", "below 2^30",
          std::to_string(a.h) + " x " + std::to_string(a.w));
  for (float sd : a.std) require(sd > 0.0f, "std", "positive", std::to_string(sd));
  nlm_tile::check_params(a.nlm);
  const int t2 = a.nlm.template_size / 2, s2 = a.nlm.search_size / 2;
  require(t2 + s2 >= 1, "template_size, search_size", "a staged border (template/2 + search/2) of at least 1",
          std::to_string(t2 + s2));
  if (a.b * a.h * a.w == 0) return;

  p.x = a.x;
  p.xs = a.xs;
  p.x_float = a.x_type == DType::f32;
  p.out = a.out;
  p.os = a.os;
  p.out_type = a.out_type;
  p.b = a.b;
  p.h = int(a.h);
  p.w = int(a.w);
  p.num_denoised = int(a.denoisers.size());
  p.amplify = a.amplify;
  for (int c = 0; c < 3; ++c) {
    p.mean[c] = a.mean[c];
    p.std[c] = a.std[c];
  }
  p.rows = a.nlm.rows;
  p.cols = a.nlm.cols;
  p.weights = nlm_tile::weights_of(a.nlm);
  p.t2 = t2;
  p.s2 = s2;
  p.lab = a.nlm.lab;
  p.bitdepth = a.bitdepth;

  const Layout g(t2, s2, p.weights);
  const size_t bytes = g.bytes() + 3 * size_t(g.eh) * g.ew;  // + the 8-bit pixels
  auto kernel = t2 == 3 ? variants_kernel<3> : variants_kernel<0>;
  nlm_tile::allow_shared(reinterpret_cast<const void*>(kernel), bytes, a.nlm);
  const unsigned tiles_x = unsigned((a.w + kTileW - 1) / kTileW), tiles_y = unsigned((a.h + kTileH - 1) / kTileH);
  require(tiles_y <= 65535, "h", "at most " + std::to_string(65535 * kTileH), std::to_string(a.h));
  for (int64_t first = 0; first < a.b; first += 65535) {
    p.first_image = first;
    const dim3 blocks(tiles_x, tiles_y, unsigned(std::min<int64_t>(a.b - first, 65535)));
    kernel<<<blocks, kThreads, bytes, stream>>>(p);
    UCFAST_LAUNCH_CHECK("variants_kernel");
  }
}

}  // namespace ucfast::cuda
