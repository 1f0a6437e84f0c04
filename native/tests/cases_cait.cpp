// CaiT's ops: talking-heads attention, class attention and LayerScale, against double
// references, and their backward passes against central finite differences in float64 on the
// backend itself.
//
// Bounds are normwise: every element of an output gets k u times the largest magnitude of
// that output (k counts the roundings along the longest chain: the dot products over hd, the
// head mixing over H, the softmax over Tn, and the weighted sums), since the head mixing and
// the softmax backward make elementwise magnitudes awkward to track. The mixing-weight and
// gamma gradients are sums over many rows and get the elementwise bound of a dot product.
#include <algorithm>
#include <cmath>

#include "conformance.h"

namespace grwarm::test {

namespace {

using V = std::vector<double>;

// Normwise expectation: scale = max |ref| for every element.
ref::Want normwise(const V& ref, double units, const std::string& basis) {
  ref::Want w;
  w.e.ref = ref;
  double mx = 0;
  for (double v : ref) mx = std::max(mx, std::fabs(v));
  w.e.scale.assign(ref.size(), mx);
  w.units = units;
  w.basis = "normwise: " + basis + " u x max |output|";
  return w;
}

// ---- talking heads ----------------------------------------------------------------------------

struct ThRef {
  V out, S, P, A, dqkv, dwl, dbl, dww, dbw, mag_wl, mag_bl, mag_ww, mag_bw;
};

ThRef talking_heads_ref(const V& qkv, const V& wl, const V& bl, const V& ww, const V& bw,
                        const V& dout, const AttnShape& s) {
  const int B = s.B, N = s.Tn, H = s.H, hd = s.hd, D = H * hd;
  const double sc = 1.0 / std::sqrt(double(hd));
  auto Q = [&](int b, int t, int c, int h, int d) { return (((size_t(b) * N + t) * 3 + c) * H + h) * hd + d; };
  auto O = [&](int b, int t, int h, int d) { return (size_t(b) * N + t) * D + size_t(h) * hd + d; };
  auto X = [&](int b, int h, int i, int j) { return ((size_t(b) * H + h) * N + i) * N + j; };
  ThRef r;
  const size_t pl = size_t(B) * H * N * N;
  r.out.assign(size_t(B) * N * D, 0);
  r.S.assign(pl, 0);
  r.P.assign(pl, 0);
  r.A.assign(pl, 0);
  V Lg(pl), dA(pl), dP(pl), dL(pl), dS(pl);
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < N; ++i) {
      for (int h = 0; h < H; ++h)
        for (int j = 0; j < N; ++j) {
          double a = 0;
          for (int d = 0; d < hd; ++d) a += qkv[Q(b, i, 0, h, d)] * qkv[Q(b, j, 1, h, d)];
          r.S[X(b, h, i, j)] = a * sc;
        }
      for (int g = 0; g < H; ++g) {
        double mx = -1e300;
        for (int j = 0; j < N; ++j) {
          double a = bl[g];
          for (int h = 0; h < H; ++h) a += wl[g * H + h] * r.S[X(b, h, i, j)];
          Lg[X(b, g, i, j)] = a;
          mx = std::max(mx, a);
        }
        double z = 0;
        for (int j = 0; j < N; ++j) z += std::exp(Lg[X(b, g, i, j)] - mx);
        for (int j = 0; j < N; ++j) r.P[X(b, g, i, j)] = std::exp(Lg[X(b, g, i, j)] - mx) / z;
      }
      for (int g = 0; g < H; ++g)
        for (int j = 0; j < N; ++j) {
          double a = bw[g];
          for (int h = 0; h < H; ++h) a += ww[g * H + h] * r.P[X(b, h, i, j)];
          r.A[X(b, g, i, j)] = a;
        }
      for (int g = 0; g < H; ++g)
        for (int d = 0; d < hd; ++d) {
          double a = 0;
          for (int j = 0; j < N; ++j) a += r.A[X(b, g, i, j)] * qkv[Q(b, j, 2, g, d)];
          r.out[O(b, i, g, d)] = a;
        }
    }
  // backward
  r.dqkv.assign(qkv.size(), 0);
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < N; ++i) {
      for (int g = 0; g < H; ++g)
        for (int j = 0; j < N; ++j) {
          double a = 0;
          for (int d = 0; d < hd; ++d) a += dout[O(b, i, g, d)] * qkv[Q(b, j, 2, g, d)];
          dA[X(b, g, i, j)] = a;
        }
      for (int h = 0; h < H; ++h) {
        double dot = 0;
        for (int j = 0; j < N; ++j) {
          double a = 0;
          for (int g = 0; g < H; ++g) a += ww[g * H + h] * dA[X(b, g, i, j)];
          dP[X(b, h, i, j)] = a;
          dot += a * r.P[X(b, h, i, j)];
        }
        for (int j = 0; j < N; ++j) dL[X(b, h, i, j)] = r.P[X(b, h, i, j)] * (dP[X(b, h, i, j)] - dot);
      }
      for (int h = 0; h < H; ++h)
        for (int j = 0; j < N; ++j) {
          double a = 0;
          for (int g = 0; g < H; ++g) a += wl[g * H + h] * dL[X(b, g, i, j)];
          dS[X(b, h, i, j)] = a;
        }
    }
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int t = 0; t < N; ++t)
        for (int d = 0; d < hd; ++d) {
          double dq = 0, dk = 0, dv = 0;
          for (int j = 0; j < N; ++j) {
            dq += dS[X(b, h, t, j)] * sc * qkv[Q(b, j, 1, h, d)];
            dk += dS[X(b, h, j, t)] * sc * qkv[Q(b, j, 0, h, d)];
            dv += r.A[X(b, h, j, t)] * dout[O(b, j, h, d)];
          }
          r.dqkv[Q(b, t, 0, h, d)] = dq;
          r.dqkv[Q(b, t, 1, h, d)] = dk;
          r.dqkv[Q(b, t, 2, h, d)] = dv;
        }
  r.dwl.assign(size_t(H) * H, 0);
  r.dww.assign(size_t(H) * H, 0);
  r.mag_wl.assign(size_t(H) * H, 0);
  r.mag_ww.assign(size_t(H) * H, 0);
  r.dbl.assign(H, 0);
  r.dbw.assign(H, 0);
  r.mag_bl.assign(H, 0);
  r.mag_bw.assign(H, 0);
  for (int g = 0; g < H; ++g) {
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < N; ++i)
        for (int j = 0; j < N; ++j) {
          r.dbw[g] += dA[X(b, g, i, j)];
          r.mag_bw[g] += std::fabs(dA[X(b, g, i, j)]);
          r.dbl[g] += dL[X(b, g, i, j)];
          r.mag_bl[g] += std::fabs(dL[X(b, g, i, j)]);
          for (int h = 0; h < H; ++h) {
            r.dww[g * H + h] += dA[X(b, g, i, j)] * r.P[X(b, h, i, j)];
            r.mag_ww[g * H + h] += std::fabs(dA[X(b, g, i, j)] * r.P[X(b, h, i, j)]);
            r.dwl[g * H + h] += dL[X(b, g, i, j)] * r.S[X(b, h, i, j)];
            r.mag_wl[g * H + h] += std::fabs(dL[X(b, g, i, j)] * r.S[X(b, h, i, j)]);
          }
        }
  }
  return r;
}

