// The susceptibility reduction on the CPU: [V * B, K] float32 logits -> score [B], distances
// [V - 1, B] and prediction [B], with the semantics of ucfast/reference/susceptibility.py.
// Softmax as torch computes it (max, exp(z - max), times 1 / sum); sums in float32 over 8 lanes.
#include <cmath>
#include <vector>

#include "cpu/ops.h"
#include "cpu/parallel.h"

namespace ucfast::cpu {
namespace {

constexpr int kLanes = 8;

template <typename Fn>
float lane_sum(int64_t k, Fn&& term) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= k; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += term(i + l);
  for (int l = 0; i < k; ++i, ++l) acc[l] += term(i);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

float row_max(const float* z, int64_t k) {
  float m = -INFINITY;
  for (int64_t i = 0; i < k; ++i) m = (z[i] > m || std::isnan(z[i])) ? z[i] : m;
  return m;
}

// First index of the maximum; a NaN counts as the maximum (torch.argmax).
int64_t argmax(const float* z, int64_t k) {
  int64_t best = 0;
  for (int64_t i = 1; i < k; ++i) {
    if (std::isnan(z[best])) break;
    if (z[i] > z[best] || std::isnan(z[i])) best = i;
  }
  return best;
}

// out = softmax(z) (log = false) or log_softmax(z) (log = true).
void softmax_row(const float* z, int64_t k, float* out, bool log) {
  const float m = row_max(z, k);
  for (int64_t i = 0; i < k; ++i) out[i] = std::exp(z[i] - m);
  const float sum = lane_sum(k, [&](int64_t i) { return out[i]; });
  if (log) {
    const float lse = std::log(sum);
    for (int64_t i = 0; i < k; ++i) out[i] = z[i] - m - lse;
  } else {
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < k; ++i) out[i] *= inv;
  }
}

}  // namespace

void susceptibility(const float* logits, int64_t row_stride, int64_t v, int64_t b, int64_t k, int space,
                    int distance, float* total, float* dist, int64_t* pred, int threads) {
  parallel_for(b, threads, [&](int64_t j) {
    thread_local std::vector<float> p0, pv;
    p0.resize(static_cast<size_t>(k));
    pv.resize(static_cast<size_t>(k));
    const float* z0 = logits + j * row_stride;
    pred[j] = k > 0 ? argmax(z0, k) : 0;
    const bool kl = distance == 2, soft = space == 0;
    if (soft) softmax_row(z0, k, p0.data(), kl);
    const float* a = soft ? p0.data() : z0;
    float score = 0.0f;
    for (int64_t i = 1; i < v; ++i) {
      const float* zi = logits + (i * b + j) * row_stride;
      if (soft) softmax_row(zi, k, pv.data(), kl);
      const float* q = soft ? pv.data() : zi;
      float d;
      if (kl) {
        d = lane_sum(k, [&](int64_t t) { return std::exp(a[t]) * (a[t] - q[t]); });
      } else if (distance == 0) {
        d = lane_sum(k, [&](int64_t t) { return std::fabs(a[t] - q[t]); });
      } else {
        d = std::sqrt(lane_sum(k, [&](int64_t t) {
          const float e = a[t] - q[t];
          return e * e;
        }));
      }
      dist[(i - 1) * b + j] = d;
      score += d;
    }
    total[j] = score;
  });
}

}  // namespace ucfast::cpu
