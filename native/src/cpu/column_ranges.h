// Deterministic column reductions: threads split the COLUMNS, and each column sums its
// rows in order 0..rows-1. The result is independent of the thread count.
#pragma once
#include "isa.h"  // GRWARM_ISA_NS: this file is compiled once per ISA variant
#include <algorithm>

namespace grwarm::cpu::GRWARM_ISA_NS {

// Calls body(c0, c1) for disjoint column ranges covering [0, cols), in parallel.
template <class Body>
void for_column_ranges(int cols, Body body) {
  constexpr int kMinCols = 16;  // keep ranges at least a cache line of floats wide
  const int chunks = std::max(1, (cols + kMinCols - 1) / kMinCols);
#pragma omp parallel for schedule(static)
  for (int ch = 0; ch < chunks; ++ch) {
    const int c0 = ch * kMinCols;
    const int c1 = std::min(cols, c0 + kMinCols);
    body(c0, c1);
  }
}

}  // namespace grwarm::cpu::GRWARM_ISA_NS
