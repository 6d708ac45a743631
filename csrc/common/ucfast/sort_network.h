// Batcher's odd-even merge sort as a compile-time list of compare-exchanges, for branch-free
// order statistics of small windows (the medians). Each compare-exchange is a min and a max, so a
// loop over pixels that applies the network vectorises; the compiler drops the min/max operations
// that do not feed the rank that is read.
#pragma once

#include <type_traits>
#include <utility>

#include "ucfast/common.h"

namespace ucfast {

struct Exchange {
  int lo, hi;
};

constexpr int pow2_at_least(int n) {
  int p = 1;
  while (p < n) p *= 2;
  return p;
}

// The network for 2^k >= n inputs (Knuth's iterative form), less the exchanges that touch an
// input >= n: those inputs stand for +infinity, so every such exchange leaves its first input as is.
template <int N>
constexpr int batcher_size() {
  constexpr int P = pow2_at_least(N);
  int count = 0;
  for (int p = 1; p < P; p *= 2)
    for (int k = p; k >= 1; k /= 2)
      for (int j = k % p; j + k < P; j += 2 * k)
        for (int i = 0; i < k && i + j + k < P; ++i)
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p) && i + j + k < N) ++count;
  return count;
}

template <int S>
struct ExchangeList {
  Exchange e[S];
};

template <int N>
constexpr ExchangeList<batcher_size<N>()> batcher_network() {
  constexpr int P = pow2_at_least(N);
  ExchangeList<batcher_size<N>()> out{};
  int count = 0;
  for (int p = 1; p < P; p *= 2)
    for (int k = p; k >= 1; k /= 2)
      for (int j = k % p; j + k < P; j += 2 * k)
        for (int i = 0; i < k && i + j + k < P; ++i)
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p) && i + j + k < N) out.e[count++] = {i + j, i + j + k};
  return out;
}

template <int N>
struct Network {
  static constexpr int size = batcher_size<N>();
  static constexpr ExchangeList<size> list = batcher_network<N>();
  template <int I>
  using lo = std::integral_constant<int, list.e[I].lo>;
  template <int I>
  using hi = std::integral_constant<int, list.e[I].hi>;
};

template <typename T>
UCFAST_HD void compare_exchange(T& a, T& b) {
  const T lo = a < b ? a : b;
  const T hi = a < b ? b : a;
  a = lo;
  b = hi;
}

template <int N, typename T, int... I>
UCFAST_HD void apply_network(T* v, std::integer_sequence<int, I...>) {
  (compare_exchange(v[Network<N>::template lo<I>::value], v[Network<N>::template hi<I>::value]), ...);
}

// The R-th smallest (0-based) of the N values in v; v is reordered.
template <int N, int R, typename T>
UCFAST_HD T select_rank(T* v) {
  static_assert(0 <= R && R < N, "rank out of range");
  apply_network<N>(v, std::make_integer_sequence<int, Network<N>::size>{});
  return v[R];
}

}  // namespace ucfast
