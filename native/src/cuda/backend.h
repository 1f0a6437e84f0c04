// The CUDA backend: Backend<T> on one GPU, one stream, cuBLAS for the matrix products.
//
// Every op binds the device, queues its work on the backend's stream and returns; only
// download, elapsed_ms and synchronize wait (backend.h). The kernels and their launchers are
// in the kernels_*.cu, flat_ops.cu and attention.cu files; this class only routes ops to them.
//
// Rounding: every kernel is compiled without FMA contraction (-fmad=false). The GR and
// optimizer passes give the CPU's bits; other element-wise ops round like the conformance
// suite's host references except in transcendental functions (CUDA's erf, double exp); row
// and global reductions sum in their own fixed orders and GEMMs in cuBLAS's, so the model
// agrees with the CPU backend to float rounding (native/tests: each op's tolerance), not bit
// for bit.
#pragma once
#include <memory>
#include <string>

#include "../core/backend.h"
#include "context.h"

namespace grwarm::cuda {

template <class T>
class CudaBackend final : public Backend<T> {
 public:
  // Throws std::runtime_error when the device or cuBLAS cannot be set up.
  CudaBackend(int device, const CublasApi& api) : ctx_(device, api) {}

  std::string name() const override { return "cuda"; }
  std::string describe() const override { return ctx_.summary(); }
  BackendCaps caps() const override {
    BackendCaps c;
    c.async = true;
    c.accelerator = true;
    return c;
  }
  // float32 with cublasGemmEx: the bf16 ops (CudaBf16 below); otherwise none.
  Bf16Ops* bf16() override;

  void synchronize() override { ctx_.synchronize(); }
  void mark(int slot) override { ctx_.mark(slot); }
  double elapsed_ms(int from, int to) override { return ctx_.elapsed_ms(from, to); }

  size_t memory_limit_bytes() const override { return ctx_.memory_limit(); }
  void* alloc_bytes(size_t bytes) override;
  void free_bytes(void* p) override;
  void upload(void* dst, const void* host_src, size_t bytes) override;
  void download(void* host_dst, const void* src, size_t bytes) override;
  void copy(T* dst, const T* src, size_t n) override;
  void fill(T* dst, T value, size_t n) override;

  void gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
            int ldb, T beta, T* C, int ldc) override;
  void broadcast_rows(T* Y, const T* b, int rows, int cols) override;
  void col_sum(T* out, const T* X, int rows, int cols, bool accumulate) override;

  void patchify(T* X, const float* images, int B, int C, int S, int p) override;
  void embed_fwd(T* x, const T* patches, const T* cls, const T* pos, int B, int P, int D,
                 const DropoutSpec& drop) override;
  void embed_bwd(T* dpatches, T* dcls, T* dpos, const T* dx, int B, int P, int D,
                 const DropoutSpec& drop) override;

  void layernorm_fwd(T* y, T* mean, T* rstd, const T* x, const T* g, const T* b, int rows, int cols,
                     T eps) override;
  void layernorm_bwd(T* dx, T* dg, T* db, const T* dy, const T* x, const T* mean, const T* rstd,
                     const T* g, int rows, int cols, bool accumulate_dx) override;
  void gelu_fwd(T* out, const T* h, size_t n, GeluKind kind, const DropoutSpec& drop) override;
  void gelu_bwd(T* dh, const T* dout, const T* h, size_t n, GeluKind kind,
                const DropoutSpec& drop) override;
  void residual_fwd(T* x_out, const T* x_in, const T* branch, size_t n,
                    const DropoutSpec& drop) override;
  void dropout_bwd(T* dbranch, const T* dx, size_t n, const DropoutSpec& drop) override;

  void attention_fwd(T* out, T* probs, const T* qkv, const AttnShape& s,
                     const DropoutSpec& drop) override;
  void attention_bwd(T* dqkv, const T* dout, const T* qkv, const T* probs, const AttnShape& s,
                     const DropoutSpec& drop) override;

