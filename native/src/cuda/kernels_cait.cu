// CaiT's ops on the GPU: talking-heads attention, class attention and LayerScale.
//
// Simple kernels, one thread per independent row (a query row of one sequence for talking
// heads, a (sequence, head) pair for class attention, a column for the LayerScale gradient),
// each summing in the same ascending order as the CPU loops. The mixing-weight gradients
// are one block per weight, summed with a fixed-order tree (common.cuh): deterministic.
#include <cmath>

#include "check.h"
#include "common.cuh"
#include "kernels.h"

namespace grwarm::cuda {

namespace {

struct Th {
  int B, N, H, hd;
  __device__ size_t D() const { return size_t(H) * hd; }
  __device__ size_t q(int b, int t, int c, int h) const {
    return ((size_t(b) * N + t) * 3 + c) * D() + size_t(h) * hd;
  }
  __device__ size_t o(int b, int t, int h) const { return (size_t(b) * N + t) * D() + size_t(h) * hd; }
  __device__ size_t s(int b, int h, int i) const { return ((size_t(b) * H + h) * N + i) * size_t(N); }
};

template <class T>
__device__ void softmax_row(T* x, int n) {
  T mx = x[0];
  for (int j = 1; j < n; ++j) mx = x[j] > mx ? x[j] : mx;
  T sum = T(0);
  for (int j = 0; j < n; ++j) {
    x[j] = exp(x[j] - mx);
    sum += x[j];
  }
  const T inv = T(1) / sum;
  for (int j = 0; j < n; ++j) x[j] *= inv;
}

// One thread per (b, query i): scores of every head, proj_l, softmax, proj_w, A v.
template <class T>
__global__ void talking_heads_fwd_kernel(T* out, T* S, T* P, T* A, const T* qkv, const T* wl,
                                         const T* bl, const T* ww, const T* bw, Th t, T scale) {
  const size_t r = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= size_t(t.B) * t.N) return;
  const int b = int(r / t.N), i = int(r % t.N), N = t.N, H = t.H, hd = t.hd;
  for (int h = 0; h < H; ++h)
    for (int j = 0; j < N; ++j) {
      const T *q = qkv + t.q(b, i, 0, h), *k = qkv + t.q(b, j, 1, h);
      T acc = T(0);
      for (int d = 0; d < hd; ++d) acc += q[d] * k[d];
      S[t.s(b, h, i) + j] = acc * scale;
    }
  for (int g = 0; g < H; ++g) {
    T* Lg = P + t.s(b, g, i);
    for (int j = 0; j < N; ++j) {
      T acc = bl[g];
      for (int h = 0; h < H; ++h) acc += wl[g * H + h] * S[t.s(b, h, i) + j];
      Lg[j] = acc;
    }
    softmax_row(Lg, N);
  }
  for (int g = 0; g < H; ++g)
    for (int j = 0; j < N; ++j) {
      T acc = bw[g];
      for (int h = 0; h < H; ++h) acc += ww[g * H + h] * P[t.s(b, h, i) + j];
      A[t.s(b, g, i) + j] = acc;
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

// One thread per (b, query i): dA = dout v^T, dP = ww^T dA, dL (softmax backward),
// dS = wl^T dL, dq = dS k.
template <class T>
__global__ void talking_heads_bwd_rows(T* dqkv, T* dA, T* dL, T* dS, const T* dout, const T* qkv,
                                       const T* P, const T* wl, const T* ww, Th t, T scale) {
  const size_t r = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= size_t(t.B) * t.N) return;
  const int b = int(r / t.N), i = int(r % t.N), N = t.N, H = t.H, hd = t.hd;
  for (int g = 0; g < H; ++g)
    for (int j = 0; j < N; ++j) {
      const T *go = dout + t.o(b, i, g), *v = qkv + t.q(b, j, 2, g);
      T acc = T(0);
      for (int d = 0; d < hd; ++d) acc += go[d] * v[d];
      dA[t.s(b, g, i) + j] = acc;
    }
  for (int h = 0; h < H; ++h) {
    T* dl = dL + t.s(b, h, i);
    const T* p = P + t.s(b, h, i);
    T dot = T(0);
    for (int j = 0; j < N; ++j) {
      T acc = T(0);
      for (int g = 0; g < H; ++g) acc += ww[g * H + h] * dA[t.s(b, g, i) + j];
      dl[j] = acc;
      dot += p[j] * acc;
    }
    for (int j = 0; j < N; ++j) dl[j] = p[j] * (dl[j] - dot);
  }
  for (int h = 0; h < H; ++h)
    for (int j = 0; j < N; ++j) {
      T acc = T(0);
      for (int g = 0; g < H; ++g) acc += wl[g * H + h] * dL[t.s(b, g, i) + j];
      dS[t.s(b, h, i) + j] = acc;
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

// One thread per (b, key j): dk = dS^T q, dv = A^T dout.
template <class T>
__global__ void talking_heads_bwd_cols(T* dqkv, const T* dS, const T* A, const T* dout,
                                       const T* qkv, Th t, T scale) {
  const size_t r = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= size_t(t.B) * t.N) return;
  const int b = int(r / t.N), j = int(r % t.N), N = t.N, H = t.H, hd = t.hd;
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

// One block per mixing weight (dww, dwl: H x H each, then dbw, dbl: H each): the sum over
// (b, i, j) of x[b, g] y[b, h] (or of x[b, g]), strided over the block's threads and reduced in
// a fixed tree.
constexpr int kMixThreads = 256;
template <class T>
__global__ void talking_heads_mix_grads(T* dwl, T* dbl, T* dww, T* dbw, const T* dA, const T* dL,
                                        const T* P, const T* S, Th t) {
  __shared__ T sh[kMixThreads];
  const int H = t.H, w = blockIdx.x;
  const int kind = w < 2 * H * H ? w / (H * H) : 2 + (w - 2 * H * H) / H;
  const int g = kind < 2 ? (w % (H * H)) / H : (w - 2 * H * H) % H, h = kind < 2 ? w % H : 0;
  const T* x = (kind == 0 || kind == 2) ? dA : dL;
  const T* y = kind == 0 ? P : S;
  const size_t nn = size_t(t.N) * t.N, n = size_t(t.B) * nn;
  T acc = T(0);
  for (size_t e = threadIdx.x; e < n; e += kMixThreads) {
    const size_t b = e / nn, ij = e % nn;
    const T xv = x[(b * H + g) * nn + ij];
    acc += kind < 2 ? xv * y[(b * H + h) * nn + ij] : xv;
  }
  const T total = block_sum_fixed<kMixThreads>(acc, sh);
  if (threadIdx.x != 0) return;
  if (kind == 0) dww[g * H + h] = total;
  else if (kind == 1) dwl[g * H + h] = total;
  else if (kind == 2) dbw[g] = total;
  else dbl[g] = total;
}

// Class attention: one thread per (b, h).
template <class T>
__global__ void class_attention_fwd_kernel(T* out, T* probs, const T* q, const T* k, const T* v,
                                           int B, int N, int H, int hd, T scale) {
  const size_t r = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= size_t(B) * H) return;
  const int b = int(r / H), h = int(r % H);
  const size_t D = size_t(H) * hd;
  const T* qh = q + size_t(b) * D + size_t(h) * hd;
  T* p = probs + r * N;
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

template <class T>
__global__ void class_attention_bwd_kernel(T* dq, T* dk, T* dv, const T* dout, const T* q,
                                           const T* k, const T* v, const T* probs, int B, int N,
                                           int H, int hd, T scale) {
  const size_t r = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= size_t(B) * H) return;
  const int b = int(r / H), h = int(r % H);
  const size_t D = size_t(H) * hd;
  const T* p = probs + r * N;
  const T *go = dout + size_t(b) * D + size_t(h) * hd, *qh = q + size_t(b) * D + size_t(h) * hd;
  // dP_j = dout . v_j, kept in dk's first element of row j until dS is known
  T dot = T(0);
  for (int j = 0; j < N; ++j) {
    const T* vh = v + (size_t(b) * N + j) * D + size_t(h) * hd;
    T acc = T(0);
    for (int d = 0; d < hd; ++d) acc += go[d] * vh[d];
    dk[(size_t(b) * N + j) * D + size_t(h) * hd] = acc;
    dot += p[j] * acc;
  }
  T* dqh = dq + size_t(b) * D + size_t(h) * hd;
  for (int d = 0; d < hd; ++d) dqh[d] = T(0);
  for (int j = 0; j < N; ++j) {
    const size_t row = (size_t(b) * N + j) * D + size_t(h) * hd;
    const T s = p[j] * (dk[row] - dot) * scale;
    for (int d = 0; d < hd; ++d) {
      dqh[d] += s * k[row + d];
      dk[row + d] = s * qh[d];
      dv[row + d] = p[j] * go[d];
    }
  }
}

template <class T>
__global__ void layer_scale_fwd_kernel(T* y, const T* x, const T* gamma, size_t n, int cols) {
  GW_GRID_STRIDE(i, n) y[i] = gamma[i % cols] * x[i];
}

// One thread per column, rows ascending (as on the CPU).
template <class T>
__global__ void layer_scale_dgamma_kernel(T* dgamma, const T* dy, const T* x, int rows, int cols) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  T acc = T(0);
  for (int r = 0; r < rows; ++r) acc += dy[size_t(r) * cols + c] * x[size_t(r) * cols + c];
  dgamma[c] = acc;
}

constexpr int kCaitThreads = 128;
unsigned blocks_of(size_t n) { return unsigned((n + kCaitThreads - 1) / kCaitThreads); }

}  // namespace

template <class T>
void launch_talking_heads_fwd(cudaStream_t s, T* out, T* saved, const T* qkv, const T* wl,
                              const T* bl, const T* ww, const T* bw, const AttnShape& sh) {
  const size_t rows = size_t(sh.B) * sh.Tn, plane = rows * sh.H * sh.Tn;
  if (rows == 0) return;
  const Th t{sh.B, sh.Tn, sh.H, sh.hd};
  talking_heads_fwd_kernel<<<blocks_of(rows), kCaitThreads, 0, s>>>(
      out, saved, saved + plane, saved + 2 * plane, qkv, wl, bl, ww, bw, t, T(1) / std::sqrt(T(sh.hd)));
  check_launch("talking_heads_fwd");
}

template <class T>
void launch_talking_heads_bwd(cudaStream_t s, T* dqkv, T* dwl, T* dbl, T* dww, T* dbw, T* scratch,
                              const T* dout, const T* qkv, const T* saved, const T* wl,
                              const T* ww, const AttnShape& sh) {
  const size_t rows = size_t(sh.B) * sh.Tn, plane = rows * sh.H * sh.Tn;
  if (sh.H == 0) return;
  const Th t{sh.B, sh.Tn, sh.H, sh.hd};
  const T scale = T(1) / std::sqrt(T(sh.hd));
  T *dA = scratch, *dL = scratch + plane, *dS = scratch + 2 * plane;
  const T *S = saved, *P = saved + plane, *A = saved + 2 * plane;
  if (rows > 0) {
    talking_heads_bwd_rows<<<blocks_of(rows), kCaitThreads, 0, s>>>(dqkv, dA, dL, dS, dout, qkv, P,
                                                                     wl, ww, t, scale);
    check_launch("talking_heads_bwd");
    talking_heads_bwd_cols<<<blocks_of(rows), kCaitThreads, 0, s>>>(dqkv, dS, A, dout, qkv, t, scale);
    check_launch("talking_heads_bwd");
  }
  talking_heads_mix_grads<<<unsigned(2 * sh.H * sh.H + 2 * sh.H), kMixThreads, 0, s>>>(
      dwl, dbl, dww, dbw, dA, dL, P, S, t);
  check_launch("talking_heads_bwd");
}

template <class T>
void launch_class_attention_fwd(cudaStream_t s, T* out, T* probs, const T* q, const T* k,
                                const T* v, const AttnShape& sh) {
  const size_t n = size_t(sh.B) * sh.H;
  if (n == 0 || sh.Tn == 0) return;
  class_attention_fwd_kernel<<<blocks_of(n), kCaitThreads, 0, s>>>(out, probs, q, k, v, sh.B, sh.Tn,
                                                                   sh.H, sh.hd, T(1) / std::sqrt(T(sh.hd)));
  check_launch("class_attention_fwd");
}

template <class T>
void launch_class_attention_bwd(cudaStream_t s, T* dq, T* dk, T* dv, const T* dout, const T* q,
                                const T* k, const T* v, const T* probs, const AttnShape& sh) {
  const size_t n = size_t(sh.B) * sh.H;
  if (n == 0 || sh.Tn == 0) return;
  class_attention_bwd_kernel<<<blocks_of(n), kCaitThreads, 0, s>>>(
      dq, dk, dv, dout, q, k, v, probs, sh.B, sh.Tn, sh.H, sh.hd, T(1) / std::sqrt(T(sh.hd)));
  check_launch("class_attention_bwd");
}

template <class T>
void launch_layer_scale_fwd(cudaStream_t s, T* y, const T* x, const T* gamma, int rows, int cols) {
  const size_t n = size_t(rows) * cols;
  if (n == 0) return;
  layer_scale_fwd_kernel<<<flat_blocks(n), kThreads, 0, s>>>(y, x, gamma, n, cols);
  check_launch("layer_scale_fwd");
}

template <class T>
void launch_layer_scale_bwd(cudaStream_t s, T* dx, T* dgamma, const T* dy, const T* x,
                            const T* gamma, int rows, int cols) {
  if (cols == 0) return;
  // dgamma first: dx may alias dy.
  layer_scale_dgamma_kernel<<<blocks_of(size_t(cols)), kCaitThreads, 0, s>>>(dgamma, dy, x, rows, cols);
  check_launch("layer_scale_bwd");
  const size_t n = size_t(rows) * cols;
  if (n == 0) return;
  layer_scale_fwd_kernel<<<flat_blocks(n), kThreads, 0, s>>>(dx, dy, gamma, n, cols);
  check_launch("layer_scale_bwd");
}

#define GW_INSTANTIATE(T)                                                                        \
  template void launch_talking_heads_fwd<T>(cudaStream_t, T*, T*, const T*, const T*, const T*,  \
                                            const T*, const T*, const AttnShape&);               \
  template void launch_talking_heads_bwd<T>(cudaStream_t, T*, T*, T*, T*, T*, T*, const T*,      \
                                            const T*, const T*, const T*, const T*,              \
                                            const AttnShape&);                                   \
  template void launch_class_attention_fwd<T>(cudaStream_t, T*, T*, const T*, const T*, const T*, \
                                              const AttnShape&);                                 \
  template void launch_class_attention_bwd<T>(cudaStream_t, T*, T*, T*, const T*, const T*,      \
                                              const T*, const T*, const T*, const AttnShape&);   \
  template void launch_layer_scale_fwd<T>(cudaStream_t, T*, const T*, const T*, int, int);       \
  template void launch_layer_scale_bwd<T>(cudaStream_t, T*, T*, const T*, const T*, const T*, int, int);
GW_INSTANTIATE(float)
GW_INSTANTIATE(double)

}  // namespace grwarm::cuda
