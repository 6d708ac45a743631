// cv2.fastNlMeansDenoisingColored on CUDA, bit for bit, in integer arithmetic
// (shared/SPEC-denoisers.md sections 2-3; ucfast/reference/nlm.py is the reference).
//
// lab_kernel converts the input to Lab ([n, 3, h, w] scratch). nlm_kernel denoises one
// kTileH x kTileW tile of one image per block, the L plane and the ab plane together, and converts
// the result back to write dst. The block stages the tile's extended Lab region (border
// template/2 + search/2, BORDER_REFLECT_101 through the row and column maps) and the weight tables
// in shared memory; then, for each search offset:
//   phase A: a task (template-grid row r, kSeg columns) computes the squared differences of its
//            kSeg + 2*t2 columns and their horizontal template sums H(r, x), sliding, into shared memory;
//   phase B: a thread (column x, kSeg output rows) sums H vertically, sliding, looks the weights up
//            and accumulates in registers.
// All sums are exact integers, so the result equals OpenCV's whatever the order.
#include <algorithm>

#include "cuda/check.h"
#include "cuda/ops.h"

namespace ucfast::cuda {
namespace {

constexpr int kTileW = 32;                                    // output columns per block
constexpr int kTileH = 32;                                    // output rows per block
constexpr int kSeg = 4;                                       // outputs per task in phases A and B
constexpr int kPhaseB = kTileW * (kTileH / kSeg);             // 256 phase-B threads
constexpr int kThreads = (kTileH + 6) * (kTileW / kSeg) + 16;  // 320: phase A of template 7 in one round
constexpr int kSharedTable = 2048;                            // weight tables up to this many entries go to shared memory
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
  const int32_t* weights_l;
  int len_l;
  const int32_t* weights_ab;
  int len_ab;
  int shift, t2, s2;
  LabTables tables;
};

// Phase A: H[r][x] (L and ab) for every template-grid row r and tile column x, at offset `off`.
// Grid (r, c) is tile (r + s2, c + s2); tile planes are tl, ta, tb with row stride ew.
template <int T2>
__device__ void horizontal_sums(const int16_t* tl, const int16_t* ta, const int16_t* tb, int ew, int s2, int t2_arg,
                                int off, int grid_rows, int32_t* hl, int32_t* hab) {
  const int t2 = T2 > 0 ? T2 : t2_arg;
  constexpr int kGroups = kTileW / kSeg;
  for (int task = threadIdx.x; task < grid_rows * kGroups; task += blockDim.x) {
    const int r = task / kGroups, x0 = (task % kGroups) * kSeg;
    const int ref0 = (r + s2) * ew + x0 + s2;
    int32_t* out_l = hl + r * kTileW + x0;
    int32_t* out_ab = hab + r * kTileW + x0;
    if constexpr (T2 > 0) {
      constexpr int kCols = kSeg + 2 * T2;
      int sl[kCols], sab[kCols];
#pragma unroll
      for (int k = 0; k < kCols; ++k) {
        const int ref = ref0 + k, cand = ref + off;
        const int dl = tl[ref] - tl[cand], da = ta[ref] - ta[cand], db = tb[ref] - tb[cand];
        sl[k] = dl * dl;
        sab[k] = da * da + db * db;
      }
      int32_t sum_l = 0, sum_ab = 0;
#pragma unroll
      for (int k = 0; k <= 2 * T2; ++k) sum_l += sl[k], sum_ab += sab[k];
      out_l[0] = sum_l;
      out_ab[0] = sum_ab;
#pragma unroll
      for (int j = 1; j < kSeg; ++j) {
        sum_l += sl[j + 2 * T2] - sl[j - 1];
        sum_ab += sab[j + 2 * T2] - sab[j - 1];
        out_l[j] = sum_l;
        out_ab[j] = sum_ab;
      }
    } else {
      for (int j = 0; j < kSeg; ++j) {
        int32_t sum_l = 0, sum_ab = 0;
        for (int k = 0; k <= 2 * t2; ++k) {
          const int ref = ref0 + j + k, cand = ref + off;
          const int dl = tl[ref] - tl[cand], da = ta[ref] - ta[cand], db = tb[ref] - tb[cand];
          sum_l += dl * dl;
          sum_ab += da * da + db * db;
        }
        out_l[j] = sum_l;
        out_ab[j] = sum_ab;
      }
    }
  }
}

template <int T2>
__global__ void __launch_bounds__(kThreads) nlm_kernel(NlmKernelArgs a) {
  const int t2 = T2 > 0 ? T2 : a.t2;
  const int s2 = a.s2, border = t2 + s2;
  const int ew = kTileW + 2 * border, eh = kTileH + 2 * border;  // staged tile
  const int grid_rows = kTileH + 2 * t2;                          // template-grid rows of H
  const bool shared_table = a.len_l + a.len_ab <= kSharedTable;

  extern __shared__ int32_t smem[];
  int32_t* hl = smem;                          // [grid_rows][kTileW] horizontal sums, L
  int32_t* hab = hl + grid_rows * kTileW;      // [grid_rows][kTileW] horizontal sums, ab
  int32_t* table = hab + grid_rows * kTileW;   // [len_l + len_ab] when shared_table
  int16_t* tl = reinterpret_cast<int16_t*>(table + (shared_table ? a.len_l + a.len_ab : 0));  // [eh][ew] L
  int16_t* ta = tl + eh * ew;                  // a
  int16_t* tb = ta + eh * ew;                  // b

  const int tid = threadIdx.x;
  const int x_tile = blockIdx.x * kTileW, y_tile = blockIdx.y * kTileH;
  const int64_t img = a.first_image + blockIdx.z;
  const int64_t plane = int64_t(a.h) * a.w;
  const uint8_t* lab = a.lab + img * 3 * plane;

  // Stage the extended region: tile (er, ec) is extended-image (y_tile + er, x_tile + ec).
  const int ext_h = a.h + 2 * border, ext_w = a.w + 2 * border;
  for (int i = tid; i < eh * ew; i += blockDim.x) {
    const int er = y_tile + i / ew, ec = x_tile + i % ew;
    const int64_t o = int64_t(er < ext_h ? a.rows[er] : 0) * a.w + (ec < ext_w ? a.cols[ec] : 0);
    tl[i] = lab[o];
    ta[i] = lab[plane + o];
    tb[i] = lab[2 * plane + o];
  }
  if (shared_table) {
    for (int i = tid; i < a.len_l; i += blockDim.x) table[i] = a.weights_l[i];
    for (int i = tid; i < a.len_ab; i += blockDim.x) table[a.len_l + i] = a.weights_ab[i];
  }
  const int32_t* wl_tab = shared_table ? table : a.weights_l;
  const int32_t* wab_tab = shared_table ? table + a.len_l : a.weights_ab;
  const uint32_t cap_l = uint32_t(a.len_l - 1), cap_ab = uint32_t(a.len_ab - 1);
  __syncthreads();

  // Phase-B thread: column x, output rows y0 .. y0 + kSeg - 1 of the tile.
  const int x = tid % kTileW, y0 = (tid / kTileW) * kSeg;
  uint32_t wsum_l[kSeg] = {}, est_l[kSeg] = {}, wsum_ab[kSeg] = {}, est_a[kSeg] = {}, est_b[kSeg] = {};

  for (int dy = -s2; dy <= s2; ++dy) {
    for (int dx = -s2; dx <= s2; ++dx) {
      horizontal_sums<T2>(tl, ta, tb, ew, s2, t2, dy * ew + dx, grid_rows, hl, hab);
      __syncthreads();
      if (tid < kPhaseB) {
        int32_t dl = 0, dab = 0;
        for (int k = 0; k <= 2 * t2; ++k) {
          dl += hl[(y0 + k) * kTileW + x];
          dab += hab[(y0 + k) * kTileW + x];
        }
#pragma unroll
        for (int j = 0; j < kSeg; ++j) {
          if (j > 0) {
            dl += hl[(y0 + j + 2 * t2) * kTileW + x] - hl[(y0 + j - 1) * kTileW + x];
            dab += hab[(y0 + j + 2 * t2) * kTileW + x] - hab[(y0 + j - 1) * kTileW + x];
          }
          const uint32_t il = min(uint32_t(dl) >> a.shift, cap_l);
          const uint32_t iab = min(uint32_t(dab) >> a.shift, cap_ab);
          const uint32_t wl = uint32_t(wl_tab[il]), wab = uint32_t(wab_tab[iab]);
          const int cand = (y0 + j + border + dy) * ew + (x + border + dx);
          wsum_l[j] += wl;
          est_l[j] += wl * uint32_t(tl[cand]);
          wsum_ab[j] += wab;
          est_a[j] += wab * uint32_t(ta[cand]);
          est_b[j] += wab * uint32_t(tb[cand]);
        }
      }
      __syncthreads();
    }
  }

  if (tid >= kPhaseB) return;
  const int gx = x_tile + x;
#pragma unroll
  for (int j = 0; j < kSeg; ++j) {
    const int gy = y_tile + y0 + j;
    if (gy >= a.h || gx >= a.w) continue;
    const int l = int(min((est_l[j] + wsum_l[j] / 2) / wsum_l[j], 255u));
    const int ca = int(min((est_a[j] + wsum_ab[j] / 2) / wsum_ab[j], 255u));
    const int cb = int(min((est_b[j] + wsum_ab[j] / 2) / wsum_ab[j], 255u));
    uint8_t* o = a.dst + img * 3 * plane + int64_t(gy) * a.w + gx;
    lab_to_lbgr(a.tables, l, ca, cb, o[0], o[plane], o[2 * plane]);
  }
}

}  // namespace

