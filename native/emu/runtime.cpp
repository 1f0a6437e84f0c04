// The CPU emulation of the CUDA execution model and the stand-in CUDA runtime
// (libgrwarm_cudart_emu.so; docs/cuda-emulation.md).
//
// Execution model: each CUDA thread of a block is a fiber (Boost.Context); one host thread runs
// one block at a time, resuming its fibers in the lane order of the schedule (forward, reverse
// or seeded random, GRWARM_EMU_SCHEDULE) until each finishes or blocks at a barrier or a warp
// shuffle. When every live thread is blocked, the scheduler completes the shuffles whose lanes
// are all present, then the barrier if every live thread of the block reached the same one;
// anything else is an error (divergent barrier, shuffle naming an exited or absent lane,
// deadlock), reported with kernel, block and thread.
//
// Device memory: every allocation is its own mapping, right-aligned against a PROT_NONE guard
// page (a guard page before it too), and filled with 0xFF bytes (NaN in every float type) so
// that reading memory nobody wrote shows up in results. An access to a guard page inside a
// kernel raises SIGSEGV; the handler (on an alternate signal stack) jumps back to the
// scheduler, which abandons the launch and makes the error sticky, as a GPU does.
//
// Streams: launches, copies, event records and cuBLAS products are queued per stream and run
// only at a synchronisation point (stream/event/device synchronise, blocking copy, free), so a
// missing synchronisation or an early reuse of a staging buffer changes results here too.
#include <signal.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/context/fiber.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gw_emu/runtime.h"

namespace ctx = boost::context;

namespace gw_emu {

GW_EMU_API thread_local ThreadCtx* t_thread = nullptr;
GW_EMU_API thread_local BlockCtx* t_block = nullptr;

namespace {

// ---- configuration (environment, read once) --------------------------------------------------
enum class Order { Forward, Reverse, Random };

struct Config {
  Order order = Order::Forward;
  uint64_t seed = 1;
  bool edge_blocks = false;    // GRWARM_EMU_EDGE_BLOCKS=1: only the first and last block run
  bool blas_compute = true;    // GRWARM_EMU_BLAS=check: argument checks only
  size_t device_bytes = size_t(80) << 30;  // GRWARM_EMU_DEVICE_MEMORY
  std::string driver;          // GRWARM_EMU_DRIVER=none|old: pretend the driver is missing/old
  std::string stats_path;      // GRWARM_EMU_STATS: JSON summary written at exit
  uint64_t fault_launch = 0;   // GRWARM_EMU_FAULT_LAUNCH=N: launch N faults (error-path tests)
};

// What the emulated CUDA context itself occupies on the device (as cudaMemGetInfo reports).
constexpr size_t kContextBytes = size_t(300) << 20;
constexpr size_t kMaxSharedBytes = size_t(48) << 10;
constexpr size_t kStackBytes = size_t(64) << 10;

const Config& config() {
  // Never destroyed: the statistics are written by a static destructor at exit.
  static const Config& c = *[] {
    Config* cp = new Config();
    Config& c = *cp;
    if (const char* s = std::getenv("GRWARM_EMU_SCHEDULE"); s && *s) {
      const std::string v = s;
      if (v == "forward") c.order = Order::Forward;
      else if (v == "reverse") c.order = Order::Reverse;
      else if (v.rfind("random", 0) == 0) {
        c.order = Order::Random;
        if (v.size() > 7 && v[6] == ':') c.seed = std::strtoull(v.c_str() + 7, nullptr, 10);
      } else {
        std::fprintf(stderr, "GRWARM_EMU_SCHEDULE=%s: expected forward, reverse or random[:seed]\n", s);
        std::abort();
      }
    }
    if (const char* s = std::getenv("GRWARM_EMU_EDGE_BLOCKS")) c.edge_blocks = std::string(s) == "1";
    if (const char* s = std::getenv("GRWARM_EMU_BLAS")) c.blas_compute = std::string(s) != "check";
    if (const char* s = std::getenv("GRWARM_EMU_DEVICE_MEMORY"); s && *s)
      c.device_bytes = std::strtoull(s, nullptr, 10);
    if (const char* s = std::getenv("GRWARM_EMU_DRIVER")) c.driver = s;
    if (const char* s = std::getenv("GRWARM_EMU_STATS")) c.stats_path = s;
    if (const char* s = std::getenv("GRWARM_EMU_FAULT_LAUNCH"); s && *s) c.fault_launch = std::strtoull(s, nullptr, 10);
    return cp;
  }();
  return c;
}

// ---- errors ------------------------------------------------------------------------------------
std::recursive_mutex g_mu;  // every API call; kernels run under it
cudaError_t g_sticky = cudaSuccess;
std::map<int, std::string> g_detail;  // the last detailed message per error code
std::map<int, std::string> g_text;    // what cudaGetErrorString returned (kept alive)
thread_local cudaError_t t_last = cudaSuccess;

const char* base_text(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}

// A non-sticky error of the calling thread's last call, with what exactly was wrong.
cudaError_t fail(cudaError_t e, const std::string& detail) {
  g_detail[e] = detail;
  t_last = e;
  return e;
}

struct DeviceFault {
  cudaError_t code;
  std::string msg;
};

// ---- statistics -----------------------------------------------------------------------------------
std::atomic<uint64_t> g_launches{0}, g_blocks{0}, g_threads{0}, g_blas{0};
std::set<std::string> g_kernels;  // names of the kernels that ran

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}

void write_stats() {
  const std::string& path = config().stats_path;
  if (path.empty()) return;
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return;
  std::fprintf(f, "{\"launches\": %llu, \"blocks\": %llu, \"threads\": %llu, \"blas_calls\": %llu, \"kernels\": [",
               (unsigned long long)g_launches.load(), (unsigned long long)g_blocks.load(),
               (unsigned long long)g_threads.load(), (unsigned long long)g_blas.load());
  bool first = true;
  for (const std::string& k : g_kernels) {
    std::fprintf(f, "%s\"%s\"", first ? "" : ", ", json_escape(k).c_str());
    first = false;
  }
  std::fprintf(f, "]}\n");
  std::fclose(f);
}

struct StatsAtExit {
  ~StatsAtExit() { write_stats(); }
} g_stats_at_exit;

// ---- memory ---------------------------------------------------------------------------------------
struct Alloc {
  char* data;
  size_t bytes;
  char* map;
  size_t map_bytes;
};
std::map<uintptr_t, Alloc> g_allocs;  // by data address
std::map<uintptr_t, size_t> g_host;   // pinned host allocations
size_t g_used = 0;

size_t page_size() {
  static const size_t p = size_t(sysconf(_SC_PAGESIZE));
  return p;
}

// The allocation holding p, or null.
const Alloc* find_alloc(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = g_allocs.upper_bound(a);
  if (it == g_allocs.begin()) return nullptr;
  --it;
  const Alloc& al = it->second;
  return a < uintptr_t(al.data) + al.bytes ? &al : nullptr;
}

// ---- streams and events ------------------------------------------------------------------------------
struct Work {
  uint64_t seq;
  std::string what;
  std::function<void()> run;
};
}  // namespace
}  // namespace gw_emu

