// bf16 mixed-precision kernels (Backend ops *_bf16): the same formulas as the float32 kernels
// and the CPU backend (include/grwarm/*.h), with the outputs that only feed GEMMs written as
// bf16 (grwarm/bf16.h). Bias gradients are deterministic column sums (column_reduce.cuh) whose
// term functors also write the rounded element: column_partials_kernel evaluates every (r, c)
// exactly once.
#include "check.h"
#include "column_reduce.cuh"
#include "common.cuh"
#include "grwarm/activations.h"
#include "grwarm/bf16.h"
#include "kernels.h"

namespace grwarm::cuda {

namespace {

__global__ void round_bf16_kernel(uint16_t* dst, const float* src, size_t n) {
  GW_GRID_STRIDE(i, n) dst[i] = bf16_round(src[i]);
}

__global__ void gelu_fwd_bf16_kernel(uint16_t* out, const float* h, size_t n, GeluKind kind,
                                     DropoutSpec drop) {
  GW_GRID_STRIDE(i, n) out[i] = bf16_round(gelu(h[i], kind) * dropout_scale<float>(drop, i));
}

// X' = dropout(X): contributes X'[r, c] to column c and writes bf16(X') to Xb.
struct DropoutRoundTerm {
  static constexpr int kOut = 1;
  const float* X;
  uint16_t* Xb;
  int cols;
  DropoutSpec drop;
  __device__ void operator()(int r, int c, float* v) const {
    const size_t i = size_t(r) * cols + c;
    const float x = X[i] * dropout_scale<float>(drop, i);
    Xb[i] = bf16_round(x);
    v[0] = x;
  }
};

// dh = dout * dropout * gelu'(h): contributes dh[r, c] to column c, writes bf16(dh) to dh_b.
struct GeluBwdRoundTerm {
  static constexpr int kOut = 1;
  const float *dout, *h;
  uint16_t* dh_b;
  int cols;
  GeluKind kind;
  DropoutSpec drop;
  __device__ void operator()(int r, int c, float* v) const {
    const size_t i = size_t(r) * cols + c;
    const float dh = dout[i] * dropout_scale<float>(drop, i) * gelu_grad(h[i], kind);
    dh_b[i] = bf16_round(dh);
    v[0] = dh;
  }
};

}  // namespace

void launch_round_bf16(cudaStream_t s, uint16_t* dst, const float* src, size_t n) {
  if (n == 0) return;
  round_bf16_kernel<<<flat_blocks(n), kThreads, 0, s>>>(dst, src, n);
  check_launch("round_bf16");
}

void launch_gelu_fwd_bf16(cudaStream_t s, uint16_t* out, const float* h, size_t n, GeluKind kind,
                          const DropoutSpec& drop) {
  if (n == 0) return;
  gelu_fwd_bf16_kernel<<<flat_blocks(n), kThreads, 0, s>>>(out, h, n, kind, drop);
  check_launch("gelu_fwd_bf16");
}

void launch_col_sum_round_bf16(cudaStream_t s, Workspace& ws, float* out, uint16_t* Xb,
                               const float* X, int rows, int cols, const DropoutSpec& drop) {
  column_reduce(s, ws, out, static_cast<float*>(nullptr), rows, cols, false,
                DropoutRoundTerm{X, Xb, cols, drop}, "col_sum_round_bf16");
}

void launch_gelu_bwd_bf16(cudaStream_t s, Workspace& ws, float* db, uint16_t* dh_b,
                          const float* dout, const float* h, int rows, int cols, GeluKind kind,
                          const DropoutSpec& drop) {
  column_reduce(s, ws, db, static_cast<float*>(nullptr), rows, cols, false,
                GeluBwdRoundTerm{dout, h, dh_b, cols, kind, drop}, "gelu_bwd_bf16");
}

}  // namespace grwarm::cuda
