// Reading pixel rows of [N, C, H, W] tensors in any strides.
#pragma once

#include <cstdint>
#include <cstring>

#include "ucfast/common.h"

namespace ucfast::cpu {

// Source row y of channel c of image img, gathered into dst[0 .. w).
inline void gather_row(const uint8_t* src, Strides4 s, int64_t img, int64_t c, int64_t y, int64_t w, uint8_t* dst) {
  const uint8_t* p = src + img * s.n + c * s.c + y * s.y;
  if (s.x == 1) {
    std::memcpy(dst, p, static_cast<size_t>(w));
  } else {
    for (int64_t x = 0; x < w; ++x) dst[x] = p[x * s.x];
  }
}

}  // namespace ucfast::cpu
