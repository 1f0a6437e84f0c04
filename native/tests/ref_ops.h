// Host references for the layer ops of Backend<T>, in double, written as straight loops from
// the definitions in docs/method.md and the contracts in core/backend.h (independently of the
// CPU kernels). Element-wise math that the project defines once for every backend (GELU, the
// dropout keep-mask) comes from include/grwarm/*.h: those formulas are the specification.
//
// Each reference returns a Want: the expected values and, per element, the magnitude that the
// rounding error of a T implementation is proportional to, plus the constant `units` so that
//     |got - ref| <= units * u(T) * scale          (u = 2^-24 float, 2^-53 double)
// is a first-order bound for any correct implementation, whatever its summation order or use
// of fused multiply-adds. The derivation of each bound sits next to the reference. A summation
// of n terms in any order (sequential, blocked, tree) has error <= (n - 1) u sum|terms|, so
// bounds that contain a sum use the term count, never a particular order.
//
// Compound ops (layernorm, softmax, attention) propagate the first-order error of their
// intermediate values (absolute errors carried in units of u); those bounds get units = 2, a
// factor 2 over the first-order estimate for second-order terms and for the ~2-3 ulp error of
// the float exp/tanh kernels (include/grwarm/scalar_math.h).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/backend.h"
#include "grwarm/activations.h"
#include "grwarm/dropout.h"
#include "harness.h"

namespace grwarm::test::ref {

using V = std::vector<double>;

struct Want {
  Expect e;
  double units = 0;   // tolerance constant in units of u; 0 = exact
  double u = 0;       // the unit roundoff the bound counts in when not u(T) (double accumulators)
  std::string basis;  // what the scale is, for the report
  Tolerance tol(double u_of_T) const {
    return units == 0 ? Tolerance::exact(basis) : Tolerance::rel(units * (u > 0 ? u : u_of_T), basis);
  }
};

// The dropout multiplier of element idx: 0 or 1/(1-p) (1 when dropout is off).
inline double mult(const DropoutSpec& d, uint64_t idx) { return dropout_scale<double>(d, idx); }

// ---- dense ---------------------------------------------------------------------------------

// C = alpha op(A) op(B) + beta C on the M x N block of a C with leading dimension ldc. The
// columns between N and ldc must come back untouched (exact). With beta = 0 C is not read
// (BLAS semantics: NaN there must not leak through).
// Bound: each product gets <= 2 roundings (alpha * a, then * b), the K terms and beta*C add
// with K additions, one rounding for beta*C: (K + 3) u (|alpha| sum_k |a b| + |beta c|).
inline Want gemm(Trans ta, Trans tb, int M, int N, int K, double alpha, const V& A, int lda,
                 const V& B, int ldb, double beta, const V& C, int ldc) {
  Want w;
  w.e.ref = C;  // padding columns keep their value, scale 0: exact
  w.e.scale.assign(C.size(), 0.0);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = 0, mag = 0;
      for (int k = 0; k < K; ++k) {
        const double a = ta == Trans::No ? A[size_t(i) * lda + k] : A[size_t(k) * lda + i];
        const double b = tb == Trans::No ? B[size_t(k) * ldb + j] : B[size_t(j) * ldb + k];
        s += a * b;
        mag += std::fabs(a * b);
      }
      const size_t c = size_t(i) * ldc + j;
      const double old = beta == 0 ? 0.0 : C[c];
      w.e.ref[c] = alpha * s + beta * old;
      w.e.scale[c] = std::fabs(alpha) * mag + std::fabs(beta * old);
    }
  w.units = K + 3;
  w.basis = "(K+3)u * (|alpha| sum_k |a_ik b_kj| + |beta c_ij|): K-term dot product, any order";
  return w;
}

// out[c] (+)= sum_r X[r, c].  Bound: rows (+1 with accumulate) additions.
inline Want col_sum(const V& X, int rows, int cols, const V& out0, bool accumulate) {
  Want w;
  w.e.resize(cols);
  for (int c = 0; c < cols; ++c) {
    double s = accumulate ? out0[c] : 0.0, mag = accumulate ? std::fabs(out0[c]) : 0.0;
    for (int r = 0; r < rows; ++r) {
      s += X[size_t(r) * cols + c];
      mag += std::fabs(X[size_t(r) * cols + c]);
    }
    w.e.ref[c] = s;
    w.e.scale[c] = mag;
  }
  w.units = rows + 1;
  w.basis = "(rows+1)u * sum_r |x_rc| (+|out_c| when accumulating)";
  return w;
}

