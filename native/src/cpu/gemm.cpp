#include "gemm.h"

#include <algorithm>
#include <vector>

#include "parallel.h"

#ifdef GRWARM_HAVE_BLAS
#include <cblas.h>
#endif

namespace grwarm::cpu {

namespace {

#ifdef GRWARM_HAVE_BLAS
CBLAS_TRANSPOSE cb(Trans t) { return t == Trans::Yes ? CblasTrans : CblasNoTrans; }

void blas_gemm(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
               const float* B, int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, cb(ta), cb(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void blas_gemm(Trans ta, Trans tb, int M, int N, int K, double alpha, const double* A, int lda,
               const double* B, int ldb, double beta, double* C, int ldc) {
  cblas_dgemm(CblasRowMajor, cb(ta), cb(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
#endif

constexpr int kBlockM = 32;   // rows of C per task
constexpr int kBlockK = 128;  // depth of a packed panel of op(B)

}  // namespace

// Portable GEMM. Each task owns a block of C rows; op(B) is packed per K-panel into a
// contiguous [kb, N] buffer so the inner loop is a unit-stride axpy the compiler vectorises.
// Every C element accumulates over k in the same order whatever the thread count.
template <class T>
void gemm_builtin(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda,
                  const T* B, int ldb, T beta, T* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  // C = beta * C (beta == 0 overwrites, so NaNs in uninitialised C never leak through).
#pragma omp parallel for schedule(static)
  for (int i = 0; i < M; ++i) {
    T* c = C + size_t(i) * ldc;
    if (beta == T(0))
      std::fill(c, c + N, T(0));
    else if (beta != T(1))
      for (int j = 0; j < N; ++j) c[j] *= beta;
  }
  if (K <= 0 || alpha == T(0)) return;
  std::vector<T> panel(size_t(std::min(K, kBlockK)) * N);
  for (int k0 = 0; k0 < K; k0 += kBlockK) {
    const int kb = std::min(kBlockK, K - k0);
    // panel[kk, j] = op(B)[k0 + kk, j]
#pragma omp parallel for schedule(static)
    for (int kk = 0; kk < kb; ++kk) {
      T* dst = panel.data() + size_t(kk) * N;
      if (tb == Trans::No) {
        const T* src = B + size_t(k0 + kk) * ldb;
        std::copy(src, src + N, dst);
      } else {
        for (int j = 0; j < N; ++j) dst[j] = B[size_t(j) * ldb + k0 + kk];
      }
    }
    const int mblocks = (M + kBlockM - 1) / kBlockM;
#pragma omp parallel for schedule(static)
    for (int mb = 0; mb < mblocks; ++mb) {
      const int i1 = std::min(M, (mb + 1) * kBlockM);
      for (int i = mb * kBlockM; i < i1; ++i) {
        T* c = C + size_t(i) * ldc;
        for (int kk = 0; kk < kb; ++kk) {
          const int k = k0 + kk;
          const T a = alpha * (ta == Trans::No ? A[size_t(i) * lda + k] : A[size_t(k) * lda + i]);
          if (a == T(0)) continue;
          const T* b = panel.data() + size_t(kk) * N;
#pragma omp simd
          for (int j = 0; j < N; ++j) c[j] += a * b[j];
        }
      }
    }
  }
}

template <class T>
void gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc) {
#ifdef GRWARM_HAVE_BLAS
  if (gemm_impl() == GemmImpl::Blas) {
    blas_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
#endif
  gemm_builtin(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template void gemm<float>(Trans, Trans, int, int, int, float, const float*, int, const float*, int,
                          float, float*, int);
template void gemm<double>(Trans, Trans, int, int, int, double, const double*, int, const double*,
                           int, double, double*, int);
template void gemm_builtin<float>(Trans, Trans, int, int, int, float, const float*, int,
                                  const float*, int, float, float*, int);
template void gemm_builtin<double>(Trans, Trans, int, int, int, double, const double*, int,
                                   const double*, int, double, double*, int);

}  // namespace grwarm::cpu
