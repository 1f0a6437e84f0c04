#include "parallel.h"

#include <atomic>
#include <bitset>
#include <stdexcept>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "blas.h"
#include "dispatch.h"

namespace grwarm::cpu {

namespace {
std::atomic<int> g_threads{0};
std::atomic<uint64_t> g_census{0};
// -1: not chosen yet (OpenBLAS when it loads, else the built-in kernel); else a GemmImpl.
std::atomic<int> g_gemm{-1};
}  // namespace

int hardware_threads() {
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  unsigned n = std::thread::hardware_concurrency();
  return n ? int(n) : 1;
#endif
}

int num_threads() {
  const int n = g_threads.load();
  return n > 0 ? n : hardware_threads();
}

void set_num_threads(int n) {
  g_threads.store(n > 0 ? n : hardware_threads());
  apply_threads_here();
  blas_set_threads(g_threads.load());  // process-wide in OpenBLAS (opens it on first use)
}

void apply_threads_here() {
#ifdef _OPENMP
  omp_set_dynamic(0);
  omp_set_num_threads(num_threads());
#endif
}

void census_note(int thread_num) {
  if (thread_num >= 0 && thread_num < 64) g_census.fetch_or(uint64_t(1) << thread_num, std::memory_order_relaxed);
}

int take_thread_census() {
  return int(std::bitset<64>(g_census.exchange(0)).count());
}

bool blas_available() { return blas_loaded(); }

GemmImpl gemm_impl() {
  int g = g_gemm.load();
  if (g < 0) {
    int want = int(blas_loaded() ? GemmImpl::Blas : GemmImpl::Builtin);
    g_gemm.compare_exchange_strong(g, want);  // a concurrent set_gemm_impl wins
    g = g_gemm.load();
  }
  return GemmImpl(g);
}

void set_gemm_impl(GemmImpl impl) {
  if (impl == GemmImpl::Blas && !blas_available())
    throw std::invalid_argument("gemm: BLAS requested but OpenBLAS is not available (" + blas_load_report() +
                                "); the built-in GEMM is in use");
  g_gemm.store(int(impl));
}

std::string blas_name() {
  if (gemm_impl() == GemmImpl::Blas) return blas_load_report();
  if (blas_loaded()) return "builtin (selected with setGemm; " + blas_load_report() + " is available)";
  return "builtin (" + blas_load_report() + ")";
}

std::string simd_level() { return isa_description(); }

}  // namespace grwarm::cpu
