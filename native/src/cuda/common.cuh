// Device-side helpers shared by the kernel files: launch shapes and fixed-order reductions.
//
// Determinism: every reduction here combines values in an order fixed by the problem size
// alone (never by timing, atomics or the number of SMs), so a kernel gives the same bits on
// every run and on every GPU model.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

namespace grwarm::cuda {

constexpr int kThreads = 256;                     // threads per block of the flat kernels
constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = kThreads / kWarp;  // row kernels: one warp per row

// Blocks for a grid-stride loop over n elements. The cap only bounds the launch; the loop
// covers the rest, and element-wise results do not depend on which thread did an element.
inline unsigned flat_blocks(size_t n) {
  const size_t b = (n + kThreads - 1) / kThreads;
  return unsigned(std::min<size_t>(std::max<size_t>(b, 1), size_t(1) << 16));
}

// Blocks for a one-warp-per-row kernel.
inline unsigned row_blocks(size_t rows) {
  return unsigned((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
}

#define GW_GRID_STRIDE(i, n)                                                   \
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < size_t(n); \
       i += size_t(gridDim.x) * blockDim.x)

// Butterfly sum over the 32 lanes of a warp. Every lane ends with the same bits: at each
// step a lane adds its partner's partial to its own, and lane pairs add the same two values
// in swapped order, which IEEE addition makes identical.
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <class T>
__device__ __forceinline__ T warp_max(T v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) {
    const T u = __shfl_xor_sync(0xffffffffu, v, o);
    v = u > v ? u : v;
  }
  return v;
}

// Sum of one value per thread of a block of N threads (N a power of two), in a fixed tree
// order. `sh` is shared memory for N values. Every thread gets the result; `sh` may be reused
// only after a further __syncthreads().
template <int N, class T>
__device__ __forceinline__ T block_sum_fixed(T v, T* sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int w = N / 2; w > 0; w >>= 1) {
    if (int(threadIdx.x) < w) sh[threadIdx.x] += sh[threadIdx.x + w];
    __syncthreads();
  }
  return sh[0];
}

}  // namespace grwarm::cuda
