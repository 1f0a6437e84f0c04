// Thread-count control shared by the OpenMP kernels and the BLAS.
//
// OpenMP regions and BLAS calls never nest (a kernel is either a GEMM or an OpenMP
// loop), so with both set to N at most N threads compute at any moment: no
// oversubscription.
#pragma once
#include <string>

namespace grwarm::cpu {

enum class GemmImpl { Blas, Builtin, OneDnn };

int hardware_threads();
int num_threads();
// n <= 0 means all hardware threads. Throws std::runtime_error, leaving the count as it was,
// when n threads cannot be started here (the reason names the limit); the BLAS gets at most
// the hardware threads.
void set_num_threads(int n);
// OpenMP's thread count is a per-thread setting: every thread that runs kernels (the libuv
// worker threads of async calls) applies the current count before it starts.
void apply_threads_here();

// Thread census: kernels that mark themselves (layernorm_fwd) record which OpenMP thread
// numbers did work; take_thread_census() returns how many distinct threads did since the
// last call, and resets. Lets a test check that setThreads really reaches the kernels.
void census_note(int thread_num);
int take_thread_census();

// OpenBLAS and oneDNN are opened at run time (blas.h, onednn.h); without them the built-in
// GEMM is used. gemm_impl() is the float32 GEMM (float64 uses OpenBLAS when loaded, else the
// built-in kernel; bf16 uses oneDNN when it has a bf16 matmul, else an exact emulation).
bool blas_available();              // OpenBLAS was found and loaded
GemmImpl gemm_impl();
void set_gemm_impl(GemmImpl impl);  // throws if the library asked for is not loaded
// Epilogues fused into oneDNN's matmul (the residual add of Backend::linear_residual_fwd): on
// by default; GRWARM_EPILOGUES=0 or set_gemm_epilogues(false) runs the unfused ops instead
// (the tests compare the two, benchmarks measure the difference). Returns the previous value.
bool gemm_epilogues();
bool set_gemm_epilogues(bool on);
// GEMMs that ran with a fused residual epilogue since load (the tests check the path runs).
void count_gemm_epilogue();
uint64_t gemm_epilogue_calls();
std::string gemm_word();            // "onednn", "openblas" or "builtin"
// The float32 GEMM in use and why, e.g. "oneDNN 2.6.3 (libdnnl.so.2), brg:avx512_core" or
// "builtin (libopenblas.so.0 not found: ...; libdnnl.so.2 not usable: ...)".
std::string blas_name();
// The bf16 GEMM: "oneDNN 2.6.3 (libdnnl.so.2), brg:avx512_core_amx_bf16" or "emulated: ...".
std::string bf16_gemm_name();
// bf16 GEMMs run on bf16 instructions (AVX512-BF16 or AMX through oneDNN).
bool bf16_native();
// Time spent inside GEMM library calls (OpenBLAS, oneDNN, the built-in kernel) since load,
// in nanoseconds, over every model and thread: benchmarks difference it around a step.
void add_gemm_library_ns(uint64_t ns);
uint64_t gemm_library_ns();
// The ISA variant of the CPU kernels in use (dispatch.h), e.g. "avx512 (dispatched; GRWARM_ISA unset)".
std::string simd_level();

}  // namespace grwarm::cpu