// Sums over (b, i, j) with an error chain through the backward of up to k roundings per term:
// (terms + k) u x (the sum of the term magnitudes) + the normwise error of the terms.
ref::Want summed(const V& ref, const V& mag, double units, const std::string& what) {
  ref::Want w;
  w.e.ref = ref;
  w.e.scale = mag;
  w.units = units;
  w.basis = what;
  return w;
}

template <class T>
void talking_heads_cases(Ctx<T>& c) {
  struct S {
    int B, N, H, hd;
  };
  for (S s : {S{2, 9, 4, 8}, S{1, 16, 3, 5}, S{3, 4, 1, 6}, S{1, 1, 2, 1}}) {
    const AttnShape sh{s.B, s.N, s.H, s.hd};
    const std::string shape = shape_str({{"B", s.B}, {"N", s.N}, {"H", s.H}, {"hd", s.hd}});
    Rng rng(s.B * 977 + s.N * 13 + s.H);
    const size_t D = size_t(s.H) * s.hd, pl = size_t(s.B) * s.H * s.N * s.N;
    const std::vector<T> qkv = rng.vec<T>(size_t(s.B) * s.N * 3 * D, -1, 1),
                         wl = rng.vec<T>(size_t(s.H) * s.H, -1, 1), bl = rng.vec<T>(s.H, -0.5, 0.5),
                         ww = rng.vec<T>(size_t(s.H) * s.H, -1, 1), bw = rng.vec<T>(s.H, -0.5, 0.5),
                         dout = rng.vec<T>(size_t(s.B) * s.N * D, -1, 1);
    const ThRef r = talking_heads_ref(to_double(qkv), to_double(wl), to_double(bl), to_double(ww),
                                      to_double(bw), to_double(dout), sh);
    const double k = 4.0 * (s.N + s.hd + 2 * s.H + 10);
    const std::string kb = "4 (N + hd + 2H + 10)";
    const ref::Want wo = normwise(r.out, k, kb), ws = normwise(r.S, k, kb), wp = normwise(r.P, k, kb),
                    wa = normwise(r.A, k, kb), wd = normwise(r.dqkv, 2 * k, "2 x " + kb);
    const double ku = double(s.B) * s.N * s.N + 2 * k;
    const std::string sb = "(B N^2 + 8 (N + hd + 2H + 10)) u x sum of |term|";
    const ref::Want wdl = summed(r.dwl, r.mag_wl, ku, sb), wdbl = summed(r.dbl, r.mag_bl, ku, sb),
                    wdw = summed(r.dww, r.mag_ww, ku, sb), wdbw = summed(r.dbw, r.mag_bw, ku, sb);
    auto fwd = [&](Buf<T>& q, Buf<T>& o, Buf<T>& sv) {
      Buf<T> a(c.be, wl), b(c.be, bl), e(c.be, ww), f(c.be, bw);
      c.be.talking_heads_fwd(o.get(), sv.get(), q.get(), a.get(), b.get(), e.get(), f.get(), sh);
    };
    c.check("talking_heads_fwd", shape,
            [&] {
              Buf<T> q(c.be, qkv), o(c.be, dout.size()), sv(c.be, 3 * pl);
              fwd(q, o, sv);
              const std::vector<double> all = to_double(sv.download());
              return typename Ctx<T>::Outputs{to_double(o.download()), V(all.begin(), all.begin() + pl),
                                              V(all.begin() + pl, all.begin() + 2 * pl), V(all.begin() + 2 * pl, all.end())};
            },
            {{"out", &wo}, {"S", &ws}, {"P", &wp}, {"A", &wa}});
    auto bwd = [&](const std::vector<T>& g, std::vector<T>* grads) {
      Buf<T> q(c.be, qkv), o(c.be, dout.size()), sv(c.be, 3 * pl), gg(c.be, g), dq(c.be, qkv.size()),
          a(c.be, wl), e(c.be, ww), dwl(c.be, wl.size()), dbl(c.be, bl.size()), dww(c.be, ww.size()),
          dbw(c.be, bw.size()), scr(c.be, 3 * pl);
      fwd(q, o, sv);
      c.be.talking_heads_bwd(dq.get(), dwl.get(), dbl.get(), dww.get(), dbw.get(), scr.get(), gg.get(),
                             q.get(), sv.get(), a.get(), e.get(), sh);
      grads[0] = dq.download();
      grads[1] = dwl.download();
      grads[2] = dbl.download();
      grads[3] = dww.download();
      grads[4] = dbw.download();
    };
    c.check("talking_heads_bwd", shape,
            [&] {
              std::vector<T> gr[5];
              bwd(dout, gr);
              return typename Ctx<T>::Outputs{to_double(gr[0]), to_double(gr[1]), to_double(gr[2]),
                                              to_double(gr[3]), to_double(gr[4])};
            },
            {{"dqkv", &wd}, {"dwl", &wdl}, {"dbl", &wdbl}, {"dww", &wdw}, {"dbw", &wdbw}},
            {"talking_heads_fwd", "talking_heads_bwd"});
    if constexpr (std::is_same_v<T, double>) {
      // Central differences (step 1e-5) of L = <dout, out> at every 5th coordinate of qkv and at
      // every mixing weight and bias: |fd - analytic| <= 1e-6 (|fd| + 0.1).
      std::vector<T> gr[5];
      bwd(dout, gr);
      std::vector<T> in[5] = {qkv, wl, bl, ww, bw};
      auto loss = [&]() {
        Buf<T> q(c.be, in[0]), a(c.be, in[1]), b(c.be, in[2]), e(c.be, in[3]), f(c.be, in[4]),
            o(c.be, dout.size()), sv(c.be, 3 * pl);
        c.be.talking_heads_fwd(o.get(), sv.get(), q.get(), a.get(), b.get(), e.get(), f.get(), sh);
        const std::vector<T> ov = o.download();
        double L = 0;
        for (size_t i = 0; i < ov.size(); ++i) L += double(ov[i]) * double(dout[i]);
        return L;
      };
      double worst = 0;
      const double h = 1e-5;
      for (int t = 0; t < 5; ++t)
        for (size_t i = 0; i < in[t].size(); i += (t == 0 ? 5 : 1)) {
          const T keep = in[t][i];
          in[t][i] = keep + h;
          const double lp = loss();
          in[t][i] = keep - h;
          const double lm = loss();
          in[t][i] = keep;
          const double fd = (lp - lm) / (2 * h);
          worst = std::max(worst, std::fabs(fd - double(gr[t][i])) / (std::fabs(fd) + 0.1));
        }
      c.verdict("talking_heads_bwd", {"talking_heads_fwd", "talking_heads_bwd"}, worst < 1e-6,
                "finite differences " + shape + ": worst |fd - analytic| / (|fd| + 0.1) = " + num_str(worst));
    }
  }
}

