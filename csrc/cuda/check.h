// Error handling of the CUDA launchers: every CUDA call and every launch is checked, and argument
// checks name the argument. Errors become Python exceptions through pybind11
// (std::invalid_argument -> ValueError, std::runtime_error -> RuntimeError).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace ucfast::cuda {

inline void check(cudaError_t err, const char* what, const char* file, int line) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("ucfast CUDA error in ") + what + " (" + file + ":" + std::to_string(line) +
                             "): " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
  }
}

// An argument check that names the argument, what was expected and what was seen.
inline void require(bool ok, const char* arg, const std::string& expected, const std::string& got) {
  if (!ok) {
    throw std::invalid_argument(std::string("ucfast._cuda: argument '") + arg + "' must be " + expected + ", got " +
                                got);
  }
}

inline void require_ptr(const void* p, const char* arg) { require(p != nullptr, arg, "a non-null pointer", "null"); }

inline void require_size(int64_t v, const char* arg, int64_t lo, int64_t hi) {
  require(v >= lo && v <= hi, arg, "in " + std::to_string(lo) + ".." + std::to_string(hi), std::to_string(v));
}

// Blocks for a grid-stride loop over `total` items.
inline unsigned grid_for(int64_t total, int block) {
  const int64_t blocks = (total + block - 1) / block;
  return static_cast<unsigned>(blocks < (int64_t(1) << 20) ? (blocks > 0 ? blocks : 1) : (int64_t(1) << 20));
}

}  // namespace ucfast::cuda

#define UCFAST_CUDA_CHECK(expr) ::ucfast::cuda::check((expr), #expr, __FILE__, __LINE__)
#define UCFAST_LAUNCH_CHECK(name) ::ucfast::cuda::check(cudaGetLastError(), "launch of " name, __FILE__, __LINE__)
