// LayerNorm of one row, forward and backward, for any floating type.
// Statistics are accumulated in a fixed order (lane_sum), so a row gives the same bits
// whichever thread computes it.
#pragma once
#include "bf16.h"
#include "scalar_math.h"

#include "hd.h"

namespace grwarm {

// sum_{i<n} f(i) in a fixed order that vectorises without reassociation: 16 interleaved
// partial sums (lane k adds terms k, k+16, k+32, ...), then the lanes in order, then the tail.
// A plain left-to-right sum is a chain of dependent additions (4 cycles each) that no
// compiler may vectorise under IEEE rules; LayerNorm rows are 192-768 long.
template <class T, class F>
GW_HD T lane_sum(int n, F f) {
  constexpr int kLanes = 16;
  T acc[kLanes];
  for (int k = 0; k < kLanes; ++k) acc[k] = T(0);
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += f(i + k);
  T s = T(0);
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  for (; i < n; ++i) s += f(i);
  return s;
}

// y = (x - mean) * rstd * g + b. Writes mean and rstd for the backward pass. Y is T, or
// uint16_t for a bf16 output (bf16.h: store_out), the GEMM input of bf16 mixed precision.
template <class T, class Y>
GW_HD void layernorm_row_fwd(Y* y, T* mean_out, T* rstd_out, const T* x, const T* g, const T* b,
                             int n, T eps) {
  T mean = lane_sum<T>(n, [&](int i) { return x[i]; }) / T(n);
  T v = lane_sum<T>(n, [&](int i) {
    T d = x[i] - mean;
    return d * d;
  });
  T rstd = T(1) / gw_sqrt(v / T(n) + eps);
  for (int i = 0; i < n; ++i) store_out(y + i, (x[i] - mean) * rstd * g[i] + b[i]);
  *mean_out = mean;
  *rstd_out = rstd;
}

// dx = rstd * (dy*g - mean(dy*g) - xhat * mean(dy*g*xhat)); dx is written, not accumulated
// unless `accumulate` (used where the residual stream already holds a gradient).
template <class T>
GW_HD void layernorm_row_bwd_dx(T* dx, const T* dy, const T* x, const T* g, T mean, T rstd, int n,
                                bool accumulate) {
  const T s1 = lane_sum<T>(n, [&](int i) { return dy[i] * g[i]; }) / T(n);
  const T s2 = lane_sum<T>(n, [&](int i) { return dy[i] * g[i] * ((x[i] - mean) * rstd); }) / T(n);
  for (int i = 0; i < n; ++i) {
    T xhat = (x[i] - mean) * rstd;
    T v = rstd * (dy[i] * g[i] - s1 - xhat * s2);
    dx[i] = accumulate ? dx[i] + v : v;
  }
}

}  // namespace grwarm
