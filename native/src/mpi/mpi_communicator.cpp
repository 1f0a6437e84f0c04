// libgrwarm_mpi.so: the MPI implementation of grwarm::Communicator (core/communicator.h).
//
// - Loaded with dlopen by the addon only for --distributed runs; it links libmpi, which the
//   addon itself never does, so the package runs where MPI is not installed.
// - Open MPI opens its own components (MCA plugins) with dlopen, and they expect libmpi's
//   symbols to be global; a libmpi pulled in by a RTLD_LOCAL plugin is not, so before
//   MPI_Init the library is re-opened RTLD_GLOBAL (a known Open-MPI-inside-a-plugin issue).
// - Threads: the model's step runs on a libuv worker thread and the training loop's checks on
//   the JS thread, never at the same time; MPI is initialised MPI_THREAD_SERIALIZED and every
//   call holds one mutex.
// - Bit-identical results on every rank: a weighted gradient sum is a reduce-scatter (each
//   chunk summed in one place) followed by an all-gather of the chunks, so every rank receives
//   the same bits whatever the MPI library's all-reduce algorithm does.
// - Faults: errors are returned, not fatal (MPI_ERRORS_RETURN), and become exceptions naming
//   the call; a watchdog thread ends this process with a clear message when a collective has
//   waited longer than the timeout (a rank died or hangs and the launcher did not end the job).
#include <dlfcn.h>
#include <mpi.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "comm_plugin_abi.h"

namespace grwarm::mpi {
namespace {

std::atomic<bool> g_finalized{false};

std::string mpi_error(int code) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, size_t(len));
}

// Ends the process when a collective waits too long.
class Watchdog {
 public:
  Watchdog(double timeout_s, int rank, int size) : timeout_s_(timeout_s), rank_(rank), size_(size) {
    if (timeout_s_ > 0) thread_ = std::thread([this] { loop(); });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void enter(const char* what) {
    what_.store(what);
    since_.store(now_ns());
  }
  void leave() { since_.store(0); }

 private:
  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::milliseconds(200));
      const int64_t since = since_.load();
      if (since == 0) continue;
      const double waited = double(now_ns() - since) * 1e-9;
      if (waited > timeout_s_) {
        std::fprintf(stderr,
                     "grwarm-native: rank %d of %d: %s has waited %.0f s for the other ranks "
                     "(--comm-timeout %g s): a rank has died or hangs. Ending this rank; the "
                     "launcher ends the others. The run directory keeps its last checkpoint.\n",
                     rank_, size_, what_.load(), waited, timeout_s_);
        std::fflush(stderr);
        _exit(1);
      }
    }
  }

  double timeout_s_;
  int rank_, size_;
  std::atomic<int64_t> since_{0};
  std::atomic<const char*> what_{""};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, int rank, int size, std::string describe, double timeout_s)
      : comm_(comm), rank_(rank), size_(size), describe_(std::move(describe)),
        watchdog_(timeout_s, rank, size) {}
  ~MpiCommunicator() override {
    if (!g_finalized.load()) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string describe() const override { return describe_; }

  void allreduce_sum(float* data, size_t n, double weight) override { sum(data, n, weight, MPI_FLOAT); }
  void allreduce_sum(double* data, size_t n, double weight) override { sum(data, n, weight, MPI_DOUBLE); }

  void allreduce_scalars(double* host, size_t n) override {
    Call call(this, "all-reduce of scalars");
    check(MPI_Allreduce(MPI_IN_PLACE, host, count(n), MPI_DOUBLE, MPI_SUM, comm_), "MPI_Allreduce");
  }

  void broadcast(void* host, size_t bytes, int root) override {
    Call call(this, "broadcast");
    auto* p = static_cast<char*>(host);
    const size_t step = size_t(1) << 30;
    for (size_t at = 0; at < bytes; at += step) {
      const size_t len = bytes - at < step ? bytes - at : step;
      check(MPI_Bcast(p + at, int(len), MPI_BYTE, root, comm_), "MPI_Bcast");
    }
  }

  void barrier() override {
    Call call(this, "barrier");
    check(MPI_Barrier(comm_), "MPI_Barrier");
  }

 private:
  // Holds the lock and the watchdog's clock for the duration of one collective.
  struct Call {
    Call(MpiCommunicator* c, const char* what) : c_(c), lock_(c->mu_) {
      if (g_finalized.load())
        throw std::runtime_error(std::string(what) + ": MPI was already finalized (the run has ended)");
      c_->watchdog_.enter(what);
    }
    ~Call() { c_->watchdog_.leave(); }
    MpiCommunicator* c_;
    std::lock_guard<std::mutex> lock_;
  };

  static int count(size_t n) {
    if (n > size_t(INT_MAX)) throw std::runtime_error("MPI: a message of " + std::to_string(n) + " elements is too long");
    return int(n);
  }

  void check(int rc, const char* call) const {
    if (rc != MPI_SUCCESS)
      throw std::runtime_error(std::string(call) + " failed on rank " + std::to_string(rank_) + " of " +
                               std::to_string(size_) + ": " + mpi_error(rc) +
                               " (has another rank died?)");
  }

  template <class T>
  void sum(T* data, size_t n, double weight, MPI_Datatype type) {
    Call call(this, "gradient all-reduce");
    const size_t N = size_t(size_);
    const size_t chunk = (n + N - 1) / N;
    buf_.resize(chunk * N * sizeof(T));
    part_.resize(chunk * sizeof(T));
    T* b = reinterpret_cast<T*>(buf_.data());
    if (weight == 1.0)
      std::memcpy(b, data, n * sizeof(T));
    else
      for (size_t i = 0; i < n; ++i) b[i] = T(double(data[i]) * weight);
    for (size_t i = n; i < chunk * N; ++i) b[i] = T(0);
    // Each chunk is summed on one rank, then every rank receives that rank's bits.
    check(MPI_Reduce_scatter_block(b, part_.data(), count(chunk), type, MPI_SUM, comm_),
          "MPI_Reduce_scatter_block");
    check(MPI_Allgather(part_.data(), count(chunk), type, b, count(chunk), type, comm_), "MPI_Allgather");
    std::memcpy(data, b, n * sizeof(T));
  }

  MPI_Comm comm_;
  int rank_, size_;
  std::string describe_;
  std::mutex mu_;
  Watchdog watchdog_;
  std::vector<char> buf_, part_;
};

