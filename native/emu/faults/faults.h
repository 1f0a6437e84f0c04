// The planted-fault kernels of faults.cu (launchers; each launches on the default stream
// unless given one).
#pragma once
#include <cuda_runtime_api.h>

namespace gw_faults {
void shuffle_after_return(float* out);
void divergent_barrier(float* out);
void deadlock(float* out);
void absent_lane(float* out);
void too_many_threads(float* out, int n);
void grid_y_too_large(float* out, int n);
void write_past_end(float* out, int n, cudaStream_t s);
void big_shared(float* out);
void missing_barrier_sum(float* out, const float* x);
void block_sum(float* out, const float* x);
void copy(float* out, const float* in, int n);
void fill(float* out, int n, cudaStream_t s);
void warp_ops(unsigned* out, int* counter);
}  // namespace gw_faults
