// Multi-head self-attention: cuBLAS strided-batched products around two fused row kernels.
//
// qkv arrives in timm's fused layout [B, Tn, 3, H, hd], where one head's rows are 3*H*hd
// apart and heads of different sequences are not a constant stride apart, so no single
// strided-batched GEMM can address them. Each chunk of sequences is therefore first permuted
// into a head-major scratch layout [3][b][H][Tn][hd] (one contiguous [Tn, hd] block per head),
// and one strided-batched call then covers all the chunk's heads:
//   forward:  S = scale Q K^T (written straight into probs), softmax (+ dropout) per row,
//             O = P_dropped V, O permuted back into out [B, Tn, H*hd];
//   backward: dP = G V^T, softmax/dropout backward per row giving dS (scale included),
//             dV = P_dropped^T G, dQ = dS K, dK = dS^T Q, permuted back into dqkv.
// Sequences are processed in chunks so the scratch space stays bounded (kAttentionScratchBytes,
// memory.h) whatever the batch size.
//
// Rounding: the score scale is applied as cuBLAS's alpha, i.e. once to the finished dot
// product, as the CPU scales its unscaled scores. Row maxima and sums use warp butterflies
// (common.cuh), GEMM sums cuBLAS's order: agreement with the CPU is to float rounding, not
// bitwise. Element-wise steps (exp, the dropout masks, the softmax-backward formula) are the
// CPU's exactly.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "attention.h"
#include "check.h"
#include "common.cuh"

namespace grwarm::cuda {

namespace {

// Token layout [b][Tn][parts][H][hd] <-> head layout [parts][b][H][Tn][hd]. `i` walks the
// head layout, so hd-contiguous runs are read and written whole in both directions. Chunk
// sizes are capped (see Plan) so 32-bit index arithmetic suffices.
template <class T, bool kToHeads>
__global__ void permute_kernel(T* dst, const T* src, unsigned nb, unsigned Tn, unsigned parts,
                               unsigned H, unsigned hd, unsigned n) {
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    unsigned q = i;
    const unsigned d = q % hd;
    q /= hd;
    const unsigned t = q % Tn;
    q /= Tn;
    const unsigned h = q % H;
    q /= H;
    const unsigned b = q % nb;
    const unsigned part = q / nb;
    const unsigned tok = (((b * Tn + t) * parts + part) * H + h) * hd + d;
    if (kToHeads)
      dst[i] = src[tok];
    else
      dst[tok] = src[i];
  }
}

// Forward softmax of one score row per warp, in place: p = exp(s - max) / sum, as the CPU
// forms it (scaled scores in, gw_exp, multiply by 1/sum). Writes the dropped probabilities
// p * mask to `dropped` when dropout is active (mask index = the probs element's index).
template <class T>
__global__ void softmax_fwd_kernel(T* probs, T* dropped, int rows, int Tn, DropoutSpec drop,
                                   uint64_t mask_base) {
  const int row = blockIdx.x * kWarpsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= rows) return;
  T* p = probs + size_t(row) * Tn;
  T mx = -INFINITY;
  for (int j = lane; j < Tn; j += kWarp) mx = p[j] > mx ? p[j] : mx;
  mx = warp_max(mx);
  T sum = T(0);
  for (int j = lane; j < Tn; j += kWarp) {
    const T e = gw_exp(p[j] - mx);
    p[j] = e;
    sum += e;
  }
  const T inv = T(1) / warp_sum(sum);
  const uint64_t base = mask_base + uint64_t(row) * Tn;
  for (int j = lane; j < Tn; j += kWarp) {
    const T pj = p[j] * inv;
    p[j] = pj;
    if (dropped) dropped[size_t(row) * Tn + j] = pj * dropout_scale<T>(drop, base + j);
  }
}

// Backward of dropout and softmax, one row per warp, in place on ds (which holds dP = G V^T,
// the gradient w.r.t. the dropped probabilities):
//   g = dP * mask, dot = <p, g>, dS = p * (g - dot) * scale;
// and the dropped probabilities p * mask into `dropped` for dV when dropout is active.
template <class T>
__global__ void softmax_bwd_kernel(T* ds, T* dropped, const T* probs, int rows, int Tn,
                                   DropoutSpec drop, uint64_t mask_base, T scale) {
  const int row = blockIdx.x * kWarpsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= rows) return;
  const size_t off = size_t(row) * Tn;
  const uint64_t base = mask_base + uint64_t(row) * Tn;
  T dot = T(0);
  for (int j = lane; j < Tn; j += kWarp) {
    const T m = dropout_scale<T>(drop, base + j);
    const T pj = probs[off + j];
    const T g = ds[off + j] * m;
    ds[off + j] = g;
    if (dropped) dropped[off + j] = pj * m;
    dot += pj * g;
  }
  dot = warp_sum(dot);
  for (int j = lane; j < Tn; j += kWarp) ds[off + j] = probs[off + j] * (ds[off + j] - dot) * scale;
}

