// The medians on the CPU: UltraClean's 2 x 2 x 3 cross-channel median and the per-channel k x k one.
// Both gather each source row once into a contiguous, border-extended row, then apply a sorting
// network across a whole row of pixels (vectorised min/max) or, for large k, std::nth_element.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/ops.h"
#include "cpu/parallel.h"
#include "cpu/pixels.h"
#include "ucfast/pixel_math.h"
#include "ucfast/sort_network.h"

namespace ucfast::cpu {
namespace {

// One output row of the 2 x 2 x 3 median. up[c] / cur[c]: rows y-1 and y of channel c, each
// extended by one reflected column on the left (index 0 is column -1). [3][W+1] -> out[3][W].
UCFAST_CLONES void median_row(const uint8_t* const* up, const uint8_t* const* cur, uint8_t* const* out, int64_t w) {
  const uint8_t *__restrict u0 = up[0], *__restrict u1 = up[1], *__restrict u2 = up[2];
  const uint8_t *__restrict c0 = cur[0], *__restrict c1 = cur[1], *__restrict c2 = cur[2];
  uint8_t *__restrict o0 = out[0], *__restrict o1 = out[1], *__restrict o2 = out[2];
  for (int64_t x = 0; x < w; ++x) {
    // 2 x 2 window of each channel, read in the order median_2x2x3 expects.
    const uint8_t a[4] = {u0[x], u0[x + 1], c0[x], c0[x + 1]};
    const uint8_t b[4] = {u1[x], u1[x + 1], c1[x], c1[x + 1]};
    const uint8_t d[4] = {u2[x], u2[x + 1], c2[x], c2[x + 1]};
    uint8_t m[3];
    median_2x2x3(a, b, d, m);
    o0[x] = m[0];
    o1[x] = m[1];
    o2[x] = m[2];
  }
}

template <int K>
UCFAST_CLONES void median_kxk_row_network(const uint8_t* const* rows, uint8_t* out, int64_t w) {
  for (int64_t x = 0; x < w; ++x) {
    uint8_t v[K * K];
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < K; ++j) v[i * K + j] = rows[i][x + j];
    out[x] = select_rank<K * K, K * K / 2>(v);
  }
}

void median_kxk_row_generic(const uint8_t* const* rows, uint8_t* out, int64_t w, int k, uint8_t* window) {
  const int count = k * k;
  for (int64_t x = 0; x < w; ++x) {
    for (int i = 0; i < k; ++i) std::memcpy(window + i * k, rows[i] + x, static_cast<size_t>(k));
    std::nth_element(window, window + count / 2, window + count);
    out[x] = window[count / 2];
  }
}

}  // namespace

void median(const uint8_t* src, Strides4 s, uint8_t* dst, int64_t n, int64_t h, int64_t w, int threads) {
  const int64_t plane = h * w;
  parallel_for(n * h, threads, [&](int64_t item) {
    const int64_t img = item / h, y = item % h;
    thread_local std::vector<uint8_t> buf;
    buf.resize(static_cast<size_t>(6 * (w + 1)));
    const uint8_t* up[3];
    const uint8_t* cur[3];
    uint8_t* out[3];
    for (int c = 0; c < 3; ++c) {
      uint8_t* u = buf.data() + (2 * c) * (w + 1);
      uint8_t* r = buf.data() + (2 * c + 1) * (w + 1);
      gather_row(src, s, img, c, y == 0 ? 0 : y - 1, w, u + 1);  // row -1 reads row 0
      gather_row(src, s, img, c, y, w, r + 1);
      u[0] = u[1];  // column -1 reads column 0
      r[0] = r[1];
      up[c] = u;
      cur[c] = r;
      out[c] = dst + (img * 3 + c) * plane + y * w;
    }
    median_row(up, cur, out, w);
  });
}

void median_kxk(const uint8_t* src, Strides4 s, uint8_t* dst, int64_t n, int64_t h, int64_t w, int k,
                const int32_t* rows, const int32_t* cols, int threads) {
  const int64_t plane = h * w, ew = w + k - 1;
  parallel_for(n * 3 * h, threads, [&](int64_t item) {
    const int64_t y = item % h, c = (item / h) % 3, img = item / (3 * h);
    thread_local std::vector<uint8_t> buf, line;
    buf.resize(static_cast<size_t>(k * ew + k * k));
    line.resize(static_cast<size_t>(w));
    std::vector<const uint8_t*> ptrs(static_cast<size_t>(k));
    for (int i = 0; i < k; ++i) {
      gather_row(src, s, img, c, rows[y + i], w, line.data());
      uint8_t* e = buf.data() + i * ew;
      for (int64_t x = 0; x < ew; ++x) e[x] = line[cols[x]];
      ptrs[i] = e;
    }
    uint8_t* out = dst + (img * 3 + c) * plane + y * w;
    switch (k) {
      case 1: std::memcpy(out, ptrs[0], static_cast<size_t>(w)); break;
      case 3: median_kxk_row_network<3>(ptrs.data(), out, w); break;
      case 5: median_kxk_row_network<5>(ptrs.data(), out, w); break;
      default: median_kxk_row_generic(ptrs.data(), out, w, k, buf.data() + k * ew);
    }
  });
}

}  // namespace ucfast::cpu
