// The GELU kernels of the CPU backend (forward, backward, and their bf16-mode forms), in a file
// of their own because they are compute-bound (exp and a division per element) and CMake
// compiles this file with 512-bit vectors on AVX-512 variants (CMakeLists.txt). The rest of the
// backend keeps GCC's 256-bit default: measured on a Xeon with AMX, 512-bit vectors made GELU
// ~2x faster but LayerNorm and the column sums slower.
#include <type_traits>
#include <vector>

#include "column_ranges.h"
#include "cpu_backend.h"
#include "masked_loop.h"
#include "grwarm/activations.h"
#include "grwarm/bf16.h"

namespace grwarm::cpu::GRWARM_ISA_NS {

template <class T>
void CpuBackend<T>::gelu_fwd(T* out, const T* h, size_t n, GeluKind kind, const DropoutSpec& drop) {
  if (kind == GeluKind::Tanh)
    masked_loop<T>(n, drop, [=](long long i, T m) { out[i] = gelu_tanh(h[i]) * m; });
  else
    masked_loop<T>(n, drop, [=](long long i, T m) { out[i] = gelu_erf(h[i]) * m; });
}

template <class T>
void CpuBackend<T>::gelu_bwd(T* dh, const T* dout, const T* h, size_t n, GeluKind kind,
                             const DropoutSpec& drop) {
  if (kind == GeluKind::Tanh)
    masked_loop<T>(n, drop, [=](long long i, T m) { dh[i] = dout[i] * m * gelu_tanh_grad(h[i]); });
  else
    masked_loop<T>(n, drop, [=](long long i, T m) { dh[i] = dout[i] * m * gelu_erf_grad(h[i]); });
}

void CpuBf16::gelu_fwd_bf16(uint16_t* out, const float* h, size_t n, GeluKind kind,
                            const DropoutSpec& drop) {
  if (kind == GeluKind::Tanh)
    masked_loop<float>(n, drop, [=](long long i, float m) { out[i] = bf16_round(gelu_tanh(h[i]) * m); });
  else
    masked_loop<float>(n, drop, [=](long long i, float m) { out[i] = bf16_round(gelu_erf(h[i]) * m); });
}

namespace {
// gelu_bwd_bf16 for one (GELU kind, dropout on/off): no branch inside the vectorised loop, and
// the loop's invariants in locals (a float captured in a closure could alias acc[]).
template <bool kTanh, bool kDrop>
void gelu_bwd_bf16_pass(float* db, std::vector<float>& scratch, uint16_t* dh_b, const float* dout,
                        const float* h, int rows, int cols, const DropoutSpec& drop) {
  col_sum_row_blocked(db, scratch, rows, cols, [=](int r, float* acc) {
    const DropoutSpec d = drop;
    const float keep = float(d.keep_scale);
    const long long base = (long long)r * cols;
    const float* dr = dout + base;
    const float* hr = h + base;
    uint16_t* out = dh_b + base;
#pragma omp simd
    for (long long c = 0; c < cols; ++c) {
      float m = 1.0f;
      if constexpr (kDrop) m = dropout_keep(d, uint64_t(base + c)) ? keep : 0.0f;
      const float g = kTanh ? gelu_tanh_grad(hr[c]) : gelu_erf_grad(hr[c]);
      const float v = dr[c] * m * g;
      acc[c] += v;
      out[c] = bf16_round(v);
    }
  });
}
}  // namespace

void CpuBf16::gelu_bwd_bf16(float* db, uint16_t* dh_b, const float* dout, const float* h,
                            int rows, int cols, GeluKind kind, const DropoutSpec& drop) {
  {
    auto& sc = be_.colsum_scratch_;
    if (kind == GeluKind::Tanh) {
      if (drop.active()) gelu_bwd_bf16_pass<true, true>(db, sc, dh_b, dout, h, rows, cols, drop);
      else gelu_bwd_bf16_pass<true, false>(db, sc, dh_b, dout, h, rows, cols, drop);
    } else {
      if (drop.active()) gelu_bwd_bf16_pass<false, true>(db, sc, dh_b, dout, h, rows, cols, drop);
      else gelu_bwd_bf16_pass<false, false>(db, sc, dh_b, dout, h, rows, cols, drop);
    }
  }
}

#define GW_GELU_INSTANTIATE(T)                                                                       \
  template void CpuBackend<T>::gelu_fwd(T*, const T*, size_t, GeluKind, const DropoutSpec&);       \
  template void CpuBackend<T>::gelu_bwd(T*, const T*, const T*, size_t, GeluKind, const DropoutSpec&);
GW_GELU_INSTANTIATE(float)
GW_GELU_INSTANTIATE(double)
#undef GW_GELU_INSTANTIATE

}  // namespace grwarm::cpu::GRWARM_ISA_NS