struct CUstream_st {
  std::deque<gw_emu::Work> q;
  uint64_t issued = 0, done = 0;
};
struct CUevent_st {
  CUstream_st* stream = nullptr;
  uint64_t seq = 0;
  bool recorded = false, timing = true;
  double ms = 0;
};

namespace gw_emu {
namespace {

CUstream_st g_default_stream;
std::set<CUstream_st*> g_streams;
std::set<CUevent_st*> g_events;

CUstream_st* stream_of(cudaStream_t s) { return s ? s : &g_default_stream; }

void discard_all_work() {
  g_default_stream.q.clear();
  for (CUstream_st* s : g_streams) s->q.clear();
}

// Runs `s`'s queued work up to and including sequence number `upto`. A device fault becomes the
// sticky error and drops every queued item (the context is lost, as on a GPU).
cudaError_t drain(CUstream_st* s, uint64_t upto) {
  while (!s->q.empty() && s->q.front().seq <= upto) {
    Work w = std::move(s->q.front());
    s->q.pop_front();
    try {
      w.run();
    } catch (const DeviceFault& f) {
      g_sticky = f.code;
      g_detail[f.code] = f.msg;
      discard_all_work();
      return g_sticky;
    }
    s->done = w.seq;
  }
  return g_sticky;
}
cudaError_t drain_all(CUstream_st* s) { return drain(s, UINT64_MAX); }
cudaError_t drain_device() {
  cudaError_t e = drain_all(&g_default_stream);
  for (CUstream_st* s : g_streams)
    if (e == cudaSuccess) e = drain_all(s);
  return e;
}

void push(CUstream_st* s, std::string what, std::function<void()> run) {
  s->q.push_back(Work{++s->issued, std::move(what), std::move(run)});
}

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

// ---- the block scheduler ----------------------------------------------------------------------------
enum class St { Run, AtBarrier, AtShuffle, Done };

struct Lane {
  ctx::fiber f, sched;
  St st = St::Run;
  const void* site = nullptr;  // the barrier's call site
  uint64_t val = 0, res = 0;   // shuffle: this lane's value, then the value it receives
  Shfl kind = Shfl::Xor;
  unsigned mask = 0;
  int arg = 0, width = 32;
  ThreadCtx tc{};
};

struct LaunchRec {
  std::string name, where;  // "kernel", "file:line"
  dim3 grid, block;
  std::function<void()> body;
};

// A stack handed to one fiber: our own pool, reused block after block.
struct PoolStack {
  ctx::stack_context sc;
  ctx::stack_context allocate() { return sc; }
  void deallocate(ctx::stack_context&) noexcept {}
};

struct Scheduler {
  std::vector<Lane> lanes;
  std::vector<ctx::stack_context> stacks;
  std::vector<int> order;
  const LaunchRec* launch = nullptr;
  BlockCtx block{};
  int current = -1;      // the lane running now
  std::string failure;   // set by a lane that found an error
  // shared memory of the block
  alignas(64) char arena[kMaxSharedBytes];
  size_t arena_used = 0;
  std::vector<std::pair<const void*, size_t>> shared;
  // fault handling
  sigjmp_buf jmp;
  volatile sig_atomic_t in_kernel = 0;
  void* fault_addr = nullptr;
  bool fault_write = false, fault_known_rw = false;
  std::mt19937_64 rng;
};

thread_local Scheduler* t_sched = nullptr;

Scheduler& sched() {
  if (!t_sched) t_sched = new Scheduler();  // one per host thread, never freed (small, reused)
  return *t_sched;
}

std::string dim_str(uint3 d) {
  return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
}
std::string dim_str(dim3 d) { return dim_str(uint3{d.x, d.y, d.z}); }

std::string where(const Scheduler& s, int lane) {
  std::string w = "kernel " + s.launch->name + " (" + s.launch->where + "), block " +
                  dim_str(s.block.block_idx);
  if (lane >= 0) w += ", thread " + dim_str(s.lanes[size_t(lane)].tc.thread_idx);
  return w;
}

// Called on a lane's fiber: records the error and returns to the scheduler for good.
[[noreturn]] void fail_in_lane(const std::string& msg) {
  Scheduler& s = sched();
  Lane& l = s.lanes[size_t(s.current)];
  if (s.failure.empty()) s.failure = where(s, s.current) + ": " + msg;
  l.st = St::Done;
  l.sched = std::move(l.sched).resume();
  std::abort();  // never resumed: the scheduler destroys (unwinds) this fiber
}

void yield_lane(Lane& l) { l.sched = std::move(l.sched).resume(); }

void alloc_stacks(Scheduler& s, size_t n) {
  const size_t page = page_size();
  while (s.stacks.size() < n) {
    void* m = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) throw DeviceFault{cudaErrorMemoryAllocation, "emulator: no memory for fiber stacks"};
    mprotect(m, page, PROT_NONE);  // stack overflow faults instead of corrupting a neighbour
    ctx::stack_context sc;
    sc.size = kStackBytes;
    sc.sp = static_cast<char*>(m) + page + kStackBytes;
    s.stacks.push_back(sc);
  }
}

void on_segv(int sig, siginfo_t* si, void* uc);
struct sigaction g_prev_segv;

void install_fault_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = &on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_prev_segv);
  });
  thread_local bool alt = false;
  if (!alt) {
    // The fault may come from a fiber whose stack is exhausted: handle it on a stack of its own.
    static thread_local std::vector<char> altstack(size_t(64) << 10);
    stack_t ss{};
    ss.ss_sp = altstack.data();
    ss.ss_size = altstack.size();
    sigaltstack(&ss, nullptr);
    alt = true;
  }
}

