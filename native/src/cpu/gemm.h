// Row-major GEMM for the CPU backend: BLAS when built with one, else a portable kernel.
#pragma once
#include "../core/backend.h"

namespace grwarm::cpu {

template <class T>
void gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc);

// The portable kernel, always compiled so tests can compare it against the BLAS.
template <class T>
void gemm_builtin(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda,
                  const T* B, int ldb, T beta, T* C, int ldc);

}  // namespace grwarm::cpu