// ---- embedding -----------------------------------------------------------------------------

// images [B, C, S, S] -> X [B*P, C*p*p]: row b*P + gy*G + gx holds the patch at (gy, gx),
// column (c*p + ky)*p + kx its pixel (c, ky, kx) (a Conv2d weight [D, C, p, p] flattened).
inline Want patchify(const std::vector<float>& img, int B, int C, int S, int p) {
  const int G = S / p, P = G * G, K = C * p * p;
  Want w;
  w.e.resize(size_t(B) * P * K);
  for (int b = 0; b < B; ++b)
    for (int gy = 0; gy < G; ++gy)
      for (int gx = 0; gx < G; ++gx)
        for (int c = 0; c < C; ++c)
          for (int ky = 0; ky < p; ++ky)
            for (int kx = 0; kx < p; ++kx) {
              const size_t row = size_t(b) * P + gy * G + gx;
              const size_t col = size_t(c * p + ky) * p + kx;
              const size_t pix = ((size_t(b) * C + c) * S + (gy * p + ky)) * S + gx * p + kx;
              w.e.ref[row * K + col] = img[pix];
            }
  w.basis = "exact: a permutation of the input";
  return w;
}

// x[b, t] = dropout((t == 0 ? cls : patches[b, t-1]) + pos[t]), mask index (b*Tn + t)*D + d.
// Bound: one addition, one multiply by the rounded 1/(1-p): 3u (|src| + |pos|) * m.
inline Want embed_fwd(const V& patches, const V& cls, const V& pos, int B, int P, int D,
                      const DropoutSpec& drop) {
  const int Tn = P + 1;
  Want w;
  w.e.resize(size_t(B) * Tn * D);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < Tn; ++t)
      for (int d = 0; d < D; ++d) {
        const double src = t == 0 ? cls[d] : patches[(size_t(b) * P + t - 1) * D + d];
        const size_t i = (size_t(b) * Tn + t) * D + d;
        const double m = mult(drop, i);
        w.e.ref[i] = (src + pos[size_t(t) * D + d]) * m;
        w.e.scale[i] = (std::fabs(src) + std::fabs(pos[size_t(t) * D + d])) * m;
      }
  w.units = 3;
  w.basis = "3u * m (|src| + |pos|): one add, one multiply by the rounded 1/(1-p)";
  return w;
}

// Gradients of embed_fwd: dpatches = m * dx (patch rows), dpos[t] = sum_b m * dx[b, t],
// dcls = dpos[0]. Bounds: 2u |m dx| for the products; (B+2)u sum_b |m dx| for the sums.
struct EmbedBwd {
  Want dpatches, dcls, dpos;
};
inline EmbedBwd embed_bwd(const V& dx, int B, int P, int D, const DropoutSpec& drop) {
  const int Tn = P + 1;
  EmbedBwd o;
  o.dpatches.e.resize(size_t(B) * P * D);
  o.dpos.e.resize(size_t(Tn) * D);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < Tn; ++t)
      for (int d = 0; d < D; ++d) {
        const size_t i = (size_t(b) * Tn + t) * D + d;
        const double g = dx[i] * mult(drop, i);
        o.dpos.e.ref[size_t(t) * D + d] += g;
        o.dpos.e.scale[size_t(t) * D + d] += std::fabs(g);
        if (t > 0) {
          const size_t j = (size_t(b) * P + t - 1) * D + d;
          o.dpatches.e.ref[j] = g;
          o.dpatches.e.scale[j] = std::fabs(g);
        }
      }
  o.dcls.e.ref.assign(o.dpos.e.ref.begin(), o.dpos.e.ref.begin() + D);
  o.dcls.e.scale.assign(o.dpos.e.scale.begin(), o.dpos.e.scale.begin() + D);
  o.dpatches.units = 2;
  o.dpatches.basis = "2u |m dx|: one multiply by the rounded 1/(1-p)";
  o.dpos.units = o.dcls.units = B + 2;
  o.dpos.basis = o.dcls.basis = "(B+2)u sum_b |m dx|: a B-term sum";
  return o;
}

// ---- layernorm -----------------------------------------------------------------------------

