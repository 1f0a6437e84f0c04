// Ops of hierarchical families (Swin): window attention with an additive bias (reference and
// finite differences in float64); gather_rows with Swin's shifted
// window partition, its inverse (the backward) and patch merging; mean_tokens_fwd/bwd, with
// the adjoint identity <bwd(g), x> = <g, fwd(x)> checked in float64 (both ops are linear, so
// the identity is what a finite-difference check of the backward measures, without its
// truncation error).
#include <cmath>

#include "conformance.h"
#include "core/families/window_index.h"

namespace grwarm::test {

namespace {

// Reference window attention with an additive bias, in double, and a normwise bound: every
// output element gets (N + hd + 10) u times the sum of the magnitudes of the terms that make
// it (the dot products, the softmax and the weighted sums each add at most their term count
// in roundings; exp and division a few more), units 2 for second-order terms.
struct AttnBiasRef {
  ref::Want out, probs, dqkv, dscores;
};

AttnBiasRef attention_bias_ref(const std::vector<double>& qkv, const std::vector<double>& bias,
                               const std::vector<double>& dout, int nb, const AttnShape& s) {
  const int N = s.Tn, H = s.H, hd = s.hd, D = H * hd, B = s.B;
  const double scale = 1.0 / std::sqrt(double(hd)), k = N + hd + 10;
  AttnBiasRef r;
  r.out.e.resize(size_t(B) * N * D);
  r.probs.e.resize(size_t(B) * H * N * N);
  r.dqkv.e.resize(qkv.size());
  r.dscores.e.resize(size_t(B) * H * N * N);
  auto Q = [&](int b, int t, int c, int h, int d) { return (((size_t(b) * N + t) * 3 + c) * H + h) * hd + d; };
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      std::vector<double> P(size_t(N) * N), Pm(size_t(N) * N), dS(size_t(N) * N);
      for (int i = 0; i < N; ++i) {
        double mx = -1e300, mag_row = 0;
        std::vector<double> sc(N);
        for (int j = 0; j < N; ++j) {
          double dot = 0, mag = 0;
          for (int d = 0; d < hd; ++d) {
            dot += qkv[Q(b, i, 0, h, d)] * qkv[Q(b, j, 1, h, d)];
            mag += std::fabs(qkv[Q(b, i, 0, h, d)] * qkv[Q(b, j, 1, h, d)]);
          }
          const double bv = bias[((size_t(b % nb) * H + h) * N + i) * N + j];
          sc[j] = dot * scale + bv;
          mag_row = std::max(mag_row, mag * scale + std::fabs(bv));
          mx = std::max(mx, sc[j]);
        }
        double sum = 0;
        for (int j = 0; j < N; ++j) sum += std::exp(sc[j] - mx);
        for (int j = 0; j < N; ++j) {
          P[size_t(i) * N + j] = std::exp(sc[j] - mx) / sum;
          // a score error of k u |score terms| moves P_ij by about P_ij (2 k u mag_row)
          Pm[size_t(i) * N + j] = P[size_t(i) * N + j] * (2 * mag_row + 1);
          const size_t o = ((size_t(b) * H + h) * N + i) * N + j;
          r.probs.e.ref[o] = P[size_t(i) * N + j];
          r.probs.e.scale[o] = k * Pm[size_t(i) * N + j];
        }
        for (int d = 0; d < hd; ++d) {
          double acc = 0, mag = 0;
          for (int j = 0; j < N; ++j) {
            acc += P[size_t(i) * N + j] * qkv[Q(b, j, 2, h, d)];
            mag += Pm[size_t(i) * N + j] * std::fabs(qkv[Q(b, j, 2, h, d)]);
          }
          const size_t o = (size_t(b) * N + i) * D + size_t(h) * hd + d;
          r.out.e.ref[o] = acc;
          r.out.e.scale[o] = k * mag;
        }
      }
      // backward
      std::vector<double> dSm(size_t(N) * N);
      for (int i = 0; i < N; ++i) {
        std::vector<double> dP(N), dPm(N);
        double dot = 0, dotm = 0;
        for (int j = 0; j < N; ++j) {
          double a = 0, m = 0;
          for (int d = 0; d < hd; ++d) {
            const double g = dout[(size_t(b) * N + i) * D + size_t(h) * hd + d];
            a += g * qkv[Q(b, j, 2, h, d)];
            m += std::fabs(g * qkv[Q(b, j, 2, h, d)]);
          }
          dP[j] = a;
          dPm[j] = m;
          dot += P[size_t(i) * N + j] * a;
          dotm += Pm[size_t(i) * N + j] * m;
        }
        for (int j = 0; j < N; ++j) {
          const double p = P[size_t(i) * N + j];
          dS[size_t(i) * N + j] = p * (dP[j] - dot);
          dSm[size_t(i) * N + j] = Pm[size_t(i) * N + j] * (std::fabs(dP[j]) + std::fabs(dot)) + p * (dPm[j] + dotm);
          const size_t o = ((size_t(b) * H + h) * N + i) * N + j;
          r.dscores.e.ref[o] = dS[size_t(i) * N + j];
          r.dscores.e.scale[o] = k * dSm[size_t(i) * N + j];
        }
      }
      for (int t = 0; t < N; ++t)
        for (int d = 0; d < hd; ++d) {
          double dq = 0, dqm = 0, dk = 0, dkm = 0, dv = 0, dvm = 0;
          for (int j = 0; j < N; ++j) {
            dq += dS[size_t(t) * N + j] * scale * qkv[Q(b, j, 1, h, d)];
            dqm += dSm[size_t(t) * N + j] * scale * std::fabs(qkv[Q(b, j, 1, h, d)]);
            dk += dS[size_t(j) * N + t] * scale * qkv[Q(b, j, 0, h, d)];
            dkm += dSm[size_t(j) * N + t] * scale * std::fabs(qkv[Q(b, j, 0, h, d)]);
            const double g = dout[(size_t(b) * N + j) * D + size_t(h) * hd + d];
            dv += P[size_t(j) * N + t] * g;
            dvm += Pm[size_t(j) * N + t] * std::fabs(g);
          }
          r.dqkv.e.ref[Q(b, t, 0, h, d)] = dq;
          r.dqkv.e.scale[Q(b, t, 0, h, d)] = k * dqm;
          r.dqkv.e.ref[Q(b, t, 1, h, d)] = dk;
          r.dqkv.e.scale[Q(b, t, 1, h, d)] = k * dkm;
          r.dqkv.e.ref[Q(b, t, 2, h, d)] = dv;
          r.dqkv.e.scale[Q(b, t, 2, h, d)] = k * dvm;
        }
    }
  for (ref::Want* w : {&r.out, &r.probs, &r.dqkv, &r.dscores}) {
    w->units = 2;
    w->basis = "normwise: 2 (N + hd + 10) u x the magnitude of the terms (see cases_window.cpp)";
  }
  return r;
}

template <class T>
void attention_bias_cases(Ctx<T>& c) {
  struct S {
    int B, N, H, hd, nb;
  };
  for (S s : {S{4, 16, 3, 8, 2}, S{2, 49, 2, 32, 1}, S{3, 4, 1, 5, 3}, S{1, 1, 1, 1, 1}}) {
    const AttnShape sh{s.B, s.N, s.H, s.hd};
    const std::string shape = shape_str({{"B", s.B}, {"N", s.N}, {"H", s.H}, {"hd", s.hd}, {"nb", s.nb}});
    Rng rng(s.B * 1000 + s.N * 10 + s.hd);
    const std::vector<T> qkv = rng.vec<T>(size_t(s.B) * s.N * 3 * s.H * s.hd, -1, 1);
    std::vector<T> bias = rng.vec<T>(size_t(s.nb) * s.H * s.N * s.N, -2, 2);
    // A mask-like bias: probabilities of about e^-30 (Swin's mask is -100, whose e^-100 is a
    // float32 denormal, i.e. 0 up to 1e-38: no relative bound holds there).
    if (s.N >= 4) bias[1] = bias[2] = T(-30);
    const std::vector<T> dout = rng.vec<T>(size_t(s.B) * s.N * s.H * s.hd, -1, 1);
    const AttnBiasRef w = attention_bias_ref(to_double(qkv), to_double(bias), to_double(dout), s.nb, sh);
    c.check("attention_bias_fwd", shape,
            [&] {
              Buf<T> q(c.be, qkv), bb(c.be, bias), out(c.be, dout.size()),
                  p(c.be, size_t(s.B) * s.H * s.N * s.N);
              c.be.attention_bias_fwd(out.get(), p.get(), q.get(), bb.get(), s.nb, sh);
              return typename Ctx<T>::Outputs{to_double(out.download()), to_double(p.download())};
            },
            {{"out", &w.out}, {"probs", &w.probs}});
    c.check("attention_bias_bwd", shape,
            [&] {
              Buf<T> q(c.be, qkv), bb(c.be, bias), out(c.be, dout.size()), g(c.be, dout),
                  p(c.be, size_t(s.B) * s.H * s.N * s.N), dq(c.be, qkv.size()),
                  ds(c.be, size_t(s.B) * s.H * s.N * s.N);
              c.be.attention_bias_fwd(out.get(), p.get(), q.get(), bb.get(), s.nb, sh);
              c.be.attention_bias_bwd(dq.get(), ds.get(), g.get(), q.get(), p.get(), sh);
              return typename Ctx<T>::Outputs{to_double(dq.download()), to_double(ds.download())};
            },
            {{"dqkv", &w.dqkv}, {"dscores", &w.dscores}}, {"attention_bias_fwd", "attention_bias_bwd"});
    if constexpr (std::is_same_v<T, double>) {
      // Finite differences of L = <dout, out(qkv, bias)> on the backend itself: central
      // differences with step 1e-5 at every 7th coordinate of qkv and of the bias (the bias
      // gradient is dscores summed over the sequences b with b mod nb equal). L sums up to
      // ~6000 terms of size ~0.5, so its rounding (~3e-13) over 2h gives ~1.5e-8 of noise: the
      // criterion is |fd - analytic| <= 1e-6 (|fd| + 0.1), an absolute floor of 1e-7.
      Buf<T> q(c.be, qkv), bb(c.be, bias), out(c.be, dout.size()), g(c.be, dout),
          p(c.be, size_t(s.B) * s.H * s.N * s.N), dq(c.be, qkv.size()),
          ds(c.be, size_t(s.B) * s.H * s.N * s.N);
      c.be.attention_bias_fwd(out.get(), p.get(), q.get(), bb.get(), s.nb, sh);
      c.be.attention_bias_bwd(dq.get(), ds.get(), g.get(), q.get(), p.get(), sh);
      const std::vector<T> gq = dq.download(), gs = ds.download();
      auto loss = [&](const std::vector<T>& qq, const std::vector<T>& bv) {
        Buf<T> q2(c.be, qq), b2(c.be, bv), o2(c.be, dout.size()), p2(c.be, size_t(s.B) * s.H * s.N * s.N);
        c.be.attention_bias_fwd(o2.get(), p2.get(), q2.get(), b2.get(), s.nb, sh);
        const std::vector<T> o = o2.download();
        double L = 0;
        for (size_t i = 0; i < o.size(); ++i) L += double(o[i]) * double(dout[i]);
        return L;
      };
      const double h = 1e-5;
      double worst = 0;
      for (size_t i = 0; i < qkv.size(); i += 7) {
        std::vector<T> a = qkv, b2 = qkv;
        a[i] += h;
        b2[i] -= h;
        const double fd = (loss(a, bias) - loss(b2, bias)) / (2 * h);
        worst = std::max(worst, std::fabs(fd - double(gq[i])) / (std::fabs(fd) + 0.1));
      }
      const size_t per = size_t(s.H) * s.N * s.N;
      for (size_t i = 0; i < bias.size(); i += 7) {
        std::vector<T> a = bias, b2 = bias;
        a[i] += h;
        b2[i] -= h;
        const double fd = (loss(qkv, a) - loss(qkv, b2)) / (2 * h);
        double an = 0;
        const size_t w0 = i / per, rest = i % per;
        for (int b = int(w0); b < s.B; b += s.nb) an += double(gs[size_t(b) * per + rest]);
        worst = std::max(worst, std::fabs(fd - an) / (std::fabs(fd) + 0.1));
      }
      c.verdict("attention_bias_bwd", {"attention_bias_fwd", "attention_bias_bwd"}, worst < 1e-6,
                "finite differences " + shape + ": worst |fd - analytic| / (|fd| + 0.1) = " + num_str(worst));
    }
  }
}

template <class T>
void gather_cases(Ctx<T>& c) {
  struct S {
    int B, H, W, win, shift, D;
    bool merge;
  };
  for (S s : {S{2, 8, 8, 4, 2, 5, false}, S{1, 14, 14, 7, 3, 3, false}, S{3, 4, 4, 4, 0, 2, false},
              S{2, 8, 8, 0, 0, 6, true}, S{1, 2, 2, 0, 0, 1, true}}) {
    const std::vector<int32_t> perm =
        s.merge ? patch_merge_index(s.H, s.W) : window_partition_index(s.H, s.W, s.win, s.shift);
    const std::vector<int32_t> idx = batched(perm, s.B), inv = batched(inverse_permutation(perm), s.B);
    const int rows = s.B * s.H * s.W;
    const std::string shape = shape_str({{"B", s.B}, {"H", s.H}, {"W", s.W}, {"D", s.D}}) +
                              (s.merge ? " patch merging" : " window " + std::to_string(s.win) +
                                                                " shift " + std::to_string(s.shift));
    Rng rng(rows * 7 + s.D);
    const std::vector<T> x = rng.vec<T>(size_t(rows) * s.D, -1, 1);
    ref::Want w, back;
    w.e.resize(x.size());
    for (int r = 0; r < rows; ++r)
      for (int d = 0; d < s.D; ++d) w.e.ref[size_t(r) * s.D + d] = double(x[size_t(idx[r]) * s.D + d]);
    w.basis = "exact: a copy";
    back.e.resize(x.size());
    back.e.ref = to_double(x);
    back.basis = "exact: the inverse permutation restores the input";
    c.check("gather_rows", shape,
            [&] {
              Buf<T> xx(c.be, x), y(c.be, x.size()), z(c.be, x.size());
              Buf<T, int32_t> ii(c.be, idx), jj(c.be, inv);
              c.be.gather_rows(y.get(), xx.get(), ii.get(), rows, s.D);
              c.be.gather_rows(z.get(), y.get(), jj.get(), rows, s.D);
              return typename Ctx<T>::Outputs{to_double(y.download()), to_double(z.download())};
            },
            {{"Y", &w}, {"inverse", &back}});
  }
}

// Drop path: x_out = x_in + m_b branch (one product and one sum: 2 u (|x_in| + |m b|)) and
// dbranch = m_b dx (one product: u |m dx|), with the sample multipliers of the shared formula.
template <class T>
void drop_path_cases(Ctx<T>& c) {
  for (float p : {0.0f, 0.3f}) {
    const int B = 9;
    const size_t n = 37;
    const DropoutSpec d = make_dropout(1234, 1007, p);
    Rng rng(int(p * 10) + 5);
    const std::vector<T> x = rng.vec<T>(B * n, -1, 1), br = rng.vec<T>(B * n, -1, 1), g = rng.vec<T>(B * n, -1, 1);
    ref::Want wf, wb;
    wf.e.resize(B * n);
    wb.e.resize(B * n);
    int dropped = 0;
    for (int b = 0; b < B; ++b) {
      const double m = ref::mult(d, uint64_t(b));
      dropped += m == 0.0;
      for (size_t i = 0; i < n; ++i) {
        const size_t k = size_t(b) * n + i;
        wf.e.ref[k] = double(x[k]) + m * double(br[k]);
        wf.e.scale[k] = std::fabs(double(x[k])) + 2 * std::fabs(m * double(br[k]));
        wb.e.ref[k] = m * double(g[k]);
        wb.e.scale[k] = std::fabs(m * double(g[k]));
      }
    }
    wf.units = wb.units = 2;
    wf.basis = "2 u (|x_in| + 2 |m branch|)";
    wb.basis = "2 u |m dx|";
    const std::string shape = "B=9 per_sample=37 p=" + num_str(p) + " (" + std::to_string(dropped) + " samples dropped)";
    c.check("drop_path_fwd", shape,
            [&] {
              Buf<T> xx(c.be, x), bb(c.be, br), out(c.be, x.size());
              c.be.drop_path_fwd(out.get(), xx.get(), bb.get(), B, n, d);
              return typename Ctx<T>::Outputs{to_double(out.download())};
            },
            {{"x_out", &wf}});
    c.check("drop_path_bwd", shape,
            [&] {
              Buf<T> gg(c.be, g), out(c.be, x.size());
              c.be.drop_path_bwd(out.get(), gg.get(), B, n, d);
              return typename Ctx<T>::Outputs{to_double(out.download())};
            },
            {{"dbranch", &wb}});
  }
}

template <class T>
void mean_cases(Ctx<T>& c) {
  for (auto [B, L, D] : {std::tuple{2, 49, 5}, std::tuple{3, 4, 768}, std::tuple{1, 1, 3}}) {
    const std::string shape = shape_str({{"B", B}, {"L", L}, {"D", D}});
    Rng rng(B * 31 + L * 7 + D);
    const std::vector<T> x = rng.vec<T>(size_t(B) * L * D, -1, 1);
    const std::vector<T> g = rng.vec<T>(size_t(B) * D, -1, 1);
    // fwd: L - 1 additions, the rounding of 1/L and the product: (L + 2) u sum|x| / L.
    ref::Want wf;
    wf.e.resize(size_t(B) * D);
    for (int b = 0; b < B; ++b)
      for (int d = 0; d < D; ++d) {
        double s = 0, m = 0;
        for (int l = 0; l < L; ++l) {
          const double v = double(x[(size_t(b) * L + l) * D + d]);
          s += v;
          m += std::fabs(v);
        }
        wf.e.ref[size_t(b) * D + d] = s / L;
        wf.e.scale[size_t(b) * D + d] = (L + 2) * m / L;
      }
    wf.units = 1;
    wf.basis = "(L + 2) u sum|x| / L: L - 1 additions, 1/L and the product";
    // bwd: the rounding of 1/L and the product: 2 u |g| / L.
    ref::Want wb;
    wb.e.resize(x.size());
    for (int b = 0; b < B; ++b)
      for (int l = 0; l < L; ++l)
        for (int d = 0; d < D; ++d) {
          const double v = double(g[size_t(b) * D + d]);
          wb.e.ref[(size_t(b) * L + l) * D + d] = v / L;
          wb.e.scale[(size_t(b) * L + l) * D + d] = std::fabs(v) / L;
        }
    wb.units = 2;
    wb.basis = "2 u |dout| / L: 1/L and the product";
    c.check("mean_tokens_fwd", shape,
            [&] {
              Buf<T> xx(c.be, x), out(c.be, size_t(B) * D);
              c.be.mean_tokens_fwd(out.get(), xx.get(), B, L, D);
              return typename Ctx<T>::Outputs{to_double(out.download())};
            },
            {{"out", &wf}});
    c.check("mean_tokens_bwd", shape,
            [&] {
              Buf<T> gg(c.be, g), dx(c.be, x.size());
              c.be.mean_tokens_bwd(dx.get(), gg.get(), B, L, D);
              return typename Ctx<T>::Outputs{to_double(dx.download())};
            },
            {{"dx", &wb}});
    if constexpr (std::is_same_v<T, double>) {
      // The adjoint identity of the pair on the backend itself.
      Buf<T> xx(c.be, x), gg(c.be, g), out(c.be, size_t(B) * D), dx(c.be, x.size());
      c.be.mean_tokens_fwd(out.get(), xx.get(), B, L, D);
      c.be.mean_tokens_bwd(dx.get(), gg.get(), B, L, D);
      const std::vector<T> o = out.download(), d = dx.download();
      double lhs = 0, rhs = 0, mag = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        lhs += double(d[i]) * double(x[i]);
        mag += std::fabs(double(d[i]) * double(x[i]));
      }
      for (size_t i = 0; i < g.size(); ++i) rhs += double(g[i]) * double(o[i]);
      const bool ok = std::fabs(lhs - rhs) <= 1e-12 * (mag + 1e-300);
      c.verdict("mean_tokens_bwd", {"mean_tokens_fwd", "mean_tokens_bwd"}, ok,
                "adjoint " + shape + ": <bwd(g), x> = " + num_str(lhs) + ", <g, fwd(x)> = " + num_str(rhs));
    }
  }
}

}  // namespace

template <class T>
void cases_window(Ctx<T>& c) {
  attention_bias_cases(c);
  gather_cases(c);
  drop_path_cases(c);
  mean_cases(c);
}

template void cases_window<float>(Ctx<float>&);
template void cases_window<double>(Ctx<double>&);

}  // namespace grwarm::test
