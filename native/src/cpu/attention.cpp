// Multi-head self-attention on the CPU, forward and backward, fused per (sequence, head).
//
// One task handles one (b, h) pair end to end: scores, softmax, dropout and the weighted
// sum never leave the cache, and each task writes only its own head's slices of the
// output (and of dqkv in the backward pass), so tasks never race and the result does not
// depend on the thread count. Dot products are written as unit-stride axpys over a
// transposed K (or V) so the compiler vectorises them without reassociating sums.
#include <cmath>
#include <vector>

#include "attention.h"
#include "grwarm/scalar_math.h"

namespace grwarm::cpu {

namespace {

template <class T>
struct AttnScratch {
  std::vector<T> kt, vt, s, dp;
  void ensure(int Tn, int hd) {
    const size_t need = size_t(Tn) * hd;
    if (kt.size() < need) {
      kt.resize(need);
      vt.resize(need);
    }
    if (s.size() < size_t(Tn)) {
      s.resize(Tn);
      dp.resize(Tn);
    }
  }
};

template <class T>
AttnScratch<T>& scratch() {
  thread_local AttnScratch<T> s;  // grows once, reused every step
  return s;
}

// dst[d * Tn + j] = src_j[d] for the Tn rows of one head (row stride `stride`).
template <class T>
void transpose_head(T* dst, const T* src, int Tn, int hd, size_t stride) {
  for (int j = 0; j < Tn; ++j)
    for (int d = 0; d < hd; ++d) dst[size_t(d) * Tn + j] = src[size_t(j) * stride + d];
}

// out[j] = sum_d a[d] * mt[d * Tn + j]   (a row times a transposed head)
template <class T>
void row_times_transposed(T* out, const T* a, const T* mt, int Tn, int hd) {
  for (int j = 0; j < Tn; ++j) out[j] = T(0);
  for (int d = 0; d < hd; ++d) {
    const T ad = a[d];
    const T* m = mt + size_t(d) * Tn;
#pragma omp simd
    for (int j = 0; j < Tn; ++j) out[j] += ad * m[j];
  }
}

}  // namespace

template <class T>
void attention_forward(T* out, T* probs, const T* qkv, const AttnShape& sh,
                                  const DropoutSpec& drop) {
  const int B = sh.B, Tn = sh.Tn, H = sh.H, hd = sh.hd, D = H * hd;
  const size_t stride = size_t(3) * D;
  const T scale = T(1) / std::sqrt(T(hd));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * H; ++bh) {
    const int b = bh / H, h = bh % H;
    AttnScratch<T>& sc = scratch<T>();
    sc.ensure(Tn, hd);
    const T* q0 = qkv + size_t(b) * Tn * stride + size_t(h) * hd;
    const T* k0 = q0 + D;
    const T* v0 = q0 + 2 * D;
    transpose_head(sc.kt.data(), k0, Tn, hd, stride);
    for (int i = 0; i < Tn; ++i) {
      T* p = probs + (size_t(bh) * Tn + i) * Tn;
      row_times_transposed(p, q0 + size_t(i) * stride, sc.kt.data(), Tn, hd);
      T mx = p[0] * scale;
      for (int j = 0; j < Tn; ++j) {
        p[j] *= scale;
        mx = p[j] > mx ? p[j] : mx;
      }
#pragma omp simd
      for (int j = 0; j < Tn; ++j) p[j] = gw_exp(p[j] - mx);
      T z = 0;
      for (int j = 0; j < Tn; ++j) z += p[j];
      const T inv = T(1) / z;
      for (int j = 0; j < Tn; ++j) p[j] *= inv;
      // o_i = sum_j dropout(p_ij) v_j
      T* o = out + (size_t(b) * Tn + i) * D + size_t(h) * hd;
      for (int d = 0; d < hd; ++d) o[d] = T(0);
      const uint64_t mask_base = (uint64_t(bh) * Tn + i) * Tn;
      for (int j = 0; j < Tn; ++j) {
        const T pj = p[j] * dropout_scale<T>(drop, mask_base + j);
        if (pj == T(0)) continue;
        const T* v = v0 + size_t(j) * stride;
#pragma omp simd
        for (int d = 0; d < hd; ++d) o[d] += pj * v[d];
      }
    }
  }
}

template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* probs,
                                  const AttnShape& sh, const DropoutSpec& drop) {
  const int B = sh.B, Tn = sh.Tn, H = sh.H, hd = sh.hd, D = H * hd;
  const size_t stride = size_t(3) * D;
  const T scale = T(1) / std::sqrt(T(hd));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * H; ++bh) {
    const int b = bh / H, h = bh % H;
    AttnScratch<T>& sc = scratch<T>();
    sc.ensure(Tn, hd);
    const T* q0 = qkv + size_t(b) * Tn * stride + size_t(h) * hd;
    const T* k0 = q0 + D;
    const T* v0 = q0 + 2 * D;
    T* dq0 = dqkv + size_t(b) * Tn * stride + size_t(h) * hd;
    T* dk0 = dq0 + D;
    T* dv0 = dq0 + 2 * D;
    for (int j = 0; j < Tn; ++j)
      for (int d = 0; d < hd; ++d) dk0[size_t(j) * stride + d] = dv0[size_t(j) * stride + d] = T(0);
    transpose_head(sc.vt.data(), v0, Tn, hd, stride);
    T* dp = sc.dp.data();
    for (int i = 0; i < Tn; ++i) {
      const T* p = probs + (size_t(bh) * Tn + i) * Tn;
      const T* go = dout + (size_t(b) * Tn + i) * D + size_t(h) * hd;
      const uint64_t mask_base = (uint64_t(bh) * Tn + i) * Tn;
      // d(dropped p)_ij = go_i . v_j
      row_times_transposed(dp, go, sc.vt.data(), Tn, hd);
      T dot = 0;
      for (int j = 0; j < Tn; ++j) {
        const T m = dropout_scale<T>(drop, mask_base + j);
        // dv_j += dropout(p)_ij * go_i
        const T pm = p[j] * m;
        if (pm != T(0)) {
          T* dv = dv0 + size_t(j) * stride;
#pragma omp simd
          for (int d = 0; d < hd; ++d) dv[d] += pm * go[d];
        }
        dp[j] *= m;  // gradient w.r.t. the softmax output before dropout
        dot += p[j] * dp[j];
      }
      // ds_ij = p_ij (dp_ij - sum_k p_ik dp_ik); dq_i = scale * sum_j ds_ij k_j; dk_j += scale ds_ij q_i
      T* dq = dq0 + size_t(i) * stride;
      for (int d = 0; d < hd; ++d) dq[d] = T(0);
      const T* qi = q0 + size_t(i) * stride;
      for (int j = 0; j < Tn; ++j) {
        const T ds = p[j] * (dp[j] - dot) * scale;
        if (ds == T(0)) continue;
        const T* kj = k0 + size_t(j) * stride;
        T* dk = dk0 + size_t(j) * stride;
#pragma omp simd
        for (int d = 0; d < hd; ++d) {
          dq[d] += ds * kj[d];
          dk[d] += ds * qi[d];
        }
      }
    }
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
