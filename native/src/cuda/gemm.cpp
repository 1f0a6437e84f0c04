#include "gemm.h"

#include <stdexcept>
#include <string>

namespace grwarm::cuda {

namespace {

blas::Operation op(Trans t) { return t == Trans::Yes ? blas::kOpT : blas::kOpN; }

void check_blas(blas::Status s, const char* what) {
  if (s != blas::kSuccess)
    throw std::runtime_error(std::string("cuda ") + what + ": " + blas::status_name(s));
}

blas::GemmFn<float> gemm_fn(const CublasApi& a, float*) { return a.sgemm; }
blas::GemmFn<double> gemm_fn(const CublasApi& a, double*) { return a.dgemm; }
blas::GemmStridedBatchedFn<float> batched_fn(const CublasApi& a, float*) {
  return a.sgemm_strided_batched;
}
blas::GemmStridedBatchedFn<double> batched_fn(const CublasApi& a, double*) {
  return a.dgemm_strided_batched;
}

}  // namespace

template <class T>
void gemm(const Blas& b, Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda,
          const T* B, int ldb, T beta, T* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  check_blas(gemm_fn(*b.api, static_cast<T*>(nullptr))(b.handle, op(tb), op(ta), N, M, K, &alpha,
                                                         B, ldb, A, lda, &beta, C, ldc),
             "gemm");
}

template <class T>
void gemm_strided_batched(const Blas& b, Trans ta, Trans tb, int M, int N, int K, T alpha,
                          const T* A, int lda, long long strideA, const T* B, int ldb,
                          long long strideB, T beta, T* C, int ldc, long long strideC, int batch) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  check_blas(batched_fn(*b.api, static_cast<T*>(nullptr))(
                 b.handle, op(tb), op(ta), N, M, K, &alpha, B, ldb, strideB, A, lda, strideA,
                 &beta, C, ldc, strideC, batch),
             "batched gemm");
}

// Row-major C = op(A) op(B) + beta C is column-major C^T = op(B)^T op(A)^T: swap the operands.
void gemm_bf16(const Blas& b, Trans ta, Trans tb, int M, int N, int K, const uint16_t* A, int lda,
               const uint16_t* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (!b.api->gemm_ex) throw std::runtime_error("cuda gemm_bf16: this cuBLAS has no cublasGemmEx");
  const float alpha = 1.0f;
  check_blas(b.api->gemm_ex(b.handle, op(tb), op(ta), N, M, K, &alpha, B, blas::kR16BF, ldb, A,
                            blas::kR16BF, lda, &beta, C, blas::kR32F, ldc, blas::kCompute32F,
                            blas::kGemmDefault),
             "gemm_bf16");
}

#define GW_INSTANTIATE(T)                                                                      \
  template void gemm<T>(const Blas&, Trans, Trans, int, int, int, T, const T*, int, const T*,  \
                        int, T, T*, int);                                                      \
  template void gemm_strided_batched<T>(const Blas&, Trans, Trans, int, int, int, T, const T*, \
                                        int, long long, const T*, int, long long, T, T*, int,  \
                                        long long, int);
GW_INSTANTIATE(float)
GW_INSTANTIATE(double)
#undef GW_INSTANTIATE

}  // namespace grwarm::cuda
