// Multi-head self-attention on the CPU, forward and backward, fused per (sequence, head).
//
// One task handles one (b, h) pair end to end: scores, softmax, dropout and the weighted
// sum never leave the cache, and each task writes only its own head's slices of the
// output (and of dqkv in the backward pass), so tasks never race, every output element is
// computed in one fixed order, and the result does not depend on the thread count.
//
// Per head the work is five small matrix products (Tn x Tn x hd each: S = Q K^T and P V
// forward; dP = G V^T, dV = P^T G, dQ = dS K and dK = dS^T Q backward). They run through
// small_gemm (attention_simd.h), a register-blocked kernel that broadcasts elements of its
// left operand (read through strides, so transposes cost nothing) against whole-vector
// rows of its right operand, each loaded once for several output rows. Right operands are
// head rows of qkv/dout used in place (hd = 64 is whole vectors; other widths are copied
// zero-padded), or K^T / V^T packed once per head with rows padded to Tp columns. Padded
// score columns are masked out before they reach `probs` or any sum.
//
// Softmax, dropout and the softmax backward run over the whole head in a few vectorised
// passes (see softmax_dropout_head); the dropout multipliers are hashed once per head
// into a scratch array.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "attention.h"
#include "attention_simd.h"
#include "grwarm/scalar_math.h"

namespace grwarm::cpu::GRWARM_ISA_NS {

namespace {

using attn::hsum;
using attn::round_up;
using attn::Simd;
using attn::small_gemm;
using attn::vload;
using attn::Vec;
using attn::vstore;

// A 64-byte aligned scratch array that only grows.
template <class T>
class Buffer {
 public:
  T* get(size_t n) {
    if (n > cap_) {
      raw_.assign(n + 64 / sizeof(T), T(0));
      const size_t addr = reinterpret_cast<size_t>(raw_.data());
      ptr_ = raw_.data() + ((64 - addr % 64) % 64) / sizeof(T);
      cap_ = n;
    }
    return ptr_;
  }