// y = (x - mean) rstd g + b per row, mean = sum x / n, var = sum (x - mean)^2 / n (two passes,
// as docs/method.md's layernorm), rstd = 1 / sqrt(var + eps).
// Bounds, with a = mean |x| and kappa = 1 + a * rstd (how much the mean's error matters):
//   mean: (n+2)u a.  The mean's error shifts every x - mean by up to (n+2)u a, so the
//   variance's relative error is <= (n+3)u + 2(n+2)u a sum|d| / sum d^2, and since
//   sum|d| <= sqrt(n sum d^2) that is <= (n+3)u (1 + 2 a rstd); with the sqrt and the
//   division: rstd: (n+6)u rstd kappa.
//   y: |g| rstd ((n+2)u a + u|d|) + |g d| (n+6)u rstd kappa + 4 roundings: (n+10)u times
//   |g| rstd (a + |d| kappa) + |b| + |y|.
struct LayerNormFwd {
  Want y, mean, rstd;
};
inline LayerNormFwd layernorm_fwd(const V& x, const V& g, const V& b, int rows, int n, double eps) {
  LayerNormFwd o;
  o.y.e.resize(size_t(rows) * n);
  o.mean.e.resize(rows);
  o.rstd.e.resize(rows);
  for (int r = 0; r < rows; ++r) {
    const double* xr = &x[size_t(r) * n];
    double s = 0, a = 0;
    for (int i = 0; i < n; ++i) {
      s += xr[i];
      a += std::fabs(xr[i]);
    }
    const double mean = s / n;
    a /= n;
    double v = 0;
    for (int i = 0; i < n; ++i) v += (xr[i] - mean) * (xr[i] - mean);
    const double rstd = 1.0 / std::sqrt(v / n + eps);
    const double kappa = 1.0 + a * rstd;
    o.mean.e.ref[r] = mean;
    o.mean.e.scale[r] = a;
    o.rstd.e.ref[r] = rstd;
    o.rstd.e.scale[r] = rstd * kappa;
    for (int i = 0; i < n; ++i) {
      const double d = xr[i] - mean, y = d * rstd * g[i] + b[i];
      o.y.e.ref[size_t(r) * n + i] = y;
      o.y.e.scale[size_t(r) * n + i] =
          std::fabs(g[i]) * rstd * (a + std::fabs(d) * kappa) + std::fabs(b[i]) + std::fabs(y);
    }
  }
  o.mean.units = n + 2;
  o.mean.basis = "(n+2)u mean|x|: an n-term sum and a division";
  o.rstd.units = n + 6;
  o.rstd.basis = "(n+6)u rstd (1 + mean|x| rstd): two-pass variance with the mean's error";
  o.y.units = n + 10;
  o.y.basis = "(n+10)u (|g| rstd (mean|x| + |x-mean| kappa) + |b| + |y|)";
  return o;
}

// Backward of layernorm given the saved mean and rstd (exactly what the backend receives):
// xhat = (x - mean) rstd, dyg = dy g, s1 = mean(dyg), s2 = mean(dyg xhat),
// dx (+)= rstd (dyg - s1 - xhat s2); dg = sum_rows dy xhat; db = sum_rows dy.
// Bounds: xhat carries 3u|xhat|, the two n-term means (n+1)u and (n+5)u of their absolute
// sums, the final expression 4 roundings: (n+8)u times
// rstd (|dyg| + mean|dyg| + |xhat| mean|dyg xhat| + |xhat s2| + |s1|) + |dx_in| + |dx|;
// dg: (rows+4)u sum|dy xhat|; db: (rows+1)u sum|dy|.
struct LayerNormBwd {
  Want dx, dg, db;
};
inline LayerNormBwd layernorm_bwd(const V& dy, const V& x, const V& mean, const V& rstd, const V& g,
                                  int rows, int n, const V& dx_in, bool accumulate) {
  LayerNormBwd o;
  o.dx.e.resize(size_t(rows) * n);
  o.dg.e.resize(n);
  o.db.e.resize(n);
  for (int r = 0; r < rows; ++r) {
    const size_t base = size_t(r) * n;
    double s1 = 0, s2 = 0, a1 = 0, a2 = 0;
    for (int i = 0; i < n; ++i) {
      const double xhat = (x[base + i] - mean[r]) * rstd[r], dyg = dy[base + i] * g[i];
      s1 += dyg;
      s2 += dyg * xhat;
      a1 += std::fabs(dyg);
      a2 += std::fabs(dyg * xhat);
      o.dg.e.ref[i] += dy[base + i] * xhat;
      o.dg.e.scale[i] += std::fabs(dy[base + i] * xhat);
      o.db.e.ref[i] += dy[base + i];
      o.db.e.scale[i] += std::fabs(dy[base + i]);
    }
    s1 /= n;
    s2 /= n;
    a1 /= n;
    a2 /= n;
    for (int i = 0; i < n; ++i) {
      const double xhat = (x[base + i] - mean[r]) * rstd[r], dyg = dy[base + i] * g[i];
      const double v = rstd[r] * (dyg - s1 - xhat * s2);
      const double in = accumulate ? dx_in[base + i] : 0.0;
      o.dx.e.ref[base + i] = in + v;
      o.dx.e.scale[base + i] =
          rstd[r] * (std::fabs(dyg) + a1 + std::fabs(xhat) * a2 + std::fabs(xhat * s2) + std::fabs(s1)) +
          std::fabs(in) + std::fabs(in + v);
    }
  }
  o.dx.units = n + 8;
  o.dx.basis = "(n+8)u (rstd (|dyg| + mean|dyg| + |xhat| mean|dyg xhat| + |xhat s2| + |s1|) + |dx_in| + |dx|)";
  o.dg.units = rows + 4;
  o.dg.basis = "(rows+4)u sum_r |dy xhat|";
  o.db.units = rows + 1;
  o.db.basis = "(rows+1)u sum_r |dy|";
  return o;
}

