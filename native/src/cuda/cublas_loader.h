// Finding and opening cuBLAS at run time.
//
// The plugin links no cuBLAS: it dlopens the first library that works, in this order,
//   1. the file named by the environment variable GRWARM_CUBLAS, when set,
//   2. libcublas.so.13, libcublas.so.12, libcublas.so.11 through the normal library search
//      path (LD_LIBRARY_PATH, the ld.so cache, RUNPATHs),
// and resolves every entry point it needs up front, so a library that is too old is skipped
// at probe time rather than failing in the middle of a training step.
#pragma once
#include <string>

#include "cublas_api.h"

namespace grwarm::cuda {

struct CublasApi {
  blas::CreateFn create = nullptr;
  blas::DestroyFn destroy = nullptr;
  blas::SetStreamFn set_stream = nullptr;
  blas::SetMathModeFn set_math_mode = nullptr;
  blas::GetVersionFn get_version = nullptr;
  blas::GetPropertyFn get_property = nullptr;
  blas::GemmFn<float> sgemm = nullptr;
  blas::GemmStridedBatchedFn<float> sgemm_strided_batched = nullptr;
  blas::GemmFn<double> dgemm = nullptr;
  blas::GemmStridedBatchedFn<double> dgemm_strided_batched = nullptr;
  blas::GemmExFn gemm_ex = nullptr;  // optional: bf16 GEMMs (precision bfloat16) need it
  std::string origin;  // the soname or path it was loaded from
};

// The process-wide cuBLAS, loaded on the first call (thread-safe) and kept for the life of
// the process. nullptr when no candidate works; then *why (if given) lists every candidate
// tried and why it was rejected.
const CublasApi* cublas_api(std::string* why = nullptr);

// "13.0.2": the version of the loaded library, from cublasGetProperty (no handle needed).
std::string cublas_version_string(const CublasApi& api);

}  // namespace grwarm::cuda