 private:
  std::vector<T> raw_;
  T* ptr_ = nullptr;
  size_t cap_ = 0;
};

// Per-thread buffers for one head; sizes in the comments, Tp/hdp = Tn/hd rounded up to
// whole vectors.
template <class T>
struct AttnScratch {
  Buffer<T> mt;    // [hd, Tp]  K^T (forward) or V^T (backward)
  Buffer<T> a, b;  // [Tn, hdp] padded head rows when hd is not whole vectors: V (fwd);
  Buffer<T> c;     //            G, K and Q (bwd)
  Buffer<T> s;     // [Tn, Tp]  scores -> dropped probs (fwd); dP -> dS (bwd)
  Buffer<T> pd;    // [Tn, Tp]  dropped probs (bwd)
  Buffer<T> o;     // [Tn, hdp] one padded result head before it is scattered
  Buffer<T> mask;  // [Tn * Tn + L] dropout multipliers of the head
  Buffer<T> rows, rows2;  // [Tn] per-row max / 1/sum (fwd), <p, g> (bwd)
};

template <class T>
AttnScratch<T>& scratch() {
  thread_local AttnScratch<T> s;  // grows once, reused every step
  return s;
}

// A matrix operand or result: row j at p + j * ld.
template <class T>
struct Rows {
  T* p;
  size_t ld;
};

// The Tn rows of one head (row j at src + j * stride, hd elements) as the right-hand
// operand of small_gemm, whose rows must be whole vectors: used in place when hd is a
// multiple of the vector length (ViT heads: 64), else copied zero-padded to hdp.
template <class T>
Rows<const T> head_rows(Buffer<T>& buf, const T* src, int Tn, int hd, size_t stride, int hdp) {
  if (hd == hdp) return {src, stride};
  T* dst = buf.get(size_t(Tn) * hdp);
  for (int j = 0; j < Tn; ++j) {
    T* d = dst + size_t(j) * hdp;
    const T* s = src + size_t(j) * stride;
    for (int k = 0; k < hd; ++k) d[k] = s[k];
    for (int k = hd; k < hdp; ++k) d[k] = T(0);
  }
  return {dst, size_t(hdp)};
}

// Where small_gemm writes a head's [Tn, hd] result bound for dst (row stride `stride`):
// dst itself when hd is whole vectors, else a scratch buffer that finish_head_rows copies.
template <class T>
Rows<T> head_result(Buffer<T>& buf, T* dst, int Tn, int hd, size_t stride, int hdp) {
  if (hd == hdp) return {dst, stride};
  return {buf.get(size_t(Tn) * hdp), size_t(hdp)};
}

template <class T>
void finish_head_rows(T* dst, Rows<T> res, int Tn, int hd, size_t stride) {
  if (res.p == dst) return;
  for (int j = 0; j < Tn; ++j)
    for (int d = 0; d < hd; ++d) dst[size_t(j) * stride + d] = res.p[size_t(j) * res.ld + d];
}

// dst[d * Tp + j] = src[j * stride + d], zero-padded to Tp columns.
template <class T>
const T* pack_transposed(Buffer<T>& buf, const T* src, int Tn, int hd, size_t stride, int Tp) {
  T* dst = buf.get(size_t(hd) * Tp);
  for (int d = 0; d < hd; ++d) {
    T* row = dst + size_t(d) * Tp;
    for (int j = 0; j < Tn; ++j) row[j] = src[size_t(j) * stride + d];
    for (int j = Tn; j < Tp; ++j) row[j] = T(0);
  }
  return dst;
}

// Where one head's slices live in the big tensors: qkv [B, Tn, 3, H, hd] (a token's q, k
// and v rows are D apart, consecutive tokens stride = 3D apart), out/dout [B, Tn, H, hd],
// probs [B, H, Tn, Tn].
struct HeadLayout {
  int Tn, H, hd, D;
  size_t stride;
  explicit HeadLayout(const AttnShape& s)
      : Tn(s.Tn), H(s.H), hd(s.hd), D(s.H * s.hd), stride(size_t(3) * s.H * s.hd) {}
  size_t qkv(int bh) const { return size_t(bh / H) * Tn * stride + size_t(bh % H) * hd; }
  size_t out(int bh) const { return size_t(bh / H) * Tn * D + size_t(bh % H) * hd; }
  size_t probs(int bh) const { return size_t(bh) * Tn * Tn; }
};

// Prefetches the token rows of the task that follows on this thread (bh + 1 under the
// static schedule), a few rows per call. A head's rows are strided (3D elements apart in
// qkv), and without this the packing loops stall on memory. The caller spreads the calls
// over the tiles of its matrix products: issued in one burst, the prefetches would fill
// the miss queue and stall the core just the same. A prefetch never faults.
//
// The prefetch loops live in operator(), which also advances the row cursor: GCC deletes
// calls to helper functions that do nothing but prefetch (it treats them as pure).
class RowPrefetcher {
 public:
  // rows: token rows to prefetch (0 when no task follows); calls: how often the caller
  // will invoke this object.
  RowPrefetcher(int rows, int calls)
      : rows_(rows), per_call_(calls > 0 ? (rows + calls - 1) / calls : rows) {}

  // One slice per token row: `bytes` bytes at p + i * stride (bytes); write: will be stored to.
  template <class T>
  void add(const T* p, size_t stride, int count, bool write) {
    if (n_ < kMax) s_[n_++] = {reinterpret_cast<const char*>(p), stride * sizeof(T),
                               int(count * sizeof(T)), write};
  }

  void operator()() {
    for (int k = 0; k < per_call_ && next_ < rows_; ++k, ++next_) {
      for (int t = 0; t < n_; ++t) {
        const Slice& sl = s_[t];
        // every 64-byte line that holds part of this row's slice
        const uintptr_t row = reinterpret_cast<uintptr_t>(sl.base) + size_t(next_) * sl.stride;
        const uintptr_t first = row & ~uintptr_t(63), last = (row + sl.bytes - 1) & ~uintptr_t(63);
        for (uintptr_t line = first; line <= last; line += 64) {
          if (sl.write)
            __builtin_prefetch(reinterpret_cast<const void*>(line), 1);
          else
            __builtin_prefetch(reinterpret_cast<const void*>(line), 0);
        }
      }
    }
  }

