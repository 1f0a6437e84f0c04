// oneDNN (DNNL) 2.x matmul, opened with dlopen at run time like OpenBLAS (blas.h): the addon
// links no oneDNN, loads without it, and then runs float32 GEMMs through OpenBLAS or the
// built-in kernel and bf16 GEMMs through an exact emulation (inputs widened to float32).
//
// Tried in order: $GRWARM_ONEDNN (a path or file name; "off" disables oneDNN), else
// libdnnl.so.2, libdnnl.so. Only the 2.x C API is supported (Debian 12 / Ubuntu 24.04 ship
// 2.6/3.x: a 3.x library is refused with that reason, the 3.x API differs).
#pragma once
#include <memory>
#include <string>

#include "../core/backend.h"

namespace grwarm::cpu {

// What a GEMM's A and B hold: float32, or bf16 bits (uint16_t). C is always float32.
enum class GemmInput { F32, BF16 };

// Opens oneDNN once; true when it is usable.
bool onednn_loaded();
// "oneDNN 2.6.3 (libdnnl.so.2)" when loaded, else why not.
std::string onednn_load_report();
// The implementation oneDNN chooses for a typical training matmul of this input type, e.g.
// "brg:avx512_core_amx_bf16"; "" when oneDNN is not loaded or has none (bf16 on a CPU that
// lacks the instructions oneDNN needs).
std::string onednn_impl(GemmInput in);

// Matmul primitives of one model, created once per (input type, transposes, shape, leading
// dimensions, alpha, beta) and reused: primitive creation JIT-compiles kernels and takes
// milliseconds, execution of a cached one microseconds of overhead. Not thread-safe: one per
// backend instance, and a model runs one call at a time.
class OneDnnMatmul {
 public:
  virtual ~OneDnnMatmul() = default;
  // C[M,N] = alpha op(A) op(B) + beta C (+ bias[N] on every row when bias != nullptr)
  // (+ add[M,N] when add != nullptr: float32, row-major with leading dimension ldc, applied
  // last as a binary post-op, so a residual add costs no pass of its own; add must not alias
  // C), row-major. Returns false, having done nothing, when oneDNN has no implementation for
  // this case; throws std::runtime_error on other failures.
  virtual bool run(GemmInput in, Trans ta, Trans tb, int M, int N, int K, float alpha,
                   const void* A, int lda, const void* B, int ldb, float beta, float* C,
                   int ldc, const float* bias = nullptr, const float* add = nullptr) = 0;
  // Primitives created so far (cache misses), for the tests.
  virtual size_t primitives_created() const = 0;
};

// A new cache; nullptr when oneDNN is not loaded.
std::unique_ptr<OneDnnMatmul> make_onednn_matmul();

}  // namespace grwarm::cpu