// ---- class attention ----------------------------------------------------------------------------

template <class T>
void class_attention_cases(Ctx<T>& c) {
  struct S {
    int B, N, H, hd;
  };
  for (S s : {S{3, 17, 4, 8}, S{2, 5, 2, 3}, S{1, 1, 1, 4}}) {
    const AttnShape sh{s.B, s.N, s.H, s.hd};
    const std::string shape = shape_str({{"B", s.B}, {"N", s.N}, {"H", s.H}, {"hd", s.hd}});
    const int B = s.B, N = s.N, H = s.H, hd = s.hd, D = H * hd;
    Rng rng(B * 31 + N * 7 + H);
    const std::vector<T> q = rng.vec<T>(size_t(B) * D, -1, 1), k = rng.vec<T>(size_t(B) * N * D, -1, 1),
                         v = rng.vec<T>(size_t(B) * N * D, -1, 1), g = rng.vec<T>(size_t(B) * D, -1, 1);
    const double sc = 1.0 / std::sqrt(double(hd));
    V out(size_t(B) * D), P(size_t(B) * H * N), dq(size_t(B) * D), dk(k.size()), dv(v.size());
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < H; ++h) {
        double* p = &P[(size_t(b) * H + h) * N];
        double mx = -1e300;
        for (int j = 0; j < N; ++j) {
          double a = 0;
          for (int d = 0; d < hd; ++d) a += double(q[size_t(b) * D + h * hd + d]) * double(k[(size_t(b) * N + j) * D + h * hd + d]);
          p[j] = a * sc;
          mx = std::max(mx, p[j]);
        }
        double z = 0;
        for (int j = 0; j < N; ++j) z += std::exp(p[j] - mx);
        for (int j = 0; j < N; ++j) p[j] = std::exp(p[j] - mx) / z;
        std::vector<double> dp(N);
        double dot = 0;
        for (int j = 0; j < N; ++j) {
          double a = 0;
          for (int d = 0; d < hd; ++d) {
            out[size_t(b) * D + h * hd + d] += p[j] * double(v[(size_t(b) * N + j) * D + h * hd + d]);
            a += double(g[size_t(b) * D + h * hd + d]) * double(v[(size_t(b) * N + j) * D + h * hd + d]);
          }
          dp[j] = a;
          dot += p[j] * a;
        }
        for (int j = 0; j < N; ++j) {
          const double ds = p[j] * (dp[j] - dot) * sc;
          for (int d = 0; d < hd; ++d) {
            const size_t row = (size_t(b) * N + j) * D + h * hd + d;
            dq[size_t(b) * D + h * hd + d] += ds * double(k[row]);
            dk[row] = ds * double(q[size_t(b) * D + h * hd + d]);
            dv[row] = p[j] * double(g[size_t(b) * D + h * hd + d]);
          }
        }
      }
    const double kk = 4.0 * (N + hd + 10);
    const std::string kb = "4 (N + hd + 10)";
    const ref::Want wo = normwise(out, kk, kb), wp = normwise(P, kk, kb), wq = normwise(dq, 2 * kk, "2 x " + kb),
                    wk = normwise(dk, 2 * kk, "2 x " + kb), wv = normwise(dv, 2 * kk, "2 x " + kb);
    auto run = [&](const std::vector<T>& qq, const std::vector<T>& kv, const std::vector<T>& vv,
                   std::vector<T>* o, std::vector<T>* p, std::vector<T>* grads) {
      Buf<T> a(c.be, qq), b(c.be, kv), e(c.be, vv), ob(c.be, out.size()), pb(c.be, P.size());
      c.be.class_attention_fwd(ob.get(), pb.get(), a.get(), b.get(), e.get(), sh);
      if (o) *o = ob.download();
      if (p) *p = pb.download();
      if (grads) {
        Buf<T> gg(c.be, g), d1(c.be, qq.size()), d2(c.be, kv.size()), d3(c.be, vv.size());
        c.be.class_attention_bwd(d1.get(), d2.get(), d3.get(), gg.get(), a.get(), b.get(), e.get(), pb.get(), sh);
        grads[0] = d1.download();
        grads[1] = d2.download();
        grads[2] = d3.download();
      }
    };
    c.check("class_attention_fwd", shape,
            [&] {
              std::vector<T> o, p;
              run(q, k, v, &o, &p, nullptr);
              return typename Ctx<T>::Outputs{to_double(o), to_double(p)};
            },
            {{"out", &wo}, {"probs", &wp}});
    c.check("class_attention_bwd", shape,
            [&] {
              std::vector<T> gr[3];
              run(q, k, v, nullptr, nullptr, gr);
              return typename Ctx<T>::Outputs{to_double(gr[0]), to_double(gr[1]), to_double(gr[2])};
            },
            {{"dq", &wq}, {"dk", &wk}, {"dv", &wv}}, {"class_attention_fwd", "class_attention_bwd"});
    if constexpr (std::is_same_v<T, double>) {
      std::vector<T> gr[3];
      run(q, k, v, nullptr, nullptr, gr);
      std::vector<T> in[3] = {q, k, v};
      auto loss = [&]() {
        std::vector<T> o;
        run(in[0], in[1], in[2], &o, nullptr, nullptr);
        double L = 0;
        for (size_t i = 0; i < o.size(); ++i) L += double(o[i]) * double(g[i]);
        return L;
      };
      double worst = 0;
      const double h = 1e-5;
      for (int t = 0; t < 3; ++t)
        for (size_t i = 0; i < in[t].size(); i += 3) {
          const T keep = in[t][i];
          in[t][i] = keep + h;
          const double lp = loss();
          in[t][i] = keep - h;
          const double lm = loss();
          in[t][i] = keep;
          const double fd = (lp - lm) / (2 * h);
          worst = std::max(worst, std::fabs(fd - double(gr[t][i])) / (std::fabs(fd) + 0.1));
        }
      c.verdict("class_attention_bwd", {"class_attention_fwd", "class_attention_bwd"}, worst < 1e-6,
                "finite differences " + shape + ": worst |fd - analytic| / (|fd| + 0.1) = " + num_str(worst));
    }
  }
}