 private:
  struct Slice {
    const char* base;
    size_t stride;
    int bytes;
    bool write;
  };
  static constexpr int kMax = 8;
  Slice s_[kMax];
  int n_ = 0, rows_, per_call_, next_ = 0;
};

// m[k] = dropout multiplier (0 or 1/(1-p)) of the head's element base + k, k < n = Tn * Tn,
// followed by `slack` zeros. A head's mask indices are one contiguous range, so hashing
// them in one loop vectorises with no per-row tails, and the backward pass reuses each
// multiplier in both places it needs it. Row i's multipliers start at m + i * Tn; whole
// vectors read past a row's end see the next row's (finite) values, which only ever meet
// zeros in the padding.
template <class T>
void dropout_head(T* m, const DropoutSpec& drop, uint64_t base, int n, int slack) {
  const DropoutSpec d = drop;
  if (!d.active()) {
    for (int k = 0; k < n; ++k) m[k] = T(1);
  } else {
    const T keep = T(d.keep_scale);
#pragma omp simd
    for (int k = 0; k < n; ++k) m[k] = dropout_keep(d, base + uint64_t(k)) ? keep : T(0);
  }
  for (int k = n; k < n + slack; ++k) m[k] = T(0);
}

// v[l] = p[l] for l < n, 0 beyond: a row end that is not a whole vector.
template <class T>
inline Vec<T> vload_n(const T* p, int n) {
  if (n >= Simd<T>::L) return vload(p);
  Vec<T> v = {};
  for (int l = 0; l < n; ++l) v[l] = p[l];
  return v;
}

// Forward softmax and dropout of one head.
// In: s [Tn, Tp] = q_i . k_j (unscaled, padding ignored). Out: p [Tn, Tn] = softmax(scale * s)
// (kept for the backward pass); s = p * mask (what multiplies V), zero in the padding.
//
// The work runs in passes over all rows rather than row by row: the exponential becomes
// one long vector loop, and each row's max and sum (short dependency chains ending in a
// horizontal reduction) are independent of the other rows', so the CPU overlaps them
// instead of waiting for each before the pass that uses it.
template <class T>
void softmax_dropout_head(T* s, T* p, const T* mask, T* row_max, T* row_inv, T scale, int Tn,
                          int Tp) {
  constexpr int L = Simd<T>::L;
  const int last = Tp - L;  // start of each row's last vector, the one holding the padding
  // The padding is masked in registers, never with scalar stores: a vector load that spans
  // several smaller pending stores cannot be forwarded from them and stalls.
  Vec<T> lane;
  for (int l = 0; l < L; ++l) lane[l] = T(last + l);
  const auto real = lane < T(Tn);
  const Vec<T> ninf = Vec<T>{} - std::numeric_limits<T>::infinity(), zero = {};

  // 1. s := scale * s and its row maxima (the padding gets -inf, so it never wins the max)
  for (int i = 0; i < Tn; ++i) {
    T* r = s + size_t(i) * Tp;
    Vec<T> mv = ninf;
    for (int j = 0; j < last; j += L) {
      const Vec<T> x = vload(r + j) * scale;
      vstore(r + j, x);
      mv = x > mv ? x : mv;
    }
    const Vec<T> x = real ? vload(r + last) * scale : ninf;
    vstore(r + last, x);
    mv = x > mv ? x : mv;
    row_max[i] = attn::hmax<T>(mv);
  }
  for (int i = 0; i < Tn; ++i) {
    T* r = s + size_t(i) * Tp;
    for (int j = 0; j < Tp; j += L) vstore(r + j, vload(r + j) - row_max[i]);
  }
  // 2. the exponential, one pass over the whole head
  const int n = Tn * Tp;
#pragma omp simd
  for (int k = 0; k < n; ++k) s[k] = gw_exp(s[k]);
  // 3. row sums (the padding back to exactly 0 first), then normalise, keep p and apply
  // the dropout multipliers
  for (int i = 0; i < Tn; ++i) {
    T* r = s + size_t(i) * Tp;
    const Vec<T> t = real ? vload(r + last) : zero;
    vstore(r + last, t);
    Vec<T> zv = zero;
    for (int j = 0; j < last; j += L) zv += vload(r + j);
    zv += t;
    row_inv[i] = T(1) / hsum<T>(zv);
  }
  for (int i = 0; i < Tn; ++i) {
    T* r = s + size_t(i) * Tp;
    T* pr = p + size_t(i) * Tn;
    const T* mr = mask + size_t(i) * Tn;
    for (int j = 0; j < Tp; j += L) {
      const Vec<T> pj = vload(r + j) * row_inv[i];
      vstore(r + j, pj * vload(mr + j));
      if (j + L <= Tn) {
        vstore(pr + j, pj);
      } else {
        for (int l = 0; j + l < Tn; ++l) pr[j + l] = pj[l];
      }
    }
  }
}

// Backward of dropout and softmax for one head, in two passes over the rows (see above).
// In: p [Tn, Tn] probs, mask (see dropout_head), dp [Tn, Tp] = go_i . v_j, the gradient
// w.r.t. the dropped probs (zero padding).
// Out: pd [Tn, Tp] = p * mask (for dV); dp := ds = p (g - <p, g>) scale with g = dp * mask,
// the gradient w.r.t. the scores before scaling. Both are zero in the padding.
template <class T>
void softmax_dropout_grad_head(T* dp, T* pd, const T* p, const T* mask, T* row_dot, T scale,
                               int Tn, int Tp) {
  constexpr int L = Simd<T>::L;
  for (int i = 0; i < Tn; ++i) {
    const T* pr = p + size_t(i) * Tn;
    const T* mr = mask + size_t(i) * Tn;
    T* gr = dp + size_t(i) * Tp;
    T* pdr = pd + size_t(i) * Tp;
    Vec<T> dotv = {};
    for (int j = 0; j < Tp; j += L) {
      const Vec<T> pj = vload_n(pr + j, Tn - j), mj = vload(mr + j);
      const Vec<T> g = vload(gr + j) * mj;
      vstore(pdr + j, pj * mj);
      vstore(gr + j, g);
      dotv += pj * g;
    }
    row_dot[i] = hsum<T>(dotv);
  }
  for (int i = 0; i < Tn; ++i) {
    const T* pr = p + size_t(i) * Tn;
    T* gr = dp + size_t(i) * Tp;
    for (int j = 0; j < Tp; j += L)
      vstore(gr + j, vload_n(pr + j, Tn - j) * (vload(gr + j) - row_dot[i]) * scale);
  }
}

}  // namespace

template <class T>
void attention_forward(T* out, T* probs, const T* qkv, const AttnShape& sh,
                       const DropoutSpec& drop) {
  const HeadLayout hl(sh);
  const int BH = sh.B * sh.H, Tn = sh.Tn, hd = sh.hd, D = hl.D;
  const int L = Simd<T>::L, Tp = round_up(Tn, L), hdp = round_up(hd, L);
  const size_t stride = hl.stride;
  const T scale = T(1) / std::sqrt(T(hd));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < BH; ++bh) {
    AttnScratch<T>& sc = scratch<T>();
    const T* q0 = qkv + hl.qkv(bh);
    const T* kt = pack_transposed(sc.mt, q0 + D, Tn, hd, stride, Tp);
    const Rows<const T> v = head_rows(sc.a, q0 + 2 * D, Tn, hd, stride, hdp);
    T* s = sc.s.get(size_t(Tn) * Tp);
    T* mask = sc.mask.get(size_t(Tn) * Tn + L);
    T* out0 = out + hl.out(bh);
    const Rows<T> o = head_result(sc.o, out0, Tn, hd, size_t(D), hdp);

    RowPrefetcher pf(bh + 1 < BH ? Tn : 0,
                     attn::tile_count(Tn, Tp / L) + attn::tile_count(Tn, hdp / L));
    if (bh + 1 < BH) {
      const T* nq = qkv + hl.qkv(bh + 1);
      for (int part = 0; part < 3; ++part) pf.add(nq + part * D, stride, hd, false);
      pf.add(out + hl.out(bh + 1), size_t(D), hd, true);
      pf.add(probs + hl.probs(bh + 1), size_t(Tn), Tn, true);
    }

    // s = Q K^T (Q rows are read in place and broadcast)
    small_gemm(s, Tp, q0, stride, 1, kt, Tp, Tn, Tp / L, hd, pf);
    dropout_head(mask, drop, uint64_t(hl.probs(bh)), Tn * Tn, L);
    softmax_dropout_head(s, probs + hl.probs(bh), mask, sc.rows.get(Tn), sc.rows2.get(Tn), scale,
                         Tn, Tp);
    // o = dropout(P) V
    small_gemm(o.p, o.ld, s, Tp, 1, v.p, v.ld, Tn, hdp / L, Tn, pf);
    finish_head_rows(out0, o, Tn, hd, size_t(D));
  }
}

