// Reference sgemm throughput of the system OpenBLAS, for bench/forward-backward.
// Built and run by the bench script:  c++ -O2 -I/usr/include/x86_64-linux-gnu bench/sgemm.cpp -lopenblas
// Usage: sgemm N ITERS THREADS  ->  one JSON object on stdout with the ms of each timed call.
// C = A·B, row-major N×N float matrices, no transposes (the addon's GEMM calls are row-major
// cblas_sgemm too); one untimed warm-up call first.
#include <cblas.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" {
void openblas_set_num_threads(int);
char* openblas_get_config(void);
char* openblas_get_corename(void);
}

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1024;
  const int iters = argc > 2 ? std::atoi(argv[2]) : 10;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 0;
  if (n <= 0 || iters <= 0) {
    std::fprintf(stderr, "usage: sgemm N ITERS THREADS\n");
    return 2;
  }
  if (threads > 0) openblas_set_num_threads(threads);

  std::vector<float> a(size_t(n) * n), b(size_t(n) * n), c(size_t(n) * n, 0.f);
  unsigned s = 12345u;
  auto rnd = [&s]() {
    s = s * 1664525u + 1013904223u;
    return float(s >> 8) / float(1u << 24) - 0.5f;
  };
  for (auto& x : a) x = rnd();
  for (auto& x : b) x = rnd();

  auto run = [&]() {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f,
                c.data(), n);
  };
  run();  // warm-up: thread pool start, page faults

  std::vector<double> ms(iters);
  for (int i = 0; i < iters; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    run();
    auto t1 = std::chrono::steady_clock::now();
    ms[i] = std::chrono::duration<double, std::milli>(t1 - t0).count();
  }

  double checksum = 0;
  for (int i = 0; i < n; i += 97) checksum += c[size_t(i) * n + i];

  std::printf("{\"n\":%d,\"iters\":%d,\"threads\":%d,\"config\":\"%s\",\"corename\":\"%s\",\"checksum\":%.6g,\"ms\":[",
              n, iters, threads, openblas_get_config(), openblas_get_corename(), checksum);
  for (int i = 0; i < iters; ++i) std::printf("%s%.4f", i ? "," : "", ms[i]);
  std::printf("]}\n");
  return 0;
}
