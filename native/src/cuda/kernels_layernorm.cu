// LayerNorm forward and backward, one warp per row.
//
// The per-element expressions are those of grwarm/layernorm_row.h (mean = sum / n,
// rstd = 1 / sqrt(var / n + eps), y = (x - mean) * rstd * g + b, and the dx formula); only the
// row sums differ: each lane adds every 32nd element, then a warp butterfly adds the lanes,
// where the header adds left to right. Expect agreement with the CPU to a few float ulps, not
// bit equality. dgamma/dbeta are column sums over rows (column_reduce.cuh: deterministic).
#include "column_reduce.cuh"
#include "grwarm/bf16.h"
#include "kernels.h"

namespace grwarm::cuda {

namespace {

// Y is T, or uint16_t for the bf16 output of mixed precision (grwarm/bf16.h: store_out).
template <class T, class Y>
__global__ void layernorm_fwd_kernel(Y* y, T* mean_out, T* rstd_out, const T* x, const T* g,
                                     const T* b, int rows, int cols, T eps) {
  const int row = blockIdx.x * kWarpsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= rows) return;  // whole warps leave together: row is warp-uniform
  const T* xr = x + size_t(row) * cols;
  Y* yr = y + size_t(row) * cols;
  T s = T(0);
  for (int i = lane; i < cols; i += kWarp) s += xr[i];
  const T mean = warp_sum(s) / T(cols);
  T v = T(0);
  for (int i = lane; i < cols; i += kWarp) {
    const T d = xr[i] - mean;
    v += d * d;
  }
  const T rstd = T(1) / gw_sqrt(warp_sum(v) / T(cols) + eps);
  for (int i = lane; i < cols; i += kWarp) store_out(yr + i, (xr[i] - mean) * rstd * g[i] + b[i]);
  if (lane == 0) {
    mean_out[row] = mean;
    rstd_out[row] = rstd;
  }
}

template <class T>
__global__ void layernorm_bwd_dx_kernel(T* dx, const T* dy, const T* x, const T* mean_in,
                                        const T* rstd_in, const T* g, int rows, int cols,
                                        bool accumulate) {
  const int row = blockIdx.x * kWarpsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= rows) return;
  const size_t off = size_t(row) * cols;
  const T mean = mean_in[row], rstd = rstd_in[row];
  T s1 = T(0), s2 = T(0);
  for (int i = lane; i < cols; i += kWarp) {
    const T xhat = (x[off + i] - mean) * rstd;
    const T dyg = dy[off + i] * g[i];
    s1 += dyg;
    s2 += dyg * xhat;
  }
  s1 = warp_sum(s1) / T(cols);
  s2 = warp_sum(s2) / T(cols);
  for (int i = lane; i < cols; i += kWarp) {
    const T xhat = (x[off + i] - mean) * rstd;
    const T v = rstd * (dy[off + i] * g[i] - s1 - xhat * s2);
    dx[off + i] = accumulate ? dx[off + i] + v : v;
  }
}

// Row r's contributions to dgamma[c] and dbeta[c], as the CPU forms them.
template <class T>
struct LayerNormParamGrads {
  static constexpr int kOut = 2;
  const T *dy, *x, *mean, *rstd;
  int cols;
  __device__ void operator()(int r, int c, T* v) const {
    const size_t i = size_t(r) * cols + c;
    v[0] = dy[i] * (x[i] - mean[r]) * rstd[r];
    v[1] = dy[i];
  }
};

}  // namespace

template <class T>
void launch_layernorm_fwd(cudaStream_t s, T* y, T* mean, T* rstd, const T* x, const T* g,
                          const T* b, int rows, int cols, T eps) {
  if (rows <= 0 || cols <= 0) return;
  layernorm_fwd_kernel<<<row_blocks(rows), kThreads, 0, s>>>(y, mean, rstd, x, g, b, rows, cols,
                                                             eps);
  check_launch("layernorm_fwd");
}

template <class T>
void launch_layernorm_bwd(cudaStream_t s, Workspace& ws, T* dx, T* dg, T* db, const T* dy,
                          const T* x, const T* mean, const T* rstd, const T* g, int rows, int cols,
                          bool accumulate_dx) {
  if (cols <= 0) return;
  if (rows > 0) {
    layernorm_bwd_dx_kernel<<<row_blocks(rows), kThreads, 0, s>>>(dx, dy, x, mean, rstd, g, rows,
                                                                  cols, accumulate_dx);
    check_launch("layernorm_bwd");
  }
  column_reduce(s, ws, dg, db, rows, cols, false, LayerNormParamGrads<T>{dy, x, mean, rstd, cols},
                "layernorm_bwd");
}

void launch_layernorm_fwd_bf16(cudaStream_t s, uint16_t* y, float* mean, float* rstd,
                               const float* x, const float* g, const float* b, int rows, int cols,
                               float eps) {
  if (rows <= 0 || cols <= 0) return;
  layernorm_fwd_kernel<<<row_blocks(rows), kThreads, 0, s>>>(y, mean, rstd, x, g, b, rows, cols,
                                                             eps);
  check_launch("layernorm_fwd_bf16");
}

#define GW_INSTANTIATE(T)                                                                      \
  template void launch_layernorm_fwd<T>(cudaStream_t, T*, T*, T*, const T*, const T*, const T*, \
                                        int, int, T);                                          \
  template void launch_layernorm_bwd<T>(cudaStream_t, Workspace&, T*, T*, T*, const T*,        \
                                        const T*, const T*, const T*, const T*, int, int, bool);
GW_INSTANTIATE(float)
GW_INSTANTIATE(double)
#undef GW_INSTANTIATE

}  // namespace grwarm::cuda
