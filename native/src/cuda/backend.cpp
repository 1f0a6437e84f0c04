// CudaBackend<T>: routes each op of backend.h to its kernel launcher or cuBLAS call.
#include "backend.h"

#include "attention.h"
#include "check.h"
#include "gemm.h"

#include <type_traits>
#include "kernels.h"
#include "memory.h"

namespace grwarm::cuda {

// ---- memory -----------------------------------------------------------------------------

template <class T>
void* CudaBackend<T>::alloc_bytes(size_t bytes) {
  ctx_.bind();
  return device_alloc(bytes);
}

template <class T>
void CudaBackend<T>::free_bytes(void* p) {
  // Runs from the model's destructors: must not throw, so a failed bind is left to
  // device_free (which ignores errors) rather than reported.
  try {
    ctx_.bind();
  } catch (...) {
  }
  device_free(p, ctx_.stream());
}

template <class T>
void CudaBackend<T>::upload(void* dst, const void* host_src, size_t bytes) {
  if (bytes == 0) return;
  ctx_.staging().upload(dst, host_src, bytes, enter());
}

template <class T>
void CudaBackend<T>::download(void* host_dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  ctx_.staging().download(host_dst, src, bytes, enter());
}

template <class T>
void CudaBackend<T>::copy(T* dst, const T* src, size_t n) {
  if (n == 0 || dst == src) return;
  check(cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyDeviceToDevice, enter()), "copy");
}

template <class T>
void CudaBackend<T>::fill(T* dst, T value, size_t n) {
  launch_fill(enter(), dst, value, n);
}

// ---- dense algebra ----------------------------------------------------------------------

