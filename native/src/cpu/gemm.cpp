// Row-major GEMM entry points outside the backend (sgemmBench, tests): the float32 GEMM
// library gemm_impl() selects (oneDNN, OpenBLAS), else the built-in kernel of the dispatched
// ISA variant.
#include "gemm.h"

#include <memory>
#include <mutex>
#include <type_traits>

#include "blas.h"
#include "onednn.h"
#include "dispatch.h"
#include "parallel.h"

namespace grwarm::cpu {

namespace {
GemmFn<float> builtin_of(const IsaKernels& k, float*) { return k.gemm_builtin_f32; }
GemmFn<double> builtin_of(const IsaKernels& k, double*) { return k.gemm_builtin_f64; }
}  // namespace

template <class T>
void gemm_builtin(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda,
                  const T* B, int ldb, T beta, T* C, int ldc) {
  builtin_of(active_isa(), (T*)nullptr)(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <class T>
void gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc) {
  if constexpr (std::is_same_v<T, float>) {
    if (gemm_impl() == GemmImpl::OneDnn) {
      // One primitive cache for these out-of-model calls, used by one thread at a time.
      static std::mutex mu;
      static std::unique_ptr<OneDnnMatmul> mm = make_onednn_matmul();
      std::lock_guard<std::mutex> lock(mu);
      if (mm && mm->run(GemmInput::F32, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
        return;
    }
  }
  if (gemm_impl() != GemmImpl::Builtin && blas_loaded()) {
    blas_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
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
