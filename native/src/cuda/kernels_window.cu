// Ops of hierarchical families (Swin): window attention with an additive bias, row gathers
// (window partition with cyclic shift, window reverse, patch merging) and mean pooling.
#include <cmath>

#include "check.h"
#include "common.cuh"
#include "kernels.h"

namespace grwarm::cuda {

namespace {

// One thread per output element: Y[r, c] = X[idx[r], c]. A copy, exact.
template <class T>
__global__ void gather_rows_kernel(T* Y, const T* X, const int32_t* idx, int rows, int cols) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(rows) * cols) return;
  const size_t r = i / cols, c = i % cols;
  Y[i] = X[size_t(idx[r]) * cols + c];
}

// One thread per (b, d): the tokens summed in ascending order, as on the CPU, then scaled.
template <class T>
__global__ void mean_tokens_fwd_kernel(T* out, const T* x, int B, int L, int D, T inv) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(B) * D) return;
  const size_t b = i / D, d = i % D;
  const T* xb = x + b * size_t(L) * D + d;
  T acc = T(0);
  for (int l = 0; l < L; ++l) acc += xb[size_t(l) * D];
  out[i] = acc * inv;
}

template <class T>
__global__ void mean_tokens_bwd_kernel(T* dx, const T* dout, int B, int L, int D, T inv) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(B) * L * D) return;
  const size_t b = i / (size_t(L) * D), d = i % D;
  dx[i] = dout[b * D + d] * inv;
}

// Window attention with an additive bias: one thread per (sequence b, head h, query row i).
// The scores are written into probs and normalised in place; sums run in index order, as on
// the CPU.
template <class T>
__global__ void attention_bias_fwd_kernel(T* out, T* probs, const T* qkv, const T* bias, int nb,
                                          int B, int N, int H, int hd, T scale) {
  const size_t t = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= size_t(B) * H * N) return;
  const int i = int(t % N), h = int((t / N) % H), b = int(t / (size_t(N) * H));
  const int D = H * hd;
  const T* base = qkv + size_t(b) * N * 3 * D;
  const T* q = base + size_t(i) * 3 * D + size_t(h) * hd;
  const T* bb = bias + ((size_t(b % nb) * H + h) * N + i) * N;
  T* p = probs + ((size_t(b) * H + h) * N + i) * N;
  T mx = -INFINITY;
  for (int j = 0; j < N; ++j) {
    const T* k = base + size_t(j) * 3 * D + D + size_t(h) * hd;
    T dot = T(0);
    for (int d = 0; d < hd; ++d) dot += q[d] * k[d];
    p[j] = dot * scale + bb[j];
    mx = p[j] > mx ? p[j] : mx;
  }
  T sum = T(0);
  for (int j = 0; j < N; ++j) {
    p[j] = exp(p[j] - mx);
    sum += p[j];
  }
  const T inv = T(1) / sum;
  for (int j = 0; j < N; ++j) p[j] *= inv;
  T* o = out + (size_t(b) * N + i) * D + size_t(h) * hd;
  for (int d = 0; d < hd; ++d) {
    T acc = T(0);
    for (int j = 0; j < N; ++j) acc += p[j] * base[size_t(j) * 3 * D + 2 * D + size_t(h) * hd + d];
    o[d] = acc;
  }
}