template <class T>
void CudaBackend<T>::gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda,
                          const T* B, int ldb, T beta, T* C, int ldc) {
  enter();
  cuda::gemm<T>(ctx_.blas(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <class T>
void CudaBackend<T>::broadcast_rows(T* Y, const T* b, int rows, int cols) {
  launch_broadcast_rows(enter(), Y, b, rows, cols);
}

// ---- bf16 mixed precision: float32 with cublasGemmEx only ---------------------------------

template <class T>
Bf16Ops* CudaBackend<T>::bf16() {
  if constexpr (std::is_same_v<T, float>) {
    if (ctx_.blas().api->gemm_ex == nullptr) return nullptr;
    if (!bf16_) bf16_ = std::make_unique<CudaBf16>(*this);
    return bf16_.get();
  } else {
    return nullptr;
  }
}

void CudaBf16::round_bf16(uint16_t* dst, const float* src, size_t n) {
  launch_round_bf16(be_.enter(), dst, src, n);
}

void CudaBf16::gemm_bf16(Trans ta, Trans tb, int M, int N, int K, const uint16_t* A, int lda,
                         const uint16_t* B, int ldb, float beta, float* C, int ldc) {
  be_.enter();
  cuda::gemm_bf16(be_.ctx_.blas(), ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void CudaBf16::linear_fwd_bf16(float* y, const uint16_t* x, const uint16_t* W, const float* b,
                               int rows, int out, int in) {
  be_.broadcast_rows(y, b, rows, out);
  gemm_bf16(Trans::No, Trans::Yes, rows, out, in, x, in, W, in, 1.0f, y, out);
}

void CudaBf16::layernorm_fwd_bf16(uint16_t* y, float* mean, float* rstd, const float* x,
                                  const float* g, const float* b, int rows, int cols, float eps) {
  launch_layernorm_fwd_bf16(be_.enter(), y, mean, rstd, x, g, b, rows, cols, eps);
}

void CudaBf16::gelu_fwd_bf16(uint16_t* out, const float* h, size_t n, GeluKind kind,
                             const DropoutSpec& drop) {
  launch_gelu_fwd_bf16(be_.enter(), out, h, n, kind, drop);
}

void CudaBf16::col_sum_round_bf16(float* out, uint16_t* Xb, const float* X, int rows, int cols,
                                  const DropoutSpec& drop) {
  launch_col_sum_round_bf16(be_.enter(), be_.ctx_.workspace(), out, Xb, X, rows, cols, drop);
}

void CudaBf16::gelu_bwd_bf16(float* db, uint16_t* dh_b, const float* dout, const float* h,
                             int rows, int cols, GeluKind kind, const DropoutSpec& drop) {
  launch_gelu_bwd_bf16(be_.enter(), be_.ctx_.workspace(), db, dh_b, dout, h, rows, cols, kind,
                       drop);
}

template <class T>
void CudaBackend<T>::col_sum(T* out, const T* X, int rows, int cols, bool accumulate) {
  launch_col_sum(enter(), ctx_.workspace(), out, X, rows, cols, accumulate);
}

// ---- embedding --------------------------------------------------------------------------

template <class T>
void CudaBackend<T>::patchify(T* X, const float* images, int B, int C, int S, int p) {
  launch_patchify(enter(), X, images, B, C, S, p);
}

template <class T>
void CudaBackend<T>::embed_fwd(T* x, const T* patches, const T* cls, const T* pos, int B, int P,
                               int D, const DropoutSpec& drop) {
  launch_embed_fwd(enter(), x, patches, cls, pos, B, P, D, drop);
}

template <class T>
void CudaBackend<T>::embed_bwd(T* dpatches, T* dcls, T* dpos, const T* dx, int B, int P, int D,
                               const DropoutSpec& drop) {
  launch_embed_bwd(enter(), dpatches, dcls, dpos, dx, B, P, D, drop);
}

// ---- normalisation / activations --------------------------------------------------------

template <class T>
void CudaBackend<T>::layernorm_fwd(T* y, T* mean, T* rstd, const T* x, const T* g, const T* b,
                                   int rows, int cols, T eps) {
  launch_layernorm_fwd(enter(), y, mean, rstd, x, g, b, rows, cols, eps);
}

template <class T>
void CudaBackend<T>::layernorm_bwd(T* dx, T* dg, T* db, const T* dy, const T* x, const T* mean,
                                   const T* rstd, const T* g, int rows, int cols,
                                   bool accumulate_dx) {
  launch_layernorm_bwd(enter(), ctx_.workspace(), dx, dg, db, dy, x, mean, rstd, g, rows, cols,
                       accumulate_dx);
}

template <class T>
void CudaBackend<T>::gelu_fwd(T* out, const T* h, size_t n, GeluKind kind,
                              const DropoutSpec& drop) {
  launch_gelu_fwd(enter(), out, h, n, kind, drop);
}

template <class T>
void CudaBackend<T>::gelu_bwd(T* dh, const T* dout, const T* h, size_t n, GeluKind kind,
                              const DropoutSpec& drop) {
  launch_gelu_bwd(enter(), dh, dout, h, n, kind, drop);
}

template <class T>
void CudaBackend<T>::residual_fwd(T* x_out, const T* x_in, const T* branch, size_t n,
                                  const DropoutSpec& drop) {
  launch_residual_fwd(enter(), x_out, x_in, branch, n, drop);
}

template <class T>
void CudaBackend<T>::dropout_bwd(T* dbranch, const T* dx, size_t n, const DropoutSpec& drop) {
  launch_dropout_bwd(enter(), dbranch, dx, n, drop);
}

// ---- attention --------------------------------------------------------------------------

template <class T>
void CudaBackend<T>::attention_fwd(T* out, T* probs, const T* qkv, const AttnShape& s,
                                   const DropoutSpec& drop) {
  enter();
  attention_forward(ctx_, out, probs, qkv, s, drop);
}

template <class T>
void CudaBackend<T>::attention_bwd(T* dqkv, const T* dout, const T* qkv, const T* probs,
                                   const AttnShape& s, const DropoutSpec& drop) {
  enter();
  attention_backward(ctx_, dqkv, dout, qkv, probs, s, drop);
}

// ---- head -------------------------------------------------------------------------------

template <class T>
void CudaBackend<T>::attention_bias_fwd(T* out, T* probs, const T* qkv, const T* bias, int nb,
                                        const AttnShape& s) {
  launch_attention_bias_fwd(enter(), out, probs, qkv, bias, nb, s);
}

template <class T>
void CudaBackend<T>::attention_bias_bwd(T* dqkv, T* dscores, const T* dout, const T* qkv,
                                        const T* probs, const AttnShape& s) {
  launch_attention_bias_bwd(enter(), dqkv, dscores, dout, qkv, probs, s);
}

template <class T>
void CudaBackend<T>::gather_rows(T* Y, const T* X, const int32_t* idx, int rows, int cols) {
  launch_gather_rows(enter(), Y, X, idx, rows, cols);
}

template <class T>
void CudaBackend<T>::drop_path_fwd(T* x_out, const T* x_in, const T* branch, int B,
                                   size_t per_sample, const DropoutSpec& drop) {
  launch_drop_path_fwd(enter(), x_out, x_in, branch, B, per_sample, drop);
}

template <class T>
void CudaBackend<T>::drop_path_bwd(T* dbranch, const T* dx, int B, size_t per_sample,
                                   const DropoutSpec& drop) {
  launch_drop_path_bwd(enter(), dbranch, dx, B, per_sample, drop);
}

template <class T>
void CudaBackend<T>::talking_heads_fwd(T* out, T* saved, const T* qkv, const T* wl, const T* bl,
                                       const T* ww, const T* bw, const AttnShape& s) {
  launch_talking_heads_fwd(enter(), out, saved, qkv, wl, bl, ww, bw, s);
}

template <class T>
void CudaBackend<T>::talking_heads_bwd(T* dqkv, T* dwl, T* dbl, T* dww, T* dbw, T* scratch,
                                       const T* dout, const T* qkv, const T* saved, const T* wl,
                                       const T* ww, const AttnShape& s) {
  launch_talking_heads_bwd(enter(), dqkv, dwl, dbl, dww, dbw, scratch, dout, qkv, saved, wl, ww, s);
}

template <class T>
void CudaBackend<T>::class_attention_fwd(T* out, T* probs, const T* q, const T* k, const T* v,
                                         const AttnShape& s) {
  launch_class_attention_fwd(enter(), out, probs, q, k, v, s);
}

template <class T>
void CudaBackend<T>::class_attention_bwd(T* dq, T* dk, T* dv, const T* dout, const T* q,
                                         const T* k, const T* v, const T* probs,
                                         const AttnShape& s) {
  launch_class_attention_bwd(enter(), dq, dk, dv, dout, q, k, v, probs, s);
}

template <class T>
void CudaBackend<T>::layer_scale_fwd(T* y, const T* x, const T* gamma, int rows, int cols) {
  launch_layer_scale_fwd(enter(), y, x, gamma, rows, cols);
}

template <class T>
void CudaBackend<T>::layer_scale_bwd(T* dx, T* dgamma, const T* dy, const T* x, const T* gamma,
                                     int rows, int cols) {
  launch_layer_scale_bwd(enter(), ctx_.workspace(), dx, dgamma, dy, x, gamma, rows, cols);
}

template <class T>
void CudaBackend<T>::mean_tokens_fwd(T* out, const T* x, int B, int L, int D) {
  launch_mean_tokens_fwd(enter(), out, x, B, L, D);
}

template <class T>
void CudaBackend<T>::mean_tokens_bwd(T* dx, const T* dout, int B, int L, int D) {
  launch_mean_tokens_bwd(enter(), dx, dout, B, L, D);
}

template <class T>
void CudaBackend<T>::gather_cls(T* out, const T* x, int B, int Tn, int D) {
  launch_gather_cls(enter(), out, x, B, Tn, D);
}

template <class T>
void CudaBackend<T>::scatter_cls(T* dx, const T* dcls, int B, int Tn, int D) {
  launch_scatter_cls(enter(), dx, dcls, B, Tn, D);
}

template <class T>
void CudaBackend<T>::softmax_xent(T* dlogits, T* row_loss, uint8_t* row_correct, const T* logits,
                                  const int32_t* labels, int B, int C, T smoothing) {
  launch_softmax_xent(enter(), dlogits, row_loss, row_correct, logits, labels, B, C, smoothing);
}

template <class T>
void CudaBackend<T>::loss_stats(double* out, const T* row_loss, const uint8_t* row_correct,
                                int B) {
  launch_loss_stats(enter(), out, row_loss, row_correct, B);
}

// ---- flat passes ------------------------------------------------------------------------

template <class T>
void CudaBackend<T>::sum_squares(double* out, const T* x, size_t n) {
  launch_sum_squares(enter(), ctx_.workspace(), out, x, n);
}

template <class T>
void CudaBackend<T>::gr_perturb(T* theta, T* saved, const T* g1, double r, const double* g1_sq,
                                size_t n) {
  launch_gr_perturb(enter(), theta, saved, g1, r, g1_sq, n);
}

template <class T>
void CudaBackend<T>::gr_combine(T* g, const T* g1, double alpha, size_t n) {
  launch_gr_combine(enter(), g, g1, alpha, n);
}

template <class T>
void CudaBackend<T>::optim_update(T* theta, const T* g, T* s1, T* s2, T* s3, size_t n,
                                  const OptimStep& step, bool decay, const double* g_sq) {
  launch_optim_update(enter(), theta, g, s1, s2, s3, n, step, decay, g_sq);
}

template class CudaBackend<float>;
template class CudaBackend<double>;

}  // namespace grwarm::cuda