// ---- activations and residuals ---------------------------------------------------------------

// out = m * gelu(h), the shared formula evaluated in double.
// Bound: tanh/erf of the float kernels are accurate to a few u absolute, their argument to a
// few u relative, and 0.5 h (1 + t) turns both into |h|-proportional errors (1 + t cancels
// for negative h): 8u * m (|h| (1 + |arg| dt/darg) + |y|).
inline Want gelu_fwd(const V& h, GeluKind kind, const DropoutSpec& drop) {
  Want w;
  w.e.resize(h.size());
  for (size_t i = 0; i < h.size(); ++i) {
    const double x = h[i], m = mult(drop, i);
    const double y = gelu(x, kind);
    double sens;  // |arg| * d(tanh or erf)/d(arg)
    if (kind == GeluKind::Tanh) {
      const double arg = 0.7978845608028654 * (x + 0.044715 * x * x * x), t = std::tanh(arg);
      sens = std::fabs(arg) * (1 - t * t);
    } else {
      const double z = x * 0.7071067811865476;
      sens = std::fabs(z) * std::exp(-z * z);
    }
    w.e.ref[i] = y * m;
    w.e.scale[i] = m * (std::fabs(x) * (1 + sens) + std::fabs(y));
  }
  w.units = 8;
  w.basis = "8u m (|h| (1 + |arg| f'(arg)) + |gelu(h)|): 0.5 h (1 + tanh|erf) with few-ulp kernels";
  return w;
}

// dh = m * dout * gelu'(h). Bound: the derivative's second term 0.5 h (1 - t^2) du has an
// absolute error of a few u times |h| du (du = sqrt(2/pi)(1 + 3 k1 h^2) for tanh; for erf the
// Gaussian term |h| (1 + h^2) e^(-h^2/2)): 16u * m |dout| (1 + that).
inline Want gelu_bwd(const V& dout, const V& h, GeluKind kind, const DropoutSpec& drop) {
  Want w;
  w.e.resize(h.size());
  for (size_t i = 0; i < h.size(); ++i) {
    const double x = h[i], m = mult(drop, i);
    const double d = gelu_grad(x, kind);
    const double cond = kind == GeluKind::Tanh ? std::fabs(x) * (1 + 3 * 0.044715 * x * x)
                                               : std::fabs(x) * (1 + x * x) * std::exp(-0.5 * x * x);
    w.e.ref[i] = dout[i] * m * d;
    w.e.scale[i] = m * std::fabs(dout[i]) * (1 + cond);
  }
  w.units = 16;
  w.basis = "16u m |dout| (1 + |h| du): cancellation in the derivative's second term";
  return w;
}

