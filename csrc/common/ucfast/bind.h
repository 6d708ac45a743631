// Argument conversions shared by the pybind11 modules: Python passes raw addresses
// (tensor.data_ptr()) and element strides (tensor.stride()) as integers.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "ucfast/common.h"
#include "ucfast/lab.h"
#include "ucfast/variants_args.h"

namespace ucfast::bind {

using Ptr = std::uintptr_t;
using StrideList = std::array<int64_t, 4>;

template <typename T>
T* ptr(Ptr p) {
  return reinterpret_cast<T*>(p);
}

inline Strides4 strides(const StrideList& s) { return {s[0], s[1], s[2], s[3]}; }

// The six Lab lookup tables (ucfast.compiled builds them from the reference), by address.
inline LabTables lab_tables(const std::array<Ptr, 6>& t) {
  return {ptr<const int32_t>(t[0]), ptr<const int32_t>(t[1]), ptr<const int32_t>(t[2]),
          ptr<const int32_t>(t[3]), ptr<const int32_t>(t[4]), ptr<const int32_t>(t[5])};
}

inline VariantsArgs variants_args(Ptr x, int x_type, const StrideList& xs, const std::vector<Ptr>& denoised, Ptr out,
                                  int out_type, const StrideList& os, int64_t b, int64_t h, int64_t w, float amplify,
                                  const std::array<float, 3>& mean, const std::array<float, 3>& std_) {
  VariantsArgs a;
  a.x = ptr<const void>(x);
  a.x_type = static_cast<DType>(x_type);
  a.xs = strides(xs);
  for (Ptr d : denoised) a.denoised.push_back(ptr<const uint8_t>(d));
  a.out = ptr<void>(out);
  a.out_type = static_cast<DType>(out_type);
  a.os = strides(os);
  a.b = b;
  a.h = h;
  a.w = w;
  a.amplify = amplify;
  for (int c = 0; c < 3; ++c) {
    a.mean[c] = mean[c];
    a.std[c] = std_[c];
  }
  return a;
}

}  // namespace ucfast::bind
