// Host references for the whole-model passes of Backend<T>: loss_stats, sum_squares,
// gr_perturb, gr_combine, optim_update (docs/method.md sections 1-2).
//
// The GR and optimizer formulas of include/grwarm/optim.h ARE the specification, including
// their rounding to T: e.g. the float Adam step uses T(1) - T(0.999), which differs from
// 0.001 by 1.3e-5 relative, so a double evaluation would not be what any backend must compute.
// Their references therefore evaluate the shared formula in T on the host. This file's
// translation unit is compiled with -ffp-contract=off (cmake/tests.cmake), like the CPU flat
// passes, so the host evaluation rounds exactly as the formula is written. A GPU compiler may
// contract a*b+c into one fused multiply-add; each contraction removes one rounding, so the
// tolerances for other backends allow a few roundings of the magnitudes involved.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "grwarm/optim.h"
#include "ref_ops.h"

namespace grwarm::test::ref {

constexpr double kUnitDouble = 0x1p-53;

// out[0] = sum of row_loss (accumulated in double), out[1] = count of nonzero row_correct.
// Bound: B double additions of the (exact) T -> double values: (B+1) 2^-53 sum|loss|.
struct LossStats {
  Want sum, count;
};
template <class T>
LossStats loss_stats(const std::vector<T>& row_loss, const std::vector<uint8_t>& correct) {
  LossStats o;
  double s = 0, mag = 0, n = 0;
  for (size_t b = 0; b < row_loss.size(); ++b) {
    s += double(row_loss[b]);
    mag += std::fabs(double(row_loss[b]));
    n += correct[b] != 0 ? 1 : 0;
  }
  o.sum.e.push(s, mag);
  o.sum.units = double(row_loss.size()) + 1;
  o.sum.u = kUnitDouble;
  o.sum.basis = "(B+1) 2^-53 sum|loss|: a B-term double sum";
  o.count.e.push(n, 0);
  o.count.basis = "exact: a count";
  return o;
}

// sum of squares in double. The reference sums in long double (at least as precise as
// double) in index order. Bound for the backend: every square is exact in double for float
// inputs (24-bit mantissas; one rounding for double inputs), and a sum of positive terms in
// chunks of kSumSquaresChunk, chunk sums then added in any fixed order, has a depth of at most
// chunk + nchunks additions: (min(n, chunk) + nchunks + 2) 2^-53 sum x^2, about 1.8e-12
// relative at most (well under the 1e-12-per-1e5-terms scale of one double ulp per term).
template <class T>
Want sum_squares(const std::vector<T>& x) {
  long double s = 0;
  for (T v : x) s += (long double)v * (long double)v;
  Want w;
  w.e.push(double(s), double(s));
  const size_t n = x.size(), chunks = (n + kSumSquaresChunk - 1) / kSumSquaresChunk;
  w.units = double(std::min<size_t>(n, kSumSquaresChunk) + chunks + 2);
  w.u = kUnitDouble;
  w.basis = "(min(n,16384) + chunks + 2) 2^-53 sum x^2: chunked double sum of exact squares";
  return w;
}

// The CPU contract of sum_squares (core/backend.h): chunk sums in double, each chunk summed in
// index order, chunk sums added in index order. The TS unfused GR step sums the same way, so
// the CPU backend must give exactly these bits.
template <class T>
double sum_squares_cpu_order(const std::vector<T>& x) {
  double total = 0;
  for (size_t c0 = 0; c0 < x.size(); c0 += kSumSquaresChunk) {
    double s = 0;
    const size_t c1 = std::min(x.size(), c0 + kSumSquaresChunk);
    for (size_t i = c0; i < c1; ++i) s += double(x[i]) * double(x[i]);
    total += s;
  }
  return total;
}

// How far another backend may be from the host evaluation of a GR formula, which computes
// c1 * a + c2 * b in double and rounds once to T: a fused multiply-add in double changes the
// double result by <= 2^-53 (|c1 a| + |c2 b|), which moves the T result by at most that plus
// one rounding of T (a result on the other side of a rounding boundary): 2u(T) times
// |ref| + (2^-53 / u(T)) (|c1 a| + |c2 b|).
template <class T>
double gr_scale_of(double ref, double term1, double term2) {
  return std::fabs(ref) + kUnitDouble / unit_roundoff<T>() * (std::fabs(term1) + std::fabs(term2));
}

// theta' = gr_perturbed(theta, g1, gr_scale(r, g1_sq)), saved = theta (bit-exact on every
// backend: the GR step restores theta from it). `exact`: the backend must match the host
// formula to the bit (the CPU backend, whose flat passes must agree with the TS unfused step).
struct Perturb {
  Want theta, saved;
};
template <class T>
Perturb gr_perturb(const std::vector<T>& theta, const std::vector<T>& g1, double r, double g1_sq,
                   bool exact) {
  Perturb o;
  const double scale = gr_scale(r, g1_sq);
  for (size_t i = 0; i < theta.size(); ++i) {
    const T want = gr_perturbed(theta[i], g1[i], scale);
    o.theta.e.push(double(want), exact ? 0.0 : gr_scale_of<T>(double(want), double(theta[i]), scale * double(g1[i])));
    o.saved.e.push(double(theta[i]), 0.0);
  }
  o.theta.units = exact ? 0 : 2;
  o.theta.basis = exact ? "exact: the CPU flat pass is the formula of grwarm/optim.h to the bit"
                        : "2u (|ref| + 2^-53/u (|theta| + |s g1|)): double evaluation, one T rounding";
  o.saved.basis = "exact: a copy";
  return o;
}

// g = gr_combined(g1, g2, 1 - alpha, alpha). alpha = 1 (SAM) gives g2 exactly on every backend
// (0 * g1 + 1 * g2 has no rounding, fused or not), so it is checked exactly everywhere.
template <class T>
Want gr_combine(const std::vector<T>& g1, const std::vector<T>& g2, double alpha, bool exact) {
  Want w;
  const double c1 = 1.0 - alpha;
  exact = exact || alpha == 1.0;
  for (size_t i = 0; i < g1.size(); ++i) {
    const T want = gr_combined(g1[i], g2[i], c1, alpha);
    w.e.push(double(want), exact ? 0.0 : gr_scale_of<T>(double(want), c1 * double(g1[i]), alpha * double(g2[i])));
  }
  w.units = exact ? 0 : 2;
  w.basis = exact ? "exact: the formula of grwarm/optim.h to the bit"
                  : "2u (|ref| + 2^-53/u (|c1 g1| + |alpha g2|)): double evaluation, one T rounding";
  return w;
}

// optim_update over n parameters with step.grad_scale = clip_scale(g_sq, step.clip), evaluated
// in T on the host; when g_sq is not finite nothing may change (exact).
// Tolerance for a backend that contracts or reorders the formula: 8u times the magnitudes the
// formula's roundings are proportional to (the terms of each state update; for theta, |theta|
// plus lr times the step's magnitude and the error it inherits from the state: for Adam
// |m terms| / bc1 / den, where den = sqrt(v/bc2) + eps; for centered RMSProp the relative
// error of v - mean^2 is amplified by v / (v - mean^2)).
struct OptimWant {
  Want theta, s1, s2, s3;
};
template <class T>
OptimWant optim_update(std::vector<T> theta, const std::vector<T>& g, std::vector<T> s1,
                       std::vector<T> s2, std::vector<T> s3, OptimStep o, bool decay,
                       double g_sq, bool exact) {
  OptimWant w;
  const size_t n = theta.size();
  const bool allowed = update_allowed(g_sq);
  o.grad_scale = clip_scale(g_sq, o.clip);
  const double lr = o.lr, wd = decay ? o.weight_decay : 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double th0 = theta[i], a1 = s1[i], a2 = s2.empty() ? 0 : double(s2[i]),
                 a3 = s3.empty() ? 0 : double(s3[i]);
    T d2 = 0, d3 = 0;
    T& r2 = s2.empty() ? d2 : s2[i];
    T& r3 = s3.empty() ? d3 : s3[i];
    if (allowed) grwarm::optim_update(theta[i], g[i], s1[i], r2, r3, o, decay);
    const double gg = double(T(g[i] * T(o.grad_scale)));
    double sc_th = 0, sc1 = 0, sc2 = 0, sc3 = 0;
    switch (o.kind) {
      case OptimKind::Adam: {
        sc1 = o.beta1 * std::fabs(a1) + (1 - o.beta1) * std::fabs(gg);
        sc2 = o.beta2 * std::fabs(a2) + (1 - o.beta2) * gg * gg;
        const double den = std::sqrt(double(r2) / o.bc2) + o.eps;
        const double step = double(s1[i]) / o.bc1 / den;
        sc_th = std::fabs(th0) + lr * (sc1 / o.bc1 / den + std::fabs(step)) + lr * wd * std::fabs(th0);
        break;
      }
      case OptimKind::RMSProp: {
        sc1 = o.rho * std::fabs(a1) + (1 - o.rho) * gg * gg;
        double dsq = double(s1[i]), dsq_mag = sc1;
        if (o.centered) {
          sc3 = o.rho * std::fabs(a3) + (1 - o.rho) * std::fabs(gg);
          const double m3 = double(r3);
          dsq = double(s1[i]) - m3 * m3;
          dsq_mag = sc1 + 2 * std::fabs(m3) * sc3 + m3 * m3;
        }
        const double root = std::sqrt(std::max(dsq, 0.0)), den = root + o.eps;
        const double step = gg / den;
        const double step_mag = std::fabs(step) * (1 + (dsq > 0 ? dsq_mag / (2 * dsq) * root / den : 0));
        double move = step_mag;
        if (o.momentum > 0) {
          sc2 = o.momentum * std::fabs(a2) + step_mag;
          move = sc2;
        }
        sc_th = std::fabs(th0) + lr * move + lr * wd * std::fabs(th0);
        break;
      }
      case OptimKind::SGD: {
        sc1 = o.momentum * std::fabs(a1) + std::fabs(gg);
        sc_th = std::fabs(th0) + lr * sc1 + lr * wd * std::fabs(th0);
        break;
      }
    }
    const bool ex = exact || !allowed;
    w.theta.e.push(double(theta[i]), ex ? 0 : sc_th);
    w.s1.e.push(double(s1[i]), ex ? 0 : sc1);
    if (!s2.empty()) w.s2.e.push(double(s2[i]), ex ? 0 : sc2);
    if (!s3.empty()) w.s3.e.push(double(s3[i]), ex ? 0 : sc3);
  }
  for (Want* x : {&w.theta, &w.s1, &w.s2, &w.s3}) {
    x->units = exact || !allowed ? 0 : 8;
    x->basis = !allowed ? "exact: a step with a non-finite norm writes nothing"
               : exact  ? "exact: host evaluation of grwarm/optim.h, no contraction"
                        : "8u x the magnitudes of the update's terms (see ref_flat.h)";
  }
  return w;
}

}  // namespace grwarm::test::ref
