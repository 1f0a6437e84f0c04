// Whole-model passes over the flat parameter / gradient / optimizer-state buffers.
//
// This file is compiled with -ffp-contract=off (CMakeLists.txt): a fused multiply-add
// rounds differently from the JS arithmetic of the unfused GR step, and these passes must
// agree with it to the bit.
#include <algorithm>
#include <vector>

#include "flat_ops.h"

namespace grwarm::cpu::GRWARM_ISA_NS {

template <class T>
double flat_sum_squares(const T* x, size_t n) {
  constexpr size_t kChunk = 1 << 14;
  const long long chunks = (long long)((n + kChunk - 1) / kChunk);
  thread_local std::vector<double> partial;  // reused: no allocation per step
  partial.assign(size_t(chunks), 0.0);
  double* part = partial.data();
#pragma omp parallel for schedule(static)
  for (long long c = 0; c < chunks; ++c) {
    const size_t i0 = size_t(c) * kChunk, i1 = std::min(n, i0 + kChunk);
    double s = 0;
    for (size_t i = i0; i < i1; ++i) s += double(x[i]) * double(x[i]);
    part[c] = s;
  }
  double total = 0;
  for (long long c = 0; c < chunks; ++c) total += part[c];
  return total;
}

template <class T>
void flat_gr_perturb(T* theta, T* saved, const T* g1, double scale, size_t n) {
  const long long nn = (long long)n;
#pragma omp parallel for simd schedule(static)
  for (long long i = 0; i < nn; ++i) {
    saved[i] = theta[i];
    theta[i] = gr_perturbed(theta[i], g1[i], scale);
  }
}

template <class T>
void flat_gr_combine(T* g, const T* g1, double alpha, size_t n) {
  const long long nn = (long long)n;
  const double c1 = 1.0 - alpha;
#pragma omp parallel for simd schedule(static)
  for (long long i = 0; i < nn; ++i) g[i] = gr_combined(g1[i], g[i], c1, alpha);
}

template <class T>
void flat_optim_update(T* theta, const T* g, T* s1, T* s2, T* s3, size_t n,
                                 const OptimStep& step, bool decay) {
  const long long nn = (long long)n;
  const OptimStep o = step;  // local copy: no aliasing loads inside the loop
  T dummy2 = 0, dummy3 = 0;
#pragma omp parallel for schedule(static) firstprivate(dummy2, dummy3)
  for (long long i = 0; i < nn; ++i) {
    optim_update(theta[i], g[i], s1[i], s2 ? s2[i] : dummy2, s3 ? s3[i] : dummy3, o, decay);
  }
}

#define GW_INSTANTIATE(T)                                                                      \
  template double flat_sum_squares<T>(const T*, size_t);                                       \
  template void flat_gr_perturb<T>(T*, T*, const T*, double, size_t);                          \
  template void flat_gr_combine<T>(T*, const T*, double, size_t);                              \
  template void flat_optim_update<T>(T*, const T*, T*, T*, T*, size_t, const OptimStep&, bool);
GW_INSTANTIATE(float)
GW_INSTANTIATE(double)
#undef GW_INSTANTIATE

}  // namespace grwarm::cpu::GRWARM_ISA_NS
