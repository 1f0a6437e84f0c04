// Shared plumbing of the native test executables (grwarm_conformance, grwarm_parity,
// grwarm_bench_native): command-line flags, reproducible random inputs, RAII buffers in
// backend memory, element-wise comparison against a reference with a stated tolerance, and
// the report (a human table on stdout, a JSON file, and one summary line callers look for).
//
// Exit codes shared by the executables:
//   0 every case passed (skipped cases allowed), 1 a case failed, 2 bad command line or an
//   unexpected error, 3 the requested backend is not available here (its reason is printed).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/registry.h"

namespace grwarm::test {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnavailable = 3;

// Unit roundoff of T: half the distance from 1 to the next number (2^-24 float, 2^-53 double).
template <class T>
constexpr double unit_roundoff() {
  return double(std::numeric_limits<T>::epsilon()) / 2;
}
template <class T>
const char* precision_name() {
  return sizeof(T) == 4 ? "float32" : "float64";
}

// ---- command line --------------------------------------------------------------------------

// A bad command line (exit code kExitUsage with the usage text).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// `--name value` and `--flag` options. Every option a tool accepts is declared up front, so a
// typo is an error instead of a silently ignored flag.
class Args {
 public:
  // valued: options that take a value; flags: options that do not.
  Args(int argc, char** argv, const std::vector<std::string>& valued,
       const std::vector<std::string>& flags);
  std::string get(const std::string& name, const std::string& fallback) const;
  int get_int(const std::string& name, int fallback) const;
  bool has(const std::string& name) const;

 private:
  std::map<std::string, std::string> values_;
};

// Splits "a,b,c" into its items.
std::vector<std::string> split_list(const std::string& s);

// ---- random inputs ---------------------------------------------------------------------------

// splitmix64 stream: a fixed seed gives the same inputs on every machine and compiler.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi), 53 random bits.
  double uniform(double lo, double hi) { return lo + (hi - lo) * double(next() >> 11) * 0x1p-53; }
  int below(int n) { return int(next() % uint64_t(n)); }
  // n values uniform in [lo, hi), rounded to U (so the reference sees exactly what the backend gets).
  template <class U>
  std::vector<U> vec(size_t n, double lo, double hi) {
    std::vector<U> v(n);
    for (U& x : v) x = U(uniform(lo, hi));
    return v;
  }

 private:
  uint64_t s_;
};

// ---- backend memory ----------------------------------------------------------------------

// n elements of U in backend memory (device memory on CUDA), freed on destruction.
template <class T, class U = T>
class Buf {
 public:
  Buf(Backend<T>& be, size_t n) : be_(&be), n_(n) {
    p_ = static_cast<U*>(be.alloc_bytes((n ? n : 1) * sizeof(U)));
  }
  Buf(Backend<T>& be, const std::vector<U>& host) : Buf(be, host.size()) { upload(host); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  ~Buf() { be_->free_bytes(p_); }

  U* get() const { return p_; }
  size_t size() const { return n_; }
  void upload(const std::vector<U>& host) {
    if (host.size() != n_) throw std::logic_error("Buf::upload: size mismatch");
    if (n_) be_->upload(p_, host.data(), n_ * sizeof(U));
  }
  std::vector<U> download() const {
    std::vector<U> host(n_);
    if (n_) be_->download(host.data(), p_, n_ * sizeof(U));
    return host;
  }

 private:
  Backend<T>* be_;
  size_t n_;
  U* p_;
};

template <class U>
std::vector<double> to_double(const std::vector<U>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// True when both vectors hold the same bits (NaN payloads included).
inline bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

// ---- comparison ----------------------------------------------------------------------------

// What a backend output must match: element i may differ from ref[i] by at most
// tol * scale[i], where scale[i] is the magnitude the rounding errors of that element are
// proportional to (e.g. sum_k |a_ik b_kj| for a GEMM), worked out by the reference, and tol is
// the case's constant (a multiple of the unit roundoff). scale 0 demands exact equality.
struct Expect {
  std::vector<double> ref;
  std::vector<double> scale;
  void resize(size_t n) {
    ref.assign(n, 0.0);
    scale.assign(n, 0.0);
  }
  void push(double r, double s) {
    ref.push_back(r);
    scale.push_back(s);
  }
};

struct Tolerance {
  double tol = 0;     // allowed |got - ref| per unit of scale; 0 = exact
  std::string basis;  // what scale[i] is and why the constant, for the report
  static Tolerance exact(const std::string& why = "exact: no rounding in this op") {
    return {0.0, why};
  }
  static Tolerance rel(double t, const std::string& why) { return {t, why}; }
};

// Outcome of comparing one output of one case.
struct Compare {
  double max_abs = 0;   // max |got - ref|
  double max_rel = 0;   // max |got - ref| / |ref| over elements with ref != 0
  double worst = 0;     // max |got - ref| / (tol * scale): <= 1 passes
  size_t bad = 0;       // elements outside the tolerance (NaN counts)
  size_t first_bad = 0;
  bool ok() const { return bad == 0; }
};

Compare compare(const std::vector<double>& got, const Expect& want, const Tolerance& tol);

// ---- report --------------------------------------------------------------------------------

struct CaseResult {
  std::string op;                // the Backend method (or Model call) under test
  std::vector<std::string> ops;  // every Backend method this row exercises; op when empty
  std::string precision;         // float32 | float64
  std::string shape;             // e.g. "M=7 N=13 K=5 A^T"
  std::string output;            // which output of the op (y, mean, dqkv, ...)
  double max_abs = 0, max_rel = 0, tol = 0, worst = 0;
  std::string basis;             // how tol applies (see Tolerance)
  bool deterministic = true;     // two runs on the same inputs gave the same bits
  bool pass = false;
  bool skipped = false;
  std::string note;
};

// Collects rows, prints each as it comes (so a crash still leaves the earlier rows on
// screen), writes the JSON file and the summary line `<tool>: N passed, M failed, K skipped`.
class Report {
 public:
  explicit Report(std::string tool) : tool_(std::move(tool)) {}
  void add(CaseResult r);
  // Adds a row for one compared output; pass = within tolerance and deterministic.
  void add_compare(CaseResult base, const Compare& c, const Tolerance& t);
  void skip(const std::string& op, const std::string& precision, const std::string& why);
  // Top-level "key": value fields of the JSON object (value already JSON-encoded).
  void set_meta(const std::string& key, const std::string& json_value);
  int passed() const;
  int failed() const;
  int skipped() const;
  bool write_json(const std::string& path) const;
  void print_summary() const;
  const std::vector<CaseResult>& rows() const { return rows_; }

 private:
  void print_row(const CaseResult& r);
  std::string tool_;
  std::vector<CaseResult> rows_;
  std::vector<std::pair<std::string, std::string>> meta_;
  bool header_printed_ = false;
};

// JSON helpers: a quoted, escaped string; a number (null when not finite).
std::string json_str(const std::string& s);
std::string json_num(double v);

// ---- backends ------------------------------------------------------------------------------

// The registry entry for `name` ("cpu", "cuda"), with its status. Returns nullptr, after
// printing "<name> backend unavailable: <reason>" to stdout, when it cannot run here.
BackendProvider* open_backend(const std::string& name, BackendStatus* status_out);

// Wall-clock milliseconds since an arbitrary origin (steady clock).
double now_ms();

// Median of a sample (copy; the sample is small).
double median(std::vector<double> v);

}  // namespace grwarm::test
