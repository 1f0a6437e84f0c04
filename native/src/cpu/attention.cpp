// Multi-head self-attention on the CPU, forward and backward, fused per (sequence, head).
//
// One task handles one (b, h) pair end to end: scores, softmax, dropout and the weighted
// sum never leave the cache, and each task writes only its own head's slices of the
// output (and of dqkv in the backward pass), so tasks never race and the result does not
// depend on the thread count.
//
// Per head the work is five small matrix products (Tn x Tn x hd each: Q K^T and P V
// forward; dP = G V^T, dV = P^T G, dQ = dS K and dK = dS^T Q backward). They run through
// small_gemm (attention_simd.h), a register-blocked kernel that reuses every loaded row
// of its right-hand operand for several output rows. That operand is packed once per head
// into a scratch buffer whose rows are padded to whole vectors (zeros in the padding), so
// the kernels need no tail handling; padded score columns are dropped before they reach
// `probs` or any sum. Row-wise work (softmax, dropout masks, the softmax backward) runs on
// whole padded rows with explicit vectors.
#include <cmath>
#include <limits>
#include <vector>

#include "attention.h"
#include "attention_simd.h"
#include "grwarm/scalar_math.h"

namespace grwarm::cpu {

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
  Buffer<T> a, b;  // [Tn, hdp] packed head rows: V (fwd); G and K (bwd)
  Buffer<T> c;     // [Tn, hdp] packed Q (bwd)
  Buffer<T> s;     // [Tn, Tp]  scores -> dropped probs (fwd); dP -> dS (bwd)
  Buffer<T> pd;    // [Tn, Tp]  dropped probs (bwd)
  Buffer<T> o;     // [Tn, hdp] one output head before it is scattered
  Buffer<T> mask;  // [Tp]      dropout multipliers of one row
  Buffer<T> row;   // [Tp]      one padded probs row (bwd)
};

template <class T>
AttnScratch<T>& scratch() {
  thread_local AttnScratch<T> s;  // grows once, reused every step
  return s;
}

// dst[j * hdp + d] = src[j * stride + d] for the Tn rows of one head, zero-padded to hdp.
template <class T>
const T* pack_rows(Buffer<T>& buf, const T* src, int Tn, int hd, size_t stride, int hdp) {
  T* dst = buf.get(size_t(Tn) * hdp);
  for (int j = 0; j < Tn; ++j) {
    T* d = dst + size_t(j) * hdp;
    const T* s = src + size_t(j) * stride;
    for (int k = 0; k < hd; ++k) d[k] = s[k];
    for (int k = hd; k < hdp; ++k) d[k] = T(0);
  }
  return dst;
}

// dst[d * Tp + j] = src[j * stride + d], zero-padded to Tp columns.
template <class T>
const T* pack_transposed(Buffer<T>& buf, const T* src, int Tn, int hd, size_t stride, int Tp) {
  T* dst = buf.get(size_t(hd) * Tp);
  for (int j = 0; j < Tn; ++j)
    for (int d = 0; d < hd; ++d) dst[size_t(d) * Tp + j] = src[size_t(j) * stride + d];
  for (int d = 0; d < hd; ++d)
    for (int j = Tn; j < Tp; ++j) dst[size_t(d) * Tp + j] = T(0);
  return dst;
}

// dst[j * stride + d] = src[j * hdp + d]: a packed head back into its slice of a tensor.
template <class T>
void unpack_rows(T* dst, size_t stride, const T* src, int Tn, int hd, int hdp) {
  for (int j = 0; j < Tn; ++j)
    for (int d = 0; d < hd; ++d) dst[size_t(j) * stride + d] = src[size_t(j) * hdp + d];
}