// Backward, first half: one thread per query row i: dP, dS (into dscores) and dq.
template <class T>
__global__ void attention_bias_bwd_rows(T* dqkv, T* dscores, const T* dout, const T* qkv,
                                        const T* probs, int B, int N, int H, int hd, T scale) {
  const size_t t = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= size_t(B) * H * N) return;
  const int i = int(t % N), h = int((t / N) % H), b = int(t / (size_t(N) * H));
  const int D = H * hd;
  const T* base = qkv + size_t(b) * N * 3 * D;
  const T* g = dout + (size_t(b) * N + i) * D + size_t(h) * hd;
  const T* p = probs + ((size_t(b) * H + h) * N + i) * N;
  T* ds = dscores + ((size_t(b) * H + h) * N + i) * N;
  T dot_pd = T(0);
  for (int j = 0; j < N; ++j) {
    const T* v = base + size_t(j) * 3 * D + 2 * D + size_t(h) * hd;
    T dp = T(0);
    for (int d = 0; d < hd; ++d) dp += g[d] * v[d];
    ds[j] = dp;
    dot_pd += p[j] * dp;
  }
  T* dq = dqkv + size_t(b) * N * 3 * D + size_t(i) * 3 * D + size_t(h) * hd;
  for (int j = 0; j < N; ++j) ds[j] = p[j] * (ds[j] - dot_pd);
  for (int d = 0; d < hd; ++d) {
    T acc = T(0);
    for (int j = 0; j < N; ++j) acc += ds[j] * scale * base[size_t(j) * 3 * D + D + size_t(h) * hd + d];
    dq[d] = acc;
  }
}

// Second half: one thread per key row j: dk_j = scale sum_i dS_ij q_i, dv_j = sum_i P_ij g_i.
template <class T>
__global__ void attention_bias_bwd_cols(T* dqkv, const T* dscores, const T* dout, const T* qkv,
                                        const T* probs, int B, int N, int H, int hd, T scale) {
  const size_t t = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= size_t(B) * H * N) return;
  const int j = int(t % N), h = int((t / N) % H), b = int(t / (size_t(N) * H));
  const int D = H * hd;
  const T* base = qkv + size_t(b) * N * 3 * D;
  const T* P = probs + (size_t(b) * H + h) * N * N;
  const T* dS = dscores + (size_t(b) * H + h) * N * N;
  T* dk = dqkv + size_t(b) * N * 3 * D + size_t(j) * 3 * D + D + size_t(h) * hd;
  T* dv = dk + D;
  for (int d = 0; d < hd; ++d) {
    T ak = T(0), av = T(0);
    for (int i = 0; i < N; ++i) {
      ak += dS[size_t(i) * N + j] * scale * base[size_t(i) * 3 * D + size_t(h) * hd + d];
      av += P[size_t(i) * N + j] * dout[(size_t(b) * N + i) * D + size_t(h) * hd + d];
    }
    dk[d] = ak;
    dv[d] = av;
  }
}

// Drop path: one thread per element; the sample's multiplier from the shared mask formula.
template <class T>
__global__ void drop_path_fwd_kernel(T* x_out, const T* x_in, const T* branch, size_t n,
                                     size_t per_sample, DropoutSpec drop) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  x_out[i] = x_in[i] + dropout_scale<T>(drop, uint64_t(i / per_sample)) * branch[i];
}

template <class T>
__global__ void drop_path_bwd_kernel(T* dbranch, const T* dx, size_t n, size_t per_sample,
                                     DropoutSpec drop) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  dbranch[i] = dropout_scale<T>(drop, uint64_t(i / per_sample)) * dx[i];
}

constexpr int kWindowThreads = 256;
unsigned blocks_for(size_t n) { return unsigned((n + kWindowThreads - 1) / kWindowThreads); }

}  // namespace

template <class T>
void launch_attention_bias_fwd(cudaStream_t s, T* out, T* probs, const T* qkv, const T* bias,
                               int nb, const AttnShape& sh) {
  const size_t n = size_t(sh.B) * sh.H * sh.Tn;
  if (n == 0) return;
  const T scale = T(1.0 / std::sqrt(double(sh.hd)));  // typed: the kernel deduces T from it
  attention_bias_fwd_kernel<<<blocks_for(n), kWindowThreads, 0, s>>>(
      out, probs, qkv, bias, nb, sh.B, sh.Tn, sh.H, sh.hd, scale);
  check_launch("attention_bias_fwd");
}

