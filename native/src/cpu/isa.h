// The namespace of one ISA variant of the CPU kernels.
//
// The kernel sources (cpu_backend.cpp, attention.cpp, flat_ops.cpp, gemm_kernel.cpp) are
// compiled once per instruction-set level (CMakeLists.txt: sse2, sse4, avx2, avx512 on x86-64,
// each with its own -march and GRWARM_ISA_NS), and every variant lives in its own namespace,
// grwarm::cpu::isa_<level>. dispatch.cpp picks one at load time from cpuid. Code outside the
// kernel sources never includes the variant headers except through isa_kernels.h.
#pragma once

#ifndef GRWARM_ISA_NS
#define GRWARM_ISA_NS isa_native
#endif
#ifndef GRWARM_ISA_NAME
#define GRWARM_ISA_NAME "native"
#endif
// What the compiler targeted, for backendInfo().simd (CMake passes e.g. "x86-64-v3").
#ifndef GRWARM_ISA_TARGET
#if defined(__AVX512F__)
#define GRWARM_ISA_TARGET "-march=native, avx512"
#elif defined(__AVX2__)
#define GRWARM_ISA_TARGET "-march=native, avx2"
#elif defined(__ARM_NEON)
#define GRWARM_ISA_TARGET "-march=native, neon"
#else
#define GRWARM_ISA_TARGET "-march=native"
#endif
#endif
