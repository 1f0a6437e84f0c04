// The seam between the model and the hardware.
//
// A model family's Net<T> (family.h) decides which op runs on which buffer view and in which order; a
// Backend<T> implements the ops. Every pointer handed to a backend lives in that backend's
// memory (host memory for the CPU backend, device memory for the CUDA backend), except the
// `host_*` arguments of upload/download. Ops are stream-ordered: a backend may return before
// an op has finished (CUDA does), and only download(), elapsed_ms() and synchronize() wait.
// Per-step scalars (norms, loss sums) are written to backend memory (`double* out`) and read
// back once by the model, so a GR step needs no round trip between its phases.
//
// All reductions must be deterministic: the same inputs and thread count give the same bits.
// The element-wise formulas come from include/grwarm/*.h and are identical on every backend;
// row and global reductions may sum in a different order per backend (see the tolerances of
// the conformance suite, native/tests/).
//
// Errors: an op throws std::runtime_error (or a subclass) with a message saying what failed;
// alloc_bytes throws std::bad_alloc when memory runs out, and leaves nothing allocated.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "grwarm/activations.h"
#include "grwarm/dropout.h"
#include "grwarm/optim.h"

namespace grwarm {

enum class Trans { No, Yes };

// Shapes of one attention call: B sequences of Tn tokens, H heads of hd channels.
struct AttnShape {
  int B, Tn, H, hd;
};

// What a backend can do, asked by the model instead of its name.
struct BackendCaps {
  // Its buffers are ordinary host memory: a communicator or the host may read them directly
  // (once synchronize() returned), no staging copy needed.
  bool host_memory = false;
  // Ops may return before they finish (stream-ordered); download/synchronize wait.
  bool async = false;
  // An accelerator ("auto" prefers it over the CPU).
  bool accelerator = false;
};

// bf16 mixed precision (include/grwarm/bf16.h), an optional interface: a backend that has it
// (float32 master weights only) returns it from Backend<float>::bf16(); others return null, so
// no op has to refuse. GEMM inputs are rounded to bf16 and multiplied with float32
// accumulation and output; the model keeps everything else in float32.
class Bf16Ops {
 public:
  virtual ~Bf16Ops() = default;
  // dst[i] = bf16_round(src[i])
  virtual void round_bf16(uint16_t* dst, const float* src, size_t n) = 0;
  // C[M,N] = op(A) op(B) + beta * C with A, B bf16 (alpha = 1).
  virtual void gemm_bf16(Trans ta, Trans tb, int M, int N, int K, const uint16_t* A, int lda,
                         const uint16_t* B, int ldb, float beta, float* C, int ldc) = 0;
  // y[rows, out] = x W^T + b with bf16 x and W (Backend::linear_fwd with rounded inputs).
  virtual void linear_fwd_bf16(float* y, const uint16_t* x, const uint16_t* W, const float* b,
                               int rows, int out, int in) = 0;
  // linear_residual_fwd with bf16 x and W (x_out, x_res float32); false: not fused here.
  virtual bool linear_residual_fwd_bf16(float* x_out, const float* x_res, const uint16_t* x,
                                        const uint16_t* W, const float* b, int rows, int out,
                                        int in) {
    (void)x_out, (void)x_res, (void)x, (void)W, (void)b, (void)rows, (void)out, (void)in;
    return false;
  }
  // bf16-mode producers: the op of the same name with its output written as bf16 only (it is
  // a GEMM input nothing else reads), saving a float32 write and a rounding pass.
  virtual void layernorm_fwd_bf16(uint16_t* y, float* mean, float* rstd, const float* x,
                                  const float* g, const float* b, int rows, int cols,
                                  float eps) = 0;
  virtual void gelu_fwd_bf16(uint16_t* out, const float* h, size_t n, GeluKind kind,
                             const DropoutSpec& drop) = 0;
  // With X' = dropout(X) (dropout_bwd's mask; inactive: X' = X): out[c] = sum_r X'[r, c] (like
  // col_sum, summed in another fixed order) and Xb = bf16(X'), in one pass over X. A Linear
  // layer's bias gradient and rounded output gradient, fused with the dropout in front of it.
  virtual void col_sum_round_bf16(float* out, uint16_t* Xb, const float* X, int rows, int cols,
                                  const DropoutSpec& drop) = 0;
  // gelu_bwd fused with the bias gradient and the rounding of the next GEMMs' input:
  // dh = gelu'(h) * dropout(dout) over [rows, cols], then db = colsum(dh), dh_b = bf16(dh);
  // dh itself is never stored.
  virtual void gelu_bwd_bf16(float* db, uint16_t* dh_b, const float* dout, const float* h,
                             int rows, int cols, GeluKind kind, const DropoutSpec& drop) = 0;
};

template <class T>
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual BackendCaps caps() const = 0;
  // The bf16 ops, or nullptr when this backend has none (always for float64). The object
  // lives as long as the backend.
  virtual Bf16Ops* bf16() { return nullptr; }
  // One line about the hardware, for info(): e.g. "NVIDIA H100 (sm_90), cuBLAS 13.0".
  virtual std::string describe() const { return name(); }

