// exp, erf, log, sqrt for the shared formulas, callable from host and device code.
//
// float: exp is a branch-free Cephes-style polynomial kernel (~2 ulp) that the compiler
// vectorises inside OpenMP SIMD loops (GELU's tanh form is evaluated through it, see
// activations.h); libm's scalar expf/tanhf calls would not be,
// and GELU and softmax would then cost more than the matrix products around them.
// double (used by the float64 gradient checks): the C library, exactly.
#pragma once
#include <cmath>
#include <cstring>

#include "hd.h"

namespace grwarm {

GW_HD float bits_to_float(uint32_t b) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(b);
#else
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
#endif
}

GW_HD uint32_t float_to_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
#endif
}

GW_HD float gw_exp(float x) {
  // exp(x) = 2^n * exp(r), x = n ln2 + r, |r| <= ln2 / 2; clamped so 2^n stays a normal float.
  x = x > 88.3762626647949f ? 88.3762626647949f : x;
  x = x < -87.3365447504f ? -87.3365447504f : x;
  // Round to nearest by truncating x/ln2 +- 0.5: int conversion vectorises, floorf does not.
  const float t = x * 1.44269504088896341f;
  const int ni = int(t + (t >= 0.0f ? 0.5f : -0.5f));
  const float n = float(ni);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * bits_to_float(uint32_t(ni + 127) << 23);
}

GW_HD float gw_erf(float x) { return erff(x); }
GW_HD float gw_log(float x) { return logf(x); }
GW_HD float gw_sqrt(float x) { return sqrtf(x); }

#ifdef __CUDA_ARCH__
GW_HD double gw_exp(double x) { return ::exp(x); }
GW_HD double gw_erf(double x) { return ::erf(x); }
GW_HD double gw_log(double x) { return ::log(x); }
GW_HD double gw_sqrt(double x) { return ::sqrt(x); }
#else
GW_HD double gw_exp(double x) { return std::exp(x); }
GW_HD double gw_erf(double x) { return std::erf(x); }
GW_HD double gw_log(double x) { return std::log(x); }
GW_HD double gw_sqrt(double x) { return std::sqrt(x); }
#endif

}  // namespace grwarm
