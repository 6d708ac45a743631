// The tiled non-local means of one block, shared by nlm_kernel (csrc/cuda/nlm.cu, the nlm op) and the
// fused variants kernel (csrc/cuda/variants.cu): the shared-memory layout, the weight tables' staging
// and the loop over the search offsets. Bit for bit cv2.fastNlMeansDenoisingColored
// (shared/SPEC-denoisers.md section 3); every sum is an exact integer, so the order does not matter.
//
// A block owns a kTileH x kTileW output tile of one image. The caller stages the tile's extended Lab
// region (border template/2 + search/2) into the int16 planes tl, ta, tb (row stride ew); then for
// each search offset:
//   phase A: a task (template-grid row r, kSeg columns) computes the squared differences of its
//            kSeg + 2*t2 columns and their horizontal template sums H(r, x), sliding, into shared memory;
//   phase B: a thread (column x, kSeg output rows) sums H vertically, sliding, looks the weights up
//            and accumulates in registers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/ops.h"
#include "ucfast/pixel_math.h"

namespace ucfast::cuda::nlm_tile {

constexpr int kTileW = 32;                                     // output columns per block
constexpr int kTileH = 32;                                     // output rows per block
constexpr int kSeg = 4;                                        // outputs per task in phases A and B
constexpr int kPhaseB = kTileW * (kTileH / kSeg);              // 256 phase-B threads
constexpr int kThreads = (kTileH + 6) * (kTileW / kSeg) + 16;  // 320: phase A of template 7 in one round
constexpr int kSharedTable = 2048;  // weight tables up to this many entries go to shared memory

struct Weights {
  const int32_t* l;  // L plane: weight of D >> shift, clamped to len_l - 1
  int len_l;
  const int32_t* ab;  // ab plane
  int len_ab;
  int shift;
};

// Where everything lives in the block's dynamic shared memory, for template half t2 and search half s2.
struct Layout {
  int t2, s2, border, ew, eh, grid_rows;
  bool shared_table;
  int table_len;

  __host__ __device__ Layout(int t2_, int s2_, const Weights& w)
      : t2(t2_), s2(s2_), border(t2_ + s2_), ew(kTileW + 2 * (t2_ + s2_)), eh(kTileH + 2 * (t2_ + s2_)),
        grid_rows(kTileH + 2 * t2_), shared_table(w.len_l + w.len_ab <= kSharedTable),
        table_len(shared_table ? w.len_l + w.len_ab : 0) {}

  // Bytes of the NLM part: [grid_rows][kTileW] int32 sums of L and of ab, the tables, three int16 planes.
  __host__ __device__ size_t bytes() const {
    return sizeof(int32_t) * (2 * grid_rows * kTileW + table_len) + sizeof(int16_t) * 3 * eh * ew;
  }
};

struct Tile {
  int32_t* hl;     // [grid_rows][kTileW] horizontal sums, L
  int32_t* hab;    // [grid_rows][kTileW] horizontal sums, ab
  int32_t* table;  // [len_l + len_ab] when shared_table
  int16_t* tl;     // [eh][ew] L
  int16_t* ta;     // a
  int16_t* tb;     // b
  uint8_t* end;    // the first byte after the NLM part
};

__device__ __forceinline__ Tile carve(void* smem, const Layout& g) {
  Tile t;
  t.hl = static_cast<int32_t*>(smem);
  t.hab = t.hl + g.grid_rows * kTileW;
  t.table = t.hab + g.grid_rows * kTileW;
  t.tl = reinterpret_cast<int16_t*>(t.table + g.table_len);
  t.ta = t.tl + g.eh * g.ew;
  t.tb = t.ta + g.eh * g.ew;
  t.end = reinterpret_cast<uint8_t*>(t.tb + g.eh * g.ew);
  return t;
}

// Copies the weight tables to shared memory when they fit (the caller synchronises before the loop).
__device__ __forceinline__ void stage_tables(const Tile& t, const Layout& g, const Weights& w) {
  if (!g.shared_table) return;
  for (int i = threadIdx.x; i < w.len_l; i += blockDim.x) t.table[i] = w.l[i];
  for (int i = threadIdx.x; i < w.len_ab; i += blockDim.x) t.table[w.len_l + i] = w.ab[i];
}

// Per phase-B thread: weight sums and estimates of its kSeg outputs.
struct Acc {
  uint32_t wsum_l[kSeg], est_l[kSeg], wsum_ab[kSeg], est_a[kSeg], est_b[kSeg];

