// OpenCV's integer L*a*b* conversion of 8-bit pixels (COLOR_LBGR2Lab and COLOR_Lab2LBGR), bit for bit.
//
// The lookup tables and matrices are built once on the Python side by ucfast/reference/lab.py
// (the one construction of them) and handed over as arrays; this header holds only the integer
// arithmetic that reads them, a line-by-line transcription of `lbgr_to_lab` and `lab_to_lbgr` there.
// Channel 0 is what OpenCV calls B: the channel order is kept as given.
#pragma once

#include <cstdint>

#include "ucfast/common.h"

namespace ucfast {

struct LabTables {
  const int32_t* cbrt;     // [3072]  LabCbrtTab_b, f(x) scaled by 2^15
  const int32_t* forward;  // [3 * 3] row X|Y|Z, column src channel; fixed point >> 12
  const int32_t* inverse;  // [3 * 3] row output channel, column X|Y|Z; fixed point >> 14
  const int32_t* l_to_y;   // [256]   LabToYF_b, Y scaled by 2^14
  const int32_t* l_to_fy;  // [256]   LabToYF_b, f(Y) scaled by 2^14
  const int32_t* ab_to_xz; // [9216]  abToXZ_b, indexed by v - kMinAB
};

namespace lab {
constexpr int kXyzShift = 12;
constexpr int kGammaShift = 3;
constexpr int kLabShift2 = kXyzShift + kGammaShift;  // 15
constexpr int kBaseShift = 14;
constexpr int kBase = 1 << kBaseShift;
constexpr int kInvGammaShift = 12;
constexpr int kInvShift = kXyzShift + (kBaseShift - kInvGammaShift);  // 14
constexpr int kMinAB = -8145;
constexpr int kLScale = (116 * 255 + 50) / 100;                        // 296
constexpr int kLShift = -((16 * 255 * (1 << kLabShift2) + 50) / 100);  // -1336934
constexpr int kHalf2 = 1 << (kLabShift2 - 1);
constexpr int kAbBias = 128 * (1 << kLabShift2) + kHalf2;
constexpr int kADivMult = (kBase << 13) / 2500;
constexpr int kADivBias = 128 * kBase / 500;
constexpr int kBDivMult = (kBase << 9) / 200;
constexpr int kBDivBias = 128 * kBase / 200;
}  // namespace lab

UCFAST_HD uint8_t saturate_u8(int v) { return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v)); }

// One pixel (c0, c1, c2) -> (L, a, b).
UCFAST_HD void lbgr_to_lab(const LabTables& t, int c0, int c1, int c2, uint8_t& l, uint8_t& a, uint8_t& b) {
  using namespace lab;
  const int v0 = c0 << kGammaShift, v1 = c1 << kGammaShift, v2 = c2 << kGammaShift;
  const int* m = t.forward;
  const int half = 1 << (kXyzShift - 1);
  const int fx = t.cbrt[(m[0] * v0 + m[1] * v1 + m[2] * v2 + half) >> kXyzShift];
  const int fy = t.cbrt[(m[3] * v0 + m[4] * v1 + m[5] * v2 + half) >> kXyzShift];
  const int fz = t.cbrt[(m[6] * v0 + m[7] * v1 + m[8] * v2 + half) >> kXyzShift];
  l = saturate_u8((kLScale * fy + kLShift + kHalf2) >> kLabShift2);
  a = saturate_u8((500 * (fx - fy) + kAbBias) >> kLabShift2);
  b = saturate_u8((200 * (fy - fz) + kAbBias) >> kLabShift2);
}

// One pixel (L, a, b) -> (c0, c1, c2).
UCFAST_HD void lab_to_lbgr(const LabTables& t, int l, int a, int b, uint8_t& c0, uint8_t& c1, uint8_t& c2) {
  using namespace lab;
  const int y = t.l_to_y[l];
  const int fy = t.l_to_fy[l];
  const int a_div = ((5 * a * kADivMult + (1 << 7)) >> 13) - kADivBias;
  const int b_div = ((b * kBDivMult + (1 << 4)) >> 9) - kBDivBias + 1;
  const int x = t.ab_to_xz[fy + a_div - kMinAB];
  const int z = t.ab_to_xz[fy - b_div - kMinAB];
  const int* m = t.inverse;
  const int half = 1 << (kInvShift - 1);
  const int top = (1 << kInvGammaShift) - 1;
  int out[3];
  for (int c = 0; c < 3; ++c) {
    int v = (m[3 * c] * x + m[3 * c + 1] * y + m[3 * c + 2] * z + half) >> kInvShift;
    v = v < 0 ? 0 : (v > top ? top : v);
    out[c] = (v * 255) >> kInvGammaShift;
  }
  c0 = static_cast<uint8_t>(out[0]);
  c1 = static_cast<uint8_t>(out[1]);
  c2 = static_cast<uint8_t>(out[2]);
}

}  // namespace ucfast
