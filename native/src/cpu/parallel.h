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
// OpenMP's thread count is a per-thread setting: every thread that runs kernels (the libuv
// worker threads of async calls) applies the current count before it starts.
void apply_threads_here();

// Thread census: kernels that mark themselves (layernorm_fwd) record which OpenMP thread
// numbers did work; take_thread_census() returns how many distinct threads did since the
// last call, and resets. Lets a test check that setThreads really reaches the kernels.
void census_note(int thread_num);
int take_thread_census();

// OpenBLAS is opened at run time (blas.h); without it the built-in GEMM is used.
bool blas_available();              // OpenBLAS was found and loaded
GemmImpl gemm_impl();
void set_gemm_impl(GemmImpl impl);  // throws if BLAS is requested but OpenBLAS is not loaded
// The GEMM in use and why, e.g. "OpenBLAS (OpenBLAS 0.3.21 ... Zen ...) from libopenblas.so.0" or
// "builtin (libopenblas.so.0 not found: libopenblas.so.0: cannot open shared object file ...)".
std::string blas_name();
// The ISA variant of the CPU kernels in use (dispatch.h), e.g. "avx512 (dispatched; GRWARM_ISA unset)".
std::string simd_level();

}  // namespace grwarm::cpu
