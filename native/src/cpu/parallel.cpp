#include "parallel.h"

#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <bitset>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "blas.h"
#include "onednn.h"
#include "dispatch.h"

namespace grwarm::cpu {

namespace {
std::atomic<int> g_threads{0};
std::atomic<uint64_t> g_census{0};
// -1: not chosen yet (OpenBLAS when it loads, else the built-in kernel); else a GemmImpl.
std::atomic<int> g_gemm{-1};
// -1: not chosen yet (GRWARM_EPILOGUES, default on); else 0/1.
std::atomic<int> g_epilogues{-1};
std::atomic<uint64_t> g_epilogue_calls{0};
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

namespace {
std::string mib(double bytes) { return std::to_string(int64_t(bytes / (1024.0 * 1024.0))) + " MiB"; }

// Why `n` threads cannot run here ("" when they can): starts n - 1 threads with the default
// attributes (the caller is the n-th), as libgomp does for a parallel region, holds them until
// all have started, then lets them end. libgomp exits the whole process when it cannot create a
// thread of a region, so a count the system cannot honour (an address-space limit, `ulimit -v`,
// with an 8 MiB stack per thread; a thread limit) must be refused here, while it can still be an
// exception.
std::string cannot_start(int n) {
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::vector<std::thread> started;
  started.reserve(size_t(n));
  std::string why;
  for (int i = 1; i < n && why.empty(); ++i) {
    try {
      started.emplace_back([&] {
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return release; });
      });
    } catch (const std::system_error& e) {
      why = "starting thread " + std::to_string(i + 1) + " failed (" + e.code().message() + ")";
    }
  }
  {
    std::lock_guard<std::mutex> lock(m);
    release = true;
  }
  cv.notify_all();
  for (auto& t : started) t.join();
  if (why.empty()) return why;
  size_t stack = 0;
  pthread_attr_t attr;
  if (pthread_getattr_default_np(&attr) == 0) {
    pthread_attr_getstacksize(&attr, &stack);
    pthread_attr_destroy(&attr);
  }
  rlimit as{};
  if (stack > 0 && getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY)
    why += "; each thread reserves " + mib(double(stack)) + " of stack and the address space is limited to " +
           mib(double(as.rlim_cur)) + " (ulimit -v)";
  return why;
}
}  // namespace

