// Row-major GEMM outside the backend: OpenBLAS when loaded and selected, else the built-in
// kernel of the dispatched ISA variant (gemm.cpp).
#pragma once
#include "../core/backend.h"

namespace grwarm::cpu {

template <class T>
void gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc);

// The built-in kernel (of the dispatched ISA variant), so tests can compare it with the BLAS.
template <class T>
void gemm_builtin(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda,
                  const T* B, int ldb, T beta, T* C, int ldc);

}  // namespace grwarm::cpu
