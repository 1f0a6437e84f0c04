// bfloat16: the upper 16 bits of an IEEE float32 (8 exponent bits, 8 significand bits
// counting the implicit one). Mixed precision rounds GEMM inputs to bf16 and accumulates in
// float32; everything else stays float32. One definition for every backend and for the tests.
#pragma once
#include "hd.h"
#include "scalar_math.h"

namespace grwarm {

// float32 -> bf16 bits, rounding to nearest with ties to even (what AVX512-BF16's
// vcvtneps2bf16, oneDNN and PyTorch do). NaN stays NaN (quiet); +-inf and overflow to inf
// follow from the rounding.
GW_HD uint16_t bf16_round(float f) {
  uint32_t u = float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x0040u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

// bf16 bits -> float32 (exact: every bf16 value is a float32 value).
GW_HD float bf16_widen(uint16_t h) {
  return bits_to_float(uint32_t(h) << 16);
}

// Writes a result in the precision of its buffer: as is, or rounded to bf16 bits. Lets one
// row formula (LayerNorm, GELU) produce either a float32 output or a bf16 GEMM input.
template <class T>
GW_HD void store_out(T* p, T v) {
  *p = v;
}
GW_HD void store_out(uint16_t* p, float v) { *p = bf16_round(v); }

// The unit roundoff of bf16: |bf16(x) - x| <= 2^-8 |x| for normal x.
constexpr double kBf16UnitRoundoff = 1.0 / 256.0;

}  // namespace grwarm