// How many sequences one chunk holds, and the sizes of one head's blocks.
struct Plan {
  int Tn, H, hd, D, nb;
  size_t head_elems;    // one [Tn, hd] head
  size_t square_elems;  // one [Tn, Tn] head

  Plan(const AttnShape& s, size_t elem_bytes) : Tn(s.Tn), H(s.H), hd(s.hd), D(s.H * s.hd) {
    head_elems = size_t(Tn) * hd;
    square_elems = size_t(Tn) * Tn;
    // Per sequence, the backward pass (the larger) keeps 7 head planes (q, k, v, dout, dq, dk,
    // dv) and 2 square planes (dS, dropped probs).
    const size_t per_seq = size_t(H) * (7 * head_elems + 2 * square_elems) * elem_bytes;
    const size_t fit = kAttentionScratchBytes / std::max<size_t>(per_seq, 1);
    nb = int(std::clamp<size_t>(fit, 1, size_t(s.B)));
    // 32-bit permute indices and int batch counts: one chunk's 3 head planes < 2^31 elements.
    if (3 * size_t(H) * head_elems >= (size_t(1) << 31))
      throw std::runtime_error("cuda attention: one sequence is too large for this kernel");
    while (nb > 1 && 3 * size_t(nb) * H * head_elems >= (size_t(1) << 31)) nb /= 2;
  }
};

template <class T>
void permute(cudaStream_t s, T* dst, const T* src, bool to_heads, int nb, const Plan& p,
             int parts) {
  const size_t n = size_t(parts) * nb * p.H * p.head_elems;
  if (to_heads)
    permute_kernel<T, true><<<flat_blocks(n), kThreads, 0, s>>>(dst, src, nb, p.Tn, parts, p.H,
                                                               p.hd, unsigned(n));
  else
    permute_kernel<T, false><<<flat_blocks(n), kThreads, 0, s>>>(dst, src, nb, p.Tn, parts, p.H,
                                                                p.hd, unsigned(n));
  check_launch("attention permute");
}

template <class T>
T* scratch(Context& ctx, Scratch slot, size_t elems) {
  return static_cast<T*>(ctx.workspace().get(slot, elems * sizeof(T), ctx.stream(), "attention"));
}

// 1 / sqrt(hd) in T, as the CPU computes it.
template <class T>
T score_scale(int hd) {
  return T(1) / std::sqrt(T(hd));
}

}  // namespace

template <class T>
void attention_forward(Context& ctx, T* out, T* probs, const T* qkv, const AttnShape& s,
                       const DropoutSpec& drop) {
  if (s.B <= 0 || s.Tn <= 0 || s.H <= 0 || s.hd <= 0) return;
  const Plan p(s, sizeof(T));
  const cudaStream_t st = ctx.stream();
  const Blas& blas = ctx.blas();
  const T scale = score_scale<T>(p.hd);
  const long long hs = (long long)p.head_elems, ss = (long long)p.square_elems;
  const size_t max_heads = size_t(p.nb) * p.H;
  T* heads = scratch<T>(ctx, Scratch::AttnHeads, 3 * max_heads * p.head_elems);
  T* o = scratch<T>(ctx, Scratch::AttnHeadsAux, max_heads * p.head_elems);
  T* dropped = drop.active() ? scratch<T>(ctx, Scratch::AttnSquareA, max_heads * p.square_elems)
                             : nullptr;
  for (int b0 = 0; b0 < s.B; b0 += p.nb) {
    const int nb = std::min(p.nb, s.B - b0), nh = nb * p.H;
    const size_t plane = size_t(nh) * p.head_elems;
    const T *q = heads, *k = heads + plane, *v = heads + 2 * plane;
    T* P = probs + size_t(b0) * p.H * p.square_elems;
    permute(st, heads, qkv + size_t(b0) * p.Tn * 3 * p.D, true, nb, p, 3);
    // S = scale * Q K^T, straight into probs; the softmax then runs in place.
    gemm_strided_batched<T>(blas, Trans::No, Trans::Yes, p.Tn, p.Tn, p.hd, scale, q, p.hd, hs, k,
                            p.hd, hs, T(0), P, p.Tn, ss, nh);
    const int rows = nh * p.Tn;
    softmax_fwd_kernel<<<row_blocks(rows), kThreads, 0, st>>>(
        P, dropped, rows, p.Tn, drop, uint64_t(b0) * p.H * p.square_elems);
    check_launch("attention_fwd");
    // O = dropout(P) V, then back to [b, Tn, H*hd].
    gemm_strided_batched<T>(blas, Trans::No, Trans::No, p.Tn, p.hd, p.Tn, T(1),
                            dropped ? dropped : P, p.Tn, ss, v, p.hd, hs, T(0), o, p.hd, hs, nh);
    permute(st, out + size_t(b0) * p.Tn * p.D, o, false, nb, p, 1);
  }
}