void copy_error(char* out, size_t size, const std::string& text) {
  if (!out || size == 0) return;
  std::snprintf(out, size, "%s", text.c_str());
}

// Makes libmpi's symbols global before Open MPI opens its components.
void promote_libmpi() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&MPI_Init_thread), &info) != 0 && info.dli_fname &&
      dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD))
    return;
  for (const char* soname : {"libmpi.so.40", "libmpi.so"})
    if (dlopen(soname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) return;
}

Communicator* create(double timeout_s, char* error, size_t error_size) {
  try {
    if (g_finalized.load()) throw std::runtime_error("MPI was already finalized in this process");
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
      promote_libmpi();
      int provided = 0;
      const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
      if (rc != MPI_SUCCESS) throw std::runtime_error("MPI_Init_thread failed: " + mpi_error(rc));
      if (provided < MPI_THREAD_SERIALIZED)
        throw std::runtime_error("the MPI library offers thread level " + std::to_string(provided) +
                                 "; MPI_THREAD_SERIALIZED is needed (the step runs off the main thread)");
    }
    MPI_Comm comm;
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    if (rc != MPI_SUCCESS) throw std::runtime_error("MPI_Comm_dup failed: " + mpi_error(rc));
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    char version[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
    int len = 0;
    MPI_Get_library_version(version, &len);
    std::string lib(version, size_t(len));
    const size_t cut = lib.find_first_of(",\n");
    if (cut != std::string::npos) lib.resize(cut);
    return new MpiCommunicator(comm, rank, size, lib + ", " + std::to_string(size) + " ranks", timeout_s);
  } catch (const std::exception& e) {
    copy_error(error, error_size, e.what());
    return nullptr;
  }
}

void finalize() {
  int inited = 0, done = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&done);
  if (inited && !done && !g_finalized.exchange(true)) MPI_Finalize();
}

void abort_job(int code) {
  int inited = 0;
  MPI_Initialized(&inited);
  if (inited && !g_finalized.load()) MPI_Abort(MPI_COMM_WORLD, code);
  _exit(code);
}

const GrwarmCommPlugin kPlugin = {GRWARM_COMM_PLUGIN_ABI, "mpi", &create, &finalize, &abort_job};

}  // namespace
}  // namespace grwarm::mpi

extern "C" __attribute__((visibility("default"))) const GrwarmCommPlugin* grwarm_comm_plugin() {
  return &grwarm::mpi::kPlugin;
}
