// ucfast._cuda: the CUDA kernels as a Python module. Arguments are raw device pointers
// (tensor.data_ptr()), sizes, element strides, the device index and the CUDA stream
// (torch.cuda.current_stream().cuda_stream); the Python side (ucfast/ops/cuda.py) validates
// tensors and owns the torch integration. The CUDA runtime is linked statically and the module
// imports without a driver or a GPU: device_count() is then 0.
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/check.h"
#include "cuda/ops.h"
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

cudaStream_t stream_of(Ptr s) { return reinterpret_cast<cudaStream_t>(s); }

// Makes `device` current for the scope of a launch and restores the previous device.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    UCFAST_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) UCFAST_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() { cudaSetDevice(previous_); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver / no device" error
    return 0;
  }
  return count;
}

py::dict build_info() {
  py::dict info;
  info["archs"] = std::string(UCFAST_CUDA_ARCHS);
  info["cuda_version"] = std::string(UCFAST_CUDA_VERSION);
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  if (cudaDriverGetVersion(&driver) != cudaSuccess) cudaGetLastError();
  info["runtime_version"] = runtime;
  info["driver_version"] = driver;
  info["device_count"] = device_count();
#if defined(__GNUC__)
  info["host_compiler"] = std::string("gcc ") + __VERSION__;
#endif
  return info;
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "ucfast CUDA kernels; called through ucfast.compiled";
  m.def("device_count", &device_count, "CUDA devices visible to this module (0 without a driver)");
  m.def("build_info", &build_info, "CUDA architectures and versions of this build");

  m.def(
      "median",
      [](Ptr src, const StrideList& s, Ptr dst, int64_t n, int64_t h, int64_t w, int device, Ptr stream) {
        py::gil_scoped_release nogil;
        DeviceGuard guard(device);
        ucfast::cuda::median(ptr<const uint8_t>(src), strides(s), ptr<uint8_t>(dst), n, h, w, stream_of(stream));
      },
      py::arg("src"), py::arg("src_strides"), py::arg("dst"), py::arg("n"), py::arg("h"), py::arg("w"),
      py::arg("device"), py::arg("stream"));

  m.def(
      "median_kxk",
      [](Ptr src, const StrideList& s, Ptr dst, int64_t n, int64_t h, int64_t w, int k, Ptr rows, Ptr cols,
         int device, Ptr stream) {
        py::gil_scoped_release nogil;
        DeviceGuard guard(device);
        ucfast::cuda::median_kxk(ptr<const uint8_t>(src), strides(s), ptr<uint8_t>(dst), n, h, w, k,
                                 ptr<const int32_t>(rows), ptr<const int32_t>(cols), stream_of(stream));
      },
      py::arg("src"), py::arg("src_strides"), py::arg("dst"), py::arg("n"), py::arg("h"), py::arg("w"), py::arg("k"),
      py::arg("rows"), py::arg("cols"), py::arg("device"), py::arg("stream"));

  m.def(
      "lookup",
      [](Ptr src, const StrideList& s, Ptr dst, int64_t n, int64_t h, int64_t w, Ptr table, int device, Ptr stream) {
        py::gil_scoped_release nogil;
        DeviceGuard guard(device);
        ucfast::cuda::lookup(ptr<const uint8_t>(src), strides(s), ptr<uint8_t>(dst), n, h, w,
                             ptr<const uint8_t>(table), stream_of(stream));
      },
      py::arg("src"), py::arg("src_strides"), py::arg("dst"), py::arg("n"), py::arg("h"), py::arg("w"),
      py::arg("table"), py::arg("device"), py::arg("stream"));

  m.def(
      "nlm",
      [](Ptr src, const StrideList& s, Ptr dst, int64_t n, int64_t h, int64_t w, const std::array<Ptr, 6>& lab,
         Ptr weights_l, int64_t len_l, Ptr weights_ab, int64_t len_ab, int shift, int template_size,
         int search_size, Ptr rows, Ptr cols, Ptr scratch, int device, Ptr stream) {
        ucfast::cuda::NlmParams p{lab_tables(lab), ptr<const int32_t>(weights_l), len_l,
                                  ptr<const int32_t>(weights_ab), len_ab, shift, template_size, search_size,
                                  ptr<const int32_t>(rows), ptr<const int32_t>(cols)};
        py::gil_scoped_release nogil;
        DeviceGuard guard(device);
        ucfast::cuda::nlm(ptr<const uint8_t>(src), strides(s), ptr<uint8_t>(dst), ptr<uint8_t>(scratch), n, h, w, p,
                          stream_of(stream));
      },
      py::arg("src"), py::arg("src_strides"), py::arg("dst"), py::arg("n"), py::arg("h"), py::arg("w"),
      py::arg("lab_tables"), py::arg("weights_l"), py::arg("len_l"), py::arg("weights_ab"), py::arg("len_ab"),
      py::arg("shift"), py::arg("template_size"), py::arg("search_size"), py::arg("rows"), py::arg("cols"),
      py::arg("scratch"), py::arg("device"), py::arg("stream"));

  m.def(
      "variants",
      [](Ptr x, int x_type, const StrideList& xs, const std::vector<int>& denoisers, Ptr out, int out_type,
         const StrideList& os, int64_t b, int64_t h, int64_t w, float amplify, const std::array<float, 3>& mean,
         const std::array<float, 3>& std_, const std::array<Ptr, 6>& lab, Ptr weights_l, int64_t len_l,
         Ptr weights_ab, int64_t len_ab, int shift, int template_size, int search_size, Ptr rows, Ptr cols,
         Ptr bitdepth, int device, Ptr stream) {
        ucfast::cuda::FusedVariantsArgs a{ptr<const void>(x),
                                          static_cast<DType>(x_type),
                                          strides(xs),
                                          denoisers,
                                          ptr<void>(out),
                                          static_cast<DType>(out_type),
                                          strides(os),
                                          b,
                                          h,
                                          w,
                                          amplify,
                                          {mean[0], mean[1], mean[2]},
                                          {std_[0], std_[1], std_[2]},
                                          {lab_tables(lab), ptr<const int32_t>(weights_l), len_l,
                                           ptr<const int32_t>(weights_ab), len_ab, shift, template_size, search_size,
                                           ptr<const int32_t>(rows), ptr<const int32_t>(cols)},
                                          ptr<const uint8_t>(bitdepth)};
        py::gil_scoped_release nogil;
        DeviceGuard guard(device);
        ucfast::cuda::variants(a, stream_of(stream));
      },
      py::arg("x"), py::arg("x_type"), py::arg("x_strides"), py::arg("denoisers"), py::arg("out"),
      py::arg("out_type"), py::arg("out_strides"), py::arg("b"), py::arg("h"), py::arg("w"), py::arg("amplify"),
      py::arg("mean"), py::arg("std"), py::arg("lab_tables"), py::arg("weights_l"), py::arg("len_l"),
      py::arg("weights_ab"), py::arg("len_ab"), py::arg("shift"), py::arg("template_size"), py::arg("search_size"),
      py::arg("rows"), py::arg("cols"), py::arg("bitdepth"), py::arg("device"), py::arg("stream"));

  m.def(
      "susceptibility",
      [](Ptr logits, int dtype, int64_t row_stride, int64_t v, int64_t b, int64_t k, int space, int distance,
         Ptr total, Ptr dist, Ptr pred, int device, Ptr stream) {
        py::gil_scoped_release nogil;
        DeviceGuard guard(device);
        ucfast::cuda::susceptibility(ptr<const void>(logits), static_cast<DType>(dtype), row_stride, v, b, k, space,
                                     distance, ptr<float>(total), ptr<float>(dist), ptr<int64_t>(pred),
                                     stream_of(stream));
      },
      py::arg("logits"), py::arg("dtype"), py::arg("row_stride"), py::arg("v"), py::arg("b"), py::arg("k"),
      py::arg("space"), py::arg("distance"), py::arg("total"), py::arg("dist"), py::arg("pred"), py::arg("device"),
      py::arg("stream"));
}