void on_segv(int sig, siginfo_t* si, void* uc) {
  Scheduler* s = t_sched;
  if (s && s->in_kernel) {
    s->in_kernel = 0;
    s->fault_addr = si->si_addr;
#if defined(__x86_64__)
    s->fault_write = (static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_ERR] & 2) != 0;
    s->fault_known_rw = true;
#endif
    siglongjmp(s->jmp, 1);
  }
  // Not a kernel's access: whoever handled SIGSEGV before us (Node, or the default action).
  if ((g_prev_segv.sa_flags & SA_SIGINFO) && g_prev_segv.sa_sigaction) {
    g_prev_segv.sa_sigaction(sig, si, uc);
  } else if (g_prev_segv.sa_handler == SIG_DFL || g_prev_segv.sa_handler == SIG_IGN) {
    signal(SIGSEGV, SIG_DFL);  // returning re-executes the access: the default action
  } else {
    g_prev_segv.sa_handler(sig);
  }
}

// Which allocation a faulting address missed, in words.
std::string describe_fault(const Scheduler& s) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(s.fault_addr);
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s address 0x%llx", !s.fault_known_rw ? "access to"
                                                      : s.fault_write ? "write to" : "read from",
                (unsigned long long)a);
  std::string m = buf;
  const size_t page = page_size();
  for (const auto& [base, al] : g_allocs) {
    const uintptr_t lo = uintptr_t(al.map), hi = lo + al.map_bytes;
    if (a < lo || a >= hi) continue;
    const uintptr_t d = uintptr_t(al.data), end = d + al.bytes;
    if (a >= end)
      m += ", byte offset " + std::to_string(a - d) + " of a " + std::to_string(al.bytes) +
           "-byte device allocation (past its end)";
    else
      m += ", " + std::to_string(d - a) + " bytes before the start of a " +
           std::to_string(al.bytes) + "-byte device allocation";
    return m;
  }
  (void)page;
  return m + ", outside every device allocation";
}

