// The colour-depth reduction on CUDA: the 256-entry table built by ucfast/reference/bitdepth.py,
// staged in shared memory and applied to every pixel.
#include "cuda/check.h"
#include "cuda/ops.h"

namespace ucfast::cuda {
namespace {

constexpr int kBlock = 256;

__global__ void lookup_kernel(const uint8_t* __restrict__ src, Strides4 s, uint8_t* __restrict__ dst, int64_t n,
                              int64_t h, int64_t w, const uint8_t* __restrict__ table) {
  __shared__ uint8_t t[256];
  for (int i = threadIdx.x; i < 256; i += blockDim.x) t[i] = table[i];
  __syncthreads();
  const int64_t total = n * 3 * h * w;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t x = i % w, y = (i / w) % h, c = (i / (h * w)) % 3, img = i / (3 * h * w);
    dst[i] = t[src[img * s.n + c * s.c + y * s.y + x * s.x]];
  }
}

}  // namespace

void lookup(const uint8_t* src, Strides4 s, uint8_t* dst, int64_t n, int64_t h, int64_t w, const uint8_t* table,
            cudaStream_t stream) {
  require_ptr(src, "src");
  require_ptr(dst, "dst");
  require_ptr(table, "table");
  require(n >= 0 && h >= 0 && w >= 0, "n, h, w", "non-negative", "a negative size");
  if (n * h * w == 0) return;
  lookup_kernel<<<grid_for(n * 3 * h * w, kBlock), kBlock, 0, stream>>>(src, s, dst, n, h, w, table);
  UCFAST_LAUNCH_CHECK("lookup_kernel");
}

}  // namespace ucfast::cuda
