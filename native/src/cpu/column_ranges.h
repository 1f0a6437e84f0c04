// Deterministic column reductions: threads split the COLUMNS, and each column sums its
// rows in order 0..rows-1. The result is independent of the thread count.
#pragma once
#include "isa.h"  // GRWARM_ISA_NS: this file is compiled once per ISA variant
#include <algorithm>
#include <vector>

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

// Column sums in row blocks, for passes that also write every element (a bf16 copy): threads
// split the ROWS into fixed blocks of kRowBlock rows (the same blocks for any thread count),
// each block sums its rows in order into its own partial row, and the partial rows are added
// in block order. Deterministic for any thread count, and each thread streams whole rows.
// row(r, acc) adds row r into acc[0, cols) (and writes whatever else it produces for row r).
template <class T, class RowFn>
void col_sum_row_blocked(T* out, std::vector<T>& scratch, int rows, int cols, RowFn row) {
  constexpr int kRowBlock = 64;
  const int blocks = std::max(1, (rows + kRowBlock - 1) / kRowBlock);
  scratch.assign(size_t(blocks) * cols, T(0));
  T* partial = scratch.data();
#pragma omp parallel for schedule(static)
  for (int blk = 0; blk < blocks; ++blk) {
    T* acc = partial + size_t(blk) * cols;
    const int r1 = std::min(rows, (blk + 1) * kRowBlock);
    for (int r = blk * kRowBlock; r < r1; ++r) row(r, acc);
  }
  for (int c = 0; c < cols; ++c) out[c] = T(0);
  for (int blk = 0; blk < blocks; ++blk) {
    const T* acc = partial + size_t(blk) * cols;
#pragma omp simd
    for (int c = 0; c < cols; ++c) out[c] += acc[c];
  }
}

}  // namespace grwarm::cpu::GRWARM_ISA_NS