// Releases every lane whose shuffle can complete; returns whether any was released.
bool resolve_shuffles(Scheduler& s) {
  const int n = int(s.lanes.size());
  bool released = false;
  for (int w0 = 0; w0 < n; w0 += 32) {
    const int wn = std::min(32, n - w0);
    unsigned ready = 0;  // lanes whose whole mask waits at a shuffle
    for (int j = 0; j < wn; ++j) {
      Lane& l = s.lanes[size_t(w0 + j)];
      if (l.st != St::AtShuffle) continue;
      bool ok = true;
      for (int k = 0; k < 32; ++k) {
        if (!(l.mask >> k & 1u)) continue;
        if (k >= wn) {
          s.current = w0 + j;
          s.failure = where(s, w0 + j) + ": warp shuffle with mask 0x" +
                      ([&] { char b[16]; std::snprintf(b, sizeof b, "%08x", l.mask); return std::string(b); })() +
                      " names lane " + std::to_string(k) + ", which does not exist (the block has " +
                      std::to_string(n) + " threads)";
          return false;
        }
        const Lane& o = s.lanes[size_t(w0 + k)];
        if (o.st == St::Done) {
          s.failure = where(s, w0 + j) + ": warp shuffle with mask 0x" +
                      ([&] { char b[16]; std::snprintf(b, sizeof b, "%08x", l.mask); return std::string(b); })() +
                      " waits for lane " + std::to_string(k) + ", which has exited";
          return false;
        }
        if (o.st != St::AtShuffle || o.mask != l.mask) ok = false;
      }
      if (!(l.mask >> j & 1u)) {
        s.failure = where(s, w0 + j) + ": warp shuffle from a lane outside its own mask";
        return false;
      }
      if (ok) ready |= 1u << j;
    }
    if (!ready) continue;
    for (int j = 0; j < wn; ++j) {
      if (!(ready >> j & 1u)) continue;
      Lane& l = s.lanes[size_t(w0 + j)];
      if (l.kind == Shfl::Ballot) {
        uint64_t bits = 0;
        for (int k = 0; k < wn; ++k)
          if ((l.mask >> k & 1u) && s.lanes[size_t(w0 + k)].val) bits |= uint64_t(1) << k;
        l.res = bits;
        continue;
      }
      const int seg = j / l.width * l.width;
      int src = j;
      switch (l.kind) {
        case Shfl::Xor: src = j ^ l.arg; break;
        case Shfl::Down: src = j + l.arg < seg + l.width ? j + l.arg : j; break;
        case Shfl::Up: src = j - l.arg >= seg ? j - l.arg : j; break;
        case Shfl::Idx: src = seg + ((l.arg % l.width) + l.width) % l.width; break;
        case Shfl::Ballot: break;
      }
      if (src < 0 || src >= wn || !(ready >> src & 1u)) {
        s.failure = where(s, w0 + j) + ": warp shuffle reads lane " + std::to_string(src) +
                    ", which is not taking part in it";
        return false;
      }
      l.res = s.lanes[size_t(w0 + src)].val;
    }
    for (int j = 0; j < wn; ++j)
      if (ready >> j & 1u) s.lanes[size_t(w0 + j)].st = St::Run;
    released = true;
  }
  return released;
}

std::string state_list(const Scheduler& s) {
  size_t shfl = 0, bar = 0;
  std::string first_shfl, first_bar;
  for (const Lane& l : s.lanes) {
    if (l.st == St::AtShuffle && !shfl++) first_shfl = dim_str(l.tc.thread_idx);
    if (l.st == St::AtBarrier && !bar++) first_bar = dim_str(l.tc.thread_idx);
  }
  std::string m;
  if (shfl) m += std::to_string(shfl) + " threads at a warp shuffle, the first " + first_shfl;
  if (bar) m += std::string(shfl ? "; " : "") + std::to_string(bar) + " threads at a barrier, the first " + first_bar;
  return m;
}

void destroy_fibers(Scheduler& s) {
  for (Lane& l : s.lanes) {
    l.f = ctx::fiber{};  // a suspended fiber is unwound
    l.sched = ctx::fiber{};
  }
}

