// Dense algebra: gemm (all transposes, strides, alpha/beta), broadcast_rows, col_sum.
#include <limits>

#include "conformance.h"

namespace grwarm::test {

namespace {

struct GemmCase {
  int M, N, K;
  Trans ta, tb;
  double alpha, beta;
  int pad;  // extra elements per row in lda/ldb/ldc (strided operands)
};

// Shapes of the model's GEMMs (N-T forward, T-N weight gradient, N-N input gradient) plus the
// other transposes; odd sizes; K beyond a 128-deep panel; M beyond a 32-row block.
const GemmCase kGemm[] = {
    {7, 13, 5, Trans::No, Trans::No, 1, 0, 0},      {7, 13, 5, Trans::No, Trans::Yes, 1, 1, 0},
    {7, 13, 5, Trans::Yes, Trans::No, 0.5, 0, 0},   {7, 13, 5, Trans::Yes, Trans::Yes, -1.25, 0.75, 0},
    {1, 1, 1, Trans::No, Trans::No, 1, 0, 0},       {33, 17, 65, Trans::No, Trans::Yes, 1, 1, 3},
    {64, 48, 300, Trans::Yes, Trans::No, 1, 0, 0},  {130, 70, 40, Trans::No, Trans::No, 1, 0, 1},
    {45, 192, 130, Trans::No, Trans::Yes, 1, 1, 0},
};

template <class T>
void gemm_cases(Ctx<T>& c) {
  for (const GemmCase& g : kGemm) {
    const int a_rows = g.ta == Trans::No ? g.M : g.K, a_cols = g.ta == Trans::No ? g.K : g.M;
    const int b_rows = g.tb == Trans::No ? g.K : g.N, b_cols = g.tb == Trans::No ? g.N : g.K;
    const int lda = a_cols + g.pad, ldb = b_cols + g.pad, ldc = g.N + g.pad;
    Rng rng(uint64_t(g.M) * 1000003 + g.N * 1009 + g.K);
    const std::vector<T> A = rng.vec<T>(size_t(a_rows) * lda, -1, 1);
    const std::vector<T> B = rng.vec<T>(size_t(b_rows) * ldb, -1, 1);
    // beta = 0: C starts as NaN, which must not leak into the result (BLAS semantics; the
    // model's weight-gradient GEMMs write into uninitialised buffers this way).
    std::vector<T> C0 = g.beta == 0 ? std::vector<T>(size_t(g.M) * ldc, std::numeric_limits<T>::quiet_NaN())
                                    : rng.vec<T>(size_t(g.M) * ldc, -1, 1);
    // The padding columns of C hold a finite sentinel: they must come back unchanged.
    for (int i = 0; i < g.M; ++i)
      for (int j = g.N; j < ldc; ++j) C0[size_t(i) * ldc + j] = T(7.25);
    const ref::Want w = ref::gemm(g.ta, g.tb, g.M, g.N, g.K, g.alpha, to_double(A), lda,
                                  to_double(B), ldb, g.beta, to_double(C0), ldc);
    std::string shape = shape_str({{"M", g.M}, {"N", g.N}, {"K", g.K}}) +
                        (g.ta == Trans::Yes ? " A^T" : "") + (g.tb == Trans::Yes ? " B^T" : "") +
                        " alpha=" + num_str(g.alpha) + " beta=" + num_str(g.beta) +
                        (g.pad ? " ld+" + std::to_string(g.pad) : "");
    c.check("gemm", shape,
            [&] {
              Buf<T> a(c.be, A), b(c.be, B), cc(c.be, C0);
              c.be.gemm(g.ta, g.tb, g.M, g.N, g.K, T(g.alpha), a.get(), lda, b.get(), ldb, T(g.beta),
                        cc.get(), ldc);
              return typename Ctx<T>::Outputs{to_double(cc.download())};
            },
            {{"C", &w}});
  }
}

template <class T>
void broadcast_cases(Ctx<T>& c) {
  for (auto [rows, cols] : {std::pair{7, 13}, std::pair{65, 192}, std::pair{1, 1}}) {
    Rng rng(rows * 31 + cols);
    const std::vector<T> b = rng.vec<T>(cols, -1, 1);
    ref::Want w;
    for (int r = 0; r < rows; ++r)
      for (int k = 0; k < cols; ++k) w.e.push(double(b[k]), 0);
    w.basis = "exact: a copy of b into every row";
    c.check("broadcast_rows", shape_str({{"rows", rows}, {"cols", cols}}),
            [&] {
              Buf<T> bb(c.be, b);
              Buf<T> y(c.be, std::vector<T>(size_t(rows) * cols, std::numeric_limits<T>::quiet_NaN()));
              c.be.broadcast_rows(y.get(), bb.get(), rows, cols);
              return typename Ctx<T>::Outputs{to_double(y.download())};
            },
            {{"Y", &w}});
  }
}

template <class T>
void col_sum_cases(Ctx<T>& c) {
  struct S {
    int rows, cols;
    bool acc;
  };
  for (S s : {S{7, 13, false}, S{7, 13, true}, S{130, 33, false}, S{513, 17, true}, S{1, 200, false}}) {
    Rng rng(s.rows * 17 + s.cols + s.acc);
    const std::vector<T> X = rng.vec<T>(size_t(s.rows) * s.cols, -1, 1);
    const std::vector<T> out0 = s.acc ? rng.vec<T>(s.cols, -1, 1)
                                      : std::vector<T>(s.cols, std::numeric_limits<T>::quiet_NaN());
    const ref::Want w = ref::col_sum(to_double(X), s.rows, s.cols, to_double(out0), s.acc);
    c.check("col_sum", shape_str({{"rows", s.rows}, {"cols", s.cols}}) + (s.acc ? " accumulate" : ""),
            [&] {
              Buf<T> x(c.be, X), out(c.be, out0);
              c.be.col_sum(out.get(), x.get(), s.rows, s.cols, s.acc);
              return typename Ctx<T>::Outputs{to_double(out.download())};
            },
            {{"out", &w}});
  }
}

}  // namespace

template <class T>
void cases_dense(Ctx<T>& c) {
  gemm_cases(c);
  broadcast_cases(c);
  col_sum_cases(c);
}

template void cases_dense<float>(Ctx<float>&);
template void cases_dense<double>(Ctx<double>&);

}  // namespace grwarm::test
