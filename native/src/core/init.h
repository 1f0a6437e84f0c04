// Parameter initialisation as in the paper's code (docs/method.md section 4), driven by each
// tensor's InitKind in the family's layout.
#pragma once
#include <cstdint>

#include "param_layout.h"

namespace grwarm {

// Fills `host` (layout.total elements) deterministically from `seed`: each tensor draws
// from its own stream, so adding a tensor never shifts the others' values.
template <class T>
void init_params(const ParamLayout& layout, uint64_t seed, T* host);

}  // namespace grwarm