// Runs one block to completion; throws DeviceFault on an error found by the scheduler.
void run_block(Scheduler& s, uint3 bid) {
  const LaunchRec& L = *s.launch;
  const unsigned bx = L.block.x, by = L.block.y;
  const size_t n = size_t(bx) * by * L.block.z;
  s.block.block_idx = bid;
  t_block = &s.block;
  s.arena_used = 0;
  s.shared.clear();
  s.failure.clear();
  alloc_stacks(s, n);
  s.lanes.resize(n);
  for (size_t i = 0; i < n; ++i) {
    Lane& l = s.lanes[i];
    l.st = St::Run;
    l.tc.thread_idx = uint3{unsigned(i % bx), unsigned(i / bx % by), unsigned(i / (size_t(bx) * by))};
    l.f = ctx::fiber(std::allocator_arg, PoolStack{s.stacks[i]}, [&s, &l](ctx::fiber&& back) {
      l.sched = std::move(back);
      try {
        s.launch->body();
      } catch (const ctx::detail::forced_unwind&) {
        throw;
      } catch (const std::exception& e) {
        if (s.failure.empty()) s.failure = where(s, s.current) + ": exception " + e.what();
      }
      l.st = St::Done;
      return std::move(l.sched);
    });
  }
  s.order.resize(n);
  for (size_t i = 0; i < n; ++i) s.order[i] = int(config().order == Order::Reverse ? n - 1 - i : i);
  for (;;) {
    if (config().order == Order::Random) std::shuffle(s.order.begin(), s.order.end(), s.rng);
    for (int i : s.order) {
      Lane& l = s.lanes[size_t(i)];
      if (l.st != St::Run) continue;
      s.current = i;
      t_thread = &l.tc;
      s.in_kernel = 1;
      l.f = std::move(l.f).resume();
      s.in_kernel = 0;
      if (!s.failure.empty()) break;
    }
    s.current = -1;
    if (s.failure.empty()) {
      size_t done = 0, at_barrier = 0;
      for (const Lane& l : s.lanes) {
        done += l.st == St::Done;
        at_barrier += l.st == St::AtBarrier;
      }
      if (done == n) return;
      if (resolve_shuffles(s)) continue;
      if (s.failure.empty()) {
        if (at_barrier + done == n) {
          const void* site = nullptr;
          bool same = true;
          for (const Lane& l : s.lanes)
            if (l.st == St::AtBarrier) {
              if (!site) site = l.site;
              same = same && l.site == site;
            }
          if (!same) {
            s.failure = where(s, -1) + ": __syncthreads reached from divergent code (threads wait at different barriers)";
          } else if (done > 0) {
            int gone = -1;
            for (size_t i = 0; i < n && gone < 0; ++i)
              if (s.lanes[i].st == St::Done) gone = int(i);
            s.failure = where(s, -1) + ": __syncthreads reached from divergent code: " +
                        std::to_string(at_barrier) + " of " + std::to_string(n) +
                        " threads wait at it, thread " + dim_str(s.lanes[size_t(gone)].tc.thread_idx) +
                        " has exited";
          } else {
            for (Lane& l : s.lanes) l.st = St::Run;
            continue;
          }
        } else {
          s.failure = where(s, -1) + ": deadlock: no thread can proceed (" + state_list(s) + ")";
        }
      }
    }
    const std::string msg = s.failure;
    destroy_fibers(s);
    throw DeviceFault{cudaErrorLaunchFailure, msg};
  }
}

// Executes one queued launch (the blocks in order; only the first and last with edge_blocks).
void run_launch(const LaunchRec& L) {
  install_fault_handler();
  Scheduler& s = sched();
  s.launch = &L;
  s.block.block_dim = L.block;
  s.block.grid_dim = L.grid;
  s.rng.seed(config().seed ^ (g_launches.load() * 0x9e3779b97f4a7c15ull));
  const uint64_t nb = uint64_t(L.grid.x) * L.grid.y * L.grid.z;
  g_launches++;
  {
    std::string name = L.name;
    const size_t lt = name.find('<');
    g_kernels.insert(lt == std::string::npos ? name : name.substr(0, lt));
  }
  if (g_launches.load() == config().fault_launch)
    throw DeviceFault{cudaErrorIllegalAddress, "kernel " + L.name + " (" + L.where +
                                                   "): planted fault (GRWARM_EMU_FAULT_LAUNCH=" +
                                                   std::to_string(config().fault_launch) + ")"};
  if (sigsetjmp(s.jmp, 1)) {
    // A kernel touched a guard page (or memory that is not mapped): s.current is the culprit.
    const std::string msg = where(s, s.current) + ": " + describe_fault(s);
    if (s.current >= 0) {
      // Its `sched` is the scheduler's context as it was at the resume the fault cut short:
      // destroying it would jump there. Forget it (it owns nothing; the stack is our pool's).
      new (&s.lanes[size_t(s.current)].sched) ctx::fiber();
    }
    destroy_fibers(s);
    s.current = -1;
    throw DeviceFault{cudaErrorIllegalAddress, msg};
  }
  for (uint64_t b = 0; b < nb; ++b) {
    if (config().edge_blocks && b != 0 && b != nb - 1) continue;
    const uint3 bid{unsigned(b % L.grid.x), unsigned(b / L.grid.x % L.grid.y),
                    unsigned(b / (uint64_t(L.grid.x) * L.grid.y))};
    run_block(s, bid);
    g_blocks++;
    g_threads += uint64_t(L.block.x) * L.block.y * L.block.z;
  }
}

}  // namespace