// m[j] = dropout multiplier (0 or 1/(1-p)) of element base + j, for j < n; 0 up to np.
// Hashing the whole row in one loop lets the compiler vectorise it, and the backward pass
// reuses the row for both places it needs it.
template <class T>
void dropout_row(T* m, const DropoutSpec& drop, uint64_t base, int n, int np) {
  const DropoutSpec d = drop;
  if (!d.active()) {
    for (int j = 0; j < n; ++j) m[j] = T(1);
  } else {
    const T keep = T(d.keep_scale);
#pragma omp simd
    for (int j = 0; j < n; ++j) m[j] = dropout_keep(d, base + uint64_t(j)) ? keep : T(0);
  }
  for (int j = n; j < np; ++j) m[j] = T(0);
}

// Forward softmax and dropout of one row of scores.
// In: s[0..Tn) = q_i . k_j (unscaled). Out: p[0..Tn) = softmax(scale * s) (kept for the
// backward pass), s[0..Tp) = p * mask (what multiplies V), zero in the padding.
template <class T>
void softmax_dropout_row(T* s, T* p, const T* mask, T scale, int Tn, int Tp) {
  constexpr int L = Simd<T>::L;
  // The padding gets -inf so that whole vectors can be reduced; max is exact, so the
  // order of the lane-wise max does not matter.
  for (int j = 0; j < Tn; ++j) s[j] *= scale;
  for (int j = Tn; j < Tp; ++j) s[j] = -std::numeric_limits<T>::infinity();
  Vec<T> mv = vload(s);
  for (int j = L; j < Tp; j += L) {
    const Vec<T> x = vload(s + j);
    mv = x > mv ? x : mv;
  }
  T mx = mv[0];
  for (int l = 1; l < L; ++l) mx = mv[l] > mx ? mv[l] : mx;

#pragma omp simd
  for (int j = 0; j < Tn; ++j) s[j] = gw_exp(s[j] - mx);
  for (int j = Tn; j < Tp; ++j) s[j] = T(0);

  Vec<T> zv = {};
  for (int j = 0; j < Tp; j += L) zv += vload(s + j);
  const T inv = T(1) / hsum<T>(zv);

#pragma omp simd
  for (int j = 0; j < Tn; ++j) {
    const T pj = s[j] * inv;
    p[j] = pj;
    s[j] = pj * mask[j];
  }
}

// Backward of dropout and softmax for one row.
// In: p = probs row (padded with zeros to Tp), mask, dp = go_i . v_j (gradient w.r.t. the
// dropped probs, zero padding). Out: pd = p * mask (for dV), dp := ds = p (g - <p, g>) scale
// with g = dp * mask, the gradient w.r.t. the scaled scores.
template <class T>
void softmax_dropout_grad_row(T* dp, T* pd, const T* p, const T* mask, T scale, int Tp) {
  constexpr int L = Simd<T>::L;
  Vec<T> dotv = {};
  for (int j = 0; j < Tp; j += L) {
    const Vec<T> pj = vload(p + j), mj = vload(mask + j);
    const Vec<T> g = vload(dp + j) * mj;
    vstore(pd + j, pj * mj);
    vstore(dp + j, g);
    dotv += pj * g;
  }
  const T dot = hsum<T>(dotv);
  for (int j = 0; j < Tp; j += L) vstore(dp + j, vload(p + j) * (vload(dp + j) - dot) * scale);
}

}  // namespace

