// Planted faults: small kernels, each with one bug of a kind the emulator must catch
// (test/cuda-emu.test.ts runs each through grwarm_emu_faults). Compiled exactly like the
// plugin's kernels (native/emu/rewrite.cmake), so they also test the rewrite.
#include <cuda_runtime.h>

#include "faults.h"

namespace {

// A full-mask shuffle after the upper half of the warp has returned.
__global__ void shuffle_after_return_kernel(float* out) {
  float v = float(threadIdx.x);
  if (threadIdx.x >= 16) return;
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  out[threadIdx.x] = v;
}

// __syncthreads in both arms of a branch: two different barriers.
__global__ void divergent_barrier_kernel(float* out) {
  if (threadIdx.x % 2) {
    __syncthreads();
    out[threadIdx.x] = 1;
  } else {
    __syncthreads();
    out[threadIdx.x] = 2;
  }
}

// Half a warp shuffles, the other half waits at a barrier: nobody can proceed.
__global__ void deadlock_kernel(float* out) {
  float v = 1;
  if (threadIdx.x < 16) v = __shfl_xor_sync(0xffffffffu, v, 1);
  else __syncthreads();
  out[threadIdx.x] = v;
}

// A full-mask shuffle in a block of 48 threads: lanes 16..31 of the second warp do not exist.
__global__ void absent_lane_kernel(float* out) {
  const float v = __shfl_down_sync(0xffffffffu, float(threadIdx.x), 1);
  out[threadIdx.x] = v;
}

__global__ void fill_kernel(float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = 1;
}

// Writes one element past the end: `<=` instead of `<`.
__global__ void write_past_end_kernel(float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = 1;
}

// 64 KiB of static shared memory: over the 48 KiB a block may declare.
__global__ void big_shared_kernel(float* out) {
  __shared__ double big[8192];
  big[threadIdx.x] = 1;
  __syncthreads();
  out[threadIdx.x] = float(big[0]);
}

// A block sum whose first barrier is missing: thread t reads sh[t + w] before its owner may
// have written it. Correct under some lane orders, wrong under others.
__global__ void missing_barrier_sum_kernel(float* out, const float* x) {
  __shared__ float sh[256];
  sh[threadIdx.x] = x[threadIdx.x];
  for (int w = 128; w > 0; w >>= 1) {
    if (int(threadIdx.x) < w) sh[threadIdx.x] += sh[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = sh[0];
}

// The same sum done right.
__global__ void block_sum_kernel(float* out, const float* x) {
  __shared__ float sh[256];
  sh[threadIdx.x] = x[threadIdx.x];
  __syncthreads();
  for (int w = 128; w > 0; w >>= 1) {
    if (int(threadIdx.x) < w) sh[threadIdx.x] += sh[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = sh[0];
}

// Reads memory nobody wrote.
__global__ void copy_kernel(float* out, const float* in, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[i];
}

// Not a fault: the warp votes and atomics, for their expected values.
__global__ void warp_ops_kernel(unsigned* out, int* counter) {
  const unsigned even = __ballot_sync(0xffffffffu, threadIdx.x % 2 == 0);
  const int all_small = __all_sync(0xffffffffu, threadIdx.x < 64);
  __syncwarp();
  atomicAdd(counter, int(threadIdx.x));
  if (threadIdx.x == 0) {
    out[0] = even;
    out[1] = unsigned(all_small);
  }
}

}  // namespace

namespace gw_faults {

void warp_ops(unsigned* out, int* counter) { warp_ops_kernel<<<1, 64>>>(out, counter); }

void shuffle_after_return(float* out) { shuffle_after_return_kernel<<<1, 32>>>(out); }
void divergent_barrier(float* out) { divergent_barrier_kernel<<<1, 64>>>(out); }
void deadlock(float* out) { deadlock_kernel<<<1, 32>>>(out); }
void absent_lane(float* out) { absent_lane_kernel<<<1, 48>>>(out); }
void too_many_threads(float* out, int n) { fill_kernel<<<1, 2048>>>(out, n); }
void grid_y_too_large(float* out, int n) { fill_kernel<<<dim3(1, 70000), 32>>>(out, n); }
void write_past_end(float* out, int n, cudaStream_t s) {
  write_past_end_kernel<<<(n + 255) / 256, 256, 0, s>>>(out, n);
}
void big_shared(float* out) { big_shared_kernel<<<1, 32>>>(out); }
void missing_barrier_sum(float* out, const float* x) { missing_barrier_sum_kernel<<<1, 256>>>(out, x); }
void block_sum(float* out, const float* x) { block_sum_kernel<<<1, 256>>>(out, x); }
void copy(float* out, const float* in, int n) { copy_kernel<<<(n + 255) / 256, 256>>>(out, in, n); }
void fill(float* out, int n, cudaStream_t s) { fill_kernel<<<(n + 255) / 256, 256, 0, s>>>(out, n); }

}  // namespace gw_faults
