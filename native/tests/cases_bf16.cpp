// bf16 mixed precision ops (float32 backends whose bf16() is not null) and the fused linear forward:
// linear_fwd, linear_fwd_bf16, linear_residual_fwd(_bf16), round_bf16, gemm_bf16, layernorm_fwd_bf16, gelu_fwd_bf16,
// col_sum_round_bf16, gelu_bwd_bf16, bf16. A float64 backend (or one without bf16) must
// offer no bf16 ops (bf16() is null); linear_fwd is checked in both
// precisions.
//
// Tolerances: a value rounded to bf16 is within u_bf16 = 2^-8 of itself relative, so an output
// stored as bf16 is compared with u = 2^-8 and units = 2 on the reference's own error scale
// (which bounds |value|), leaving room for the float32 error before the rounding. GEMMs on
// bf16 inputs see exactly the rounded values, so their bound is the float32 GEMM bound.
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include "conformance.h"
#include "grwarm/bf16.h"

namespace grwarm::test {

namespace {

constexpr double kUb = 1.0 / 256.0;  // bf16 unit roundoff

// A bf16-rounded output: the reference's scale, counted in u_bf16.
ref::Want as_bf16_output(ref::Want w) {
  w.units = 2;
  w.u = kUb;
  w.basis = "2 u_bf16 * (the float32 op's error scale): the output is rounded to bf16";
  return w;
}

std::vector<double> widen(const std::vector<uint16_t>& v) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = bf16_widen(v[i]);
  return out;
}

std::vector<uint16_t> random_bf16(Rng& rng, size_t n, double lo, double hi) {
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = bf16_round(float(rng.uniform(lo, hi)));
  return v;
}

// y = x W^T + b (+ res) as the reference GEMM (beta = 1 on the broadcast bias and residual).
ref::Want linear_ref(const std::vector<double>& x, const std::vector<double>& W,
                     const std::vector<double>& b, int rows, int out, int in,
                     const std::vector<double>* res = nullptr) {
  std::vector<double> C(size_t(rows) * out);
  for (int r = 0; r < rows; ++r)
    for (int o = 0; o < out; ++o)
      C[size_t(r) * out + o] = b[o] + (res ? (*res)[size_t(r) * out + o] : 0.0);
  return ref::gemm(Trans::No, Trans::Yes, rows, out, in, 1.0, x, in, W, in, 1.0, C, out);
}

// A backend may decline linear_residual_fwd(_bf16) (returns false: the caller runs linear_fwd
// and residual_fwd). Then it must have left x_out untouched (still NaN); the row checks the
// composite the caller would run. Returns false when a declining call wrote x_out.
template <class T>
bool declined_untouched(const std::vector<T>& y) {
  for (T v : y)
    if (!std::isnan(double(v))) return false;
  return true;
}

struct LinearShape {
  int rows, out, in;
};
const LinearShape kLinear[] = {{7, 13, 5}, {65, 48, 32}, {130, 192, 64}, {1, 1, 1}};

template <class T>
void linear_cases(Ctx<T>& c) {
  for (const auto& [rows, out, in] : kLinear) {
    Rng rng(uint64_t(rows) * 7919 + out * 31 + in);
    const std::vector<T> x = rng.vec<T>(size_t(rows) * in, -1, 1);
    const std::vector<T> W = rng.vec<T>(size_t(out) * in, -1, 1);
    const std::vector<T> b = rng.vec<T>(out, -1, 1);
    const ref::Want w = linear_ref(to_double(x), to_double(W), to_double(b), rows, out, in);
    const std::string shape = shape_str({{"rows", rows}, {"out", out}, {"in", in}});
    c.check("linear_fwd", shape,
            [&] {
              Buf<T> xx(c.be, x), ww(c.be, W), bb(c.be, b);
              Buf<T> y(c.be, std::vector<T>(size_t(rows) * out, std::numeric_limits<T>::quiet_NaN()));
              c.be.linear_fwd(y.get(), xx.get(), ww.get(), bb.get(), rows, out, in);
              return typename Ctx<T>::Outputs{to_double(y.download())};
            },
            {{"y", &w}});
    // linear_residual_fwd: x_out = x_res + x W^T + b (the add in the GEMM's epilogue).
    const std::vector<T> res = rng.vec<T>(size_t(rows) * out, -2, 2);
    const std::vector<double> resd = to_double(res);
    const ref::Want wr = linear_ref(to_double(x), to_double(W), to_double(b), rows, out, in, &resd);
    c.check("linear_residual_fwd", shape,
            [&] {
              Buf<T> xx(c.be, x), ww(c.be, W), bb(c.be, b), rr(c.be, res);
              Buf<T> y(c.be, std::vector<T>(size_t(rows) * out, std::numeric_limits<T>::quiet_NaN()));
              if (!c.be.linear_residual_fwd(y.get(), rr.get(), xx.get(), ww.get(), bb.get(), rows, out, in)) {
                if (!declined_untouched(y.download()))
                  throw std::runtime_error("declined linear_residual_fwd wrote x_out");
                Buf<T> tmp(c.be, size_t(rows) * out);
                c.be.linear_fwd(tmp.get(), xx.get(), ww.get(), bb.get(), rows, out, in);
                c.be.residual_fwd(y.get(), rr.get(), tmp.get(), size_t(rows) * out, DropoutSpec{});
              }
              return typename Ctx<T>::Outputs{to_double(y.download())};
            },
            {{"y", &wr}});
  }
}

// The formula itself (include/grwarm/bf16.h) against hand-worked values: ties go to even,
// NaN stays NaN, overflow goes to infinity.
bool rounding_formula_ok(std::string& why) {
  struct Case {
    float in;
    float want;
  };
  const float inf = std::numeric_limits<float>::infinity();
  const Case cases[] = {
      {1.0f, 1.0f},
      {1.0f + 0x1p-8f, 1.0f},                   // tie between 1 and 1 + 2^-7: even (1)
      {1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-6f},     // tie between 1 + 2^-7 and 1 + 2^-6: even
      {1.0f + 0x1p-8f + 0x1p-20f, 1.0f + 0x1p-7f},  // just above the tie: up
      {-2.5f, -2.5f},
      {inf, inf},
      {-inf, -inf},
      {0.0f, 0.0f},
  };
  for (const Case& k : cases) {
    const float got = bf16_widen(bf16_round(k.in));
    if (got != k.want) {
      why = "bf16_round(" + num_str(k.in) + ") = " + num_str(got) + ", expected " + num_str(k.want);
      return false;
    }
  }
  // The largest finite bf16 is (2 - 2^-7) 2^127 ~ 3.3895e38; beyond it plus half an ulp
  // (2^119), values round to infinity.
  if (bf16_widen(bf16_round(3.4e38f)) != inf || !std::isfinite(bf16_widen(bf16_round(3.38e38f)))) {
    why = "overflow: 3.4e38 must round to infinity and 3.38e38 to a finite bf16";
    return false;
  }
  if (!std::isnan(bf16_widen(bf16_round(std::numeric_limits<float>::quiet_NaN())))) {
    why = "NaN does not stay NaN";
    return false;
  }
  return true;
}

void bf16_cases_f32(Ctx<float>& c) {
  Bf16Ops* bf = c.be.bf16();
  c.verdict("bf16", {"bf16"}, bf != nullptr,
            bf ? "the backend offers bf16 ops" : "the backend has no bf16 (the cases below skip)");
  if (!bf) return;
  std::string why;
  c.verdict("bf16_round formula", {"round_bf16"}, rounding_formula_ok(why),
            why.empty() ? "ties to even, NaN, infinity, overflow" : why);

  // round_bf16: exact (the shared formula, evaluated on the host).
  {
    Rng rng(77);
    std::vector<float> x = rng.vec<float>(1000, -3, 3);
    x.push_back(1.0f + 0x1p-8f);
    x.push_back(std::numeric_limits<float>::infinity());
    x.push_back(-0.0f);
    ref::Want w;
    w.e.resize(x.size());
    for (size_t i = 0; i < x.size(); ++i) w.e.ref[i] = bf16_widen(bf16_round(x[i]));
    w.basis = "exact: bf16_round of include/grwarm/bf16.h";
    c.check("round_bf16", "n=1003",
            [&] {
              Buf<float> xx(c.be, x);
              Buf<float, uint16_t> y(c.be, x.size());
              bf->round_bf16(y.get(), xx.get(), x.size());
              return Ctx<float>::Outputs{widen(y.download())};
            },
            {{"y", &w}});
  }

  // gemm_bf16: the model's three GEMM forms, odd sizes, K deep, beta 0 (NaN C) and 1.
  struct G {
    int M, N, K;
    Trans ta, tb;
    double beta;
  };
  for (const G& g : {G{7, 13, 5, Trans::No, Trans::Yes, 1}, G{33, 17, 65, Trans::Yes, Trans::No, 0},
                     G{64, 48, 300, Trans::No, Trans::No, 0}, G{130, 70, 40, Trans::Yes, Trans::Yes, 1},
                     G{1, 1, 1, Trans::No, Trans::No, 0}}) {
    const int lda = g.ta == Trans::No ? g.K : g.M, ldb = g.tb == Trans::No ? g.N : g.K, ldc = g.N;
    Rng rng(uint64_t(g.M) * 131 + g.N * 17 + g.K);
    const std::vector<uint16_t> A = random_bf16(rng, size_t(g.ta == Trans::No ? g.M : g.K) * lda, -1, 1);
    const std::vector<uint16_t> B = random_bf16(rng, size_t(g.tb == Trans::No ? g.K : g.N) * ldb, -1, 1);
    const std::vector<float> C0 = g.beta == 0
                                      ? std::vector<float>(size_t(g.M) * ldc, std::numeric_limits<float>::quiet_NaN())
                                      : rng.vec<float>(size_t(g.M) * ldc, -1, 1);
    const ref::Want w = ref::gemm(g.ta, g.tb, g.M, g.N, g.K, 1.0, widen(A), lda, widen(B), ldb, g.beta,
                                  to_double(C0), ldc);
    const std::string shape = shape_str({{"M", g.M}, {"N", g.N}, {"K", g.K}}) + (g.ta == Trans::Yes ? " A^T" : "") +
                              (g.tb == Trans::Yes ? " B^T" : "") + " beta=" + num_str(g.beta);
    c.check("gemm_bf16", shape,
            [&] {
              Buf<float, uint16_t> a(c.be, A), b(c.be, B);
              Buf<float> cc(c.be, C0);
              bf->gemm_bf16(g.ta, g.tb, g.M, g.N, g.K, a.get(), lda, b.get(), ldb, float(g.beta), cc.get(), ldc);
              return Ctx<float>::Outputs{to_double(cc.download())};
            },
            {{"C", &w}});
  }

  // linear_fwd_bf16
  for (const auto& [rows, out, in] : kLinear) {
    Rng rng(uint64_t(rows) * 101 + out * 7 + in);
    const std::vector<uint16_t> x = random_bf16(rng, size_t(rows) * in, -1, 1);
    const std::vector<uint16_t> W = random_bf16(rng, size_t(out) * in, -1, 1);
    const std::vector<float> b = rng.vec<float>(out, -1, 1);
    const ref::Want w = linear_ref(widen(x), widen(W), to_double(b), rows, out, in);
    c.check("linear_fwd_bf16", shape_str({{"rows", rows}, {"out", out}, {"in", in}}),
            [&] {
              Buf<float, uint16_t> xx(c.be, x), ww(c.be, W);
              Buf<float> bb(c.be, b), y(c.be, size_t(rows) * out);
              bf->linear_fwd_bf16(y.get(), xx.get(), ww.get(), bb.get(), rows, out, in);
              return Ctx<float>::Outputs{to_double(y.download())};
            },
            {{"y", &w}});
    // linear_residual_fwd_bf16: float32 residual and output, bf16 x and W.
    const std::vector<float> res = rng.vec<float>(size_t(rows) * out, -2, 2);
    const std::vector<double> resd = to_double(res);
    const ref::Want wr = linear_ref(widen(x), widen(W), to_double(b), rows, out, in, &resd);
    c.check("linear_residual_fwd_bf16", shape_str({{"rows", rows}, {"out", out}, {"in", in}}),
            [&] {
              Buf<float, uint16_t> xx(c.be, x), ww(c.be, W);
              Buf<float> bb(c.be, b), rr(c.be, res);
              Buf<float> y(c.be, std::vector<float>(size_t(rows) * out, std::numeric_limits<float>::quiet_NaN()));
              if (!bf->linear_residual_fwd_bf16(y.get(), rr.get(), xx.get(), ww.get(), bb.get(), rows, out, in)) {
                if (!declined_untouched(y.download()))
                  throw std::runtime_error("declined linear_residual_fwd_bf16 wrote x_out");
                Buf<float> tmp(c.be, size_t(rows) * out);
                bf->linear_fwd_bf16(tmp.get(), xx.get(), ww.get(), bb.get(), rows, out, in);
                c.be.residual_fwd(y.get(), rr.get(), tmp.get(), size_t(rows) * out, DropoutSpec{});
              }
              return Ctx<float>::Outputs{to_double(y.download())};
            },
            {{"y", &wr}});
  }

  // layernorm_fwd_bf16: y rounded to bf16, mean/rstd as layernorm_fwd.
  for (auto [rows, n] : {std::pair{7, 13}, std::pair{65, 192}}) {
    Rng rng(rows * 1000 + n + 5);
    const std::vector<float> x = rng.vec<float>(size_t(rows) * n, -1, 1);
    const std::vector<float> g = rng.vec<float>(n, 0.5, 1.5), b = rng.vec<float>(n, -0.5, 0.5);
    ref::LayerNormFwd wf = ref::layernorm_fwd(to_double(x), to_double(g), to_double(b), rows, n, 1e-6);
    const ref::Want wy = as_bf16_output(wf.y);
    c.check("layernorm_fwd_bf16", shape_str({{"rows", rows}, {"cols", n}}),
            [&] {
              Buf<float> xx(c.be, x), gg(c.be, g), bb(c.be, b), mean(c.be, rows), rstd(c.be, rows);
              Buf<float, uint16_t> y(c.be, x.size());
              bf->layernorm_fwd_bf16(y.get(), mean.get(), rstd.get(), xx.get(), gg.get(), bb.get(), rows, n, 1e-6f);
              return Ctx<float>::Outputs{widen(y.download()), to_double(mean.download()), to_double(rstd.download())};
            },
            {{"y", &wy}, {"mean", &wf.mean}, {"rstd", &wf.rstd}});
  }

  // gelu_fwd_bf16 and the fused gelu_bwd_bf16 (dh rounded, db = colsum dh), both GELUs,
  // dropout on and off.
  const int rows = 33, cols = 48;
  for (GeluKind kind : {GeluKind::Tanh, GeluKind::Erf})
    for (float p : {0.0f, 0.25f}) {
      const DropoutSpec drop = make_dropout(9, 3, p);
      Rng rng(uint64_t(kind == GeluKind::Tanh ? 1 : 2) * 97 + uint64_t(p * 100));
      const std::vector<float> h = rng.vec<float>(size_t(rows) * cols, -4, 4);
      const std::vector<float> dout = rng.vec<float>(h.size(), -1, 1);
      const std::string shape = shape_str({{"rows", rows}, {"cols", cols}}) +
                                (kind == GeluKind::Tanh ? " tanh" : " erf") + " p=" + num_str(p);
      const ref::Want wf = as_bf16_output(ref::gelu_fwd(to_double(h), kind, drop));
      c.check("gelu_fwd_bf16", shape,
              [&] {
                Buf<float> hh(c.be, h);
                Buf<float, uint16_t> out(c.be, h.size());
                bf->gelu_fwd_bf16(out.get(), hh.get(), h.size(), kind, drop);
                return Ctx<float>::Outputs{widen(out.download())};
              },
              {{"out", &wf}});
      const ref::Want wdh = ref::gelu_bwd(to_double(dout), to_double(h), kind, drop);
      const ref::Want wdh_b = as_bf16_output(wdh);
      // db = colsum(dh): the column sum of the exact dh, with the sum's bound plus dh's own.
      ref::Want wdb = ref::col_sum(wdh.e.ref, rows, cols, {}, false);
      for (int cc = 0; cc < cols; ++cc) {
        double s = 0;
        for (int r = 0; r < rows; ++r) s += wdh.e.scale[size_t(r) * cols + cc];
        wdb.e.scale[cc] += s;
      }
      wdb.units = rows + 1 + wdh.units;
      wdb.basis = "(rows+1+16)u * (sum_r |dh| + gelu_bwd's scale): column sum of dh";
      c.check("gelu_bwd_bf16", shape,
              [&] {
                Buf<float> d(c.be, dout), hh(c.be, h), db(c.be, cols);
                Buf<float, uint16_t> dh_b(c.be, h.size());
                bf->gelu_bwd_bf16(db.get(), dh_b.get(), d.get(), hh.get(), rows, cols, kind, drop);
                return Ctx<float>::Outputs{widen(dh_b.download()), to_double(db.download())};
              },
              {{"dh_b", &wdh_b}, {"db", &wdb}});
    }

  // col_sum_round_bf16: Xb = bf16(dropout(X)) exact, out as col_sum of dropout(X).
  for (float p : {0.0f, 0.3f})
    for (auto [r, cc] : {std::pair{7, 13}, std::pair{300, 192}, std::pair{1, 1}}) {
      const DropoutSpec drop = make_dropout(5, 2, p);
      Rng rng(uint64_t(r) * 3 + cc);
      const std::vector<float> X = rng.vec<float>(size_t(r) * cc, -1, 1);
      std::vector<double> Xd(X.size());
      ref::Want wx;
      wx.e.resize(X.size());
      for (size_t i = 0; i < X.size(); ++i) {
        const float v = X[i] * float(ref::mult(drop, i));  // the kernel's float product
        Xd[i] = v;
        wx.e.ref[i] = bf16_widen(bf16_round(v));
      }
      wx.basis = "exact: bf16_round of every (dropped-out) element";
      const ref::Want ws = ref::col_sum(Xd, r, cc, {}, false);
      c.check("col_sum_round_bf16", shape_str({{"rows", r}, {"cols", cc}}) + " p=" + num_str(p),
              [&] {
                Buf<float> xx(c.be, X), out(c.be, cc);
                Buf<float, uint16_t> xb(c.be, X.size());
                bf->col_sum_round_bf16(out.get(), xb.get(), xx.get(), r, cc, drop);
                return Ctx<float>::Outputs{widen(xb.download()), to_double(out.download())};
              },
              {{"Xb", &wx}, {"out", &ws}});
    }
}

// float64 (and backends without bf16): the backend offers no bf16 ops at all (bf16() is null),
// so no op exists that could run with the wrong precision.
template <class T>
void bf16_absent(Ctx<T>& c) {
  const bool none = c.be.bf16() == nullptr;
  for (const char* name : {"bf16", "round_bf16", "gemm_bf16", "linear_fwd_bf16", "linear_residual_fwd_bf16",
                           "layernorm_fwd_bf16", "gelu_fwd_bf16", "col_sum_round_bf16",
                           "gelu_bwd_bf16"})
    c.verdict(name, {name}, none,
              none ? "a " + c.prec + " backend offers no bf16 ops (bf16() is null)"
                   : "a " + c.prec + " backend offers bf16 ops");
}

}  // namespace

template <class T>
void cases_bf16(Ctx<T>& c) {
  linear_cases(c);
  if constexpr (std::is_same_v<T, float>) {
    if (c.be.bf16()) {
      bf16_cases_f32(c);
      return;
    }
  }
  bf16_absent(c);
}

template void cases_bf16<float>(Ctx<float>&);
template void cases_bf16<double>(Ctx<double>&);

}  // namespace grwarm::test
