// The element-wise loop shared by the activation, residual and dropout kernels.
#pragma once
#include "isa.h"  // GRWARM_ISA_NS: this file is compiled once per ISA variant
#include <cstddef>
#include <cstdint>

#include "grwarm/dropout.h"

namespace grwarm::cpu::GRWARM_ISA_NS {

// Runs f(i, m) for i in [0, n) in parallel SIMD loops, m being the dropout multiplier of
// element i (0 or 1/(1-p); 1 when dropout is off). Copying the spec into a local and
// splitting on active() keeps both loops free of branches and aliasing loads, so they
// vectorise.
template <class T, class F>
void masked_loop(size_t n, const DropoutSpec& drop, F f) {
  const DropoutSpec d = drop;
  const long long nn = (long long)n;
  if (!d.active()) {
#pragma omp parallel for simd schedule(static)
    for (long long i = 0; i < nn; ++i) f(i, T(1));
  } else {
    const T keep = T(d.keep_scale);
#pragma omp parallel for simd schedule(static)
    for (long long i = 0; i < nn; ++i) f(i, dropout_keep(d, uint64_t(i)) ? keep : T(0));
  }
}

}  // namespace grwarm::cpu::GRWARM_ISA_NS
