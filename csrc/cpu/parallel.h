// OpenMP helpers and the function multiversioning of the hot loops.
#pragma once

#include <cstdint>

#if defined(_OPENMP)
#include <omp.h>
#endif

// Hot loops get an x86-64-v3 clone (AVX2, FMA) next to the baseline one (x86-64 with GCC): the
// loader picks the clone the CPU supports, so the wheel stays portable without -march=native.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__CUDACC__)
#define UCFAST_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define UCFAST_CLONES
#endif

namespace ucfast::cpu {

// fn(i) for i in [0, count), spread over `threads` OpenMP threads.
template <typename Fn>
void parallel_for(int64_t count, int threads, Fn&& fn, bool dynamic = false) {
  if (count <= 0) return;
  const int nt = static_cast<int>(threads < 1 ? 1 : (count < threads ? count : threads));
  if (dynamic) {
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t i = 0; i < count; ++i) fn(i);
  } else {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < count; ++i) fn(i);
  }
}

inline int max_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace ucfast::cpu