// x_out = x_in + m * branch.  Bound: 3u (|x_in| + m |branch|).
inline Want residual_fwd(const V& x_in, const V& branch, const DropoutSpec& drop) {
  Want w;
  w.e.resize(x_in.size());
  for (size_t i = 0; i < x_in.size(); ++i) {
    const double m = mult(drop, i);
    w.e.ref[i] = x_in[i] + branch[i] * m;
    w.e.scale[i] = std::fabs(x_in[i]) + std::fabs(branch[i] * m);
  }
  w.units = 3;
  w.basis = "3u (|x_in| + m |branch|): a multiply and an add";
  return w;
}

// dbranch = m * dx.  Bound: 2u m |dx| (the rounded 1/(1-p), the product); dropped: exact 0.
inline Want dropout_bwd(const V& dx, const DropoutSpec& drop) {
  Want w;
  w.e.resize(dx.size());
  for (size_t i = 0; i < dx.size(); ++i) {
    const double m = mult(drop, i);
    w.e.ref[i] = dx[i] * m;
    w.e.scale[i] = std::fabs(dx[i] * m);
  }
  w.units = 2;
  w.basis = "2u m |dx|";
  return w;
}

// ---- attention -----------------------------------------------------------------------------

// Index helpers for qkv [B, Tn, 3, H, hd], out [B, Tn, H*hd], probs [B, H, Tn, Tn].
struct AttnIndex {
  AttnShape s;
  size_t qkv(int b, int t, int part, int h, int d) const {
    return ((size_t(b) * s.Tn + t) * 3 + part) * size_t(s.H) * s.hd + size_t(h) * s.hd + d;
  }
  size_t out(int b, int t, int h, int d) const {
    return (size_t(b) * s.Tn + t) * size_t(s.H) * s.hd + size_t(h) * s.hd + d;
  }
  // Also the dropout element index of probability (i, j) of head (b, h).
  size_t probs(int b, int h, int i, int j) const {
    return ((size_t(b) * s.H + h) * s.Tn + i) * size_t(s.Tn) + j;
  }
};

// probs = softmax(q k^T / sqrt(hd)) (kept before dropout), out = (m * probs) v.
// Bounds (errors carried in units of u): a score has (hd+2) sum_d |q k| / sqrt(hd); a
// probability's relative error is at most twice the row's largest score error, plus the
// exp (~3u), the Tn-term normaliser and a multiply: a_i = 2 (hd+2) max_j |q_i||k_j|/sqrt(hd)
// + Tn + 6 (probs: a_i p_ij). out: sum_j m p_ij |v_jd| (a_i + Tn + 2). Both with units 2.
struct AttnFwd {
  Want out, probs;
};
inline AttnFwd attention_fwd(const V& qkv, const AttnShape& s, const DropoutSpec& drop) {
  const AttnIndex ix{s};
  const double sc = 1.0 / std::sqrt(double(s.hd));
  AttnFwd o;
  o.out.e.resize(size_t(s.B) * s.Tn * s.H * s.hd);
  o.probs.e.resize(size_t(s.B) * s.H * s.Tn * s.Tn);
  V sco(s.Tn), p(s.Tn);
  for (int b = 0; b < s.B; ++b)
    for (int h = 0; h < s.H; ++h)
      for (int i = 0; i < s.Tn; ++i) {
        double mx = -INFINITY, worst_dot = 0;
        for (int j = 0; j < s.Tn; ++j) {
          double dot = 0, mag = 0;
          for (int d = 0; d < s.hd; ++d) {
            const double q = qkv[ix.qkv(b, i, 0, h, d)], k = qkv[ix.qkv(b, j, 1, h, d)];
            dot += q * k;
            mag += std::fabs(q * k);
          }
          sco[j] = dot * sc;
          mx = std::max(mx, sco[j]);
          worst_dot = std::max(worst_dot, mag * sc);
        }
        double z = 0;
        for (int j = 0; j < s.Tn; ++j) z += (p[j] = std::exp(sco[j] - mx));
        const double a = 2 * (s.hd + 2) * worst_dot + s.Tn + 6;
        for (int j = 0; j < s.Tn; ++j) {
          p[j] /= z;
          o.probs.e.ref[ix.probs(b, h, i, j)] = p[j];
          o.probs.e.scale[ix.probs(b, h, i, j)] = a * p[j];
        }
        for (int d = 0; d < s.hd; ++d) {
          double acc = 0, mag = 0;
          for (int j = 0; j < s.Tn; ++j) {
            const double pd = p[j] * mult(drop, ix.probs(b, h, i, j));
            const double v = qkv[ix.qkv(b, j, 2, h, d)];
            acc += pd * v;
            mag += std::fabs(pd * v);
          }
          o.out.e.ref[ix.out(b, i, h, d)] = acc;
          o.out.e.scale[ix.out(b, i, h, d)] = mag * (a + s.Tn + 2);
        }
      }
  o.probs.units = o.out.units = 2;
  o.probs.basis = "2u a_i p_ij, a_i = 2(hd+2) max_j sum|q k|/sqrt(hd) + Tn + 6";
  o.out.basis = "2u (a_i + Tn + 2) sum_j m p_ij |v_jd|";
  return o;
}