template <class T>
void attention_forward(T* out, T* probs, const T* qkv, const AttnShape& sh,
                       const DropoutSpec& drop) {
  const int B = sh.B, Tn = sh.Tn, H = sh.H, hd = sh.hd, D = H * hd;
  const int L = Simd<T>::L, Tp = round_up(Tn, L), hdp = round_up(hd, L);
  const size_t stride = size_t(3) * D;
  const T scale = T(1) / std::sqrt(T(hd));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * H; ++bh) {
    const int b = bh / H, h = bh % H;
    AttnScratch<T>& sc = scratch<T>();
    const T* q0 = qkv + size_t(b) * Tn * stride + size_t(h) * hd;
    const T* kt = pack_transposed(sc.mt, q0 + D, Tn, hd, stride, Tp);
    const T* v = pack_rows(sc.a, q0 + 2 * D, Tn, hd, stride, hdp);
    T* s = sc.s.get(size_t(Tn) * Tp);
    T* mask = sc.mask.get(Tp);
    T* o = sc.o.get(size_t(Tn) * hdp);

    // s = Q K^T (Q rows are read in place and broadcast)
    small_gemm(s, Tp, q0, stride, 1, kt, Tp, Tn, Tp / L, hd);
    for (int i = 0; i < Tn; ++i) {
      dropout_row(mask, drop, (uint64_t(bh) * Tn + i) * Tn, Tn, Tp);
      softmax_dropout_row(s + size_t(i) * Tp, probs + (size_t(bh) * Tn + i) * Tn, mask, scale,
                          Tn, Tp);
    }
    // o = dropout(P) V
    small_gemm(o, hdp, s, Tp, 1, v, hdp, Tn, hdp / L, Tn);
    unpack_rows(out + size_t(b) * Tn * D + size_t(h) * hd, D, o, Tn, hd, hdp);
  }
}

template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* probs,
                        const AttnShape& sh, const DropoutSpec& drop) {
  const int B = sh.B, Tn = sh.Tn, H = sh.H, hd = sh.hd, D = H * hd;
  const int L = Simd<T>::L, Tp = round_up(Tn, L), hdp = round_up(hd, L);
  const size_t stride = size_t(3) * D;
  const T scale = T(1) / std::sqrt(T(hd));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * H; ++bh) {
    const int b = bh / H, h = bh % H;
    AttnScratch<T>& sc = scratch<T>();
    const T* q0 = qkv + size_t(b) * Tn * stride + size_t(h) * hd;
    const T* go0 = dout + size_t(b) * Tn * D + size_t(h) * hd;
    T* dq0 = dqkv + size_t(b) * Tn * stride + size_t(h) * hd;
    const T* vt = pack_transposed(sc.mt, q0 + 2 * D, Tn, hd, stride, Tp);
    const T* g = pack_rows(sc.a, go0, Tn, hd, size_t(D), hdp);
    const T* k = pack_rows(sc.b, q0 + D, Tn, hd, stride, hdp);
    const T* q = pack_rows(sc.c, q0, Tn, hd, stride, hdp);
    T* ds = sc.s.get(size_t(Tn) * Tp);
    T* pd = sc.pd.get(size_t(Tn) * Tp);
    T* mask = sc.mask.get(Tp);
    T* prow = sc.row.get(Tp);
    T* o = sc.o.get(size_t(Tn) * hdp);

    // ds = G V^T: the gradient w.r.t. the dropped probs, turned into dS row by row
    small_gemm(ds, Tp, go0, size_t(D), 1, vt, Tp, Tn, Tp / L, hd);
    for (int i = 0; i < Tn; ++i) {
      const T* p = probs + (size_t(bh) * Tn + i) * Tn;
      for (int j = 0; j < Tn; ++j) prow[j] = p[j];
      for (int j = Tn; j < Tp; ++j) prow[j] = T(0);
      dropout_row(mask, drop, (uint64_t(bh) * Tn + i) * Tn, Tn, Tp);
      softmax_dropout_grad_row(ds + size_t(i) * Tp, pd + size_t(i) * Tp, prow, mask, scale, Tp);
    }
    // dV = dropout(P)^T G,  dQ = dS K,  dK = dS^T Q  (transposes are read through strides)
    small_gemm(o, hdp, pd, 1, size_t(Tp), g, hdp, Tn, hdp / L, Tn);
    unpack_rows(dq0 + 2 * D, stride, o, Tn, hd, hdp);
    small_gemm(o, hdp, ds, size_t(Tp), 1, k, hdp, Tn, hdp / L, Tn);
    unpack_rows(dq0, stride, o, Tn, hd, hdp);
    small_gemm(o, hdp, ds, 1, size_t(Tp), q, hdp, Tn, hdp / L, Tn);
    unpack_rows(dq0 + D, stride, o, Tn, hd, hdp);
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

}  // namespace grwarm::cpu
