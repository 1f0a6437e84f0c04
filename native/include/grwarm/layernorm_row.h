// LayerNorm of one row, forward and backward, for any floating type.
// Statistics are accumulated in fixed-order loops, so a row gives the
// same bits whichever thread (or CUDA thread) computes it.
#pragma once
#include "bf16.h"
#include "scalar_math.h"

#include "hd.h"

namespace grwarm {

// y = (x - mean) * rstd * g + b. Writes mean and rstd for the backward pass. Y is T, or
// uint16_t for a bf16 output (bf16.h: store_out), the GEMM input of bf16 mixed precision.
template <class T, class Y>
GW_HD void layernorm_row_fwd(Y* y, T* mean_out, T* rstd_out, const T* x, const T* g, const T* b,
                             int n, T eps) {
  T s = 0;
  for (int i = 0; i < n; ++i) s += x[i];
  T mean = s / T(n);
  T v = 0;
  for (int i = 0; i < n; ++i) {
    T d = x[i] - mean;
    v += d * d;
  }
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
  T s1 = 0, s2 = 0;
  for (int i = 0; i < n; ++i) {
    T xhat = (x[i] - mean) * rstd;
    T dyg = dy[i] * g[i];
    s1 += dyg;
    s2 += dyg * xhat;
  }
  s1 /= T(n);
  s2 /= T(n);
  for (int i = 0; i < n; ++i) {
    T xhat = (x[i] - mean) * rstd;
    T v = rstd * (dy[i] * g[i] - s1 - xhat * s2);
    dx[i] = accumulate ? dx[i] + v : v;
  }
}

}  // namespace grwarm
