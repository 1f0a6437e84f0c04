// A Backend decorator that times every op (wall clock, summed per op name).
//
// The registry wraps every backend in one when GRWARM_PROFILE is set in the environment; it
// prints the table to stderr when the model is destroyed. On a stream-ordered backend (CUDA)
// it synchronizes after each op so the times belong to the op (profiling runs slower). It lets anyone see where a step's
// time goes without touching the model or the kernels.
#pragma once
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "backend.h"

namespace grwarm {

template <class T>
class ProfilingBackend final : public Backend<T>, private Bf16Ops {
 public:
  explicit ProfilingBackend(std::unique_ptr<Backend<T>> inner) : in_(std::move(inner)) {}
  ~ProfilingBackend() override {
    double all = 0;
    for (auto& kv : ms_) all += kv.second;
    std::fprintf(stderr, "grwarm profile (%s): op, total ms, share\n", in_->name().c_str());
    for (auto& kv : ms_)
      std::fprintf(stderr, "  %-16s %10.1f %6.1f%%\n", kv.first.c_str(), kv.second,
                   all > 0 ? 100.0 * kv.second / all : 0.0);
  }
  std::string name() const override { return in_->name(); }
  BackendCaps caps() const override { return in_->caps(); }
  std::string describe() const override { return in_->describe() + " (profiled)"; }
  void synchronize() override { in_->synchronize(); }
  void mark(int slot) override { in_->mark(slot); }
  double elapsed_ms(int a, int b) override { return in_->elapsed_ms(a, b); }
  size_t memory_limit_bytes() const override { return in_->memory_limit_bytes(); }

#define GW_TIMED(op, call)                                                                   \
  auto t0 = std::chrono::steady_clock::now();                                                \
  call;                                                                                      \
  in_->synchronize();                                                                        \
  ms_[op] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0) \
                 .count()

