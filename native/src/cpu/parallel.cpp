#include "parallel.h"

#include <stdexcept>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef GRWARM_HAVE_OPENBLAS
extern "C" {
void openblas_set_num_threads(int);
char* openblas_get_config(void);
char* openblas_get_corename(void);
}
#endif

namespace grwarm::cpu {

namespace {
int g_threads = 0;
GemmImpl g_gemm =
#ifdef GRWARM_HAVE_BLAS
    GemmImpl::Blas;
#else
    GemmImpl::Builtin;
#endif
}  // namespace

int hardware_threads() {
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  unsigned n = std::thread::hardware_concurrency();
  return n ? int(n) : 1;
#endif
}

int num_threads() { return g_threads > 0 ? g_threads : hardware_threads(); }

void set_num_threads(int n) {
  g_threads = n > 0 ? n : hardware_threads();
#ifdef _OPENMP
  omp_set_num_threads(g_threads);
  omp_set_dynamic(0);
#endif
#ifdef GRWARM_HAVE_OPENBLAS
  openblas_set_num_threads(g_threads);
#endif
}

bool blas_available() {
#ifdef GRWARM_HAVE_BLAS
  return true;
#else
  return false;
#endif
}

GemmImpl gemm_impl() { return g_gemm; }

void set_gemm_impl(GemmImpl impl) {
  if (impl == GemmImpl::Blas && !blas_available())
    throw std::invalid_argument("gemm: BLAS requested but this build has no BLAS (built-in GEMM only)");
  g_gemm = impl;
}

std::string blas_name() {
  if (g_gemm == GemmImpl::Builtin) return "builtin";
#if defined(GRWARM_HAVE_OPENBLAS)
  return std::string("OpenBLAS (") + openblas_get_config() + ")";
#elif defined(GRWARM_HAVE_BLAS)
  return "CBLAS";
#else
  return "builtin";
#endif
}

std::string simd_level() {
#if defined(__AVX512F__)
  return "avx512";
#elif defined(__AVX2__) && defined(__FMA__)
  return "avx2+fma";
#elif defined(__AVX__)
  return "avx";
#elif defined(__SSE4_2__)
  return "sse4.2";
#elif defined(__SSE2__)
  return "sse2";
#elif defined(__ARM_NEON)
  return "neon";
#else
  return "scalar";
#endif
}

}  // namespace grwarm::cpu