  void attention_bias_fwd(T* out, T* probs, const T* qkv, const T* bias, int nb,
                          const AttnShape& s) override;
  void attention_bias_bwd(T* dqkv, T* dscores, const T* dout, const T* qkv, const T* probs,
                          const AttnShape& s) override;
  void gather_rows(T* Y, const T* X, const int32_t* idx, int rows, int cols) override;
  void drop_path_fwd(T* x_out, const T* x_in, const T* branch, int B, size_t per_sample,
                     const DropoutSpec& drop) override;
  void drop_path_bwd(T* dbranch, const T* dx, int B, size_t per_sample,
                     const DropoutSpec& drop) override;
  void talking_heads_fwd(T* out, T* saved, const T* qkv, const T* wl, const T* bl, const T* ww,
                         const T* bw, const AttnShape& s) override;
  void talking_heads_bwd(T* dqkv, T* dwl, T* dbl, T* dww, T* dbw, T* scratch, const T* dout,
                         const T* qkv, const T* saved, const T* wl, const T* ww,
                         const AttnShape& s) override;
  void class_attention_fwd(T* out, T* probs, const T* q, const T* k, const T* v,
                           const AttnShape& s) override;
  void class_attention_bwd(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                           const T* probs, const AttnShape& s) override;
  void layer_scale_fwd(T* y, const T* x, const T* gamma, int rows, int cols) override;
  void layer_scale_bwd(T* dx, T* dgamma, const T* dy, const T* x, const T* gamma, int rows,
                       int cols) override;
  void mean_tokens_fwd(T* out, const T* x, int B, int L, int D) override;
  void mean_tokens_bwd(T* dx, const T* dout, int B, int L, int D) override;

  void gather_cls(T* out, const T* x, int B, int Tn, int D) override;
  void scatter_cls(T* dx, const T* dcls, int B, int Tn, int D) override;
  void softmax_xent(T* dlogits, T* row_loss, uint8_t* row_correct, const T* logits,
                    const int32_t* labels, int B, int C, T smoothing) override;
  void loss_stats(double* out, const T* row_loss, const uint8_t* row_correct, int B) override;

  void sum_squares(double* out, const T* x, size_t n) override;
  void gr_perturb(T* theta, T* saved, const T* g1, double r, const double* g1_sq,
                  size_t n) override;
  void gr_combine(T* g, const T* g1, double alpha, size_t n) override;
  void optim_update(T* theta, const T* g, T* s1, T* s2, T* s3, size_t n, const OptimStep& step,
                    bool decay, const double* g_sq) override;

 private:
  friend class CudaBf16;
  static_assert(Context::kMarks == Backend<T>::kTimingMarks, "one CUDA event per timing mark");

  // Binds the device on the calling thread and returns the stream to launch on.
  cudaStream_t enter() {
    ctx_.bind();
    return ctx_.stream();
  }

  Context ctx_;
  std::unique_ptr<Bf16Ops> bf16_;  // created on first use
};

// The bf16 ops of the float32 CUDA backend, on its stream and workspace.
class CudaBf16 final : public Bf16Ops {
 public:
  explicit CudaBf16(CudaBackend<float>& be) : be_(be) {}
  void round_bf16(uint16_t* dst, const float* src, size_t n) override;
  void gemm_bf16(Trans ta, Trans tb, int M, int N, int K, const uint16_t* A, int lda,
                 const uint16_t* B, int ldb, float beta, float* C, int ldc) override;
  void linear_fwd_bf16(float* y, const uint16_t* x, const uint16_t* W, const float* b, int rows,
                       int out, int in) override;
  void layernorm_fwd_bf16(uint16_t* y, float* mean, float* rstd, const float* x, const float* g,
                          const float* b, int rows, int cols, float eps) override;
  void gelu_fwd_bf16(uint16_t* out, const float* h, size_t n, GeluKind kind,
                     const DropoutSpec& drop) override;
  void col_sum_round_bf16(float* out, uint16_t* Xb, const float* X, int rows, int cols,
                          const DropoutSpec& drop) override;
  void gelu_bwd_bf16(float* db, uint16_t* dh_b, const float* dout, const float* h, int rows,
                     int cols, GeluKind kind, const DropoutSpec& drop) override;

 private:
  CudaBackend<float>& be_;
};

}  // namespace grwarm::cuda
