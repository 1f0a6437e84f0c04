// CaiT's ops on the CPU: talking-heads attention, class attention and LayerScale.
//
// Plain loops, parallel over rows that write disjoint outputs; every output element is
// computed by one task in one fixed order, so results do not depend on the thread count. The
// mixing-weight gradients are sums over (b, i, j) with one task per weight, ascending.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu_backend.h"

namespace grwarm::cpu::GRWARM_ISA_NS {

namespace {

// Index helpers of the [B, Tn, 3, H, hd] qkv layout and the [B, H, Tn, Tn] score layout.
struct Th {
  int B, N, H, hd;
  size_t D() const { return size_t(H) * hd; }
  size_t q(int b, int t, int c, int h) const { return ((size_t(b) * N + t) * 3 + c) * D() + size_t(h) * hd; }
  size_t o(int b, int t, int h) const { return (size_t(b) * N + t) * D() + size_t(h) * hd; }
  size_t s(int b, int h, int i) const { return ((size_t(b) * H + h) * N + i) * size_t(N); }
  size_t plane() const { return size_t(B) * H * N * N; }
};

// Softmax of one row in place: max-shifted exponentials over their sum.
template <class T>
void softmax_row(T* x, int n) {
  T mx = x[0];
  for (int j = 1; j < n; ++j) mx = std::max(mx, x[j]);
  T sum = T(0);
  for (int j = 0; j < n; ++j) {
    x[j] = std::exp(x[j] - mx);
    sum += x[j];
  }
  const T inv = T(1) / sum;
  for (int j = 0; j < n; ++j) x[j] *= inv;
}

// out[jj] = sum_d a[d] * b_jj[d] for `n` rows b_jj = b + jj * stride (n <= 4), each sum over d
// ascending (the order of a single dot product), with independent accumulators so the rows'
// chains overlap.
template <class T>
inline void dots4(T* out, const T* a, const T* b, size_t stride, int n, int hd) {
  T acc[4] = {T(0), T(0), T(0), T(0)};
  if (n == 4) {
    const T *b0 = b, *b1 = b + stride, *b2 = b + 2 * stride, *b3 = b + 3 * stride;
    for (int d = 0; d < hd; ++d) {
      acc[0] += a[d] * b0[d];
      acc[1] += a[d] * b1[d];
      acc[2] += a[d] * b2[d];
      acc[3] += a[d] * b3[d];
    }
  } else {
    for (int jj = 0; jj < n; ++jj)
      for (int d = 0; d < hd; ++d) acc[jj] += a[d] * b[jj * stride + d];
  }
  for (int jj = 0; jj < n; ++jj) out[jj] = acc[jj];
}

}  // namespace

template <class T>
void CpuBackend<T>::talking_heads_fwd(T* out, T* saved, const T* qkv, const T* wl, const T* bl,
                                      const T* ww, const T* bw, const AttnShape& sh) {
  const Th t{sh.B, sh.Tn, sh.H, sh.hd};
  const int N = t.N, H = t.H, hd = t.hd;
  const T scale = T(1) / std::sqrt(T(hd));
  T *S = saved, *P = saved + t.plane(), *A = saved + 2 * t.plane();
  const long long rows = (long long)t.B * N;
#pragma omp parallel for schedule(static)
  for (long long r = 0; r < rows; ++r) {
    const int b = int(r / N), i = int(r % N);
    const size_t kstride = 3 * t.D();  // from key j to key j + 1
    for (int h = 0; h < H; ++h) {
      T* Sh = S + t.s(b, h, i);
      for (int j = 0; j < N; j += 4) dots4(Sh + j, qkv + t.q(b, i, 0, h), qkv + t.q(b, j, 1, h), kstride, std::min(4, N - j), hd);
      for (int j = 0; j < N; ++j) Sh[j] *= scale;
    }
    // proj_l across heads, softmax over keys, proj_w across heads; each element sums its bias
    // then the heads in ascending order (the loop over keys innermost, so it vectorises)
    for (int g = 0; g < H; ++g) {
      T* Lg = P + t.s(b, g, i);
      for (int j = 0; j < N; ++j) Lg[j] = bl[g];
      for (int h = 0; h < H; ++h) {
        const T w = wl[g * H + h], *Sh = S + t.s(b, h, i);
        for (int j = 0; j < N; ++j) Lg[j] += w * Sh[j];
      }
      softmax_row(Lg, N);
    }
    for (int g = 0; g < H; ++g) {
      T* Ag = A + t.s(b, g, i);
      for (int j = 0; j < N; ++j) Ag[j] = bw[g];
      for (int h = 0; h < H; ++h) {
        const T w = ww[g * H + h], *Ph = P + t.s(b, h, i);
        for (int j = 0; j < N; ++j) Ag[j] += w * Ph[j];
      }
    }
    for (int g = 0; g < H; ++g) {
      T* o = out + t.o(b, i, g);
      for (int d = 0; d < hd; ++d) o[d] = T(0);
      for (int j = 0; j < N; ++j) {
        const T a = A[t.s(b, g, i) + j];
        const T* v = qkv + t.q(b, j, 2, g);
        for (int d = 0; d < hd; ++d) o[d] += a * v[d];
      }
    }
  }
}

template <class T>
void CpuBackend<T>::talking_heads_bwd(T* dqkv, T* dwl, T* dbl, T* dww, T* dbw, T* scratch,
                                      const T* dout, const T* qkv, const T* saved, const T* wl,
                                      const T* ww, const AttnShape& sh) {
  const Th t{sh.B, sh.Tn, sh.H, sh.hd};
  const int N = t.N, H = t.H, hd = t.hd;
  const T scale = T(1) / std::sqrt(T(hd));
  const T *S = saved, *P = saved + t.plane(), *A = saved + 2 * t.plane();
  T *dA = scratch, *dL = scratch + t.plane(), *dS = scratch + 2 * t.plane();
  const long long rows = (long long)t.B * N;
  // Query rows: dA = dout v^T, dP = ww^T dA, dL = softmax backward, dS = wl^T dL, dq = dS k.
#pragma omp parallel for schedule(static)
  for (long long r = 0; r < rows; ++r) {
    const int b = int(r / N), i = int(r % N);
    const size_t vstride = 3 * t.D();
    for (int g = 0; g < H; ++g)
      for (int j = 0; j < N; j += 4)
        dots4(dA + t.s(b, g, i) + j, dout + t.o(b, i, g), qkv + t.q(b, j, 2, g), vstride, std::min(4, N - j), hd);
    // the head mixings transposed: each element sums the heads in ascending order from 0
    for (int h = 0; h < H; ++h) {
      T* dl = dL + t.s(b, h, i);  // dP first, turned into dL below
      const T* p = P + t.s(b, h, i);
      for (int j = 0; j < N; ++j) dl[j] = T(0);
      for (int g = 0; g < H; ++g) {
        const T w = ww[g * H + h], *dAg = dA + t.s(b, g, i);
        for (int j = 0; j < N; ++j) dl[j] += w * dAg[j];
      }
      T dot = T(0);
      for (int j = 0; j < N; ++j) dot += p[j] * dl[j];
      for (int j = 0; j < N; ++j) dl[j] = p[j] * (dl[j] - dot);
    }
    for (int h = 0; h < H; ++h) {
      T* ds = dS + t.s(b, h, i);
      for (int j = 0; j < N; ++j) ds[j] = T(0);
      for (int g = 0; g < H; ++g) {
        const T w = wl[g * H + h], *dLg = dL + t.s(b, g, i);
        for (int j = 0; j < N; ++j) ds[j] += w * dLg[j];
      }
    }
    for (int h = 0; h < H; ++h) {
      T* dq = dqkv + t.q(b, i, 0, h);
      for (int d = 0; d < hd; ++d) dq[d] = T(0);
      for (int j = 0; j < N; ++j) {
        const T ds = dS[t.s(b, h, i) + j] * scale;
        const T* k = qkv + t.q(b, j, 1, h);
        for (int d = 0; d < hd; ++d) dq[d] += ds * k[d];
      }
    }
  }
  // Key rows: dk = dS^T q, dv = A^T dout.
#pragma omp parallel for schedule(static)
  for (long long r = 0; r < rows; ++r) {
    const int b = int(r / N), j = int(r % N);
    for (int h = 0; h < H; ++h) {
      T *dk = dqkv + t.q(b, j, 1, h), *dv = dqkv + t.q(b, j, 2, h);
      for (int d = 0; d < hd; ++d) dk[d] = dv[d] = T(0);
      for (int i = 0; i < N; ++i) {
        const T ds = dS[t.s(b, h, i) + j] * scale, a = A[t.s(b, h, i) + j];
        const T *q = qkv + t.q(b, i, 0, h), *go = dout + t.o(b, i, h);
        for (int d = 0; d < hd; ++d) {
          dk[d] += ds * q[d];
          dv[d] += a * go[d];
        }
      }
    }
  }
  // Mixing weights: dww[g, h] = sum dA[g] P[h], dwl[g, h] = sum dL[g] S[h], biases sum dA, dL.
  const int W = 2 * H * H + 2 * H;
#pragma omp parallel for schedule(static)
  for (int w = 0; w < W; ++w) {
    const int kind = w < 2 * H * H ? w / (H * H) : 2 + (w - 2 * H * H) / H;
    const int g = kind < 2 ? (w % (H * H)) / H : (w - 2 * H * H) % H, h = kind < 2 ? w % H : 0;
    const T* x = kind == 0 ? dA : dL;        // kind 0: dww, 1: dwl, 2: dbw, 3: dbl
    const T* y = kind == 0 ? P : S;
    T acc = T(0);
    for (int b = 0; b < t.B; ++b) {
      const T *xs = x + t.s(b, g, 0), *ys = y + t.s(b, h, 0);
      const size_t nn = size_t(N) * N;
      if (kind < 2)
        for (size_t e = 0; e < nn; ++e) acc += xs[e] * ys[e];
      else
        for (size_t e = 0; e < nn; ++e) acc += (kind == 2 ? dA : dL)[t.s(b, g, 0) + e];
    }
    if (kind == 0) dww[g * H + h] = acc;
    else if (kind == 1) dwl[g * H + h] = acc;
    else if (kind == 2) dbw[g] = acc;
    else dbl[g] = acc;
  }
}

template <class T>
void CpuBackend<T>::class_attention_fwd(T* out, T* probs, const T* q, const T* k, const T* v,
                                        const AttnShape& sh) {
  const int N = sh.Tn, H = sh.H, hd = sh.hd;
  const size_t D = size_t(H) * hd;
  const T scale = T(1) / std::sqrt(T(hd));
  const long long n = (long long)sh.B * H;
#pragma omp parallel for schedule(static)
  for (long long r = 0; r < n; ++r) {
    const int b = int(r / H), h = int(r % H);
    const T* qh = q + size_t(b) * D + size_t(h) * hd;
    T* p = probs + size_t(r) * N;
    for (int j = 0; j < N; ++j) {
      const T* kh = k + (size_t(b) * N + j) * D + size_t(h) * hd;
      T acc = T(0);
      for (int d = 0; d < hd; ++d) acc += qh[d] * kh[d];
      p[j] = acc * scale;
    }
    softmax_row(p, N);
    T* o = out + size_t(b) * D + size_t(h) * hd;
    for (int d = 0; d < hd; ++d) o[d] = T(0);
    for (int j = 0; j < N; ++j) {
      const T* vh = v + (size_t(b) * N + j) * D + size_t(h) * hd;
      for (int d = 0; d < hd; ++d) o[d] += p[j] * vh[d];
    }
  }
}

template <class T>
void CpuBackend<T>::class_attention_bwd(T* dq, T* dk, T* dv, const T* dout, const T* q,
                                        const T* k, const T* v, const T* probs,
                                        const AttnShape& sh) {
  const int N = sh.Tn, H = sh.H, hd = sh.hd;
  const size_t D = size_t(H) * hd;
  const T scale = T(1) / std::sqrt(T(hd));
  const long long n = (long long)sh.B * H;
#pragma omp parallel for schedule(static)
  for (long long r = 0; r < n; ++r) {
    const int b = int(r / H), h = int(r % H);
    const T* p = probs + size_t(r) * N;
    const T *go = dout + size_t(b) * D + size_t(h) * hd, *qh = q + size_t(b) * D + size_t(h) * hd;
    std::vector<T> ds(N);
    T dot = T(0);
    for (int j = 0; j < N; ++j) {
      const T* vh = v + (size_t(b) * N + j) * D + size_t(h) * hd;
      T acc = T(0);
      for (int d = 0; d < hd; ++d) acc += go[d] * vh[d];
      ds[j] = acc;
      dot += p[j] * acc;
    }
    T* dqh = dq + size_t(b) * D + size_t(h) * hd;
    for (int d = 0; d < hd; ++d) dqh[d] = T(0);
    for (int j = 0; j < N; ++j) {
      const T s = p[j] * (ds[j] - dot) * scale;
      const size_t row = (size_t(b) * N + j) * D + size_t(h) * hd;
      for (int d = 0; d < hd; ++d) {
        dqh[d] += s * k[row + d];
        dk[row + d] = s * qh[d];
        dv[row + d] = p[j] * go[d];
      }
    }
  }
}

template <class T>
void CpuBackend<T>::layer_scale_fwd(T* y, const T* x, const T* gamma, int rows, int cols) {
  const long long n = (long long)rows * cols;
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < n; ++i) y[i] = gamma[i % cols] * x[i];
}

