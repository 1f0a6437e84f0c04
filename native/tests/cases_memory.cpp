// Memory ops (alloc_bytes, free_bytes, upload, download, copy, fill) and the ordering/timing
// ops (synchronize, mark, elapsed_ms). All exact: no arithmetic.
#include <cmath>
#include <limits>

#include "conformance.h"

namespace grwarm::test {

std::string shape_str(const std::vector<std::pair<const char*, long long>>& dims) {
  std::string s;
  for (const auto& d : dims) s += (s.empty() ? "" : " ") + std::string(d.first) + "=" + std::to_string(d.second);
  return s;
}

std::string num_str(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

namespace {

// Sizes: tiny, odd, and larger than one sum-of-squares chunk (16384) and not a multiple of it.
const size_t kSizes[] = {1, 13, 3 * 16384 + 5};
constexpr size_t kPad = 5;  // sentinel elements on each side of a written range

template <class T>
void round_trip(Ctx<T>& c) {
  for (size_t n : kSizes) {
    Rng rng(100 + n);
    const std::vector<T> host = rng.vec<T>(n, -3, 3);
    ref::Want w;
    w.e.ref = to_double(host);
    w.e.scale.assign(n, 0);
    w.basis = "exact: bytes in, bytes out";
    c.check("upload", shape_str({{"n", (long long)n}}),
            [&] {
              Buf<T> b(c.be, host);
              return typename Ctx<T>::Outputs{to_double(b.download())};
            },
            {{"data", &w}}, {"alloc_bytes", "upload", "download", "free_bytes"});
  }
  // An odd number of raw bytes (uint8 labels/correct flags travel this way).
  Rng rng(7);
  std::vector<uint8_t> bytes(13);
  for (auto& x : bytes) x = uint8_t(rng.below(256));
  ref::Want w;
  w.e.ref = to_double(bytes);
  w.e.scale.assign(bytes.size(), 0);
  w.basis = "exact: bytes in, bytes out";
  c.check("download", "bytes=13",
          [&] {
            Buf<T, uint8_t> b(c.be, bytes);
            return typename Ctx<T>::Outputs{to_double(b.download())};
          },
          {{"bytes", &w}}, {"alloc_bytes", "upload", "download", "free_bytes"});
}

// dst holds n elements between kPad sentinels on each side; only the middle may change.
template <class T>
ref::Want padded_expect(const std::vector<T>& middle, T sentinel) {
  ref::Want w;
  const size_t n = middle.size();
  w.e.ref.assign(n + 2 * kPad, double(sentinel));
  for (size_t i = 0; i < n; ++i) w.e.ref[kPad + i] = double(middle[i]);
  w.e.scale.assign(n + 2 * kPad, 0);
  w.basis = "exact: elements outside [dst, dst+n) untouched";
  return w;
}

template <class T>
void copy_fill(Ctx<T>& c) {
  const T sentinel = T(-12345.5);
  for (size_t n : kSizes) {
    Rng rng(200 + n);
    const std::vector<T> src = rng.vec<T>(n, -1, 1);
    const ref::Want w = padded_expect(src, sentinel);
    c.check("copy", shape_str({{"n", (long long)n}}),
            [&] {
              Buf<T> s(c.be, src);
              Buf<T> d(c.be, std::vector<T>(n + 2 * kPad, sentinel));
              c.be.copy(d.get() + kPad, s.get(), n);
              return typename Ctx<T>::Outputs{to_double(d.download())};
            },
            {{"dst", &w}});
    for (T value : {T(0), T(-2.5)}) {
      const ref::Want wf = padded_expect(std::vector<T>(n, value), sentinel);
      c.check("fill", shape_str({{"n", (long long)n}}) + " value=" + num_str(double(value)),
              [&] {
                Buf<T> d(c.be, std::vector<T>(n + 2 * kPad, sentinel));
                c.be.fill(d.get() + kPad, value, n);
                return typename Ctx<T>::Outputs{to_double(d.download())};
              },
              {{"dst", &wf}});
    }
  }
}

// Marks around some work: elapsed times are finite, non-negative, and grow with later marks;
// every one of the kTimingMarks slots works; synchronize returns.
template <class T>
void timing(Ctx<T>& c) {
  const std::vector<std::string> ops = {"mark", "elapsed_ms", "synchronize"};
  try {
    const int n = 96;
    Rng rng(9);
    Buf<T> a(c.be, rng.vec<T>(size_t(n) * n, -1, 1)), out(c.be, size_t(n) * n);
    auto work = [&] {
      for (int k = 0; k < 4; ++k)
        c.be.gemm(Trans::No, Trans::No, n, n, n, T(1), a.get(), n, a.get(), n, T(0), out.get(), n);
    };
    c.be.mark(0);
    work();
    c.be.mark(1);
    work();
    c.be.mark(2);
    const double t01 = c.be.elapsed_ms(0, 1), t02 = c.be.elapsed_ms(0, 2);
    for (int k = 3; k < Backend<T>::kTimingMarks; ++k) c.be.mark(k);
    c.be.synchronize();
    bool slots_ok = true;
    for (int k = 0; k < Backend<T>::kTimingMarks; ++k) {
      const double t = c.be.elapsed_ms(k, Backend<T>::kTimingMarks - 1);
      slots_ok = slots_ok && std::isfinite(t) && t >= 0;
    }
    // 1 microsecond of slack: two clocks reads of "the same" instant may differ that much.
    const bool ok = std::isfinite(t01) && std::isfinite(t02) && t01 >= 0 && t02 + 1e-3 >= t01 && slots_ok;
    c.verdict("mark", ops, ok,
              "elapsed(0,1)=" + std::to_string(t01) + " ms, elapsed(0,2)=" + std::to_string(t02) +
                  " ms" + (slots_ok ? "" : ", a timing slot gave a bad value"));
  } catch (const std::exception& e) {
    c.verdict("mark", ops, false, std::string("threw: ") + e.what());
  }
}

// memory_limit_bytes: 0 (unknown) or a plausible amount of memory (at least 64 MiB).
template <class T>
void memory_limit(Ctx<T>& c) {
  try {
    const size_t limit = c.be.memory_limit_bytes();
    c.verdict("memory_limit_bytes", {"memory_limit_bytes"}, limit == 0 || limit >= (size_t(64) << 20),
              limit == 0 ? "0 (unknown)" : std::to_string(limit >> 20) + " MiB");
  } catch (const std::exception& e) {
    c.verdict("memory_limit_bytes", {"memory_limit_bytes"}, false, std::string("threw: ") + e.what());
  }
}

}  // namespace

template <class T>
void cases_memory(Ctx<T>& c) {
  memory_limit(c);
  round_trip(c);
  copy_fill(c);
  timing(c);
}

template void cases_memory<float>(Ctx<float>&);
template void cases_memory<double>(Ctx<double>&);

}  // namespace grwarm::test