void set_num_threads(int n) {
  const int want = n > 0 ? n : hardware_threads();
  if (want > 1) {
    const std::string why = cannot_start(want);
    if (!why.empty())
      throw std::runtime_error("cannot run " + std::to_string(want) + " threads here: " + why +
                               "; use fewer threads (0 picks the number of hardware threads)");
  }
  g_threads.store(want);
  apply_threads_here();
  // OpenBLAS keeps one worker per thread, each with its own GEMM buffer (128 MiB in Debian's
  // build), and a worker that cannot allocate its buffer retries forever. Workers beyond the
  // hardware threads only oversubscribe the CPUs, so the BLAS gets at most that many.
  blas_set_threads(std::min(want, hardware_threads()));  // process-wide in OpenBLAS (opens it on first use)
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

namespace {
const char* impl_word(GemmImpl g) {
  switch (g) {
    case GemmImpl::Blas: return "openblas";
    case GemmImpl::OneDnn: return "onednn";
    case GemmImpl::Builtin: break;
  }
  return "builtin";
}
bool impl_loaded(GemmImpl g) {
  if (g == GemmImpl::Blas) return blas_loaded();
  if (g == GemmImpl::OneDnn) return onednn_loaded();
  return true;
}
// Why the float32 GEMM is what it is, when GRWARM_GEMM asked for something unavailable.
std::string g_gemm_note;
}  // namespace

// The float32 default, chosen by measurement (README "Mixed precision"): oneDNN's matmul is
// at least as fast as OpenBLAS at every ViT shape measured, so it comes first; GRWARM_GEMM
// (onednn|openblas|builtin) overrides, and setGemm() changes it at run time.
GemmImpl gemm_impl() {
  int g = g_gemm.load();
  if (g < 0) {
    GemmImpl want = onednn_loaded() ? GemmImpl::OneDnn
                    : blas_loaded() ? GemmImpl::Blas
                                    : GemmImpl::Builtin;
    const char* env = std::getenv("GRWARM_GEMM");
    if (env && *env) {
      const std::string v = env;
      GemmImpl asked = GemmImpl::Builtin;
      bool known = true;
      if (v == "onednn") asked = GemmImpl::OneDnn;
      else if (v == "openblas" || v == "blas") asked = GemmImpl::Blas;
      else if (v != "builtin") known = false;
      if (!known)
        g_gemm_note = "GRWARM_GEMM=" + v + " ignored: expected onednn, openblas or builtin";
      else if (!impl_loaded(asked))
        g_gemm_note = "GRWARM_GEMM=" + v + " ignored: " +
                      (asked == GemmImpl::Blas ? blas_load_report() : onednn_load_report());
      else
        want = asked, g_gemm_note = "GRWARM_GEMM=" + v;
    }
    int expected = -1;
    g_gemm.compare_exchange_strong(expected, int(want));  // a concurrent set_gemm_impl wins
    g = g_gemm.load();
  }
  return GemmImpl(g);
}

void set_gemm_impl(GemmImpl impl) {
  if (impl == GemmImpl::Blas && !blas_available())
    throw std::invalid_argument("gemm: openblas requested but OpenBLAS is not available (" +
                                blas_load_report() + ")");
  if (impl == GemmImpl::OneDnn && !onednn_loaded())
    throw std::invalid_argument("gemm: onednn requested but oneDNN is not available (" +
                                onednn_load_report() + ")");
  g_gemm.store(int(impl));
  g_gemm_note = "selected with setGemm";
}

std::string gemm_word() { return impl_word(gemm_impl()); }

std::string blas_name() {
  const GemmImpl g = gemm_impl();
  std::string s = g == GemmImpl::Blas     ? blas_load_report()
                  : g == GemmImpl::OneDnn ? onednn_load_report() + ", " + onednn_impl(GemmInput::F32)
                                          : std::string("builtin");
  std::string why = g_gemm_note;
  if (g == GemmImpl::Builtin && why.empty())
    why = blas_load_report() + "; " + onednn_load_report();
  return why.empty() ? s : s + " (" + why + ")";
}

bool bf16_native() {
  // oneDNN names the ISA of its bf16 kernels: avx512_core_bf16, avx512_core_amx_bf16, ...; a
  // name without "bf16" (gemm:jit, brg:avx512_core) is oneDNN emulating bf16 with float32 FMAs.
  return onednn_impl(GemmInput::BF16).find("bf16") != std::string::npos;
}

std::string bf16_gemm_name() {
  const std::string impl = onednn_impl(GemmInput::BF16);
  if (!impl.empty() && bf16_native()) return onednn_load_report() + ", " + impl;
  if (!impl.empty())
    return onednn_load_report() + ", " + impl +
           " (this CPU has no AVX512-BF16 or AMX-BF16: oneDNN emulates bf16; correct but slow, "
           "float32 is faster here)";
  if (onednn_loaded())
    return "emulated: inputs rounded to bf16, float32 GEMM (" + onednn_load_report() +
           " has no bf16 matmul for this CPU; slow)";
  return "emulated: inputs rounded to bf16, float32 GEMM (" + onednn_load_report() + "; slow)";
}

namespace {
std::atomic<uint64_t> g_gemm_ns{0};
}
void add_gemm_library_ns(uint64_t ns) { g_gemm_ns.fetch_add(ns, std::memory_order_relaxed); }
uint64_t gemm_library_ns() { return g_gemm_ns.load(std::memory_order_relaxed); }

std::string simd_level() { return isa_description(); }

bool gemm_epilogues() {
  int v = g_epilogues.load();
  if (v < 0) {
    const char* env = std::getenv("GRWARM_EPILOGUES");
    v = env && (std::string(env) == "0" || std::string(env) == "off") ? 0 : 1;
    g_epilogues.store(v);
  }
  return v != 0;
}

void count_gemm_epilogue() { g_epilogue_calls.fetch_add(1, std::memory_order_relaxed); }
uint64_t gemm_epilogue_calls() { return g_epilogue_calls.load(std::memory_order_relaxed); }

bool set_gemm_epilogues(bool on) {
  const bool was = gemm_epilogues();
  g_epilogues.store(on ? 1 : 0);
  return was;
}

}  // namespace grwarm::cpu
