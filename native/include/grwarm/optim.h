// Per-element formulas of the optimizers and of the GR bookkeeping (docs/method.md sections 1-2).
// One source for the CPU flat passes and the CUDA kernels; the CPU tests check this math.
//
// The GR formulas are evaluated in double and rounded once to T. The TypeScript "unfused"
// GR step evaluates the same expressions in JS doubles, so with floating-point contraction
// off for these files the fused and unfused steps agree to the bit.
#pragma once
#include "hd.h"
#include "scalar_math.h"

namespace grwarm {

enum class OptimKind : int { Adam = 0, RMSProp = 1, SGD = 2 };

// Everything an update needs for one step, resolved on the host.
struct OptimStep {
  OptimKind kind = OptimKind::Adam;
  double lr = 0;            // scheduled learning rate of this step
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double bc1 = 1, bc2 = 1;  // Adam bias corrections 1 - beta^t, t = step + 1
  double rho = 0.9;         // RMSProp decay of v
  double momentum = 0;      // RMSProp / SGD momentum
  bool centered = false;    // RMSProp: subtract the squared mean gradient
  double weight_decay = 0;  // decoupled, scaled by lr
  double clip = 0;          // global-norm clipping threshold of the final gradient; 0 = off
  double grad_scale = 1;    // the clipping factor applied to g: clip_scale(||g||^2, clip)
};

// Elements per chunk of the deterministic sum of squares (Backend::sum_squares).
constexpr unsigned long kSumSquaresChunk = 16384;

// The GR perturbation scale r / (||g1|| + 1e-12), from the squared norm.
GW_HD double gr_scale(double r, double g1_sq) { return r / (gw_sqrt(g1_sq) + 1e-12); }

// Global-norm clipping g * clip / max(||g||, clip), as a factor from the squared norm;
// 1 when clipping is off or the norm is within the threshold.
GW_HD double clip_scale(double g_sq, double clip) {
  const double norm = gw_sqrt(g_sq);
  return (clip > 0 && norm > clip) ? clip / norm : 1.0;
}

// An update whose gradient norm is not finite is skipped: NaN/Inf never reach the weights.
GW_HD bool update_allowed(double g_sq) { return g_sq - g_sq == 0.0; }

// theta <- theta + scale * g1 (the GR perturbation, scale = r / (||g1|| + 1e-12))
template <class T>
GW_HD T gr_perturbed(T theta, T g1, double scale) {
  return T(double(theta) + scale * double(g1));
}

// g <- (1 - alpha) g1 + alpha g2, alpha = lambda / r (computed as c1 = 1 - alpha once)
template <class T>
GW_HD T gr_combined(T g1, T g2, double c1, double alpha) {
  return T(c1 * double(g1) + alpha * double(g2));
}

// One parameter's update. s1, s2, s3 are its optimizer state slots:
//   Adam: m, v, -        RMSProp: v, momentum buffer, mean gradient        SGD: momentum buffer
// `decay` says whether weight decay applies to this parameter (mask).
template <class T>
GW_HD void optim_update(T& theta, T g_raw, T& s1, T& s2, T& s3, const OptimStep& o, bool decay) {
  const T g = T(g_raw * T(o.grad_scale));
  const T lr = T(o.lr);
  const T wd = decay ? T(o.weight_decay) : T(0);
  const T th = theta;
  switch (o.kind) {
    case OptimKind::Adam: {
      s1 = T(o.beta1) * s1 + (T(1) - T(o.beta1)) * g;
      s2 = T(o.beta2) * s2 + (T(1) - T(o.beta2)) * g * g;
      const T mhat = s1 / T(o.bc1);
      const T vhat = s2 / T(o.bc2);
      theta = th - lr * (mhat / (gw_sqrt(vhat) + T(o.eps))) - lr * wd * th;
      break;
    }
    case OptimKind::RMSProp: {
      s1 = T(o.rho) * s1 + (T(1) - T(o.rho)) * g * g;
      T denom_sq = s1;
      if (o.centered) {
        s3 = T(o.rho) * s3 + (T(1) - T(o.rho)) * g;
        denom_sq = s1 - s3 * s3;
      }
      const T step = g / (gw_sqrt(denom_sq) + T(o.eps));
      if (o.momentum > 0) {
        s2 = T(o.momentum) * s2 + step;
        theta = th - lr * s2 - lr * wd * th;
      } else {
        theta = th - lr * step - lr * wd * th;
      }
      break;
    }
    case OptimKind::SGD: {
      s1 = T(o.momentum) * s1 + g;
      theta = th - lr * s1 - lr * wd * th;
      break;
    }
  }
}

}  // namespace grwarm
