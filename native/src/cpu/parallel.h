// Thread-count control shared by the OpenMP kernels and the BLAS.
//
// OpenMP regions and BLAS calls never nest (a kernel is either a GEMM or an OpenMP
// loop), so with both set to N at most N threads compute at any moment: no
// oversubscription.
#pragma once
#include <string>

namespace grwarm::cpu {

enum class GemmImpl { Blas, Builtin };

int hardware_threads();
int num_threads();
void set_num_threads(int n);  // n <= 0 means all hardware threads

bool blas_available();
GemmImpl gemm_impl();
void set_gemm_impl(GemmImpl impl);  // throws if BLAS is requested but not built in
std::string blas_name();            // e.g. "OpenBLAS 0.3.21 (Zen, pthread)" or "builtin"
std::string simd_level();           // what this binary was compiled for

}  // namespace grwarm::cpu
