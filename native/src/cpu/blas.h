// OpenBLAS, opened with dlopen at run time: the addon links no BLAS, so it loads (and trains
// with the built-in GEMM) on a machine without one.
//
// Tried in order: $GRWARM_OPENBLAS (a path or a file name; "off" disables OpenBLAS), else
// libopenblas.so.0, libopenblas.so. OpenBLAS reads OPENBLAS_* variables (e.g.
// OPENBLAS_THREAD_TIMEOUT, set by src/native.ts) when it is opened, i.e. on the first call
// below that needs it: the addon's initialisation (set_num_threads).
#pragma once
#include <string>

#include "../core/backend.h"

namespace grwarm::cpu {

// Opens OpenBLAS once; true when it is usable.
bool blas_loaded();
// "OpenBLAS 0.3.21 ... (libopenblas.so.0)" when loaded, else why not, e.g.
// "libopenblas.so.0 not found: libopenblas.so.0: cannot open shared object file ...".
std::string blas_load_report();
// openblas_set_num_threads when loaded; a no-op otherwise.
void blas_set_threads(int n);

// C = alpha op(A) op(B) + beta C through OpenBLAS (row-major). Only call when blas_loaded().
void blas_gemm(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
               const float* B, int ldb, float beta, float* C, int ldc);
void blas_gemm(Trans ta, Trans tb, int M, int N, int K, double alpha, const double* A, int lda,
               const double* B, int ldb, double beta, double* C, int ldc);

}  // namespace grwarm::cpu
