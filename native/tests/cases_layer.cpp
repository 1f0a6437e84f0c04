// Normalisation and element-wise ops: layernorm_fwd/bwd, gelu_fwd/bwd (tanh and erf, with and
// without dropout), residual_fwd, dropout_bwd. In-place forms the model uses are tested too:
// residual_fwd with x_out == x_in (allowed by the contract) and gelu_bwd with dh == dout (how
// the model calls it).
#include <limits>

#include "conformance.h"

namespace grwarm::test {

namespace {

struct LnShape {
  int rows, cols;
  // Added to x. A mean far from 0 (30 spreads of the values) separates the two-pass variance
  // of the spec, whose error grows linearly with the offset (the bound's kappa), from a
  // one-pass E[x^2] - mean^2, whose error grows with its square.
  double offset;
};
const LnShape kLn[] = {{7, 13, 0.0}, {65, 192, 0.0}, {4, 769, 0.0}, {5, 64, 3.0}, {6, 192, 30.0}, {1, 1, 0.0}};

template <class T>
void layernorm_cases(Ctx<T>& c) {
  const T eps = T(1e-6);
  const T nan = std::numeric_limits<T>::quiet_NaN();
  for (const LnShape& s : kLn) {
    const int rows = s.rows, n = s.cols;
    const std::string shape = shape_str({{"rows", rows}, {"cols", n}}) + (s.offset ? " mean=+" + num_str(s.offset) : "");
    Rng rng(rows * 1000 + n);
    const std::vector<T> x = rng.vec<T>(size_t(rows) * n, s.offset - 1, s.offset + 1);
    const std::vector<T> g = rng.vec<T>(n, 0.5, 1.5), b = rng.vec<T>(n, -0.5, 0.5);
    const ref::LayerNormFwd wf = ref::layernorm_fwd(to_double(x), to_double(g), to_double(b), rows, n, double(eps));
    c.check("layernorm_fwd", shape,
            [&] {
              Buf<T> xx(c.be, x), gg(c.be, g), bb(c.be, b), y(c.be, x.size()), mean(c.be, rows), rstd(c.be, rows);
              c.be.layernorm_fwd(y.get(), mean.get(), rstd.get(), xx.get(), gg.get(), bb.get(), rows, n, eps);
              return typename Ctx<T>::Outputs{to_double(y.download()), to_double(mean.download()),
                                              to_double(rstd.download())};
            },
            {{"y", &wf.y}, {"mean", &wf.mean}, {"rstd", &wf.rstd}});

    // The backward pass receives the saved statistics: the exact ones, rounded to T.
    std::vector<T> mean(rows), rstd(rows);
    for (int r = 0; r < rows; ++r) {
      mean[r] = T(wf.mean.e.ref[r]);
      rstd[r] = T(wf.rstd.e.ref[r]);
    }
    const std::vector<T> dy = rng.vec<T>(x.size(), -1, 1);
    for (bool acc : {false, true}) {
      const std::vector<T> dx0 = acc ? rng.vec<T>(x.size(), -1, 1) : std::vector<T>(x.size(), nan);
      const ref::LayerNormBwd wb = ref::layernorm_bwd(to_double(dy), to_double(x), to_double(mean), to_double(rstd),
                                                      to_double(g), rows, n, to_double(dx0), acc);
      c.check("layernorm_bwd", shape + (acc ? " accumulate" : ""),
              [&] {
                Buf<T> dyy(c.be, dy), xx(c.be, x), mm(c.be, mean), rr(c.be, rstd), gg(c.be, g), dx(c.be, dx0);
                Buf<T> dg(c.be, std::vector<T>(n, nan)), db(c.be, std::vector<T>(n, nan));
                c.be.layernorm_bwd(dx.get(), dg.get(), db.get(), dyy.get(), xx.get(), mm.get(), rr.get(), gg.get(),
                                   rows, n, acc);
                return typename Ctx<T>::Outputs{to_double(dx.download()), to_double(dg.download()),
                                                to_double(db.download())};
              },
              {{"dx", &wb.dx}, {"dg", &wb.dg}, {"db", &wb.db}});
    }
  }
}

// h: uniform over [-5, 5] plus the edges of the kernels' branches (0, tiny, the tanh
// polynomial's switch near |u| = 0.625, saturation at +-10).
template <class T>
std::vector<T> activation_inputs(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<T> h = rng.vec<T>(n, -5, 5);
  const double edges[] = {0.0, 1e-3, -1e-3, 0.7, -0.7, 10.0, -10.0, 3.0, -3.0};
  for (size_t i = 0; i < n && i < sizeof edges / sizeof edges[0]; ++i) h[i] = T(edges[i]);
  return h;
}

const size_t kElemSizes[] = {13, 1000, 3 * 16384 + 5};

template <class T>
void gelu_cases(Ctx<T>& c) {
  for (GeluKind kind : {GeluKind::Tanh, GeluKind::Erf})
    for (float p : {0.0f, 0.1f})
      for (size_t n : kElemSizes) {
        const DropoutSpec drop = make_dropout(0xfeed + n, 3, p);
        const std::string shape = shape_str({{"n", (long long)n}}) + (kind == GeluKind::Tanh ? " tanh" : " erf") +
                                  " p=" + num_str(p);
        const std::vector<T> h = activation_inputs<T>(n, n + 5);
        const ref::Want wf = ref::gelu_fwd(to_double(h), kind, drop);
        c.check("gelu_fwd", shape,
                [&] {
                  Buf<T> hh(c.be, h), out(c.be, n);
                  c.be.gelu_fwd(out.get(), hh.get(), n, kind, drop);
                  return typename Ctx<T>::Outputs{to_double(out.download())};
                },
                {{"out", &wf}});
        Rng rng(n * 3);
        const std::vector<T> dout = rng.vec<T>(n, -1, 1);
        const ref::Want wb = ref::gelu_bwd(to_double(dout), to_double(h), kind, drop);
        for (bool in_place : {false, true}) {
          c.check("gelu_bwd", shape + (in_place ? " dh=dout" : ""),
                  [&] {
                    Buf<T> hh(c.be, h), d(c.be, dout), dh(c.be, n);
                    T* dst = in_place ? d.get() : dh.get();
                    c.be.gelu_bwd(dst, d.get(), hh.get(), n, kind, drop);
                    return typename Ctx<T>::Outputs{to_double(in_place ? d.download() : dh.download())};
                  },
                  {{"dh", &wb}});
        }
      }
}

template <class T>
void residual_dropout_cases(Ctx<T>& c) {
  for (float p : {0.0f, 0.1f, 0.5f})
    for (size_t n : kElemSizes) {
      const DropoutSpec drop = make_dropout(0xbeef + n, 2, p);
      const std::string shape = shape_str({{"n", (long long)n}}) + " p=" + num_str(p);
      Rng rng(n * 7 + uint64_t(p * 100));
      const std::vector<T> x = rng.vec<T>(n, -1, 1), br = rng.vec<T>(n, -1, 1);
      const ref::Want wr = ref::residual_fwd(to_double(x), to_double(br), drop);
      for (bool in_place : {false, true}) {
        c.check("residual_fwd", shape + (in_place ? " x_out=x_in" : ""),
                [&] {
                  Buf<T> xi(c.be, x), b(c.be, br), xo(c.be, n);
                  T* dst = in_place ? xi.get() : xo.get();
                  c.be.residual_fwd(dst, xi.get(), b.get(), n, drop);
                  return typename Ctx<T>::Outputs{to_double(in_place ? xi.download() : xo.download())};
                },
                {{"x_out", &wr}});
      }
      const ref::Want wd = ref::dropout_bwd(to_double(x), drop);
      c.check("dropout_bwd", shape,
              [&] {
                Buf<T> dx(c.be, x), db(c.be, n);
                c.be.dropout_bwd(db.get(), dx.get(), n, drop);
                return typename Ctx<T>::Outputs{to_double(db.download())};
              },
              {{"dbranch", &wd}});
    }
}

}  // namespace

template <class T>
void cases_layer(Ctx<T>& c) {
  layernorm_cases(c);
  gelu_cases(c);
  residual_dropout_cases(c);
}

template void cases_layer<float>(Ctx<float>&);
template void cases_layer<double>(Ctx<double>&);

}  // namespace grwarm::test