  // The denoised Lab value of output j of this thread.
  __device__ __forceinline__ void lab(int j, int& l, int& a, int& b) const {
    l = nlm_estimate(est_l[j], wsum_l[j]);
    a = nlm_estimate(est_a[j], wsum_ab[j]);
    b = nlm_estimate(est_b[j], wsum_ab[j]);
  }
};

// Phase A: H[r][x] (L and ab) for every template-grid row r and tile column x, at offset `off`.
// Grid (r, c) is tile (r + s2, c + s2).
template <int T2>
__device__ void horizontal_sums(const Tile& t, const Layout& g, int off) {
  const int t2 = T2 > 0 ? T2 : g.t2, s2 = g.s2, ew = g.ew;
  constexpr int kGroups = kTileW / kSeg;
  for (int task = threadIdx.x; task < g.grid_rows * kGroups; task += blockDim.x) {
    const int r = task / kGroups, x0 = (task % kGroups) * kSeg;
    const int ref0 = (r + s2) * ew + x0 + s2;
    int32_t* out_l = t.hl + r * kTileW + x0;
    int32_t* out_ab = t.hab + r * kTileW + x0;
    if constexpr (T2 > 0) {
      constexpr int kCols = kSeg + 2 * T2;
      int sl[kCols], sab[kCols];
#pragma unroll
      for (int k = 0; k < kCols; ++k) {
        const int ref = ref0 + k, cand = ref + off;
        const int dl = t.tl[ref] - t.tl[cand], da = t.ta[ref] - t.ta[cand], db = t.tb[ref] - t.tb[cand];
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
          const int dl = t.tl[ref] - t.tl[cand], da = t.ta[ref] - t.ta[cand], db = t.tb[ref] - t.tb[cand];
          sum_l += dl * dl;
          sum_ab += da * da + db * db;
        }
        out_l[j] = sum_l;
        out_ab[j] = sum_ab;
      }
    }
  }
}

// The loop over the search offsets; every thread of the block calls it after staging and one
// __syncthreads. Phase-B threads (threadIdx.x < kPhaseB) own column x = tid % kTileW and rows
// y0 .. y0 + kSeg - 1 with y0 = (tid / kTileW) * kSeg.
template <int T2>
__device__ void accumulate(const Tile& t, const Layout& g, const Weights& w, Acc& acc) {
  const int t2 = T2 > 0 ? T2 : g.t2, s2 = g.s2, ew = g.ew, border = g.border;
  const int32_t* wl_tab = g.shared_table ? t.table : w.l;
  const int32_t* wab_tab = g.shared_table ? t.table + w.len_l : w.ab;
  const uint32_t cap_l = uint32_t(w.len_l - 1), cap_ab = uint32_t(w.len_ab - 1);
  const int tid = threadIdx.x, x = tid % kTileW, y0 = (tid / kTileW) * kSeg;
#pragma unroll
  for (int j = 0; j < kSeg; ++j) acc.wsum_l[j] = acc.est_l[j] = acc.wsum_ab[j] = acc.est_a[j] = acc.est_b[j] = 0;

  for (int dy = -s2; dy <= s2; ++dy) {
    for (int dx = -s2; dx <= s2; ++dx) {
      horizontal_sums<T2>(t, g, dy * ew + dx);
      __syncthreads();
      if (tid < kPhaseB) {
        int32_t dl = 0, dab = 0;
        for (int k = 0; k <= 2 * t2; ++k) {
          dl += t.hl[(y0 + k) * kTileW + x];
          dab += t.hab[(y0 + k) * kTileW + x];
        }
#pragma unroll
        for (int j = 0; j < kSeg; ++j) {
          if (j > 0) {
            dl += t.hl[(y0 + j + 2 * t2) * kTileW + x] - t.hl[(y0 + j - 1) * kTileW + x];
            dab += t.hab[(y0 + j + 2 * t2) * kTileW + x] - t.hab[(y0 + j - 1) * kTileW + x];
          }
          const uint32_t il = min(uint32_t(dl) >> w.shift, cap_l);
          const uint32_t iab = min(uint32_t(dab) >> w.shift, cap_ab);
          const uint32_t wl = uint32_t(wl_tab[il]), wab = uint32_t(wab_tab[iab]);
          const int cand = (y0 + j + border + dy) * ew + (x + border + dx);
          acc.wsum_l[j] += wl;
          acc.est_l[j] += wl * uint32_t(t.tl[cand]);
          acc.wsum_ab[j] += wab;
          acc.est_a[j] += wab * uint32_t(t.ta[cand]);
          acc.est_b[j] += wab * uint32_t(t.tb[cand]);
        }
      }
      __syncthreads();
    }
  }
}

// Host side (csrc/cuda/nlm.cu): the argument checks of NlmParams, each naming its argument; the
// weights as the kernels take them; the check that `bytes` of dynamic shared memory fit the device
// and the kernel attribute that allows them.
void check_params(const NlmParams& p);
Weights weights_of(const NlmParams& p);
void allow_shared(const void* kernel, size_t bytes, const NlmParams& p);

}  // namespace ucfast::cuda::nlm_tile
