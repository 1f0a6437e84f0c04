// Fused softmax cross-entropy with label smoothing for one row of logits:
// returns the loss and writes d(loss)/d(logits) scaled by `grad_scale` (1/batch for a mean).
#pragma once
#include "scalar_math.h"

#include "hd.h"

namespace grwarm {

template <class T>
GW_HD T softmax_xent_row(T* dlogits, const T* logits, int label, int n, T smoothing, T grad_scale,
                         bool* correct) {
  T mx = logits[0];
  int arg = 0;
  for (int i = 1; i < n; ++i)
    if (logits[i] > mx) {
      mx = logits[i];
      arg = i;
    }
  T z = 0;
  for (int i = 0; i < n; ++i) z += gw_exp(logits[i] - mx);
  T logz = gw_log(z) + mx;
  // target distribution: (1 - s) one-hot + s / n uniform
  T off = smoothing / T(n);
  T on = T(1) - smoothing + off;
  T loss = 0;
  for (int i = 0; i < n; ++i) {
    T q = (i == label) ? on : off;
    T logp = logits[i] - logz;
    if (q != T(0)) loss -= q * logp;
    if (dlogits) dlogits[i] = (gw_exp(logp) - q) * grad_scale;
  }
  if (correct) *correct = (arg == label);
  return loss;
}

}  // namespace grwarm
