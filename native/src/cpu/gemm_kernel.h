// The built-in GEMM kernel of one ISA variant (gemm_kernel.cpp).
#pragma once
#include "../core/backend.h"
#include "isa.h"

namespace grwarm::cpu::GRWARM_ISA_NS {

template <class T>
void gemm_builtin(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda,
                  const T* B, int ldb, T beta, T* C, int ldc);

}  // namespace grwarm::cpu::GRWARM_ISA_NS