  void* alloc_bytes(size_t n) override { return in_->alloc_bytes(n); }
  void free_bytes(void* p) override { in_->free_bytes(p); }
  void upload(void* d, const void* s, size_t n) override { GW_TIMED("upload", in_->upload(d, s, n)); }
  void download(void* d, const void* s, size_t n) override { GW_TIMED("download", in_->download(d, s, n)); }
  void copy(T* d, const T* s, size_t n) override { GW_TIMED("copy", in_->copy(d, s, n)); }
  void fill(T* d, T v, size_t n) override { GW_TIMED("fill", in_->fill(d, v, n)); }
  void gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
            int ldb, T beta, T* C, int ldc) override {
    GW_TIMED("gemm", in_->gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc));
  }
  void linear_fwd(T* y, const T* x, const T* W, const T* b, int r, int o, int i) override {
    GW_TIMED("linear_fwd", in_->linear_fwd(y, x, W, b, r, o, i));
  }
  // The inner backend's bf16 ops, timed the same way (null when it has none).
  Bf16Ops* bf16() override { return in_->bf16() ? this : nullptr; }
  void round_bf16(uint16_t* d, const float* s, size_t n) override {
    GW_TIMED("round_bf16", in_->bf16()->round_bf16(d, s, n));
  }
  void gemm_bf16(Trans ta, Trans tb, int M, int N, int K, const uint16_t* A, int lda,
                 const uint16_t* B, int ldb, float beta, float* C, int ldc) override {
    GW_TIMED("gemm_bf16", in_->bf16()->gemm_bf16(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc));
  }
  void linear_fwd_bf16(float* y, const uint16_t* x, const uint16_t* W, const float* b, int r,
                       int o, int i) override {
    GW_TIMED("linear_fwd_bf16", in_->bf16()->linear_fwd_bf16(y, x, W, b, r, o, i));
  }
  void layernorm_fwd_bf16(uint16_t* y, float* m, float* rs, const float* x, const float* g,
                          const float* b, int r, int c, float eps) override {
    GW_TIMED("layernorm_fwd_bf16", in_->bf16()->layernorm_fwd_bf16(y, m, rs, x, g, b, r, c, eps));
  }
  void gelu_fwd_bf16(uint16_t* o, const float* h, size_t n, GeluKind k,
                     const DropoutSpec& d) override {
    GW_TIMED("gelu_fwd_bf16", in_->bf16()->gelu_fwd_bf16(o, h, n, k, d));
  }
  void col_sum_round_bf16(float* o, uint16_t* xb, const float* x, int r, int c,
                          const DropoutSpec& d) override {
    GW_TIMED("col_sum_round_bf16", in_->bf16()->col_sum_round_bf16(o, xb, x, r, c, d));
  }
  void gelu_bwd_bf16(float* db, uint16_t* dhb, const float* dout, const float* h, int r, int c,
                     GeluKind k, const DropoutSpec& d) override {
    GW_TIMED("gelu_bwd_bf16", in_->bf16()->gelu_bwd_bf16(db, dhb, dout, h, r, c, k, d));
  }
  void attention_bias_fwd(T* o, T* p, const T* qkv, const T* bias, int nb,
                          const AttnShape& s) override {
    GW_TIMED("attention_bias_fwd", in_->attention_bias_fwd(o, p, qkv, bias, nb, s));
  }
  void attention_bias_bwd(T* dqkv, T* ds, const T* dout, const T* qkv, const T* p,
                          const AttnShape& s) override {
    GW_TIMED("attention_bias_bwd", in_->attention_bias_bwd(dqkv, ds, dout, qkv, p, s));
  }
  void gather_rows(T* Y, const T* X, const int32_t* idx, int r, int c) override {
    GW_TIMED("gather_rows", in_->gather_rows(Y, X, idx, r, c));
  }
  void drop_path_fwd(T* o, const T* x, const T* br, int B, size_t n, const DropoutSpec& d) override {
    GW_TIMED("drop_path_fwd", in_->drop_path_fwd(o, x, br, B, n, d));
  }
  void drop_path_bwd(T* db, const T* dx, int B, size_t n, const DropoutSpec& d) override {
    GW_TIMED("drop_path_bwd", in_->drop_path_bwd(db, dx, B, n, d));
  }
  void talking_heads_fwd(T* o, T* sv, const T* qkv, const T* wl, const T* bl, const T* ww,
                         const T* bw, const AttnShape& s) override {
    GW_TIMED("talking_heads_fwd", in_->talking_heads_fwd(o, sv, qkv, wl, bl, ww, bw, s));
  }
  void talking_heads_bwd(T* dq, T* dwl, T* dbl, T* dww, T* dbw, T* sc, const T* d, const T* qkv,
                         const T* sv, const T* wl, const T* ww, const AttnShape& s) override {
    GW_TIMED("talking_heads_bwd", in_->talking_heads_bwd(dq, dwl, dbl, dww, dbw, sc, d, qkv, sv, wl, ww, s));
  }
  void class_attention_fwd(T* o, T* p, const T* q, const T* k, const T* v, const AttnShape& s) override {
    GW_TIMED("class_attention_fwd", in_->class_attention_fwd(o, p, q, k, v, s));
  }
  void class_attention_bwd(T* dq, T* dk, T* dv, const T* d, const T* q, const T* k, const T* v,
                           const T* p, const AttnShape& s) override {
    GW_TIMED("class_attention_bwd", in_->class_attention_bwd(dq, dk, dv, d, q, k, v, p, s));
  }
  void layer_scale_fwd(T* y, const T* x, const T* g, int r, int c) override {
    GW_TIMED("layer_scale_fwd", in_->layer_scale_fwd(y, x, g, r, c));
  }
  void layer_scale_bwd(T* dx, T* dg, const T* dy, const T* x, const T* g, int r, int c) override {
    GW_TIMED("layer_scale_bwd", in_->layer_scale_bwd(dx, dg, dy, x, g, r, c));
  }
  void mean_tokens_fwd(T* o, const T* x, int B, int L, int D) override {
    GW_TIMED("mean_tokens_fwd", in_->mean_tokens_fwd(o, x, B, L, D));
  }
  void mean_tokens_bwd(T* dx, const T* d, int B, int L, int D) override {
    GW_TIMED("mean_tokens_bwd", in_->mean_tokens_bwd(dx, d, B, L, D));
  }
  void broadcast_rows(T* Y, const T* b, int r, int c) override {
    GW_TIMED("broadcast_rows", in_->broadcast_rows(Y, b, r, c));
  }
  void col_sum(T* o, const T* X, int r, int c, bool a) override {
    GW_TIMED("col_sum", in_->col_sum(o, X, r, c, a));
  }
  void patchify(T* X, const float* im, int B, int C, int S, int p) override {
    GW_TIMED("patchify", in_->patchify(X, im, B, C, S, p));
  }
  void embed_fwd(T* x, const T* pt, const T* cls, const T* pos, int B, int P, int D,
                 const DropoutSpec& d) override {
    GW_TIMED("embed_fwd", in_->embed_fwd(x, pt, cls, pos, B, P, D, d));
  }
  void embed_bwd(T* dp, T* dc, T* dpos, const T* dx, int B, int P, int D,
                 const DropoutSpec& d) override {
    GW_TIMED("embed_bwd", in_->embed_bwd(dp, dc, dpos, dx, B, P, D, d));
  }
  void layernorm_fwd(T* y, T* m, T* r, const T* x, const T* g, const T* b, int rows, int cols,
                     T eps) override {
    GW_TIMED("layernorm_fwd", in_->layernorm_fwd(y, m, r, x, g, b, rows, cols, eps));
  }
  void layernorm_bwd(T* dx, T* dg, T* db, const T* dy, const T* x, const T* m, const T* r,
                     const T* g, int rows, int cols, bool acc) override {
    GW_TIMED("layernorm_bwd", in_->layernorm_bwd(dx, dg, db, dy, x, m, r, g, rows, cols, acc));
  }
  void gelu_fwd(T* o, const T* h, size_t n, GeluKind k, const DropoutSpec& d) override {
    GW_TIMED("gelu_fwd", in_->gelu_fwd(o, h, n, k, d));
  }
  void gelu_bwd(T* dh, const T* dout, const T* h, size_t n, GeluKind k,
                const DropoutSpec& d) override {
    GW_TIMED("gelu_bwd", in_->gelu_bwd(dh, dout, h, n, k, d));
  }
  void residual_fwd(T* xo, const T* xi, const T* br, size_t n, const DropoutSpec& d) override {
    GW_TIMED("residual_fwd", in_->residual_fwd(xo, xi, br, n, d));
  }
  void dropout_bwd(T* db, const T* dx, size_t n, const DropoutSpec& d) override {
    GW_TIMED("dropout_bwd", in_->dropout_bwd(db, dx, n, d));
  }
  void attention_fwd(T* o, T* p, const T* qkv, const AttnShape& s, const DropoutSpec& d) override {
    GW_TIMED("attention_fwd", in_->attention_fwd(o, p, qkv, s, d));
  }
  void attention_bwd(T* dqkv, const T* dout, const T* qkv, const T* p, const AttnShape& s,
                     const DropoutSpec& d) override {
    GW_TIMED("attention_bwd", in_->attention_bwd(dqkv, dout, qkv, p, s, d));
  }
  void gather_cls(T* o, const T* x, int B, int Tn, int D) override {
    GW_TIMED("gather_cls", in_->gather_cls(o, x, B, Tn, D));
  }
  void scatter_cls(T* dx, const T* dc, int B, int Tn, int D) override {
    GW_TIMED("scatter_cls", in_->scatter_cls(dx, dc, B, Tn, D));
  }
  void softmax_xent(T* dl, T* rl, uint8_t* rc, const T* lg, const int32_t* lb, int B, int C,
                    T s) override {
    GW_TIMED("softmax_xent", in_->softmax_xent(dl, rl, rc, lg, lb, B, C, s));
  }
  void loss_stats(double* o, const T* rl, const uint8_t* rc, int B) override {
    GW_TIMED("loss_stats", in_->loss_stats(o, rl, rc, B));
  }
  void sum_squares(double* o, const T* x, size_t n) override {
    GW_TIMED("sum_squares", in_->sum_squares(o, x, n));
  }
  void gr_perturb(T* th, T* sv, const T* g1, double r, const double* sq, size_t n) override {
    GW_TIMED("gr_perturb", in_->gr_perturb(th, sv, g1, r, sq, n));
  }
  void gr_combine(T* g, const T* g1, double a, size_t n) override {
    GW_TIMED("gr_combine", in_->gr_combine(g, g1, a, n));
  }
  void optim_update(T* th, const T* g, T* s1, T* s2, T* s3, size_t n, const OptimStep& o, bool d,
                    const double* sq) override {
    GW_TIMED("optim_update", in_->optim_update(th, g, s1, s2, s3, n, o, d, sq));
  }
#undef GW_TIMED

 private:
  std::unique_ptr<Backend<T>> in_;
  std::map<std::string, double> ms_;
};

}  // namespace grwarm