template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* probs,
                        const AttnShape& sh, const DropoutSpec& drop) {
  const HeadLayout hl(sh);
  const int BH = sh.B * sh.H, Tn = sh.Tn, hd = sh.hd, D = hl.D;
  const int L = Simd<T>::L, Tp = round_up(Tn, L), hdp = round_up(hd, L);
  const size_t stride = hl.stride;
  const T scale = T(1) / std::sqrt(T(hd));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < BH; ++bh) {
    AttnScratch<T>& sc = scratch<T>();
    const T* q0 = qkv + hl.qkv(bh);
    const T* go0 = dout + hl.out(bh);
    const T* p0 = probs + hl.probs(bh);
    T* dq0 = dqkv + hl.qkv(bh);
    const T* vt = pack_transposed(sc.mt, q0 + 2 * D, Tn, hd, stride, Tp);
    const Rows<const T> g = head_rows(sc.a, go0, Tn, hd, size_t(D), hdp);
    const Rows<const T> k = head_rows(sc.b, q0 + D, Tn, hd, stride, hdp);
    const Rows<const T> q = head_rows(sc.c, q0, Tn, hd, stride, hdp);
    T* ds = sc.s.get(size_t(Tn) * Tp);
    T* pd = sc.pd.get(size_t(Tn) * Tp);
    T* mask = sc.mask.get(size_t(Tn) * Tn + L);

    RowPrefetcher pf(bh + 1 < BH ? Tn : 0,
                     attn::tile_count(Tn, Tp / L) + 3 * attn::tile_count(Tn, hdp / L));
    if (bh + 1 < BH) {
      const T* nq = qkv + hl.qkv(bh + 1);
      T* ndq = dqkv + hl.qkv(bh + 1);
      for (int part = 0; part < 3; ++part) {
        pf.add(nq + part * D, stride, hd, false);
        pf.add(ndq + part * D, stride, hd, true);
      }
      pf.add(dout + hl.out(bh + 1), size_t(D), hd, false);
      pf.add(probs + hl.probs(bh + 1), size_t(Tn), Tn, false);
    }

    // ds = G V^T: the gradient w.r.t. the dropped probs, turned into dS
    small_gemm(ds, Tp, go0, size_t(D), 1, vt, Tp, Tn, Tp / L, hd, pf);
    dropout_head(mask, drop, uint64_t(hl.probs(bh)), Tn * Tn, L);
    softmax_dropout_grad_head(ds, pd, p0, mask, sc.rows.get(Tn), scale, Tn, Tp);
    // dV = dropout(P)^T G,  dQ = dS K,  dK = dS^T Q  (transposes are read through strides)
    T* dk0 = dq0 + D;
    T* dv0 = dq0 + 2 * D;
    const Rows<T> dv = head_result(sc.o, dv0, Tn, hd, stride, hdp);
    small_gemm(dv.p, dv.ld, pd, 1, size_t(Tp), g.p, g.ld, Tn, hdp / L, Tn, pf);
    finish_head_rows(dv0, dv, Tn, hd, stride);
    const Rows<T> dq = head_result(sc.o, dq0, Tn, hd, stride, hdp);
    small_gemm(dq.p, dq.ld, ds, size_t(Tp), 1, k.p, k.ld, Tn, hdp / L, Tn, pf);
    finish_head_rows(dq0, dq, Tn, hd, stride);
    const Rows<T> dk = head_result(sc.o, dk0, Tn, hd, stride, hdp);
    small_gemm(dk.p, dk.ld, ds, 1, size_t(Tp), q.p, q.ld, Tn, hdp / L, Tn, pf);
    finish_head_rows(dk0, dk, Tn, hd, stride);
  }
}

template void attention_forward<float>(float*, float*, const float*, const AttnShape&,
                                       const DropoutSpec&);
template void attention_forward<double>(double*, double*, const double*, const AttnShape&,
                                        const DropoutSpec&);
template void attention_backward<float>(float*, const float*, const float*, const float*,
                                        const AttnShape&, const DropoutSpec&);
template void attention_backward<double>(double*, const double*, const double*, const double*,
                                         const AttnShape&, const DropoutSpec&);

}  // namespace grwarm::cpu::GRWARM_ISA_NS
