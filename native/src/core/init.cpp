#include "init.h"

#include <cmath>

#include "grwarm/dropout.h"  // mix64

namespace grwarm {

namespace {

// A small splitmix64 stream: enough quality for initialisation, trivially seedable.
struct Stream {
  uint64_t state;
  uint64_t next() { return mix64(state += 0x9e3779b97f4a7c15ULL); }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }  // [0,1)
  double normal() {
    // Box-Muller; u1 in (0,1] avoids log(0).
    double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  double truncated_normal() {  // standard normal truncated to [-2, 2]
    for (;;) {
      double z = normal();
      if (z >= -2.0 && z <= 2.0) return z;
    }
  }
};

// std of a standard normal truncated at +-2; dividing by it gives unit variance (as JAX does).
constexpr double kTruncStd = 0.87962566103423978;

}  // namespace

template <class T>
void init_params(const ParamLayout& layout, uint64_t seed, T* host) {
  for (size_t ti = 0; ti < layout.tensors.size(); ++ti) {
    const TensorView& t = layout.tensors[ti];
    Stream rng{mix64(seed ^ mix64(0xabcdef12345ULL + ti))};
    T* p = host + t.offset;
    switch (t.init) {
      case InitKind::Zeros:
        for (size_t i = 0; i < t.size; ++i) p[i] = T(0);
        break;
      case InitKind::Ones:
        for (size_t i = 0; i < t.size; ++i) p[i] = T(1);
        break;
      case InitKind::Normal:
        for (size_t i = 0; i < t.size; ++i) p[i] = T(rng.normal() * t.init_std);
        break;
      case InitKind::LecunNormal: {
        double fan_in = double(t.size / size_t(t.shape[0]));
        double s = std::sqrt(1.0 / fan_in) / kTruncStd;
        for (size_t i = 0; i < t.size; ++i) p[i] = T(rng.truncated_normal() * s);
        break;
      }
      case InitKind::XavierUniformQkv: {
        // q, k and v are separate [D, D] maps in the reference code (Flax attention),
        // each Xavier-initialised with fan_in = fan_out = D; timm fuses them row-wise.
        double D = double(t.shape[1]);
        double a = std::sqrt(6.0 / (D + D));
        for (size_t i = 0; i < t.size; ++i) p[i] = T((2.0 * rng.uniform() - 1.0) * a);
        break;
      }
      case InitKind::XavierUniform: {
        double fan_out = double(t.shape[0]), fan_in = double(t.shape[1]);
        double a = std::sqrt(6.0 / (fan_in + fan_out));
        for (size_t i = 0; i < t.size; ++i) p[i] = T((2.0 * rng.uniform() - 1.0) * a);
        break;
      }
      case InitKind::Constant:  // init_std is the value (CaiT's LayerScale gammas)
        for (size_t i = 0; i < t.size; ++i) p[i] = T(t.init_std);
        break;
      case InitKind::TruncNormal:  // timm's trunc_normal_(std) with bounds at +-2 std
        for (size_t i = 0; i < t.size; ++i) p[i] = T(rng.truncated_normal() * t.init_std);
        break;
    }
  }
}

template void init_params<float>(const ParamLayout&, uint64_t, float*);
template void init_params<double>(const ParamLayout&, uint64_t, double*);

}  // namespace grwarm
