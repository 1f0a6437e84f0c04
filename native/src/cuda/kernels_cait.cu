// CaiT's ops on the GPU: talking-heads attention, class attention and LayerScale.
//
// Simple kernels: talking heads as a chain of element-wise kernels (scores, head mixing,
// softmax rows, A v and their backward), class attention one thread per (sequence, head); each
// sums in the same ascending order as the CPU loops. Reductions over rows are deterministic in
// their own fixed orders: the mixing-weight gradients one block per weight with a fixed tree
// (common.cuh), the LayerScale gradient the two-stage column sum of column_reduce.cuh.
#include <cmath>

#include "check.h"
#include "column_reduce.cuh"
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

// Talking heads run as a chain of small kernels, each with one thread per output element (or
// per softmax row), so a batch gives B·H·Tn² threads where one thread per query row would give
// only B·Tn. Every element sums in the CPU's order (ascending d, j or head).

// S[b, h, i, j] = (q_bhi . k_bhj) scale
template <class T>
__global__ void th_scores(T* S, const T* qkv, Th t, T scale) {
  const size_t e = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t N = size_t(t.N);
  if (e >= size_t(t.B) * t.H * N * N) return;
  const int j = int(e % N), i = int((e / N) % N), h = int((e / (N * N)) % t.H), b = int(e / (N * N * t.H));
  const T *q = qkv + t.q(b, i, 0, h), *k = qkv + t.q(b, j, 1, h);
  T acc = T(0);
  for (int d = 0; d < t.hd; ++d) acc += q[d] * k[d];
  S[e] = acc * scale;
}

// Y[b, g, i, j] = bias[g] + sum_h W[g, h] X[b, h, i, j] (transposed: W[h, g], no bias), one
// thread per (b, i, j) for every g: the head mixing of proj_l / proj_w and its backward.
template <class T>
__global__ void th_mix(T* Y, const T* X, const T* W, const T* bias, bool transposed, Th t) {
  const size_t e = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t nn = size_t(t.N) * t.N;
  if (e >= size_t(t.B) * nn) return;
  const size_t b = e / nn, ij = e % nn;
  const int H = t.H;
  const T* xb = X + b * H * nn + ij;
  T* yb = Y + b * H * nn + ij;
  for (int g = 0; g < H; ++g) {
    T acc = bias ? bias[g] : T(0);
    for (int h = 0; h < H; ++h) acc += (transposed ? W[h * H + g] : W[g * H + h]) * xb[size_t(h) * nn];
    yb[size_t(g) * nn] = acc;
  }
}

// Softmax of every row of P in place, one thread per row (j ascending, as on the CPU).
template <class T>
__global__ void th_softmax(T* P, size_t rows, int N) {
  const size_t r = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  softmax_row(P + r * N, N);
}

// dL = P (dP - sum_j P dP) per row, in place over dP; one thread per row.
template <class T>
__global__ void th_softmax_bwd(T* dL, const T* P, size_t rows, int N) {
  const size_t r = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  T* d = dL + r * N;
  const T* p = P + r * N;
  T dot = T(0);
  for (int j = 0; j < N; ++j) dot += p[j] * d[j];
  for (int j = 0; j < N; ++j) d[j] = p[j] * (d[j] - dot);
}

// out[b, i, h*hd + d] = sum_j A[b, h, i, j] v[b, j, h, d]
template <class T>
__global__ void th_apply(T* out, const T* A, const T* qkv, Th t) {
  const size_t e = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t D = t.D();
  if (e >= size_t(t.B) * t.N * D) return;
  const int c = int(e % D), i = int((e / D) % t.N), b = int(e / (D * t.N)), h = c / t.hd, d = c % t.hd;
  const T* a = A + t.s(b, h, i);
  T acc = T(0);
  for (int j = 0; j < t.N; ++j) acc += a[j] * qkv[t.q(b, j, 2, h) + d];
  out[e] = acc;
}

// dA[b, g, i, j] = dout_bgi . v_bgj
template <class T>
__global__ void th_dA(T* dA, const T* dout, const T* qkv, Th t) {
  const size_t e = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t N = size_t(t.N);
  if (e >= size_t(t.B) * t.H * N * N) return;
  const int j = int(e % N), i = int((e / N) % N), g = int((e / (N * N)) % t.H), b = int(e / (N * N * t.H));
  const T *go = dout + t.o(b, i, g), *v = qkv + t.q(b, j, 2, g);
  T acc = T(0);
  for (int d = 0; d < t.hd; ++d) acc += go[d] * v[d];
  dA[e] = acc;
}

