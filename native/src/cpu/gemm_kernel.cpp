// The built-in GEMM kernel, compiled once per ISA variant (see isa.h). dispatch.cpp picks the
// variant; gemm.cpp routes a GEMM to OpenBLAS (when loaded and selected) or to this kernel.
#include "gemm_kernel.h"

#include <algorithm>
#include <vector>

namespace grwarm::cpu::GRWARM_ISA_NS {

namespace {

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

template void gemm_builtin<float>(Trans, Trans, int, int, int, float, const float*, int,
                                  const float*, int, float, float*, int);
template void gemm_builtin<double>(Trans, Trans, int, int, int, double, const double*, int,
                                   const double*, int, double, double*, int);

}  // namespace grwarm::cpu::GRWARM_ISA_NS