// ---- device-side entry points ---------------------------------------------------------------------
__attribute__((noinline)) void syncthreads() {
  Scheduler& s = sched();
  Lane& l = s.lanes[size_t(s.current)];
  l.site = __builtin_return_address(0);
  l.st = St::AtBarrier;
  yield_lane(l);
}

uint64_t shuffle(uint64_t bits, Shfl kind, unsigned mask, int arg, int width) {
  Scheduler& s = sched();
  Lane& l = s.lanes[size_t(s.current)];
  if (width <= 0 || width > 32 || (width & (width - 1)))
    fail_in_lane("warp shuffle width " + std::to_string(width) + " is not a power of two <= 32");
  l.val = bits;
  l.kind = kind;
  l.mask = mask;
  l.arg = arg;
  l.width = width;
  l.st = St::AtShuffle;
  yield_lane(l);
  return l.res;
}

void* shared_storage(const void* key, size_t bytes, size_t align) {
  Scheduler& s = sched();
  for (const auto& [k, off] : s.shared)
    if (k == key) return s.arena + off;
  const size_t off = (s.arena_used + align - 1) / align * align;
  if (off + bytes > kMaxSharedBytes)
    fail_in_lane("static shared memory of " + std::to_string(off + bytes) +
                 " bytes exceeds the 48 KiB limit");
  std::memset(s.arena + off, 0xFF, bytes);  // uninitialised shared memory reads as NaN
  s.arena_used = off + bytes;
  s.shared.emplace_back(key, off);
  return s.arena + off;
}

void launch_erased(const char* kernel, const char* file, int line, dim3 grid, dim3 block,
                   size_t shmem, cudaStream_t stream, std::function<void()> body) {
  std::lock_guard<std::recursive_mutex> lock(g_mu);
  std::string f = file;
  if (const size_t sl = f.rfind('/'); sl != std::string::npos) f = f.substr(sl + 1);
  auto L = std::make_shared<LaunchRec>();
  L->name = kernel;
  L->where = f + ":" + std::to_string(line);
  L->grid = grid;
  L->block = block;
  L->body = std::move(body);
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  std::string bad;
  if (threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64)
    bad = "block " + dim_str(block) + " (" + std::to_string(threads) +
          " threads; at most 1024, x and y <= 1024, z <= 64)";
  else if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 ||
           grid.z > 65535)
    bad = "grid " + dim_str(grid) + " (x <= 2^31-1, y and z <= 65535, none zero)";
  else if (shmem > kMaxSharedBytes)
    bad = "dynamic shared memory " + std::to_string(shmem) + " bytes (at most 48 KiB)";
  if (!bad.empty()) {
    fail(cudaErrorInvalidConfiguration, "kernel " + L->name + " (" + L->where + "): " + bad);
    return;
  }
  if (g_sticky != cudaSuccess) return;
  push(stream_of(stream), L->name, [L] { run_launch(*L); });
}

// ---- the emulator's own interface -------------------------------------------------------------------
bool device_range(const void* p, size_t bytes, std::string* why) {
  std::lock_guard<std::recursive_mutex> lock(g_mu);
  const Alloc* a = find_alloc(p);
  char buf[64];
  std::snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)reinterpret_cast<uintptr_t>(p));
  if (!a) {
    if (why) *why = std::string(buf) + " is not in any device allocation";
    return false;
  }
  const size_t off = size_t(static_cast<const char*>(p) - a->data);
  if (bytes > a->bytes - off) {
    if (why)
      *why = std::to_string(bytes) + " bytes at " + buf + " run " +
             std::to_string(bytes - (a->bytes - off)) + " bytes past the end of its " +
             std::to_string(a->bytes) + "-byte device allocation";
    return false;
  }
  return true;
}

void enqueue(cudaStream_t stream, const char* what, std::function<void()> work) {
  std::lock_guard<std::recursive_mutex> lock(g_mu);
  if (g_sticky != cudaSuccess) return;
  push(stream_of(stream), what, std::move(work));
}

bool blas_compute() { return config().blas_compute; }
void count_blas_call() { g_blas++; }
Stats stats() { return Stats{g_launches.load(), g_blocks.load(), g_threads.load(), g_blas.load()}; }

}  // namespace gw_emu