template <class T>
void CpuBackend<T>::layer_scale_bwd(T* dx, T* dgamma, const T* dy, const T* x, const T* gamma,
                                    int rows, int cols) {
  // dgamma first: dx may alias dy.
#pragma omp parallel for schedule(static)
  for (int c = 0; c < cols; ++c) {
    T acc = T(0);
    for (int r = 0; r < rows; ++r) acc += dy[size_t(r) * cols + c] * x[size_t(r) * cols + c];
    dgamma[c] = acc;
  }
  const long long n = (long long)rows * cols;
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < n; ++i) dx[i] = gamma[i % cols] * dy[i];
}

// The members defined here, for both precisions (cpu_backend.cpp instantiates the rest).
#define GW_CAIT_INSTANTIATE(T)                                                                  \
  template void CpuBackend<T>::talking_heads_fwd(T*, T*, const T*, const T*, const T*, const T*, \
                                                 const T*, const AttnShape&);                    \
  template void CpuBackend<T>::talking_heads_bwd(T*, T*, T*, T*, T*, T*, const T*, const T*,     \
                                                 const T*, const T*, const T*, const AttnShape&); \
  template void CpuBackend<T>::class_attention_fwd(T*, T*, const T*, const T*, const T*,         \
                                                   const AttnShape&);                            \
  template void CpuBackend<T>::class_attention_bwd(T*, T*, T*, const T*, const T*, const T*,     \
                                                   const T*, const T*, const AttnShape&);        \
  template void CpuBackend<T>::layer_scale_fwd(T*, const T*, const T*, int, int);               \
  template void CpuBackend<T>::layer_scale_bwd(T*, T*, const T*, const T*, const T*, int, int);
GW_CAIT_INSTANTIATE(float)
GW_CAIT_INSTANTIATE(double)

}  // namespace grwarm::cpu::GRWARM_ISA_NS
