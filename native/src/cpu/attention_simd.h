// Small building blocks for the attention kernels (attention.cpp): a fixed-width vector
// type, and a register-blocked product of two small matrices that live in cache.
//
// The vectors are GCC/Clang vector extensions, not intrinsics, so the same code builds for
// AVX-512, AVX2, SSE2 and NEON (portable prebuilds) and for float and double. Every sum
// below runs in one fixed order that depends only on the shapes, never on the thread
// count, so results are reproducible bit for bit.
#pragma once
#include "isa.h"  // GRWARM_ISA_NS: this file is compiled once per ISA variant
#include <cstddef>
#include <cstring>

namespace grwarm::cpu::GRWARM_ISA_NS::attn {

// Vector width in bytes. 256-bit vectors: with AVX-512VL there are 32 of these registers,
// enough for the 6x4 tile below, and the padding of a 65-token row stays at 72, not 80.
#ifndef GW_ATTN_VEC_BYTES
#if defined(__AVX__)
#define GW_ATTN_VEC_BYTES 32
#else
#define GW_ATTN_VEC_BYTES 16
#endif
#endif

// Largest register tile (rows x vectors of columns): its accumulators plus one row of the
// right-hand operand and a broadcast must fit in the register file.
#if defined(__AVX512F__) || defined(__aarch64__)
constexpr int kMaxTileRows = 6, kMaxTileVecs = 4;  // 24 + 4 + 1 of 32 registers
#else
constexpr int kMaxTileRows = 4, kMaxTileVecs = 3;  // 12 + 3 + 1 of 16 registers
#endif

template <class T>
struct Simd {
  typedef T V __attribute__((vector_size(GW_ATTN_VEC_BYTES)));
  static constexpr int L = GW_ATTN_VEC_BYTES / int(sizeof(T));  // lanes
};
template <class T>
using Vec = typename Simd<T>::V;

// Unaligned load/store (memcpy compiles to one vector move).
template <class T>
inline Vec<T> vload(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
inline void vstore(T* p, Vec<T> v) {
  std::memcpy(p, &v, sizeof v);
}

// Lane sum, lanes added left to right.
template <class T>
inline T hsum(Vec<T> v) {
  T s = v[0];
  for (int l = 1; l < Simd<T>::L; ++l) s += v[l];
  return s;
}

// Lane maximum (exact, so the order does not matter).
template <class T>
inline T hmax(Vec<T> v) {
  T m = v[0];
  for (int l = 1; l < Simd<T>::L; ++l) m = v[l] > m ? v[l] : m;
  return m;
}

inline int round_up(int n, int m) { return (n + m - 1) / m * m; }

// One register tile: C[r][c] = sum_{k<K} A(r, k) * M[k][c] for r < R, c < NV * L, where
// A(r, k) = a[r * ars + k * aks] (any strides: a plain or a transposed matrix; its elements
// are broadcast) and M, C are row-major with leading dimensions ldm, ldc. Each M row is
// loaded once and used R times; each C element is a sum over k in increasing order.
// Requires K >= 1.
template <class T, int R, int NV>
void gemm_tile(T* c, size_t ldc, const T* a, size_t ars, size_t aks, const T* m, size_t ldm,
               int K) {
  constexpr int L = Simd<T>::L;
  // The accumulators start from the k = 0 products rather than from zeros (hence K >= 1):
  // a few percent faster with GCC, which otherwise keeps a K == 0 path through the stack.
  Vec<T> acc[R][NV];
  {
    Vec<T> mk[NV];
    for (int v = 0; v < NV; ++v) mk[v] = vload(m + v * L);
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] = a[size_t(r) * ars] * mk[v];
  }
  for (int k = 1; k < K; ++k) {
    Vec<T> mk[NV];
    for (int v = 0; v < NV; ++v) mk[v] = vload(m + size_t(k) * ldm + v * L);
    const T* ak = a + size_t(k) * aks;
    for (int r = 0; r < R; ++r) {
      const T ar = ak[size_t(r) * ars];
      for (int v = 0; v < NV; ++v) acc[r][v] += ar * mk[v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) vstore(c + size_t(r) * ldc + v * L, acc[r][v]);
}

template <class T>
using TileFn = void (*)(T*, size_t, const T*, size_t, size_t, const T*, size_t, int);

// tile_fn<T>(R, NV): the tile for R rows and NV vectors (1 <= R, NV <= the maxima).
template <class T, int R, int... NVs>
constexpr TileFn<T> tile_in_row(int nv) {
  TileFn<T> fns[] = {&gemm_tile<T, R, NVs>...};
  return fns[nv - 1];
}
template <class T>
TileFn<T> tile_fn(int rows, int nv) {
  static_assert(kMaxTileRows <= 6 && kMaxTileVecs <= 4, "extend the table below");
  switch (rows) {
    case 1: return tile_in_row<T, 1, 1, 2, 3, 4>(nv);
    case 2: return tile_in_row<T, 2, 1, 2, 3, 4>(nv);
    case 3: return tile_in_row<T, 3, 1, 2, 3, 4>(nv);
    case 4: return tile_in_row<T, 4, 1, 2, 3, 4>(nv);
    case 5: return tile_in_row<T, 5, 1, 2, 3, 4>(nv);
    default: return tile_in_row<T, 6, 1, 2, 3, 4>(nv);
  }
}

// Splits n into the fewest chunks of at most `max`, as even as possible: 65 rows by 6 ->
// 6,6,6,6,6,6,6,6,6,6,5; 9 vectors by 4 -> 3,3,3 (three full tiles instead of 4,4,1).
struct EvenChunks {
  int n, count, base, extra;
  EvenChunks(int n_, int max) : n(n_), count((n_ + max - 1) / max) {
    base = count ? n / count : 0;
    extra = count ? n % count : 0;
  }
  int size(int i) const { return base + (i < extra ? 1 : 0); }
};

// Number of tiles small_gemm runs for a [rows, nvec * L] product.
inline int tile_count(int rows, int nvec) {
  return EvenChunks(nvec, kMaxTileVecs).count * EvenChunks(rows, kMaxTileRows).count;
}

struct NoHook {
  void operator()() const {}
};

// C[rows, nvec * L] = A[rows, K] * M[K, nvec * L], A read through strides (see gemm_tile).
// The operands of one attention head are a few KB each, so they stay in L1/L2; the tiles
// only need to keep the FMA units busy. after_tile() runs after each tile: a place to
// spread other work (prefetches) evenly over the product.
template <class T, class Hook = NoHook>
void small_gemm(T* c, size_t ldc, const T* a, size_t ars, size_t aks, const T* m, size_t ldm,
                int rows, int nvec, int K, Hook&& after_tile = Hook()) {
  constexpr int L = Simd<T>::L;
  const EvenChunks cols(nvec, kMaxTileVecs), rchunks(rows, kMaxTileRows);
  int v0 = 0;
  for (int ci = 0; ci < cols.count; ++ci) {
    const int nv = cols.size(ci);
    int r0 = 0;
    for (int ri = 0; ri < rchunks.count; ++ri) {
      const int nr = rchunks.size(ri);
      tile_fn<T>(nr, nv)(c + size_t(r0) * ldc + size_t(v0) * L, ldc, a + size_t(r0) * ars, ars,
                         aks, m + size_t(v0) * L, ldm, K);
      after_tile();
      r0 += nr;
    }
    v0 += nv;
  }
}

}  // namespace grwarm::cpu::GRWARM_ISA_NS::attn
