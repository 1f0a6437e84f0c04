// Deterministic column sums over a row-major [rows, cols] matrix, two stages, no atomics.
//
// Stage 1: the rows are cut into fixed chunks of `rows_per_chunk` rows; a block of
//   32 columns x 8 row lanes adds its chunk (lane l takes rows l, l+8, ... in order), then
//   thread row 0 adds the 8 lane sums in lane order, giving one partial per (chunk, column).
// Stage 2: one thread per column adds the partials in chunk order (after the old value when
//   accumulating).
// The order depends only on rows and cols, so results are bit-reproducible run to run and
// across GPUs. It differs from the CPU backend's plain row-order sum: expect agreement to a
// few ulps times sqrt(rows) relative to the sum of magnitudes, not bit equality.
//
// A "term" functor gives the K values (K = 1 or 2) that row r contributes to column c, so a
// reduction can be fused with the element-wise work that produces its inputs (LayerNorm's
// dgamma/dbeta read dy, x, mean and rstd directly).
#pragma once
#include <algorithm>

#include "check.h"
#include "common.cuh"
#include "memory.h"

namespace grwarm::cuda {

constexpr int kColTile = 32, kRowLanes = 8, kMinRowsPerChunk = 256;

template <class T, class Term>
__global__ void column_partials_kernel(T* partial, int rows, int cols, int rows_per_chunk,
                                       Term term) {
  constexpr int K = Term::kOut;
  __shared__ T sh[K][kRowLanes][kColTile + 1];  // +1: no bank conflicts on the column read
  const int c = blockIdx.x * kColTile + threadIdx.x;
  const int chunk = blockIdx.y, chunks = gridDim.y;
  const int r0 = chunk * rows_per_chunk, r1 = min(rows, r0 + rows_per_chunk);
  T acc[K];
  for (int k = 0; k < K; ++k) acc[k] = T(0);
  if (c < cols)
    for (int r = r0 + threadIdx.y; r < r1; r += kRowLanes) {
      T v[K];
      term(r, c, v);
      for (int k = 0; k < K; ++k) acc[k] += v[k];
    }
  for (int k = 0; k < K; ++k) sh[k][threadIdx.y][threadIdx.x] = acc[k];
  __syncthreads();
  if (threadIdx.y == 0 && c < cols)
    for (int k = 0; k < K; ++k) {
      T s = sh[k][0][threadIdx.x];
      for (int l = 1; l < kRowLanes; ++l) s += sh[k][l][threadIdx.x];
      partial[(size_t(k) * chunks + chunk) * cols + c] = s;
    }
}

template <class T, int K>
__global__ void column_finish_kernel(T* out0, T* out1, const T* partial, int chunks, int cols,
                                     bool accumulate) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  for (int k = 0; k < K; ++k) {
    T* out = k == 0 ? out0 : out1;
    T s = accumulate ? out[c] : T(0);
    for (int ch = 0; ch < chunks; ++ch) s += partial[(size_t(k) * chunks + ch) * cols + c];
    out[c] = s;
  }
}

// out0[c] (+)= sum_r term_0(r, c), and out1 likewise when Term::kOut == 2.
template <class T, class Term>
void column_reduce(cudaStream_t s, Workspace& ws, T* out0, T* out1, int rows, int cols,
                   bool accumulate, const Term& term, const char* op) {
  constexpr int K = Term::kOut;
  if (cols <= 0) return;
  // The chunk count stays within a grid's y limit (65535) for any row count.
  const int rows_per_chunk = std::max(kMinRowsPerChunk, (rows + 65534) / 65535);
  const int chunks = rows > 0 ? (rows + rows_per_chunk - 1) / rows_per_chunk : 0;
  T* partial = nullptr;
  if (chunks > 0) {
    partial = static_cast<T*>(
        ws.get(Scratch::Partials, size_t(K) * chunks * cols * sizeof(T), s, op));
    const dim3 grid((cols + kColTile - 1) / kColTile, chunks), block(kColTile, kRowLanes);
    column_partials_kernel<T, Term><<<grid, block, 0, s>>>(partial, rows, cols, rows_per_chunk,
                                                           term);
    check_launch(op);
  }
  column_finish_kernel<T, K><<<(cols + kThreads - 1) / kThreads, kThreads, 0, s>>>(
      out0, out1, partial, chunks, cols, accumulate);
  check_launch(op);
}

}  // namespace grwarm::cuda