// Backward of attention_fwd given the saved probs p (as the backend receives them):
// pd = m p, dV = pd^T g, gm = m (g v^T), rd_i = sum_j p_ij gm_ij, dS = p (gm - rd) / sqrt(hd),
// dQ = dS k, dK = dS^T q.
// Bounds (units of u, propagated): e_gm = (hd+2) m sum_d |g v|; e_rd = sum_j p e_gm + (Tn+1)
// sum_j p |gm|; e_dS = p (e_gm + e_rd + 3(|gm| + |rd|)) / sqrt(hd);
// dQ: sum_j e_dS |k| + (Tn+1) sum_j |dS k|; dK likewise with q; dV: (Tn+2) sum_i |pd g|.
// Units 2.
inline Want attention_bwd(const V& dout, const V& qkv, const V& probs, const AttnShape& s,
                          const DropoutSpec& drop) {
  const AttnIndex ix{s};
  const double sc = 1.0 / std::sqrt(double(s.hd));
  Want w;
  w.e.resize(qkv.size());
  const int Tn = s.Tn;
  V gm(size_t(Tn) * Tn), egm(size_t(Tn) * Tn), ds(size_t(Tn) * Tn), eds(size_t(Tn) * Tn);
  for (int b = 0; b < s.B; ++b)
    for (int h = 0; h < s.H; ++h) {
      auto p = [&](int i, int j) { return probs[ix.probs(b, h, i, j)]; };
      auto m = [&](int i, int j) { return mult(drop, ix.probs(b, h, i, j)); };
      auto g = [&](int i, int d) { return dout[ix.out(b, i, h, d)]; };
      auto q = [&](int t, int part, int d) { return qkv[ix.qkv(b, t, part, h, d)]; };
      for (int i = 0; i < Tn; ++i) {
        double rd = 0, erd = 0, mag_rd = 0;
        for (int j = 0; j < Tn; ++j) {
          double dp = 0, mag = 0;
          for (int d = 0; d < s.hd; ++d) {
            dp += g(i, d) * q(j, 2, d);
            mag += std::fabs(g(i, d) * q(j, 2, d));
          }
          gm[size_t(i) * Tn + j] = dp * m(i, j);
          egm[size_t(i) * Tn + j] = (s.hd + 2) * m(i, j) * mag;
          rd += p(i, j) * gm[size_t(i) * Tn + j];
          erd += p(i, j) * egm[size_t(i) * Tn + j];
          mag_rd += std::fabs(p(i, j) * gm[size_t(i) * Tn + j]);
        }
        erd += (Tn + 1) * mag_rd;
        for (int j = 0; j < Tn; ++j) {
          const size_t k = size_t(i) * Tn + j;
          ds[k] = p(i, j) * (gm[k] - rd) * sc;
          eds[k] = p(i, j) * (egm[k] + erd + 3 * (std::fabs(gm[k]) + std::fabs(rd))) * sc;
        }
      }
      for (int t = 0; t < Tn; ++t)
        for (int d = 0; d < s.hd; ++d) {
          double dq = 0, edq = 0, mq = 0, dk = 0, edk = 0, mk = 0, dv = 0, mv = 0;
          for (int j = 0; j < Tn; ++j) {
            const size_t tj = size_t(t) * Tn + j, jt = size_t(j) * Tn + t;
            dq += ds[tj] * q(j, 1, d);
            edq += eds[tj] * std::fabs(q(j, 1, d));
            mq += std::fabs(ds[tj] * q(j, 1, d));
            dk += ds[jt] * q(j, 0, d);
            edk += eds[jt] * std::fabs(q(j, 0, d));
            mk += std::fabs(ds[jt] * q(j, 0, d));
            const double pd = p(j, t) * m(j, t);
            dv += pd * g(j, d);
            mv += std::fabs(pd * g(j, d));
          }
          w.e.ref[ix.qkv(b, t, 0, h, d)] = dq;
          w.e.scale[ix.qkv(b, t, 0, h, d)] = edq + (Tn + 1) * mq;
          w.e.ref[ix.qkv(b, t, 1, h, d)] = dk;
          w.e.scale[ix.qkv(b, t, 1, h, d)] = edk + (Tn + 1) * mk;
          w.e.ref[ix.qkv(b, t, 2, h, d)] = dv;
          w.e.scale[ix.qkv(b, t, 2, h, d)] = (Tn + 2) * mv;
        }
    }
  w.units = 2;
  w.basis = "2u x first-order bound propagated through dP, <p,dP>, dS (see ref_ops.h)";
  return w;
}