// ---- LayerScale -------------------------------------------------------------------------------

template <class T>
void layer_scale_cases(Ctx<T>& c) {
  for (auto [rows, cols] : {std::pair{37, 12}, std::pair{1, 5}, std::pair{300, 3}}) {
    const std::string shape = shape_str({{"rows", rows}, {"cols", cols}});
    Rng rng(rows * 11 + cols);
    const std::vector<T> x = rng.vec<T>(size_t(rows) * cols, -1, 1), gm = rng.vec<T>(cols, -1, 1),
                         dy = rng.vec<T>(size_t(rows) * cols, -1, 1);
    ref::Want wy, wdx, wdg;
    wy.e.resize(x.size());
    wdx.e.resize(x.size());
    wdg.e.resize(cols);
    for (size_t i = 0; i < x.size(); ++i) {
      const double gg = double(gm[i % cols]);
      wy.e.ref[i] = gg * double(x[i]);
      wy.e.scale[i] = std::fabs(wy.e.ref[i]);
      wdx.e.ref[i] = gg * double(dy[i]);
      wdx.e.scale[i] = std::fabs(wdx.e.ref[i]);
      wdg.e.ref[i % cols] += double(dy[i]) * double(x[i]);
      wdg.e.scale[i % cols] += std::fabs(double(dy[i]) * double(x[i]));
    }
    wy.units = wdx.units = 1;
    wy.basis = wdx.basis = "u |gamma x|: one product";
    wdg.units = rows + 2;
    wdg.basis = "(rows + 2) u sum_r |dy x|: a dot product over rows";
    c.check("layer_scale_fwd", shape,
            [&] {
              Buf<T> xx(c.be, x), g(c.be, gm), y(c.be, x.size());
              c.be.layer_scale_fwd(y.get(), xx.get(), g.get(), rows, cols);
              return typename Ctx<T>::Outputs{to_double(y.download())};
            },
            {{"y", &wy}});
    c.check("layer_scale_bwd", shape,
            [&] {
              // dx aliases dy, as CaiT calls it
              Buf<T> xx(c.be, x), g(c.be, gm), d(c.be, dy), dg(c.be, cols);
              c.be.layer_scale_bwd(d.get(), dg.get(), d.get(), xx.get(), g.get(), rows, cols);
              return typename Ctx<T>::Outputs{to_double(d.download()), to_double(dg.download())};
            },
            {{"dx", &wdx}, {"dgamma", &wdg}});
    if constexpr (std::is_same_v<T, double>) {
      // The pair is bilinear in (x, gamma): central differences are exact up to rounding.
      Buf<T> xx(c.be, x), g(c.be, gm), d(c.be, dy), dg(c.be, cols), dxb(c.be, x.size());
      c.be.layer_scale_bwd(dxb.get(), dg.get(), d.get(), xx.get(), g.get(), rows, cols);
      const std::vector<T> dx = dxb.download(), dgam = dg.download();
      auto loss = [&](const std::vector<T>& xv, const std::vector<T>& gv) {
        Buf<T> a(c.be, xv), b(c.be, gv), y(c.be, xv.size());
        c.be.layer_scale_fwd(y.get(), a.get(), b.get(), rows, cols);
        const std::vector<T> yv = y.download();
        double L = 0;
        for (size_t i = 0; i < yv.size(); ++i) L += double(yv[i]) * double(dy[i]);
        return L;
      };
      double worst = 0;
      const double h = 1e-5;
      for (size_t i = 0; i < x.size(); i += 7) {
        std::vector<T> a = x, b = x;
        a[i] += h;
        b[i] -= h;
        const double fd = (loss(a, gm) - loss(b, gm)) / (2 * h);
        worst = std::max(worst, std::fabs(fd - double(dx[i])) / (std::fabs(fd) + 0.1));
      }
      for (int i = 0; i < cols; ++i) {
        std::vector<T> a = gm, b = gm;
        a[i] += h;
        b[i] -= h;
        const double fd = (loss(x, a) - loss(x, b)) / (2 * h);
        worst = std::max(worst, std::fabs(fd - double(dgam[i])) / (std::fabs(fd) + 0.1));
      }
      c.verdict("layer_scale_bwd", {"layer_scale_fwd", "layer_scale_bwd"}, worst < 1e-6,
                "finite differences " + shape + ": worst |fd - analytic| / (|fd| + 0.1) = " + num_str(worst));
    }
  }
}

}  // namespace

template <class T>
void cases_cait(Ctx<T>& c) {
  talking_heads_cases(c);
  class_attention_cases(c);
  layer_scale_cases(c);
}

template void cases_cait<float>(Ctx<float>&);
template void cases_cait<double>(Ctx<double>&);

}  // namespace grwarm::test
