// The medians on CUDA: UltraClean's 2 x 2 x 3 cross-channel median (one thread per pixel, all three
// channels) and the per-channel k x k median (one thread per output value; a sorting network for
// k = 3 and 5, a bisection on the value for larger k).
#include "cuda/check.h"
#include "cuda/ops.h"
#include "ucfast/sort_network.h"

namespace ucfast::cuda {
namespace {

constexpr int kBlock = 256;

// [n, 3, h, w] any strides -> [n, 3, h, w] contiguous.
__global__ void median_kernel(const uint8_t* __restrict__ src, Strides4 s, uint8_t* __restrict__ dst, int64_t n,
                              int64_t h, int64_t w) {
  const int64_t plane = h * w, total = n * plane;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t x = i % w, y = (i / w) % h, img = i / plane;
    const int64_t ym = y > 0 ? y - 1 : 0, xm = x > 0 ? x - 1 : 0;  // row / column -1 reads 0 (reflect)
    int win[3][4];
#pragma unroll
    for (int c = 0; c < 3; ++c) {
      const uint8_t* p = src + img * s.n + c * s.c;
      win[c][0] = p[ym * s.y + xm * s.x];
      win[c][1] = p[ym * s.y + x * s.x];
      win[c][2] = p[y * s.y + xm * s.x];
      win[c][3] = p[y * s.y + x * s.x];
    }
    // Channel windows {c-1, c, c+1} with channel -1 reading 0 and channel 3 reading 2.
    int v0[12], v1[12], v2[12];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      v0[j] = win[0][j], v0[4 + j] = win[0][j], v0[8 + j] = win[1][j];
      v1[j] = win[0][j], v1[4 + j] = win[1][j], v1[8 + j] = win[2][j];
      v2[j] = win[1][j], v2[4 + j] = win[2][j], v2[8 + j] = win[2][j];
    }
    uint8_t* o = dst + img * 3 * plane + y * w + x;
    o[0] = static_cast<uint8_t>(select_rank<12, 6>(v0));  // the 7th smallest: the upper middle
    o[plane] = static_cast<uint8_t>(select_rank<12, 6>(v1));
    o[2 * plane] = static_cast<uint8_t>(select_rank<12, 6>(v2));
  }
}

template <int K>
__device__ int kxk_network(const uint8_t* p, Strides4 s, const int32_t* rows, const int32_t* cols, int64_t y,
                           int64_t x) {
  int v[K * K];
#pragma unroll
  for (int i = 0; i < K; ++i)
#pragma unroll
    for (int j = 0; j < K; ++j) v[i * K + j] = p[int64_t(rows[y + i]) * s.y + int64_t(cols[x + j]) * s.x];
  return select_rank<K * K, K * K / 2>(v);
}

// The (k*k/2)-th smallest as the least value v with #{values <= v} > k*k/2, by bisection over 0..255.
__device__ int kxk_bisect(const uint8_t* p, Strides4 s, const int32_t* rows, const int32_t* cols, int64_t y,
                          int64_t x, int k) {
  const int rank = k * k / 2;
  int lo = 0, hi = 255;
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    int count = 0;
    for (int i = 0; i < k; ++i) {
      const uint8_t* row = p + int64_t(rows[y + i]) * s.y;
      for (int j = 0; j < k; ++j) count += row[int64_t(cols[x + j]) * s.x] <= mid;
    }
    if (count > rank) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

// rows / cols map extended indices (k/2 before and after) to source indices.
__global__ void median_kxk_kernel(const uint8_t* __restrict__ src, Strides4 s, uint8_t* __restrict__ dst, int64_t n,
                                  int64_t h, int64_t w, int k, const int32_t* __restrict__ rows,
                                  const int32_t* __restrict__ cols) {
  const int64_t total = n * 3 * h * w;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t x = i % w, y = (i / w) % h, c = (i / (h * w)) % 3, img = i / (3 * h * w);
    const uint8_t* p = src + img * s.n + c * s.c;
    int m;
    if (k == 1) {
      m = p[y * s.y + x * s.x];
    } else if (k == 3) {
      m = kxk_network<3>(p, s, rows, cols, y, x);
    } else if (k == 5) {
      m = kxk_network<5>(p, s, rows, cols, y, x);
    } else {
      m = kxk_bisect(p, s, rows, cols, y, x, k);
    }
    dst[i] = static_cast<uint8_t>(m);
  }
}

}  // namespace

void median(const uint8_t* src, Strides4 s, uint8_t* dst, int64_t n, int64_t h, int64_t w, cudaStream_t stream) {
  require_ptr(src, "src");
  require_ptr(dst, "dst");
  require(n >= 0 && h >= 0 && w >= 0, "n, h, w", "non-negative", "a negative size");
  if (n * h * w == 0) return;
  median_kernel<<<grid_for(n * h * w, kBlock), kBlock, 0, stream>>>(src, s, dst, n, h, w);
  UCFAST_LAUNCH_CHECK("median_kernel");
}

void median_kxk(const uint8_t* src, Strides4 s, uint8_t* dst, int64_t n, int64_t h, int64_t w, int k,
                const int32_t* rows, const int32_t* cols, cudaStream_t stream) {
  require_ptr(src, "src");
  require_ptr(dst, "dst");
  require(k >= 1 && k % 2 == 1, "k", "a positive odd integer", std::to_string(k));
  require_ptr(rows, "rows");
  require_ptr(cols, "cols");
  require(n >= 0 && h >= 0 && w >= 0, "n, h, w", "non-negative", "a negative size");
  if (n * h * w == 0) return;
  median_kxk_kernel<<<grid_for(n * 3 * h * w, kBlock), kBlock, 0, stream>>>(src, s, dst, n, h, w, k, rows, cols);
  UCFAST_LAUNCH_CHECK("median_kxk_kernel");
}

}  // namespace ucfast::cuda