// One thread per (b, token t, channel h*hd + d): dq = dS k scale (over keys j), dk = dS^T q
// scale and dv = A^T dout (over queries i).
template <class T>
__global__ void th_dqkv(T* dqkv, const T* dS, const T* A, const T* dout, const T* qkv, Th t, T scale) {
  const size_t e = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t D = t.D();
  if (e >= size_t(t.B) * t.N * D) return;
  const int c = int(e % D), tok = int((e / D) % t.N), b = int(e / (D * t.N)), h = c / t.hd, d = c % t.hd;
  T dq = T(0), dk = T(0), dv = T(0);
  for (int j = 0; j < t.N; ++j) dq += (dS[t.s(b, h, tok) + j] * scale) * qkv[t.q(b, j, 1, h) + d];
  for (int i = 0; i < t.N; ++i) {
    const size_t si = t.s(b, h, i) + tok;
    dk += (dS[si] * scale) * qkv[t.q(b, i, 0, h) + d];
    dv += A[si] * dout[t.o(b, i, h) + d];
  }
  dqkv[t.q(b, tok, 0, h) + d] = dq;
  dqkv[t.q(b, tok, 1, h) + d] = dk;
  dqkv[t.q(b, tok, 2, h) + d] = dv;
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

// Row r's contribution to dgamma[c]: the deterministic two-stage column sum of
// column_reduce.cuh (a fixed order, not the CPU's plain row order).
template <class T>
struct LayerScaleGrad {
  static constexpr int kOut = 1;
  const T *dy, *x;
  int cols;
  __device__ void operator()(int r, int c, T* v) const {
    const size_t i = size_t(r) * cols + c;
    v[0] = dy[i] * x[i];
  }
};

constexpr int kCaitThreads = 128;
unsigned blocks_of(size_t n) { return unsigned((n + kCaitThreads - 1) / kCaitThreads); }

}  // namespace

template <class T>
void launch_talking_heads_fwd(cudaStream_t s, T* out, T* saved, const T* qkv, const T* wl,
                              const T* bl, const T* ww, const T* bw, const AttnShape& sh) {
  const size_t rows = size_t(sh.B) * sh.Tn, plane = rows * sh.H * sh.Tn;
  if (rows == 0 || sh.H == 0) return;
  const Th t{sh.B, sh.Tn, sh.H, sh.hd};
  T *S = saved, *P = saved + plane, *A = saved + 2 * plane;
  const size_t pairs = size_t(sh.B) * sh.Tn * sh.Tn, outs = rows * sh.H * sh.hd;
  th_scores<<<blocks_of(plane), kCaitThreads, 0, s>>>(S, qkv, t, T(1) / std::sqrt(T(sh.hd)));
  check_launch("talking_heads_fwd");
  th_mix<<<blocks_of(pairs), kCaitThreads, 0, s>>>(P, S, wl, bl, false, t);
  check_launch("talking_heads_fwd");
  th_softmax<<<blocks_of(rows * sh.H), kCaitThreads, 0, s>>>(P, rows * sh.H, sh.Tn);
  check_launch("talking_heads_fwd");
  th_mix<<<blocks_of(pairs), kCaitThreads, 0, s>>>(A, P, ww, bw, false, t);
  check_launch("talking_heads_fwd");
  th_apply<<<blocks_of(outs), kCaitThreads, 0, s>>>(out, A, qkv, t);
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
  const size_t pairs = size_t(sh.B) * sh.Tn * sh.Tn, outs = rows * sh.H * sh.hd;
  if (rows > 0) {
    th_dA<<<blocks_of(plane), kCaitThreads, 0, s>>>(dA, dout, qkv, t);
    check_launch("talking_heads_bwd");
    th_mix<<<blocks_of(pairs), kCaitThreads, 0, s>>>(dL, dA, ww, static_cast<const T*>(nullptr), true, t);
    check_launch("talking_heads_bwd");
    th_softmax_bwd<<<blocks_of(rows * sh.H), kCaitThreads, 0, s>>>(dL, P, rows * sh.H, sh.Tn);
    check_launch("talking_heads_bwd");
    th_mix<<<blocks_of(pairs), kCaitThreads, 0, s>>>(dS, dL, wl, static_cast<const T*>(nullptr), true, t);
    check_launch("talking_heads_bwd");
    th_dqkv<<<blocks_of(outs), kCaitThreads, 0, s>>>(dqkv, dS, A, dout, qkv, t, scale);
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
void launch_layer_scale_bwd(cudaStream_t s, Workspace& ws, T* dx, T* dgamma, const T* dy,
                            const T* x, const T* gamma, int rows, int cols) {
  if (cols == 0) return;
  // dgamma first: dx may alias dy.
  column_reduce(s, ws, dgamma, static_cast<T*>(nullptr), rows, cols, false,
                LayerScaleGrad<T>{dy, x, cols}, "layer_scale_bwd");
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
  template void launch_layer_scale_bwd<T>(cudaStream_t, Workspace&, T*, T*, const T*, const T*,  \
                                          const T*, int, int);
GW_INSTANTIATE(float)
GW_INSTANTIATE(double)

}  // namespace grwarm::cuda