void nlm(const uint8_t* src, Strides4 s, uint8_t* dst, uint8_t* scratch, int64_t n, int64_t h, int64_t w,
         const NlmParams& p, cudaStream_t stream) {
  require_ptr(src, "src");
  require_ptr(dst, "dst");
  require_ptr(scratch, "scratch");
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
  require(n >= 0 && h >= 0 && w >= 0, "n, h, w", "non-negative", "a negative size");
  require(h < (1 << 30) && w < (1 << 30), "h, w", "below 2^30", std::to_string(h) + " x " + std::to_string(w));
  if (n * h * w == 0) return;

  lab_kernel<<<grid_for(n * h * w, kBlock), kBlock, 0, stream>>>(src, s, scratch, n, h, w, p.lab);
  UCFAST_LAUNCH_CHECK("lab_kernel");

  const int t2 = p.template_size / 2, s2 = p.search_size / 2, border = t2 + s2;
  const bool shared_table = p.len_l + p.len_ab <= kSharedTable;
  const size_t bytes = sizeof(int32_t) * (2 * (kTileH + 2 * t2) * kTileW + (shared_table ? p.len_l + p.len_ab : 0)) +
                       sizeof(int16_t) * 3 * (kTileH + 2 * border) * (kTileW + 2 * border);
  int device = 0, optin = 0;
  UCFAST_CUDA_CHECK(cudaGetDevice(&device));
  UCFAST_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  require(bytes <= size_t(optin), "template_size, search_size",
          "small enough for the tile to fit in shared memory (" + std::to_string(optin) + " bytes)",
          std::to_string(bytes) + " bytes for template " + std::to_string(p.template_size) + ", search " +
              std::to_string(p.search_size));
  auto kernel = t2 == 3 ? nlm_kernel<3> : nlm_kernel<0>;
  UCFAST_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));

  NlmKernelArgs a{scratch, dst, 0, int(h), int(w), p.rows, p.cols, p.weights_l, int(p.len_l), p.weights_ab,
                  int(p.len_ab), p.shift, t2, s2, p.lab};
  const dim3 threads(kThreads);
  const unsigned tiles_x = unsigned((w + kTileW - 1) / kTileW), tiles_y = unsigned((h + kTileH - 1) / kTileH);
  require(tiles_y <= 65535, "h", "at most " + std::to_string(65535 * kTileH), std::to_string(h));
  for (int64_t first = 0; first < n; first += 65535) {
    a.first_image = first;
    const dim3 blocks(tiles_x, tiles_y, unsigned(std::min<int64_t>(n - first, 65535)));
    kernel<<<blocks, threads, bytes, stream>>>(a);
    UCFAST_LAUNCH_CHECK("nlm_kernel");
  }
}

}  // namespace ucfast::cuda
