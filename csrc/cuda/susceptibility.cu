// The susceptibility reduction on CUDA: [V * B, K] logits (float32, bfloat16 or float16) -> score
// [B], distances [V - 1, B] and prediction [B] (ucfast/reference/susceptibility.py), in float32.
// A group of lanes per sample, sized by K: 4 to 32 lanes of one warp for K up to 4096 (no block
// synchronisation; CIFAR's 10 classes take 4 lanes, ImageNet's 1000 a warp), a whole block beyond
// (ImageNet-21k's 21,841 classes and more stream through it). An online softmax (running max and
// rescaled sum, one pass per row) gives each row's max and normaliser, a second pass accumulates
// the distances.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <string>

#include "cuda/check.h"
#include "cuda/ops.h"

namespace ucfast::cuda {
namespace {

constexpr int kBlock = 256;

template <typename T>
__device__ __forceinline__ float to_float(T v) {
  return float(v);
}
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
template <>
__device__ __forceinline__ float to_float<__half>(__half v) {
  return __half2float(v);
}

// Running softmax statistics: max m and sum of exp(z - m).
struct Stats {
  float m, s;
};

__device__ __forceinline__ Stats merge(Stats a, Stats b) {
  if (a.m == -INFINITY) return b;
  if (b.m == -INFINITY) return a;
  const float m = fmaxf(a.m, b.m);
  return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

__device__ __forceinline__ Stats add(Stats a, float z) {
  if (z > a.m) return {z, a.s * expf(a.m - z) + 1.0f};
  if (z == -INFINITY) return a;  // exp(-inf) adds nothing (and -inf - -inf would be NaN)
  return {a.m, a.s + expf(z - a.m)};
}

// Argmax candidate: a NaN beats everything, then the larger value, then the smaller index.
struct Best {
  float v;
  int64_t i;
};

__device__ __forceinline__ Best better(Best a, Best b) {
  const bool an = isnan(a.v), bn = isnan(b.v);
  if (an != bn) return an ? a : b;
  if (!an && a.v != b.v) return a.v > b.v ? a : b;
  return a.i <= b.i ? a : b;
}

__device__ __forceinline__ float shfl_xor(float v, int o) { return __shfl_xor_sync(0xffffffffu, v, o); }
__device__ __forceinline__ Stats shfl_xor(Stats v, int o) { return {shfl_xor(v.m, o), shfl_xor(v.s, o)}; }
__device__ __forceinline__ Best shfl_xor(Best v, int o) {
  return {shfl_xor(v.v, o), static_cast<int64_t>(__shfl_xor_sync(0xffffffffu, static_cast<long long>(v.i), o))};
}

// The reduction of v over the G lanes of one sample: butterflies within the warp (G <= 32: every lane
// of the group gets the result), then, for a block per sample (G > 32), through `scratch` [G / 32] in
// warp order. Every thread of the block calls it (G > 32: it synchronises the block).
template <int G, typename V, typename Op>
__device__ __forceinline__ V group_reduce(V v, Op op, V* scratch) {
  constexpr int kWidth = G < 32 ? G : 32;
#pragma unroll
  for (int o = kWidth / 2; o > 0; o /= 2) v = op(v, shfl_xor(v, o));
  if constexpr (G > 32) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = scratch[0];
    for (int i = 1; i < G / 32; ++i) v = op(v, scratch[i]);
  }
  return v;
}

struct Sum {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct MergeStats {
  __device__ Stats operator()(Stats a, Stats b) const { return merge(a, b); }
};
struct Better {
  __device__ Best operator()(Best a, Best b) const { return better(a, b); }
};

// G lanes per sample: 4 .. 32 (a warp holds 32 / G samples, no block synchronisation) or kBlock (a block
// per sample, for large K). space: 0 softmax, 1 logits; distance: 0 l1, 1 l2, 2 kl.
template <typename T, int G>
__global__ void __launch_bounds__(kBlock) susceptibility_kernel(const T* __restrict__ logits, int64_t row_stride,
                                                                int v, int64_t b, int64_t k, int space, int distance,
                                                                float* total, float* dist, int64_t* pred) {
  static_assert(G <= 32 ? 32 % G == 0 : G == kBlock, "G: a divisor of the warp, or the block");
  constexpr int kPerBlock = kBlock / G;
  constexpr int kWarps = G > 32 ? G / 32 : 1;
  __shared__ float sum_scratch[kWarps];
  __shared__ Stats stats_scratch[kWarps];
  __shared__ Best best_scratch[kWarps];
  const bool soft = space == 0, kl = distance == 2;
  const int lane = threadIdx.x % G;
  // The loop is uniform over the block, so every lane takes part in every shuffle; lanes past the
  // last sample (only when G <= 32) read nothing and write nothing.
  for (int64_t first = int64_t(blockIdx.x) * kPerBlock; first < b; first += int64_t(gridDim.x) * kPerBlock) {
    const int64_t j = first + threadIdx.x / G;
    const bool active = j < b;
    const int64_t kk = active ? k : 0;
    // Row i of sample j is logits[(i * b + j) * row_stride + 0 .. k).
    Best best{-INFINITY, k};
    float m[kMaxVariants], log_norm[kMaxVariants], inv_sum[kMaxVariants];
#pragma unroll
    for (int i = 0; i < kMaxVariants; ++i) {
      m[i] = 0.0f, log_norm[i] = 0.0f, inv_sum[i] = 1.0f;
      if (i >= v) continue;
      const T* row = logits + (int64_t(i) * b + j) * row_stride;
      Stats st{-INFINITY, 0.0f};
      for (int64_t t = lane; t < kk; t += G) {
        const float z = to_float(row[t]);
        if (i == 0) best = better(best, Best{z, t});
        if (soft) st = add(st, z);
      }
      if (soft) {
        st = group_reduce<G>(st, MergeStats{}, stats_scratch);
        m[i] = st.m;
        log_norm[i] = st.m + logf(st.s);
        inv_sum[i] = 1.0f / st.s;
      }
    }
    best = group_reduce<G>(best, Better{}, best_scratch);

    float acc[kMaxVariants - 1] = {};
    const T* row0 = logits + j * row_stride;
    for (int64_t t = lane; t < kk; t += G) {
      const float z0 = to_float(row0[t]);
      const float p0 = soft ? (kl ? expf(z0 - log_norm[0]) : expf(z0 - m[0]) * inv_sum[0]) : z0;
#pragma unroll
      for (int i = 1; i < kMaxVariants; ++i) {
        if (i >= v) continue;
        const float z = to_float(logits[(int64_t(i) * b + j) * row_stride + t]);
        if (kl) {
          acc[i - 1] += p0 * ((z0 - log_norm[0]) - (z - log_norm[i]));
        } else {
          const float q = soft ? expf(z - m[i]) * inv_sum[i] : z;
          const float e = p0 - q;
          acc[i - 1] += distance == 0 ? fabsf(e) : e * e;
        }
      }
    }
    float score = 0.0f;
#pragma unroll
    for (int i = 1; i < kMaxVariants; ++i) {
      if (i >= v) continue;
      float d = group_reduce<G>(acc[i - 1], Sum{}, sum_scratch);
      if (distance == 1) d = sqrtf(d);
      score += d;
      if (active && lane == 0) dist[(i - 1) * b + j] = d;
    }
    if (active && lane == 0) {
      total[j] = score;
      pred[j] = best.i < k ? best.i : 0;
    }
    if constexpr (G > 32) __syncthreads();
  }
}

// Lanes per sample for K classes: about 8 logits per lane up to a warp, a block beyond 4096.
int lanes_for(int64_t k) {
  if (k <= 32) return 4;
  if (k <= 64) return 8;
  if (k <= 128) return 16;
  return k <= 4096 ? 32 : kBlock;
}

template <typename T, int G>
void launch_group(const void* logits, int64_t row_stride, int64_t v, int64_t b, int64_t k, int space, int distance,
                  float* total, float* dist, int64_t* pred, cudaStream_t stream) {
  constexpr int64_t kPerBlock = kBlock / G;
  const int64_t needed = (b + kPerBlock - 1) / kPerBlock;
  const unsigned blocks = unsigned(needed < 65535 * 16 ? needed : 65535 * 16);
  susceptibility_kernel<T, G><<<blocks, kBlock, 0, stream>>>(static_cast<const T*>(logits), row_stride, int(v), b, k,
                                                             space, distance, total, dist, pred);
  UCFAST_LAUNCH_CHECK("susceptibility_kernel");
}

template <typename T>
void launch(const void* logits, int64_t row_stride, int64_t v, int64_t b, int64_t k, int space, int distance,
            float* total, float* dist, int64_t* pred, cudaStream_t stream) {
  switch (lanes_for(k)) {
    case 4: launch_group<T, 4>(logits, row_stride, v, b, k, space, distance, total, dist, pred, stream); break;
    case 8: launch_group<T, 8>(logits, row_stride, v, b, k, space, distance, total, dist, pred, stream); break;
    case 16: launch_group<T, 16>(logits, row_stride, v, b, k, space, distance, total, dist, pred, stream); break;
    case 32: launch_group<T, 32>(logits, row_stride, v, b, k, space, distance, total, dist, pred, stream); break;
    default: launch_group<T, kBlock>(logits, row_stride, v, b, k, space, distance, total, dist, pred, stream);
  }
}

}  // namespace

void susceptibility(const void* logits, DType dtype, int64_t row_stride, int64_t v, int64_t b, int64_t k, int space,
                    int distance, float* total, float* dist, int64_t* pred, cudaStream_t stream) {
  require_ptr(logits, "logits");
  require_ptr(total, "total");
  require_ptr(pred, "pred");
  require_size(v, "v", 1, kMaxVariants);
  require(v == 1 || dist != nullptr, "dist", "a non-null pointer when v > 1", "null");
  require(b >= 0, "b", "non-negative", std::to_string(b));
  require(k >= 1, "k", "at least 1", std::to_string(k));
  require(space == 0 || space == 1, "space", "0 (softmax) or 1 (logits)", std::to_string(space));
  require(distance >= 0 && distance <= 2, "distance", "0 (l1), 1 (l2) or 2 (kl)", std::to_string(distance));
  require(distance != 2 || space == 0, "distance", "l1 or l2 when space is logits", "kl");
  if (b == 0) return;
  switch (dtype) {
    case DType::f32: launch<float>(logits, row_stride, v, b, k, space, distance, total, dist, pred, stream); break;
    case DType::bf16:
      launch<__nv_bfloat16>(logits, row_stride, v, b, k, space, distance, total, dist, pred, stream);
      break;
    case DType::f16: launch<__half>(logits, row_stride, v, b, k, space, distance, total, dist, pred, stream); break;
    default: require(false, "dtype", "1 (float32), 2 (bfloat16) or 3 (float16)", std::to_string(int(dtype)));
  }
}

}  // namespace ucfast::cuda
