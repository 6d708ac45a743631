// The susceptibility reduction on CUDA: [V * B, K] logits (float32, bfloat16 or float16) -> score
// [B], distances [V - 1, B] and prediction [B] (ucfast/reference/susceptibility.py), in float32.
// One block per sample: an online softmax (running max and rescaled sum, one pass per row) gives
// each row's max and normaliser, a second pass accumulates the distances; K of any size
// (ImageNet-21k's 21,841 classes and beyond) streams through the block.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <string>

#include "cuda/check.h"
#include "cuda/ops.h"

namespace ucfast::cuda {
namespace {

constexpr int kBlock = 256;
constexpr int kWarps = kBlock / 32;

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

__device__ float block_sum(float v, float* scratch) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0.0f;
  for (int i = 0; i < kWarps; ++i) total += scratch[i];
  return total;
}

__device__ Stats block_stats(Stats v, float* scratch) {
  for (int o = 16; o > 0; o /= 2) {
    const Stats other{__shfl_xor_sync(0xffffffffu, v.m, o), __shfl_xor_sync(0xffffffffu, v.s, o)};
    v = merge(v, other);
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v.m, scratch[kWarps + warp] = v.s;
  __syncthreads();
  Stats total{-INFINITY, 0.0f};
  for (int i = 0; i < kWarps; ++i) total = merge(total, Stats{scratch[i], scratch[kWarps + i]});
  return total;
}

__device__ Best block_argmax(Best v, float* scratch, int64_t* index_scratch) {
  for (int o = 16; o > 0; o /= 2) {
    const Best other{__shfl_xor_sync(0xffffffffu, v.v, o), __shfl_xor_sync(0xffffffffu, v.i, o)};
    v = better(v, other);
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v.v, index_scratch[warp] = v.i;
  __syncthreads();
  Best total{scratch[0], index_scratch[0]};
  for (int i = 1; i < kWarps; ++i) total = better(total, Best{scratch[i], index_scratch[i]});
  return total;
}

// space: 0 softmax, 1 logits; distance: 0 l1, 1 l2, 2 kl.
template <typename T>
__global__ void __launch_bounds__(kBlock) susceptibility_kernel(const T* __restrict__ logits, int64_t row_stride,
                                                                int v, int64_t b, int64_t k, int space, int distance,
                                                                float* total, float* dist, int64_t* pred) {
  __shared__ float scratch[2 * kWarps];
  __shared__ int64_t index_scratch[kWarps];
  const bool soft = space == 0, kl = distance == 2;
  for (int64_t j = blockIdx.x; j < b; j += gridDim.x) {
    // Row i of sample j is logits[(i * b + j) * row_stride + 0 .. k).
    Best best{-INFINITY, k};
    float m[kMaxVariants], log_norm[kMaxVariants], inv_sum[kMaxVariants];
#pragma unroll
    for (int i = 0; i < kMaxVariants; ++i) {
      m[i] = 0.0f, log_norm[i] = 0.0f, inv_sum[i] = 1.0f;
      if (i >= v) continue;
      const T* row = logits + (int64_t(i) * b + j) * row_stride;
      Stats st{-INFINITY, 0.0f};
      for (int64_t t = threadIdx.x; t < k; t += blockDim.x) {
        const float z = to_float(row[t]);
        if (i == 0) best = better(best, Best{z, t});
        if (soft) st = add(st, z);
      }
      if (soft) {
        st = block_stats(st, scratch);
        m[i] = st.m;
        log_norm[i] = st.m + logf(st.s);
        inv_sum[i] = 1.0f / st.s;
      }
    }
    best = block_argmax(best, scratch, index_scratch);

    float acc[kMaxVariants - 1] = {};
    const T* row0 = logits + j * row_stride;
    for (int64_t t = threadIdx.x; t < k; t += blockDim.x) {
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
    for (int i = 1; i < v; ++i) {
      float d = block_sum(acc[i - 1], scratch);
      if (distance == 1) d = sqrtf(d);
      score += d;
      if (threadIdx.x == 0) dist[(i - 1) * b + j] = d;
    }
    if (threadIdx.x == 0) {
      total[j] = score;
      pred[j] = best.i < k ? best.i : 0;
    }
    __syncthreads();
  }
}

template <typename T>
void launch(const void* logits, int64_t row_stride, int64_t v, int64_t b, int64_t k, int space, int distance,
            float* total, float* dist, int64_t* pred, cudaStream_t stream) {
  const unsigned blocks = unsigned(b < 65535 * 16 ? b : 65535 * 16);
  susceptibility_kernel<T><<<blocks, kBlock, 0, stream>>>(static_cast<const T*>(logits), row_stride, int(v), b, k,
                                                          space, distance, total, dist, pred);
  UCFAST_LAUNCH_CHECK("susceptibility_kernel");
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
