// cv2.fastNlMeansDenoisingColored on CUDA, bit for bit, in integer arithmetic
// (shared/SPEC-denoisers.md sections 2-3; ucfast/reference/nlm.py is the reference).
//
// lab_kernel converts the input to Lab ([n, 3, h, w] scratch); nlm_kernel stages one tile's extended
// Lab region (BORDER_REFLECT_101 through the row and column maps), runs the tiled non-local means of
// csrc/cuda/nlm_tile.cuh on it and converts the result back to write dst.
#include <algorithm>

#include "cuda/check.h"
#include "cuda/nlm_tile.cuh"
#include "cuda/ops.h"

namespace ucfast::cuda {
namespace {

using namespace nlm_tile;
constexpr int kBlock = 256;

__global__ void lab_kernel(const uint8_t* __restrict__ src, Strides4 s, uint8_t* __restrict__ lab, int64_t n,
                           int64_t h, int64_t w, LabTables t) {
  const int64_t plane = h * w, total = n * plane;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t x = i % w, y = (i / w) % h, img = i / plane;
    const uint8_t* p = src + img * s.n + y * s.y + x * s.x;
    uint8_t* o = lab + img * 3 * plane + y * w + x;
    lbgr_to_lab(t, p[0], p[s.c], p[2 * s.c], o[0], o[plane], o[2 * plane]);
  }
}

struct NlmKernelArgs {
  const uint8_t* lab;  // [n, 3, h, w] L, a, b
  uint8_t* dst;        // [n, 3, h, w]
  int64_t first_image;
  int h, w;
  const int32_t* rows;  // [h + 2 * border]
  const int32_t* cols;  // [w + 2 * border]
  Weights weights;
  int t2, s2;
  LabTables tables;
};

template <int T2>
__global__ void __launch_bounds__(kThreads) nlm_kernel(NlmKernelArgs a) {
  extern __shared__ int32_t smem[];
  const Layout g(T2 > 0 ? T2 : a.t2, a.s2, a.weights);
  const Tile t = carve(smem, g);
  const int x_tile = blockIdx.x * kTileW, y_tile = blockIdx.y * kTileH;
  const int64_t img = a.first_image + blockIdx.z;
  const int64_t plane = int64_t(a.h) * a.w;
  const uint8_t* lab = a.lab + img * 3 * plane;

  // Stage the extended region: tile (er, ec) is extended-image (y_tile + er, x_tile + ec).
  const int ext_h = a.h + 2 * g.border, ext_w = a.w + 2 * g.border;
  for (int i = threadIdx.x; i < g.eh * g.ew; i += blockDim.x) {
    const int er = y_tile + i / g.ew, ec = x_tile + i % g.ew;
    const int64_t o = int64_t(er < ext_h ? a.rows[er] : 0) * a.w + (ec < ext_w ? a.cols[ec] : 0);
    t.tl[i] = lab[o];
    t.ta[i] = lab[plane + o];
    t.tb[i] = lab[2 * plane + o];
  }
  stage_tables(t, g, a.weights);
  __syncthreads();

  Acc acc;
  accumulate<T2>(t, g, a.weights, acc);

  if (threadIdx.x >= kPhaseB) return;
  const int x = threadIdx.x % kTileW, y0 = (threadIdx.x / kTileW) * kSeg;
  const int gx = x_tile + x;
#pragma unroll
  for (int j = 0; j < kSeg; ++j) {
    const int gy = y_tile + y0 + j;
    if (gy >= a.h || gx >= a.w) continue;
    int l, ca, cb;
    acc.lab(j, l, ca, cb);
    uint8_t* o = a.dst + img * 3 * plane + int64_t(gy) * a.w + gx;
    lab_to_lbgr(a.tables, l, ca, cb, o[0], o[plane], o[2 * plane]);
  }
}

}  // namespace

namespace nlm_tile {

void check_params(const NlmParams& p) {
  require_ptr(p.rows, "rows");
  require_ptr(p.cols, "cols");
  require_ptr(p.weights_l, "weights_l");
  require_ptr(p.weights_ab, "weights_ab");
  for (const int32_t* t : {p.lab.cbrt, p.lab.forward, p.lab.inverse, p.lab.l_to_y, p.lab.l_to_fy, p.lab.ab_to_xz})
    require_ptr(t, "lab_tables");
  require(p.template_size >= 1 && p.template_size % 2 == 1, "template_size", "a positive odd integer",
          std::to_string(p.template_size));
  require(p.search_size >= 1 && p.search_size % 2 == 1, "search_size", "a positive odd integer",
          std::to_string(p.search_size));
  require_size(p.len_l, "len_l", 1, INT32_MAX);
  require_size(p.len_ab, "len_ab", 1, INT32_MAX);
  require_size(p.shift, "shift", 0, 31);
}

Weights weights_of(const NlmParams& p) {
  return {p.weights_l, int(p.len_l), p.weights_ab, int(p.len_ab), p.shift};
}

void allow_shared(const void* kernel, size_t bytes, const NlmParams& p) {
  int device = 0, optin = 0;
  UCFAST_CUDA_CHECK(cudaGetDevice(&device));
  UCFAST_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  require(bytes <= size_t(optin), "template_size, search_size",
          "small enough for the tile to fit in shared memory (" + std::to_string(optin) + " bytes)",
          std::to_string(bytes) + " bytes for template " + std::to_string(p.template_size) + ", search " +
              std::to_string(p.search_size));
  UCFAST_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

}  // namespace nlm_tile

void nlm(const uint8_t* src, Strides4 s, uint8_t* dst, uint8_t* scratch, int64_t n, int64_t h, int64_t w,
         const NlmParams& p, cudaStream_t stream) {
  require_ptr(src, "src");
  require_ptr(dst, "dst");
  require_ptr(scratch, "scratch");
  check_params(p);
  require(n >= 0 && h >= 0 && w >= 0, "n, h, w", "non-negative", "a negative size");
  require(h < (1 << 30) && w < (1 << 30), "h, w", "below 2^30", std::to_string(h) + " x " + std::to_string(w));
  if (n * h * w == 0) return;

  lab_kernel<<<grid_for(n * h * w, kBlock), kBlock, 0, stream>>>(src, s, scratch, n, h, w, p.lab);
  UCFAST_LAUNCH_CHECK("lab_kernel");

  const int t2 = p.template_size / 2, s2 = p.search_size / 2;
  const Weights weights = weights_of(p);
  const size_t bytes = Layout(t2, s2, weights).bytes();
  auto kernel = t2 == 3 ? nlm_kernel<3> : nlm_kernel<0>;
  allow_shared(reinterpret_cast<const void*>(kernel), bytes, p);

  NlmKernelArgs a{scratch, dst, 0, int(h), int(w), p.rows, p.cols, weights, t2, s2, p.lab};
  const unsigned tiles_x = unsigned((w + kTileW - 1) / kTileW), tiles_y = unsigned((h + kTileH - 1) / kTileH);
  require(tiles_y <= 65535, "h", "at most " + std::to_string(65535 * kTileH), std::to_string(h));
  for (int64_t first = 0; first < n; first += 65535) {
    a.first_image = first;
    const dim3 blocks(tiles_x, tiles_y, unsigned(std::min<int64_t>(n - first, 65535)));
    kernel<<<blocks, kThreads, bytes, stream>>>(a);
    UCFAST_LAUNCH_CHECK("nlm_kernel");
  }
}

}  // namespace ucfast::cuda
