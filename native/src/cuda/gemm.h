// Row-major GEMMs (the contract of backend.h) on top of column-major cuBLAS.
//
// A row-major M x N matrix with leading dimension ld is, read column-major, its N x M
// transpose. So C = op(A) op(B) (row-major) is computed as C^T = op(B)^T op(A)^T
// (column-major): swap the operands and M/N, keep each operand's own transpose flag.
#pragma once
#include <cstdint>
#include "../core/backend.h"
#include "cublas_loader.h"

namespace grwarm::cuda {

struct Blas {
  const CublasApi* api;
  blas::Handle handle;
};

// C[M,N] = alpha op(A) op(B) + beta C   (row-major)
template <class T>
void gemm(const Blas& b, Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda,
          const T* B, int ldb, T beta, T* C, int ldc);

// The same for `batch` independent products, operand i at X + i * strideX.
template <class T>
void gemm_strided_batched(const Blas& b, Trans ta, Trans tb, int M, int N, int K, T alpha,
                          const T* A, int lda, long long strideA, const T* B, int ldb,
                          long long strideB, T beta, T* C, int ldc, long long strideC, int batch);

// bf16 A and B (bit patterns), float32 C and accumulation, alpha = 1 (cublasGemmEx).
void gemm_bf16(const Blas& b, Trans ta, Trans tb, int M, int N, int K, const uint16_t* A, int lda,
               const uint16_t* B, int ldb, float beta, float* C, int ldc);

}  // namespace grwarm::cuda