template <class T>
void attention_backward(Context& ctx, T* dqkv, const T* dout, const T* qkv, const T* probs,
                        const AttnShape& s, const DropoutSpec& drop) {
  if (s.B <= 0 || s.Tn <= 0 || s.H <= 0 || s.hd <= 0) return;
  const Plan p(s, sizeof(T));
  const cudaStream_t st = ctx.stream();
  const Blas& blas = ctx.blas();
  const T scale = score_scale<T>(p.hd);
  const long long hs = (long long)p.head_elems, ss = (long long)p.square_elems;
  const size_t max_heads = size_t(p.nb) * p.H;
  T* heads = scratch<T>(ctx, Scratch::AttnHeads, 3 * max_heads * p.head_elems);
  T* aux = scratch<T>(ctx, Scratch::AttnHeadsAux, 4 * max_heads * p.head_elems);
  T* ds = scratch<T>(ctx, Scratch::AttnSquareA, max_heads * p.square_elems);
  T* dropped = drop.active() ? scratch<T>(ctx, Scratch::AttnSquareB, max_heads * p.square_elems)
                             : nullptr;
  for (int b0 = 0; b0 < s.B; b0 += p.nb) {
    const int nb = std::min(p.nb, s.B - b0), nh = nb * p.H;
    const size_t plane = size_t(nh) * p.head_elems;
    const T *q = heads, *k = heads + plane, *v = heads + 2 * plane;
    T* g = aux;                // dout of the chunk, head layout
    T* dq = aux + plane;       // dq, dk, dv: three consecutive planes, as permute expects
    T* dk = aux + 2 * plane;
    T* dv = aux + 3 * plane;
    const T* P = probs + size_t(b0) * p.H * p.square_elems;
    permute(st, heads, qkv + size_t(b0) * p.Tn * 3 * p.D, true, nb, p, 3);
    permute(st, g, dout + size_t(b0) * p.Tn * p.D, true, nb, p, 1);
    // dP = G V^T, then dS (in place) and the dropped probabilities.
    gemm_strided_batched<T>(blas, Trans::No, Trans::Yes, p.Tn, p.Tn, p.hd, T(1), g, p.hd, hs, v,
                            p.hd, hs, T(0), ds, p.Tn, ss, nh);
    const int rows = nh * p.Tn;
    softmax_bwd_kernel<<<row_blocks(rows), kThreads, 0, st>>>(
        ds, dropped, P, rows, p.Tn, drop, uint64_t(b0) * p.H * p.square_elems, scale);
    check_launch("attention_bwd");
    // dV = dropout(P)^T G,  dQ = dS K,  dK = dS^T Q
    gemm_strided_batched<T>(blas, Trans::Yes, Trans::No, p.Tn, p.hd, p.Tn, T(1),
                            dropped ? dropped : P, p.Tn, ss, g, p.hd, hs, T(0), dv, p.hd, hs, nh);
    gemm_strided_batched<T>(blas, Trans::No, Trans::No, p.Tn, p.hd, p.Tn, T(1), ds, p.Tn, ss, k,
                            p.hd, hs, T(0), dq, p.hd, hs, nh);
    gemm_strided_batched<T>(blas, Trans::Yes, Trans::No, p.Tn, p.hd, p.Tn, T(1), ds, p.Tn, ss, q,
                            p.hd, hs, T(0), dk, p.hd, hs, nh);
    permute(st, dqkv + size_t(b0) * p.Tn * 3 * p.D, dq, false, nb, p, 3);
  }
}

#define GW_INSTANTIATE(T)                                                                        \
  template void attention_forward<T>(Context&, T*, T*, const T*, const AttnShape&,              \
                                     const DropoutSpec&);                                       \
  template void attention_backward<T>(Context&, T*, const T*, const T*, const T*,               \
                                      const AttnShape&, const DropoutSpec&);
GW_INSTANTIATE(float)
GW_INSTANTIATE(double)
#undef GW_INSTANTIATE

}  // namespace grwarm::cuda