template <class T>
void launch_attention_bias_bwd(cudaStream_t s, T* dqkv, T* dscores, const T* dout, const T* qkv,
                               const T* probs, const AttnShape& sh) {
  const size_t n = size_t(sh.B) * sh.H * sh.Tn;
  if (n == 0) return;
  const T scale = T(1.0 / std::sqrt(double(sh.hd)));
  attention_bias_bwd_rows<<<blocks_for(n), kWindowThreads, 0, s>>>(dqkv, dscores, dout, qkv, probs,
                                                             sh.B, sh.Tn, sh.H, sh.hd, scale);
  check_launch("attention_bias_bwd");
  attention_bias_bwd_cols<<<blocks_for(n), kWindowThreads, 0, s>>>(dqkv, dscores, dout, qkv, probs,
                                                             sh.B, sh.Tn, sh.H, sh.hd, scale);
  check_launch("attention_bias_bwd");
}

template <class T>
void launch_gather_rows(cudaStream_t s, T* Y, const T* X, const int32_t* idx, int rows, int cols) {
  const size_t n = size_t(rows) * cols;
  if (n == 0) return;
  gather_rows_kernel<<<blocks_for(n), kWindowThreads, 0, s>>>(Y, X, idx, rows, cols);
  check_launch("gather_rows");
}

template <class T>
void launch_drop_path_fwd(cudaStream_t s, T* x_out, const T* x_in, const T* branch, int B,
                          size_t per_sample, const DropoutSpec& drop) {
  const size_t n = size_t(B) * per_sample;
  if (n == 0) return;
  drop_path_fwd_kernel<<<blocks_for(n), kWindowThreads, 0, s>>>(x_out, x_in, branch, n, per_sample, drop);
  check_launch("drop_path_fwd");
}

template <class T>
void launch_drop_path_bwd(cudaStream_t s, T* dbranch, const T* dx, int B, size_t per_sample,
                          const DropoutSpec& drop) {
  const size_t n = size_t(B) * per_sample;
  if (n == 0) return;
  drop_path_bwd_kernel<<<blocks_for(n), kWindowThreads, 0, s>>>(dbranch, dx, n, per_sample, drop);
  check_launch("drop_path_bwd");
}

template <class T>
void launch_mean_tokens_fwd(cudaStream_t s, T* out, const T* x, int B, int L, int D) {
  const size_t n = size_t(B) * D;
  if (n == 0) return;
  mean_tokens_fwd_kernel<<<blocks_for(n), kWindowThreads, 0, s>>>(out, x, B, L, D, T(1) / T(L));
  check_launch("mean_tokens_fwd");
}

template <class T>
void launch_mean_tokens_bwd(cudaStream_t s, T* dx, const T* dout, int B, int L, int D) {
  const size_t n = size_t(B) * L * D;
  if (n == 0) return;
  mean_tokens_bwd_kernel<<<blocks_for(n), kWindowThreads, 0, s>>>(dx, dout, B, L, D, T(1) / T(L));
  check_launch("mean_tokens_bwd");
}

#define GW_INSTANTIATE(T)                                                                       \
  template void launch_attention_bias_fwd<T>(cudaStream_t, T*, T*, const T*, const T*, int,      \
                                             const AttnShape&);                                 \
  template void launch_attention_bias_bwd<T>(cudaStream_t, T*, T*, const T*, const T*, const T*, \
                                             const AttnShape&);                                 \
  template void launch_gather_rows<T>(cudaStream_t, T*, const T*, const int32_t*, int, int);    \
  template void launch_drop_path_fwd<T>(cudaStream_t, T*, const T*, const T*, int, size_t,       \
                                        const DropoutSpec&);                                    \
  template void launch_drop_path_bwd<T>(cudaStream_t, T*, const T*, int, size_t, const DropoutSpec&); \
  template void launch_mean_tokens_fwd<T>(cudaStream_t, T*, const T*, int, int, int);           \
  template void launch_mean_tokens_bwd<T>(cudaStream_t, T*, const T*, int, int, int);
GW_INSTANTIATE(float)
GW_INSTANTIATE(double)
#undef GW_INSTANTIATE

}  // namespace grwarm::cuda
