// What one ISA variant of the CPU kernels offers (a table of plain function pointers, so
// the generic code never shares an inline function with a variant compiled for another ISA).
#pragma once
#include <memory>

#include "../core/backend.h"

namespace grwarm::cpu {

template <class T>
using GemmFn = void (*)(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda,
                        const T* B, int ldb, T beta, T* C, int ldc);

struct IsaKernels {
  const char* name;          // "sse2", "sse4", "avx2", "avx512", "native", "generic"
  const char* compiled_for;  // what the compiler targeted, e.g. "x86-64-v3" or "-march=native (avx512)"
  Backend<float>* (*make_f32)();   // a new CpuBackend<float> of this variant (caller owns it)
  Backend<double>* (*make_f64)();
  GemmFn<float> gemm_builtin_f32;  // the built-in GEMM kernel of this variant
  GemmFn<double> gemm_builtin_f64;
};

}  // namespace grwarm::cpu
