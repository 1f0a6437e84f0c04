// Run-time CPU dispatch: which ISA variant of the CPU kernels this process uses.
//
// Portable builds carry the kernels compiled for several x86-64 levels (sse2 = x86-64,
// sse4 = x86-64-v2, avx2 = x86-64-v3 with FMA, avx512 = x86-64-v4); the best one the CPU
// supports is chosen on first use from cpuid (__builtin_cpu_supports). GRWARM_ISA=<name>
// overrides the choice; a level this CPU lacks, or one this build does not carry, is refused
// (models cannot be created and backendInfo().simd says why). Source builds
// (-march=native) carry one variant, "native".
#pragma once
#include <memory>
#include <string>

#include "isa_kernels.h"

namespace grwarm::cpu {

// The chosen variant; throws std::runtime_error when GRWARM_ISA names one that cannot run.
const IsaKernels& active_isa();
// One line for backendInfo().simd, e.g. "avx512 (dispatched; GRWARM_ISA unset)"; never throws.
std::string isa_description();

std::unique_ptr<Backend<float>> make_cpu_backend_f32();
std::unique_ptr<Backend<double>> make_cpu_backend_f64();

}  // namespace grwarm::cpu
