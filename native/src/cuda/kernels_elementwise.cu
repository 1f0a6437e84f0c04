// Element-wise kernels: memory fills, embedding, activations, residuals, dropout, the class
// token. Each output element is one formula from include/grwarm/*.h applied to its inputs,
// compiled without fused multiply-adds (cmake/cuda.cmake: -fmad=false for every kernel), so it
// rounds like the conformance suite's host references (built with -ffp-contract=off): the
// copies, fills and dropout masks exactly, the arithmetic ops element for element where the
// formula uses only + - * / and sqrt. GELU's erf (and exp in float64) come from CUDA's math
// library, whose last bit may differ from glibc's. The CPU backend's own vectorised kernels
// may contract multiply-adds (-O3 -march, GCC's default contraction), so against the CPU
// backend expect agreement to a few ulps, not bit equality. Dropout masks are replayed from
// the element's index exactly as on the CPU (grwarm/dropout.h).
#include "common.cuh"
#include "check.h"
#include "kernels.h"

namespace grwarm::cuda {

namespace {

template <class T>
__global__ void fill_kernel(T* dst, T v, size_t n) {
  GW_GRID_STRIDE(i, n) dst[i] = v;
}

template <class T>
__global__ void broadcast_rows_kernel(T* Y, const T* b, size_t n, int cols) {
  GW_GRID_STRIDE(i, n) Y[i] = b[i % size_t(cols)];
}

// X [B*P, C*p*p]: row = one patch in timm's order (row-major over the patch grid), columns in
// (channel, ky, kx) order.
template <class T>
__global__ void patchify_kernel(T* X, const float* images, int C, int S, int p, int G,
                                size_t n) {
  const int P = G * G, K = C * p * p;
  GW_GRID_STRIDE(i, n) {
    const size_t row = i / size_t(K);
    const int k = int(i % size_t(K));
    const size_t b = row / size_t(P);
    const int cell = int(row % size_t(P)), gy = cell / G, gx = cell % G;
    const int c = k / (p * p), ky = (k / p) % p, kx = k % p;
    X[i] = T(images[((b * C + c) * S + size_t(gy) * p + ky) * S + size_t(gx) * p + kx]);
  }
}

// x[b, t, d]: the class token (t = 0) or patch t - 1, plus pos[t]; dropout on element index i.
template <class T>
__global__ void embed_fwd_kernel(T* x, const T* patches, const T* cls, const T* pos, int P, int D,
                                 DropoutSpec drop, size_t n) {
  const int Tn = P + 1;
  GW_GRID_STRIDE(i, n) {
    const size_t row = i / size_t(D);
    const int d = int(i % size_t(D));
    const size_t b = row / size_t(Tn);
    const int t = int(row % size_t(Tn));
    const T src = t == 0 ? cls[d] : patches[(b * P + t - 1) * D + d];
    x[i] = (src + pos[size_t(t) * D + d]) * dropout_scale<T>(drop, i);
  }
}

// dpatches[b, t-1, :] = masked dx[b, t, :] for the patch tokens t >= 1.
template <class T>
__global__ void embed_bwd_patches_kernel(T* dpatches, const T* dx, int P, int D, DropoutSpec drop,
                                         size_t n) {
  const int Tn = P + 1;
  GW_GRID_STRIDE(i, n) {
    const size_t row = i / size_t(D);
    const int d = int(i % size_t(D));
    const size_t xi = ((row / size_t(P)) * Tn + row % size_t(P) + 1) * D + d;
    dpatches[i] = dx[xi] * dropout_scale<T>(drop, xi);
  }
}

// dpos[t, d] = sum over b of masked dx[b, t, d]: one thread per (t, d) adding the batch in
// index order, the CPU's order, so without contraction on either side it gives the same bits.
template <class T>
__global__ void embed_bwd_pos_kernel(T* dpos, const T* dx, int B, int Tn, int D, DropoutSpec drop) {
  const size_t n = size_t(Tn) * D, batch_stride = n;
  GW_GRID_STRIDE(i, n) {
    T acc = T(0);
    for (int b = 0; b < B; ++b) {
      const size_t xi = size_t(b) * batch_stride + i;
      acc += dx[xi] * dropout_scale<T>(drop, xi);
    }
    dpos[i] = acc;
  }
}

template <class T>
__global__ void gelu_fwd_kernel(T* out, const T* h, size_t n, GeluKind kind, DropoutSpec drop) {
  GW_GRID_STRIDE(i, n) out[i] = gelu(h[i], kind) * dropout_scale<T>(drop, i);
}

template <class T>
__global__ void gelu_bwd_kernel(T* dh, const T* dout, const T* h, size_t n, GeluKind kind,
                                DropoutSpec drop) {
  GW_GRID_STRIDE(i, n) dh[i] = dout[i] * dropout_scale<T>(drop, i) * gelu_grad(h[i], kind);
}

template <class T>
__global__ void residual_fwd_kernel(T* x_out, const T* x_in, const T* branch, size_t n,
                                    DropoutSpec drop) {
  GW_GRID_STRIDE(i, n) x_out[i] = x_in[i] + branch[i] * dropout_scale<T>(drop, i);
}

template <class T>
__global__ void dropout_bwd_kernel(T* dbranch, const T* dx, size_t n, DropoutSpec drop) {
  GW_GRID_STRIDE(i, n) dbranch[i] = dx[i] * dropout_scale<T>(drop, i);
}

template <class T>
__global__ void gather_cls_kernel(T* out, const T* x, int Tn, int D, size_t n) {
  GW_GRID_STRIDE(i, n) out[i] = x[(i / size_t(D)) * size_t(Tn) * D + i % size_t(D)];
}

// dx[b, 0, :] = dcls[b, :], every other token row zero.
template <class T>
__global__ void scatter_cls_kernel(T* dx, const T* dcls, int Tn, int D, size_t n) {
  const size_t seq = size_t(Tn) * D;
  GW_GRID_STRIDE(i, n) {
    const size_t b = i / seq, within = i % seq;
    dx[i] = within < size_t(D) ? dcls[b * D + within] : T(0);
  }
}

}  // namespace

template <class T>
void launch_fill(cudaStream_t s, T* dst, T value, size_t n) {
  if (n == 0) return;
  fill_kernel<<<flat_blocks(n), kThreads, 0, s>>>(dst, value, n);
  check_launch("fill");
}

template <class T>
void launch_broadcast_rows(cudaStream_t s, T* Y, const T* b, int rows, int cols) {
  const size_t n = size_t(rows) * cols;
  if (n == 0) return;
  broadcast_rows_kernel<<<flat_blocks(n), kThreads, 0, s>>>(Y, b, n, cols);
  check_launch("broadcast_rows");
}

template <class T>
void launch_patchify(cudaStream_t s, T* X, const float* images, int B, int C, int S, int p) {
  const int G = S / p;
  const size_t n = size_t(B) * G * G * C * p * p;
  if (n == 0) return;
  patchify_kernel<<<flat_blocks(n), kThreads, 0, s>>>(X, images, C, S, p, G, n);
  check_launch("patchify");
}

template <class T>
void launch_embed_fwd(cudaStream_t s, T* x, const T* patches, const T* cls, const T* pos, int B,
                      int P, int D, const DropoutSpec& drop) {
  const size_t n = size_t(B) * (P + 1) * D;
  if (n == 0) return;
  embed_fwd_kernel<<<flat_blocks(n), kThreads, 0, s>>>(x, patches, cls, pos, P, D, drop, n);
  check_launch("embed_fwd");
}

template <class T>
void launch_embed_bwd(cudaStream_t s, T* dpatches, T* dcls, T* dpos, const T* dx, int B, int P,
                      int D, const DropoutSpec& drop) {
  const int Tn = P + 1;
  const size_t np = size_t(B) * P * D, npos = size_t(Tn) * D;
  if (np > 0) {
    embed_bwd_patches_kernel<<<flat_blocks(np), kThreads, 0, s>>>(dpatches, dx, P, D, drop, np);
    check_launch("embed_bwd");
  }
  if (npos == 0) return;
  embed_bwd_pos_kernel<<<flat_blocks(npos), kThreads, 0, s>>>(dpos, dx, B, Tn, D, drop);
  check_launch("embed_bwd");
  // The class token is added at t = 0 only, so its gradient is dpos[0] (as on the CPU).
  check(cudaMemcpyAsync(dcls, dpos, size_t(D) * sizeof(T), cudaMemcpyDeviceToDevice, s),
        "embed_bwd");
}

template <class T>
void launch_gelu_fwd(cudaStream_t s, T* out, const T* h, size_t n, GeluKind kind,
                     const DropoutSpec& drop) {
  if (n == 0) return;
  gelu_fwd_kernel<<<flat_blocks(n), kThreads, 0, s>>>(out, h, n, kind, drop);
  check_launch("gelu_fwd");
}

template <class T>
void launch_gelu_bwd(cudaStream_t s, T* dh, const T* dout, const T* h, size_t n, GeluKind kind,
                     const DropoutSpec& drop) {
  if (n == 0) return;
  gelu_bwd_kernel<<<flat_blocks(n), kThreads, 0, s>>>(dh, dout, h, n, kind, drop);
  check_launch("gelu_bwd");
}

template <class T>
void launch_residual_fwd(cudaStream_t s, T* x_out, const T* x_in, const T* branch, size_t n,
                         const DropoutSpec& drop) {
  if (n == 0) return;
  residual_fwd_kernel<<<flat_blocks(n), kThreads, 0, s>>>(x_out, x_in, branch, n, drop);
  check_launch("residual_fwd");
}

template <class T>
void launch_dropout_bwd(cudaStream_t s, T* dbranch, const T* dx, size_t n,
                        const DropoutSpec& drop) {
  if (n == 0) return;
  dropout_bwd_kernel<<<flat_blocks(n), kThreads, 0, s>>>(dbranch, dx, n, drop);
  check_launch("dropout_bwd");
}

template <class T>
void launch_gather_cls(cudaStream_t s, T* out, const T* x, int B, int Tn, int D) {
  const size_t n = size_t(B) * D;
  if (n == 0) return;
  gather_cls_kernel<<<flat_blocks(n), kThreads, 0, s>>>(out, x, Tn, D, n);
  check_launch("gather_cls");
}

template <class T>
void launch_scatter_cls(cudaStream_t s, T* dx, const T* dcls, int B, int Tn, int D) {
  const size_t n = size_t(B) * Tn * D;
  if (n == 0) return;
  scatter_cls_kernel<<<flat_blocks(n), kThreads, 0, s>>>(dx, dcls, Tn, D, n);
  check_launch("scatter_cls");
}

#define GW_INSTANTIATE(T)                                                                       \
  template void launch_fill<T>(cudaStream_t, T*, T, size_t);                                   \
  template void launch_broadcast_rows<T>(cudaStream_t, T*, const T*, int, int);                \
  template void launch_patchify<T>(cudaStream_t, T*, const float*, int, int, int, int);        \
  template void launch_embed_fwd<T>(cudaStream_t, T*, const T*, const T*, const T*, int, int,  \
                                    int, const DropoutSpec&);                                  \
  template void launch_embed_bwd<T>(cudaStream_t, T*, T*, T*, const T*, int, int, int,         \
                                    const DropoutSpec&);                                       \
  template void launch_gelu_fwd<T>(cudaStream_t, T*, const T*, size_t, GeluKind,               \
                                   const DropoutSpec&);                                        \
  template void launch_gelu_bwd<T>(cudaStream_t, T*, const T*, const T*, size_t, GeluKind,     \
                                   const DropoutSpec&);                                        \
  template void launch_residual_fwd<T>(cudaStream_t, T*, const T*, const T*, size_t,           \
                                       const DropoutSpec&);                                    \
  template void launch_dropout_bwd<T>(cudaStream_t, T*, const T*, size_t, const DropoutSpec&); \
  template void launch_gather_cls<T>(cudaStream_t, T*, const T*, int, int, int);               \
  template void launch_scatter_cls<T>(cudaStream_t, T*, const T*, int, int, int);
GW_INSTANTIATE(float)
GW_INSTANTIATE(double)
#undef GW_INSTANTIATE

}  // namespace grwarm::cuda
