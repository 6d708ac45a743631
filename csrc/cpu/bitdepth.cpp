// The colour-depth reduction on the CPU: a 256-entry table (built by ucfast/reference/bitdepth.py)
// applied to every pixel.
#include "cpu/ops.h"
#include "cpu/parallel.h"

namespace ucfast::cpu {

void lookup(const uint8_t* src, Strides4 s, uint8_t* dst, int64_t n, int64_t h, int64_t w, const uint8_t* table,
            int threads) {
  parallel_for(n * 3 * h, threads, [&](int64_t item) {  // item = (img * 3 + c) * h + y
    const int64_t y = item % h, c = (item / h) % 3, img = item / (3 * h);
    const uint8_t* p = src + img * s.n + c * s.c + y * s.y;
    uint8_t* out = dst + item * w;
    for (int64_t x = 0; x < w; ++x) out[x] = table[p[x * s.x]];
  });
}

}  // namespace ucfast::cpu