  // ---- ordering and timing --------------------------------------------------------------
  // Waits until every op issued so far has finished (a no-op on the CPU).
  virtual void synchronize() = 0;
  // Records timing mark `slot` (0 <= slot < kTimingMarks) in stream order; elapsed_ms(a, b)
  // waits for mark b and returns the milliseconds between the two marks as the backend
  // measured them (CUDA events on the GPU, the steady clock on the CPU).
  static constexpr int kTimingMarks = 8;
  virtual void mark(int slot) = 0;
  virtual double elapsed_ms(int from, int to) = 0;

  // ---- memory -------------------------------------------------------------------------
  // The most memory the model may plan for (physical RAM, device memory); 0 = unknown. A
  // batch needing more is refused with a clear error before anything is allocated.
  virtual size_t memory_limit_bytes() const { return 0; }
  virtual void* alloc_bytes(size_t bytes) = 0;
  virtual void free_bytes(void* p) = 0;
  virtual void upload(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void download(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy(T* dst, const T* src, size_t n) = 0;
  virtual void fill(T* dst, T value, size_t n) = 0;

  // ---- dense algebra (row-major) --------------------------------------------------------
  // C[M,N] = alpha * op(A) * op(B) + beta * C
  virtual void gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda,
                    const T* B, int ldb, T beta, T* C, int ldc) = 0;
  // y[rows, out] = x W^T + b, W [out, in]: a linear layer's forward GEMM with its bias. A
  // backend may fuse the bias into the GEMM; the default broadcasts it, then GEMMs with beta 1.
  virtual void linear_fwd(T* y, const T* x, const T* W, const T* b, int rows, int out, int in) {
    broadcast_rows(y, b, rows, out);
    gemm(Trans::No, Trans::Yes, rows, out, in, T(1), x, in, W, in, T(1), y, out);
  }
  // x_out[rows, out] = x_res + (x W^T + b): a linear layer whose output is only added to the
  // residual stream (no dropout on it), with the add fused into the GEMM's epilogue. Returns
  // false, having done nothing, when this backend has no fused form for the case; the caller
  // then runs linear_fwd and residual_fwd. x_out must not alias x_res.
  virtual bool linear_residual_fwd(T* x_out, const T* x_res, const T* x, const T* W, const T* b,
                                   int rows, int out, int in) {
    (void)x_out, (void)x_res, (void)x, (void)W, (void)b, (void)rows, (void)out, (void)in;
    return false;
  }
  // Y[r, :] = b for every row (bias broadcast before a beta = 1 GEMM).
  virtual void broadcast_rows(T* Y, const T* b, int rows, int cols) = 0;
  // out[c] (+)= sum_r X[r, c]
  virtual void col_sum(T* out, const T* X, int rows, int cols, bool accumulate) = 0;

  // ---- embedding ------------------------------------------------------------------------
  // images float32 [B, C, S, S] -> X [B * P, C*p*p], rows ordered as timm's patch order.
  virtual void patchify(T* X, const float* images, int B, int C, int S, int p) = 0;
  // x[b, 0] = cls + pos[0]; x[b, 1 + i] = patches[b, i] + pos[1 + i]; then dropout.
  virtual void embed_fwd(T* x, const T* patches, const T* cls, const T* pos, int B, int P, int D,
                         const DropoutSpec& drop) = 0;
  // Gradients of embed_fwd w.r.t. patches, cls and pos (dx is the residual-stream grad).
  virtual void embed_bwd(T* dpatches, T* dcls, T* dpos, const T* dx, int B, int P, int D,
                         const DropoutSpec& drop) = 0;

  // ---- normalisation / activations ------------------------------------------------------
  virtual void layernorm_fwd(T* y, T* mean, T* rstd, const T* x, const T* g, const T* b, int rows,
                             int cols, T eps) = 0;
  // dx (+)= d/dx, dg = sum over rows, db = sum over rows (dg/db are overwritten).
  virtual void layernorm_bwd(T* dx, T* dg, T* db, const T* dy, const T* x, const T* mean,
                             const T* rstd, const T* g, int rows, int cols, bool accumulate_dx) = 0;
  // out = dropout(gelu(h))
  virtual void gelu_fwd(T* out, const T* h, size_t n, GeluKind kind, const DropoutSpec& drop) = 0;
  // dh = gelu'(h) * dropout(dout)
  virtual void gelu_bwd(T* dh, const T* dout, const T* h, size_t n, GeluKind kind,
                        const DropoutSpec& drop) = 0;
  // x_out = x_in + dropout(branch)   (x_out may alias x_in)
  virtual void residual_fwd(T* x_out, const T* x_in, const T* branch, size_t n,
                            const DropoutSpec& drop) = 0;
  // dbranch = dropout(dx)
  virtual void dropout_bwd(T* dbranch, const T* dx, size_t n, const DropoutSpec& drop) = 0;

  // ---- attention ------------------------------------------------------------------------
  // qkv [B, Tn, 3, H, hd] (timm's fused layout) -> out [B, Tn, H*hd];
  // probs [B, H, Tn, Tn] keeps softmax(q k^T / sqrt(hd)) before dropout for the backward pass.
  virtual void attention_fwd(T* out, T* probs, const T* qkv, const AttnShape& s,
                             const DropoutSpec& drop) = 0;
  virtual void attention_bwd(T* dqkv, const T* dout, const T* qkv, const T* probs,
                             const AttnShape& s, const DropoutSpec& drop) = 0;

  // Attention within windows with an additive bias (Swin's relative position bias, plus the
  // shifted-window mask): qkv [B, Tn, 3, H, hd] as attention_fwd, scores
  // S = q k^T / sqrt(hd) + bias[b mod nb, h] (bias [nb, H, Tn, Tn]), P = softmax(S) kept in
  // probs [B, H, Tn, Tn], out [B, Tn, H*hd] = P v. No dropout (Swin's attention has none).
  virtual void attention_bias_fwd(T* out, T* probs, const T* qkv, const T* bias, int nb,
                                  const AttnShape& s) = 0;
  // dqkv, and dscores [B, H, Tn, Tn] = dL/dS: the gradient of each sequence's bias.
  virtual void attention_bias_bwd(T* dqkv, T* dscores, const T* dout, const T* qkv,
                                  const T* probs, const AttnShape& s) = 0;

  // ---- token rearrangement and pooling (hierarchical families: Swin) ---------------------
  // Y[r, :] = X[idx[r], :] for r < rows, `cols` values per row (idx: int32, backend memory).
  // Swin's cyclic shift with window partition, the window reverse and patch merging's 2x2
  // gather are row permutations; the backward of one is this op with the inverse permutation.
  virtual void gather_rows(T* Y, const T* X, const int32_t* idx, int rows, int cols) = 0;
  // Stochastic depth (drop path): x_out[b, :] = x_in[b, :] + m_b branch[b, :] for B samples of
  // per_sample elements, m_b = dropout_scale(drop, b) (0 or 1/(1-p), keyed by the sample
  // index; 1 when inactive). x_out may alias x_in.
  virtual void drop_path_fwd(T* x_out, const T* x_in, const T* branch, int B, size_t per_sample,
                             const DropoutSpec& drop) = 0;
  // dbranch[b, :] = m_b dx[b, :]
  virtual void drop_path_bwd(T* dbranch, const T* dx, int B, size_t per_sample,
                             const DropoutSpec& drop) = 0;
  // out[b, :] = (1/L) sum over l of x[b, l, :]   (x [B, L, D]; l ascending, a fixed order)
  virtual void mean_tokens_fwd(T* out, const T* x, int B, int L, int D) = 0;
  // dx[b, l, :] = dout[b, :] / L
  virtual void mean_tokens_bwd(T* dx, const T* dout, int B, int L, int D) = 0;

  // ---- CaiT (Touvron et al. 2021) ------------------------------------------------------------
  // Talking-heads attention (timm's TalkingHeadAttn): qkv [B, Tn, 3, H, hd] as attention_fwd;
  // per sequence b and query i, S[h] = q_h k_h^T / sqrt(hd), logits L[g] = sum_h wl[g, h] S[h]
  // + bl[g] (proj_l, mixing across heads), P = softmax(L) over keys, A[g] = sum_h ww[g, h] P[h]
  // + bw[g] (proj_w), out [B, Tn, H*hd] = A v. saved [3, B, H, Tn, Tn] keeps S, P and A for
  // the backward pass. No dropout.
  virtual void talking_heads_fwd(T* out, T* saved, const T* qkv, const T* wl, const T* bl,
                                 const T* ww, const T* bw, const AttnShape& s) = 0;
  // dqkv and the mixing gradients dwl, dbl, dww, dbw (all written, not added); scratch holds
  // 3 x [B, H, Tn, Tn]. Reductions over (b, i, j) in a fixed order.
  virtual void talking_heads_bwd(T* dqkv, T* dwl, T* dbl, T* dww, T* dbw, T* scratch,
                                 const T* dout, const T* qkv, const T* saved, const T* wl,
                                 const T* ww, const AttnShape& s) = 0;
  // Class attention (timm's ClassAttn): one query per sequence, q [B, H*hd]; k, v
  // [B, Tn, H*hd]; probs [B, H, Tn] = softmax(q_h k_h^T / sqrt(hd)); out [B, H*hd] = P v.
  virtual void class_attention_fwd(T* out, T* probs, const T* q, const T* k, const T* v,
                                   const AttnShape& s) = 0;
  // dq [B, H*hd], dk, dv [B, Tn, H*hd], written.
  virtual void class_attention_bwd(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k,
                                   const T* v, const T* probs, const AttnShape& s) = 0;
  // LayerScale: y[r, c] = gamma[c] x[r, c] (y may alias x).
  virtual void layer_scale_fwd(T* y, const T* x, const T* gamma, int rows, int cols) = 0;
  // dx[r, c] = gamma[c] dy[r, c] (dx may alias dy); dgamma[c] = sum_r dy[r, c] x[r, c]
  // (written; rows ascending).
  virtual void layer_scale_bwd(T* dx, T* dgamma, const T* dy, const T* x, const T* gamma,
                               int rows, int cols) = 0;

  // ---- head -----------------------------------------------------------------------------
  // out[b, :] = x[b, 0, :]  and its transpose-scatter for the backward pass (rest zeroed).
  virtual void gather_cls(T* out, const T* x, int B, int Tn, int D) = 0;
  virtual void scatter_cls(T* dx, const T* dcls, int B, int Tn, int D) = 0;
  // Per-row loss and correctness; dlogits = d(mean loss)/d logits when dlogits != nullptr.
  virtual void softmax_xent(T* dlogits, T* row_loss, uint8_t* row_correct, const T* logits,
                            const int32_t* labels, int B, int C, T smoothing) = 0;

  // out[0] = sum over rows of row_loss (in double, rows in index order on the CPU),
  // out[1] = number of rows with row_correct != 0 (as a double). `out` is backend memory.
  virtual void loss_stats(double* out, const T* row_loss, const uint8_t* row_correct, int B) = 0;

  // ---- whole-model passes over flat buffers -----------------------------------------------
  // *out = sum of squares in double over fixed 16384-element chunks (kSumSquaresChunk), chunk
  // sums added in index order on the CPU: the same bits for any thread count (and the order
  // the TS unfused step uses). A GPU adds the chunk sums in a fixed tree order instead (two
  // deterministic stages, no atomics). `out` is backend memory.
  virtual void sum_squares(double* out, const T* x, size_t n) = 0;
  // saved = theta; theta = gr_perturbed(theta, g1, gr_scale(r, *g1_sq)). g1_sq: backend memory.
  virtual void gr_perturb(T* theta, T* saved, const T* g1, double r, const double* g1_sq,
                          size_t n) = 0;
  // g = gr_combined(g1, g, 1 - alpha, alpha)   (g holds g2 on entry)
  virtual void gr_combine(T* g, const T* g1, double alpha, size_t n) = 0;
  // optim_update over n consecutive parameters (state slots may be null when unused), with
  // step.grad_scale = clip_scale(*g_sq, step.clip) computed from the backend-memory norm.
  // When *g_sq is not finite nothing is written (the step is skipped, see optim.h).
  virtual void optim_update(T* theta, const T* g, T* s1, T* s2, T* s3, size_t n,
                            const OptimStep& step, bool decay, const double* g_sq) = 0;
};

}  // namespace grwarm