// ---- the CUDA runtime API ------------------------------------------------------------------------------
using namespace gw_emu;

#define GW_LOCK std::lock_guard<std::recursive_mutex> lock(g_mu)
#define GW_STICKY \
  if (g_sticky != cudaSuccess) return g_sticky

extern "C" {

cudaError_t cudaDriverGetVersion(int* version) {
  if (!version) return cudaErrorInvalidValue;
  const std::string& d = config().driver;
  *version = d == "none" ? 0 : d == "old" ? 12040 : 13000;
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  if (!version) return cudaErrorInvalidValue;
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int* count) {
  GW_LOCK;
  if (!count) return fail(cudaErrorInvalidValue, "count is null");
  const std::string& d = config().driver;
  if (d == "none" || d == "old") {
    *count = 0;
    return fail(cudaErrorInsufficientDriver, d == "none" ? "emulated: no NVIDIA driver" : "emulated: driver for CUDA 12.4");
  }
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  GW_LOCK;
  if (!p) return fail(cudaErrorInvalidValue, "prop is null");
  if (device != 0) return fail(cudaErrorInvalidDevice, "device " + std::to_string(device));
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "CPU emulation of CUDA");
  p->totalGlobalMem = config().device_bytes;
  p->sharedMemPerBlock = kMaxSharedBytes;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = p->maxGridSize[2] = 65535;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  GW_LOCK;
  GW_STICKY;
  return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice, "device " + std::to_string(device));
}

cudaError_t cudaGetDevice(int* device) {
  if (!device) return cudaErrorInvalidValue;
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  GW_LOCK;
  GW_STICKY;
  const size_t total = config().device_bytes, taken = kContextBytes + g_used;
  if (free_bytes) *free_bytes = total > taken ? total - taken : 0;
  if (total_bytes) *total_bytes = total;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, size_t bytes) {
  GW_LOCK;
  if (!p) return fail(cudaErrorInvalidValue, "cudaMalloc: null pointer");
  *p = nullptr;
  GW_STICKY;
  if (bytes == 0) return cudaSuccess;
  const size_t page = page_size();
  const size_t total = config().device_bytes;
  if (kContextBytes + g_used + bytes > total)
    return fail(cudaErrorMemoryAllocation, "cudaMalloc of " + std::to_string(bytes) + " bytes: " +
                                               std::to_string(total - std::min(total, kContextBytes + g_used)) +
                                               " bytes free on the emulated device");
  const size_t body = (bytes + page - 1) / page * page;
  const size_t map_bytes = body + 2 * page;
  char* m = static_cast<char*>(mmap(nullptr, map_bytes, PROT_NONE,
                                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  if (m == MAP_FAILED) return fail(cudaErrorMemoryAllocation, "cudaMalloc: mmap failed");
  mprotect(m + page, body, PROT_READ | PROT_WRITE);
  // Right-aligned against the guard page after it, at the alignment its size allows (the
  // lowest set bit, at most 256 bytes): one element past the end is the guard page.
  size_t align = bytes & (~bytes + 1);
  align = std::min<size_t>(align, 256);
  const size_t rounded = (bytes + align - 1) / align * align;
  char* data = m + page + body - rounded;
  if (!config().edge_blocks) std::memset(data, 0xFF, bytes);
  g_allocs[reinterpret_cast<uintptr_t>(data)] = Alloc{data, bytes, m, map_bytes};
  g_used += bytes;
  *p = data;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  GW_LOCK;
  if (!p) return cudaSuccess;
  const cudaError_t e = drain_device();  // cudaFree synchronises the device
  auto it = g_allocs.find(reinterpret_cast<uintptr_t>(p));
  if (it == g_allocs.end()) return e != cudaSuccess ? e : fail(cudaErrorInvalidValue, "cudaFree of a pointer cudaMalloc did not return");
  munmap(it->second.map, it->second.map_bytes);
  g_used -= it->second.bytes;
  g_allocs.erase(it);
  return e;
}

cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned) {
  GW_LOCK;
  if (!p) return fail(cudaErrorInvalidValue, "cudaHostAlloc: null pointer");
  GW_STICKY;
  void* m = nullptr;
  if (posix_memalign(&m, 4096, std::max<size_t>(bytes, 1)) != 0)
    return fail(cudaErrorMemoryAllocation, "cudaHostAlloc of " + std::to_string(bytes) + " bytes");
  std::memset(m, 0xFF, bytes);
  g_host[reinterpret_cast<uintptr_t>(m)] = bytes;
  *p = m;
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* p) {
  GW_LOCK;
  if (!p) return cudaSuccess;
  const cudaError_t e = drain_device();
  auto it = g_host.find(reinterpret_cast<uintptr_t>(p));
  if (it == g_host.end()) return fail(cudaErrorInvalidValue, "cudaFreeHost of a pointer cudaHostAlloc did not return");
  std::free(p);
  g_host.erase(it);
  return e;
}

// Checks a copy's device side(s) at issue time, as the runtime does.
static cudaError_t check_copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  std::string why;
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyDefault || kind == cudaMemcpyHostToHost)
    return fail(cudaErrorInvalidValue, "copy kind not emulated");
  if (dst_dev && !device_range(dst, bytes, &why)) return fail(cudaErrorInvalidValue, "copy destination: " + why);
  if (src_dev && !device_range(src, bytes, &why)) return fail(cudaErrorInvalidValue, "copy source: " + why);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  GW_LOCK;
  GW_STICKY;
  if (bytes == 0) return cudaSuccess;
  if (const cudaError_t e = check_copy(dst, src, bytes, kind)) return e;
  // The host side is read or written when the copy runs, not now (as a DMA engine does).
  push(stream_of(stream), "memcpy", [dst, src, bytes] { std::memmove(dst, src, bytes); });
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  GW_LOCK;
  GW_STICKY;
  if (const cudaError_t e = drain_device()) return e;
  if (bytes == 0) return cudaSuccess;
  if (const cudaError_t e = check_copy(dst, src, bytes, kind)) return e;
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  GW_LOCK;
  if (!s) return fail(cudaErrorInvalidValue, "stream is null");
  GW_STICKY;
  *s = new CUstream_st();
  g_streams.insert(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }

cudaError_t cudaStreamDestroy(cudaStream_t s) {
  GW_LOCK;
  if (!s || !g_streams.count(s)) return fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy of an unknown stream");
  // Work still queued completes first (as on a GPU, asynchronously; here at once).
  drain_all(s);
  g_streams.erase(s);
  delete s;
  return g_sticky;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  GW_LOCK;
  GW_STICKY;
  if (s && !g_streams.count(s)) return fail(cudaErrorInvalidResourceHandle, "unknown stream");
  return drain_all(stream_of(s));
}

cudaError_t cudaDeviceSynchronize(void) {
  GW_LOCK;
  GW_STICKY;
  return drain_device();
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags) {
  GW_LOCK;
  if (!e) return fail(cudaErrorInvalidValue, "event is null");
  GW_STICKY;
  *e = new CUevent_st();
  (*e)->timing = !(flags & cudaEventDisableTiming);
  g_events.insert(*e);
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, 0); }

cudaError_t cudaEventDestroy(cudaEvent_t e) {
  GW_LOCK;
  if (!e || !g_events.erase(e)) return fail(cudaErrorInvalidResourceHandle, "cudaEventDestroy of an unknown event");
  delete e;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  GW_LOCK;
  GW_STICKY;
  if (!e || !g_events.count(e)) return fail(cudaErrorInvalidResourceHandle, "cudaEventRecord of an unknown event");
  CUstream_st* st = stream_of(s);
  e->stream = st;
  e->recorded = false;
  push(st, "event", [e] {
    e->recorded = true;
    e->ms = now_ms();
  });
  e->seq = st->issued;
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  GW_LOCK;
  GW_STICKY;
  if (!e || !g_events.count(e)) return fail(cudaErrorInvalidResourceHandle, "cudaEventSynchronize of an unknown event");
  if (!e->stream) return cudaSuccess;  // never recorded: complete
  return drain(e->stream, e->seq);
}

cudaError_t cudaEventQuery(cudaEvent_t e) {
  GW_LOCK;
  GW_STICKY;
  if (!e || !g_events.count(e)) return fail(cudaErrorInvalidResourceHandle, "unknown event");
  return !e->stream || e->stream->done >= e->seq ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t from, cudaEvent_t to) {
  GW_LOCK;
  GW_STICKY;
  if (!ms || !from || !to || !g_events.count(from) || !g_events.count(to))
    return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime of an unknown event");
  if (!from->timing || !to->timing) return fail(cudaErrorInvalidResourceHandle, "event created without timing");
  if (!from->recorded || !to->recorded) return fail(cudaErrorNotReady, "event not completed");
  *ms = float(to->ms - from->ms);
  return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
  GW_LOCK;
  if (g_sticky != cudaSuccess) return g_sticky;
  const cudaError_t e = t_last;
  t_last = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void) {
  GW_LOCK;
  return g_sticky != cudaSuccess ? g_sticky : t_last;
}

const char* cudaGetErrorString(cudaError_t e) {
  GW_LOCK;
  std::string text = base_text(e);
  if (auto it = g_detail.find(e); it != g_detail.end()) text += " (emulator: " + it->second + ")";
  std::string& slot = g_text[e];
  if (slot != text) slot = text;  // unchanged text keeps the pointer a caller may still hold
  return slot.c_str();
}

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
  }
}

}  // extern "C"
