// Host-side launchers of the CUDA kernels (defined in the kernels_*.cu and flat_ops.cu files),
// one per backend op. Each launches on `stream`, checks the launch and returns at once.
// Semantics are those of the CPU backend's op of the same name (native/src/cpu/).
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "../core/backend.h"
#include "memory.h"

namespace grwarm::cuda {

// ---- kernels_elementwise.cu -------------------------------------------------------------
template <class T>
void launch_fill(cudaStream_t s, T* dst, T value, size_t n);
template <class T>
void launch_broadcast_rows(cudaStream_t s, T* Y, const T* b, int rows, int cols);
template <class T>
void launch_patchify(cudaStream_t s, T* X, const float* images, int B, int C, int S, int p);
template <class T>
void launch_embed_fwd(cudaStream_t s, T* x, const T* patches, const T* cls, const T* pos, int B,
                      int P, int D, const DropoutSpec& drop);
template <class T>
void launch_embed_bwd(cudaStream_t s, T* dpatches, T* dcls, T* dpos, const T* dx, int B, int P,
                      int D, const DropoutSpec& drop);
template <class T>
void launch_gelu_fwd(cudaStream_t s, T* out, const T* h, size_t n, GeluKind kind,
                     const DropoutSpec& drop);
template <class T>
void launch_gelu_bwd(cudaStream_t s, T* dh, const T* dout, const T* h, size_t n, GeluKind kind,
                     const DropoutSpec& drop);
template <class T>
void launch_residual_fwd(cudaStream_t s, T* x_out, const T* x_in, const T* branch, size_t n,
                         const DropoutSpec& drop);
template <class T>
void launch_dropout_bwd(cudaStream_t s, T* dbranch, const T* dx, size_t n,
                        const DropoutSpec& drop);
template <class T>
void launch_gather_cls(cudaStream_t s, T* out, const T* x, int B, int Tn, int D);
template <class T>
void launch_scatter_cls(cudaStream_t s, T* dx, const T* dcls, int B, int Tn, int D);

// ---- kernels_window.cu ------------------------------------------------------------------
template <class T>
void launch_attention_bias_fwd(cudaStream_t s, T* out, T* probs, const T* qkv, const T* bias,
                               int nb, const AttnShape& sh);
template <class T>
void launch_attention_bias_bwd(cudaStream_t s, T* dqkv, T* dscores, const T* dout, const T* qkv,
                               const T* probs, const AttnShape& sh);
template <class T>
void launch_gather_rows(cudaStream_t s, T* Y, const T* X, const int32_t* idx, int rows, int cols);
template <class T>
void launch_drop_path_fwd(cudaStream_t s, T* x_out, const T* x_in, const T* branch, int B,
                          size_t per_sample, const DropoutSpec& drop);
template <class T>
void launch_drop_path_bwd(cudaStream_t s, T* dbranch, const T* dx, int B, size_t per_sample,
                          const DropoutSpec& drop);
template <class T>
void launch_talking_heads_fwd(cudaStream_t s, T* out, T* saved, const T* qkv, const T* wl,
                              const T* bl, const T* ww, const T* bw, const AttnShape& sh);
template <class T>
void launch_talking_heads_bwd(cudaStream_t s, T* dqkv, T* dwl, T* dbl, T* dww, T* dbw, T* scratch,
                              const T* dout, const T* qkv, const T* saved, const T* wl,
                              const T* ww, const AttnShape& sh);
template <class T>
void launch_class_attention_fwd(cudaStream_t s, T* out, T* probs, const T* q, const T* k,
                                const T* v, const AttnShape& sh);
template <class T>
void launch_class_attention_bwd(cudaStream_t s, T* dq, T* dk, T* dv, const T* dout, const T* q,
                                const T* k, const T* v, const T* probs, const AttnShape& sh);
template <class T>
void launch_layer_scale_fwd(cudaStream_t s, T* y, const T* x, const T* gamma, int rows, int cols);
template <class T>
void launch_layer_scale_bwd(cudaStream_t s, Workspace& ws, T* dx, T* dgamma, const T* dy,
                            const T* x, const T* gamma, int rows, int cols);
template <class T>
void launch_mean_tokens_fwd(cudaStream_t s, T* out, const T* x, int B, int L, int D);
template <class T>
void launch_mean_tokens_bwd(cudaStream_t s, T* dx, const T* dout, int B, int L, int D);

// ---- kernels_reduce.cu ------------------------------------------------------------------
template <class T>
void launch_col_sum(cudaStream_t s, Workspace& ws, T* out, const T* X, int rows, int cols,
                    bool accumulate);

// ---- kernels_layernorm.cu ---------------------------------------------------------------
template <class T>
void launch_layernorm_fwd(cudaStream_t s, T* y, T* mean, T* rstd, const T* x, const T* g,
                          const T* b, int rows, int cols, T eps);
template <class T>
void launch_layernorm_bwd(cudaStream_t s, Workspace& ws, T* dx, T* dg, T* db, const T* dy,
                          const T* x, const T* mean, const T* rstd, const T* g, int rows, int cols,
                          bool accumulate_dx);

// ---- kernels_bf16.cu (and layernorm_fwd_bf16 in kernels_layernorm.cu) ----------------------
void launch_round_bf16(cudaStream_t s, uint16_t* dst, const float* src, size_t n);
void launch_layernorm_fwd_bf16(cudaStream_t s, uint16_t* y, float* mean, float* rstd,
                               const float* x, const float* g, const float* b, int rows, int cols,
                               float eps);
void launch_gelu_fwd_bf16(cudaStream_t s, uint16_t* out, const float* h, size_t n, GeluKind kind,
                          const DropoutSpec& drop);
void launch_col_sum_round_bf16(cudaStream_t s, Workspace& ws, float* out, uint16_t* Xb,
                               const float* X, int rows, int cols, const DropoutSpec& drop);
void launch_gelu_bwd_bf16(cudaStream_t s, Workspace& ws, float* db, uint16_t* dh_b,
                          const float* dout, const float* h, int rows, int cols, GeluKind kind,
                          const DropoutSpec& drop);
// ---- kernels_head.cu --------------------------------------------------------------------
template <class T>
void launch_softmax_xent(cudaStream_t s, T* dlogits, T* row_loss, uint8_t* row_correct,
                         const T* logits, const int32_t* labels, int B, int C, T smoothing);
template <class T>
void launch_loss_stats(cudaStream_t s, double* out, const T* row_loss, const uint8_t* row_correct,
                       int B);

// ---- flat_ops.cu (no FMA contraction: bit-exact GR/optimizer formulas) ----------------------------------------------
template <class T>
void launch_sum_squares(cudaStream_t s, Workspace& ws, double* out, const T* x, size_t n);
template <class T>
void launch_gr_perturb(cudaStream_t s, T* theta, T* saved, const T* g1, double r,
                       const double* g1_sq, size_t n);
template <class T>
void launch_gr_combine(cudaStream_t s, T* g, const T* g1, double alpha, size_t n);
template <class T>
void launch_optim_update(cudaStream_t s, T* theta, const T* g, T* s1, T* s2, T* s3, size_t n,
                         const OptimStep& step, bool decay, const double* g_sq);

}  // namespace grwarm::cuda
