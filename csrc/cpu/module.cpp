// ucfast._cpu: the CPU kernels as a Python module. Arguments are raw pointers (tensor.data_ptr()),
// sizes and element strides; the Python side (ucfast/compiled.py) validates tensors and owns
// the torch integration. Every kernel releases the GIL while it runs.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "cpu/ops.h"
#include "cpu/parallel.h"
#include "ucfast/bind.h"

namespace py = pybind11;
using ucfast::DType;
using ucfast::Strides4;
using ucfast::bind::lab_tables;
using ucfast::bind::Ptr;
using ucfast::bind::ptr;
using ucfast::bind::StrideList;
using ucfast::bind::strides;

namespace {

py::dict build_info() {
  py::dict info;
#if defined(__clang__)
  info["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  info["compiler"] = std::string("gcc ") + __VERSION__;
#else
  info["compiler"] = std::string("unknown");
#endif
#if defined(_OPENMP)
  info["openmp"] = static_cast<int>(_OPENMP);
#else
  info["openmp"] = 0;
#endif
  info["max_threads"] = ucfast::cpu::max_threads();
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
  info["simd_clones"] = std::string("x86-64-v3, default");
#else
  info["simd_clones"] = std::string("none");
#endif
  info["cxx_standard"] = static_cast<long>(__cplusplus);
  return info;
}

}  // namespace

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "ucfast CPU kernels (C++17, OpenMP); called through ucfast.compiled";
  m.def("build_info", &build_info, "Compiler, OpenMP version and thread count of this build");

  m.def(
      "median",
      [](Ptr src, const StrideList& s, Ptr dst, int64_t n, int64_t h, int64_t w, int threads) {
        py::gil_scoped_release nogil;
        ucfast::cpu::median(ptr<const uint8_t>(src), strides(s), ptr<uint8_t>(dst), n, h, w, threads);
      },
      py::arg("src"), py::arg("src_strides"), py::arg("dst"), py::arg("n"), py::arg("h"), py::arg("w"),
      py::arg("threads"));

  m.def(
      "median_kxk",
      [](Ptr src, const StrideList& s, Ptr dst, int64_t n, int64_t h, int64_t w, int k, Ptr rows, Ptr cols,
         int threads) {
        py::gil_scoped_release nogil;
        ucfast::cpu::median_kxk(ptr<const uint8_t>(src), strides(s), ptr<uint8_t>(dst), n, h, w, k,
                                ptr<const int32_t>(rows), ptr<const int32_t>(cols), threads);
      },
      py::arg("src"), py::arg("src_strides"), py::arg("dst"), py::arg("n"), py::arg("h"), py::arg("w"), py::arg("k"),
      py::arg("rows"), py::arg("cols"), py::arg("threads"));

  m.def(
      "lookup",
      [](Ptr src, const StrideList& s, Ptr dst, int64_t n, int64_t h, int64_t w, Ptr table, int threads) {
        py::gil_scoped_release nogil;
        ucfast::cpu::lookup(ptr<const uint8_t>(src), strides(s), ptr<uint8_t>(dst), n, h, w,
                            ptr<const uint8_t>(table), threads);
      },
      py::arg("src"), py::arg("src_strides"), py::arg("dst"), py::arg("n"), py::arg("h"), py::arg("w"),
      py::arg("table"), py::arg("threads"));

  m.def(
      "nlm",
      [](Ptr src, const StrideList& s, Ptr dst, int64_t n, int64_t h, int64_t w, const std::array<Ptr, 6>& lab,
         Ptr weights_l, int64_t len_l, Ptr weights_ab, int64_t len_ab, int shift, int template_size,
         int search_size, Ptr rows, Ptr cols, int threads) {
        ucfast::cpu::NlmParams p{lab_tables(lab),
                                 {{ptr<const int32_t>(weights_l), len_l}, {ptr<const int32_t>(weights_ab), len_ab}},
                                 shift,
                                 template_size,
                                 search_size,
                                 ptr<const int32_t>(rows),
                                 ptr<const int32_t>(cols)};
        py::gil_scoped_release nogil;
        ucfast::cpu::nlm(ptr<const uint8_t>(src), strides(s), ptr<uint8_t>(dst), n, h, w, p, threads);
      },
      py::arg("src"), py::arg("src_strides"), py::arg("dst"), py::arg("n"), py::arg("h"), py::arg("w"),
      py::arg("lab_tables"), py::arg("weights_l"), py::arg("len_l"), py::arg("weights_ab"), py::arg("len_ab"),
      py::arg("shift"), py::arg("template_size"), py::arg("search_size"), py::arg("rows"), py::arg("cols"),
      py::arg("threads"));

  m.def(
      "variants",
      [](Ptr x, int x_type, const StrideList& xs, const std::vector<Ptr>& denoised, Ptr out, int out_type,
         const StrideList& os, int64_t b, int64_t h, int64_t w, float amplify, const std::array<float, 3>& mean,
         const std::array<float, 3>& std_, int threads) {
        const ucfast::VariantsArgs a = ucfast::bind::variants_args(x, x_type, xs, denoised, out, out_type, os, b, h, w,
                                                                   amplify, mean, std_);
        py::gil_scoped_release nogil;
        ucfast::cpu::variants(a, threads);
      },
      py::arg("x"), py::arg("x_type"), py::arg("x_strides"), py::arg("denoised"), py::arg("out"),
      py::arg("out_type"), py::arg("out_strides"), py::arg("b"), py::arg("h"), py::arg("w"), py::arg("amplify"),
      py::arg("mean"), py::arg("std"), py::arg("threads"));

  m.def(
      "susceptibility",
      [](Ptr logits, int64_t row_stride, int64_t v, int64_t b, int64_t k, int space, int distance, Ptr total,
         Ptr dist, Ptr pred, int threads) {
        py::gil_scoped_release nogil;
        ucfast::cpu::susceptibility(ptr<const float>(logits), row_stride, v, b, k, space, distance, ptr<float>(total),
                                    ptr<float>(dist), ptr<int64_t>(pred), threads);
      },
      py::arg("logits"), py::arg("row_stride"), py::arg("v"), py::arg("b"), py::arg("k"), py::arg("space"),
      py::arg("distance"), py::arg("total"), py::arg("dist"), py::arg("pred"), py::arg("threads"));
}