// ---- head ----------------------------------------------------------------------------------

// out[b, :] = x[b, 0, :]  (exact)
inline Want gather_cls(const V& x, int B, int Tn, int D) {
  Want w;
  w.e.resize(size_t(B) * D);
  for (int b = 0; b < B; ++b)
    for (int d = 0; d < D; ++d) w.e.ref[size_t(b) * D + d] = x[size_t(b) * Tn * D + d];
  w.basis = "exact: a copy";
  return w;
}

// dx[b, 0, :] = dcls[b, :], every other token row 0 (exact)
inline Want scatter_cls(const V& dcls, int B, int Tn, int D) {
  Want w;
  w.e.resize(size_t(B) * Tn * D);
  for (int b = 0; b < B; ++b)
    for (int d = 0; d < D; ++d) w.e.ref[size_t(b) * Tn * D + d] = dcls[size_t(b) * D + d];
  w.basis = "exact: a copy and zeros";
  return w;
}

// Per row: target q = (1 - s) one-hot + s / C, loss = -sum q log softmax(l),
// dlogits = (softmax(l) - q) / B, correct = (first index of the max == label).
// Bounds (units of u): log z has (C + 6) + 2|logz| + |max|, and log p_i adds |log p_i|:
// delta_i; loss: sum q (delta_i + (C + 5)|log p_i|) (the C-term sum and q's own rounding);
// dlogits: (p_i (delta_i + 4) + |p_i - q_i| + 4 q_i) / B. Units 2.
struct Xent {
  Want dlogits, loss, correct;
};
inline Xent softmax_xent(const V& logits, const std::vector<int32_t>& labels, int B, int C,
                         double smoothing) {
  Xent o;
  o.dlogits.e.resize(size_t(B) * C);
  o.loss.e.resize(B);
  o.correct.e.resize(B);
  for (int b = 0; b < B; ++b) {
    const double* l = &logits[size_t(b) * C];
    int arg = 0;
    for (int i = 1; i < C; ++i)
      if (l[i] > l[arg]) arg = i;  // strict: the first of equal maxima wins
    const double mx = l[arg];
    double z = 0;
    for (int i = 0; i < C; ++i) z += std::exp(l[i] - mx);
    const double logz = std::log(z) + mx;
    double loss = 0, loss_scale = 0;
    for (int i = 0; i < C; ++i) {
      const double q = (i == labels[b] ? 1.0 - smoothing : 0.0) + smoothing / C;
      const double logp = l[i] - logz, p = std::exp(logp);
      const double delta = C + 6 + 2 * std::fabs(logz) + std::fabs(mx) + std::fabs(logp);
      loss -= q * logp;
      loss_scale += q * (delta + (C + 5) * std::fabs(logp));
      o.dlogits.e.ref[size_t(b) * C + i] = (p - q) / B;
      o.dlogits.e.scale[size_t(b) * C + i] = (p * (delta + 4) + std::fabs(p - q) + 4 * q) / B;
    }
    o.loss.e.ref[b] = loss;
    o.loss.e.scale[b] = loss_scale;
    o.correct.e.ref[b] = arg == labels[b] ? 1 : 0;
  }
  o.dlogits.units = o.loss.units = 2;
  o.dlogits.basis = "2u (p (delta + 4) + |p - q| + 4q) / B, delta = error of log p in u";
  o.loss.basis = "2u sum q (delta + (C+5)|log p|)";
  o.correct.basis = "exact: argmax, first of equal maxima";
  return o;
}

}  // namespace grwarm::test::ref
