// The ViT forward/backward orchestration, written once for every backend and precision.
#pragma once
#include <memory>
#include <vector>

#include "arena.h"
#include "backend.h"
#include "communicator.h"
#include "model.h"

namespace grwarm {

template <class T>
class Vit final : public Model {
 public:
  // bf16: mixed precision (Precision::BF16): GEMM inputs rounded to bf16, the rest in T
  // (float32 only; the backend must have_bf16()).
  Vit(const VitConfig& cfg, std::unique_ptr<Backend<T>> backend, uint64_t seed, bool bf16 = false);
  ~Vit() override;

  const VitConfig& config() const override { return cfg_; }
  const ParamLayout& layout() const override { return layout_; }
  Precision precision() const override {
    return bf16_ ? Precision::BF16 : sizeof(T) == 8 ? Precision::F64 : Precision::F32;
  }
  std::string backend_name() const override { return be_->name(); }
  std::string backend_detail() const override { return be_->describe(); }
  void read_buffer(FlatBuffer which, size_t slot, void* host_dst) override;
  void write_buffer(FlatBuffer which, size_t slot, const void* host_src) override;
  uint64_t generation(FlatBuffer which) const override { return gen_[int(which)]; }
  size_t activation_bytes(int batch) const override;
  void init(uint64_t seed) override;

  PassResult forward_backward(const float* images, const int32_t* labels, int batch, uint64_t seed,
                              bool train, double label_smoothing) override;
  PassResult evaluate(float* logits, const float* images, const int32_t* labels, int batch,
                      double label_smoothing) override;
  double param_norm() override;
  double grad_norm() override;

  void configure_optimizer(const OptimConfig& cfg) override;
  bool has_optimizer() const override { return optim_ready_; }
  StepResult step(const float* images, const int32_t* labels, int batch,
                  const StepOptions& opts) override;
  ApplyResult apply_optimizer(double lr) override;
  uint64_t optimizer_steps() const override { return optim_steps_; }
  void set_optimizer_steps(uint64_t steps) override { optim_steps_ = steps; }
  std::vector<std::string> optimizer_slot_names() const override { return slot_names_; }
  void set_communicator(std::shared_ptr<Communicator> comm) override { comm_ = std::move(comm); }

 protected:
  // Activations of one layer, kept from the forward pass for the backward pass.
  struct LayerActs {
    T *x_in, *ln1, *mean1, *rstd1, *qkv, *probs, *att, *x_mid, *ln2, *mean2, *rstd2, *fc1, *gelu;
    // bf16 mode: the GEMM inputs above rounded to bf16 in the forward pass, kept for the
    // weight gradients of the backward pass (null otherwise).
    uint16_t *ln1_b = nullptr, *att_b = nullptr, *ln2_b = nullptr, *gelu_b = nullptr;
  };

  // Per-step scalars kept in backend memory (scalars_[k]) and read back once per call.
  enum Scalar { kLoss1 = 0, kCorrect1, kLoss2, kCorrect2, kG1Sq, kGSq, kNormSq, kNumScalars };

  void ensure_capacity(int batch);
  void plan_buffers(Arena<T>& a, std::vector<LayerActs>& layers, int batch);
  size_t input_bytes(int batch) const;
  T* optimizer_slot(size_t i);
  T* flat(FlatBuffer which, size_t slot, const char* what);
  // forward + loss + backward with the parameter gradients written to `gout`; the loss sum
  // and correct count go to scalars_[stats], scalars_[stats + 1].
  void pass(T* gout, const float* images, const int32_t* labels, int B, uint64_t seed,
            bool train, double smoothing, int stats);
  DropoutSpec drop(uint64_t seed, uint32_t site, bool train) const;

  // ---- data parallelism and perturbation shards (vit_step.cpp) ----
  // This rank's place in the global batch of a data-parallel step.
  struct GlobalBatch {
    uint64_t offset = 0;  // global index of this rank's first sample
    int total = 0;        // samples over all ranks
    double weight = 1;    // this rank's share: B / total
  };
  GlobalBatch global_batch(int B);
  // Weighted all-reduce of a flat gradient buffer (host-staged when the backend's memory is
  // not host memory and the communicator needs host buffers); times it into `out`.
  void reduce_grads(T* g, const GlobalBatch& gb, StepResult& out);
  // The GR step with one perturbation per shard of the batch (local mode); leaves the
  // shard-size-weighted mean of the combined gradients in grads_ and the summed pass stats in
  // `sums` (loss1, correct1, loss2, correct2, sum of shard size x shard ||g1||).
  StepResult step_parallel(const float* images, const int32_t* labels, int B,
                           const StepOptions& s);
  void sharded_gr(const float* images, const int32_t* labels, int B, const StepOptions& s,
                  uint64_t offset, double sums[5]);
  std::shared_ptr<Communicator> comm_;
  uint64_t sample_offset_ = 0;  // global index of the first sample in flight (dropout keys)
  T* acc_ = nullptr;            // running mean of the shards' combined gradients
  std::vector<T> stage_;        // host staging of all-reduces on device backends
  void forward(const float* images, int B, uint64_t seed, bool train);
  void loss(const int32_t* labels, int B, double smoothing, bool want_grad, int stats);
  // Issues clipping + the optimizer update of grads_ (norm into scalars_[kGSq]); the caller
  // reads the norm back to learn whether it was applied (finish_optimizer).
  OptimStep issue_optimizer(double lr);
  ApplyResult finish_optimizer(double g_sq, const OptimStep& o);
  PassResult pass_result(int stats, int B) const;
  void download_scalars();
  void backward(int B, uint64_t seed, bool train);
  // y = x W^T + b. In bf16 mode x is rounded into x_b first (kept for linear_bwd) and the
  // GEMM multiplies x_b by the bf16 weights.
  void linear_fwd(T* y, const T* x, uint16_t* x_b, size_t w, size_t b, int rows, int out, int in);
  // dW = dy^T x, db = colsum dy, dx = dy W; in bf16 mode from x_b, bf16(dy) and bf16 weights.
  void linear_bwd(T* dx, const T* dy, const T* x, const uint16_t* x_b, size_t w, size_t b,
                  int rows, int out, int in);
  void linear_bwd_rounded(T* dx, const uint16_t* x_b, size_t w, int rows, int out, int in);
  void layernorm_for_gemm(T* y, uint16_t* y_b, T* mean, T* rstd, const T* x, size_t w, size_t b,
                          int rows);

  VitConfig cfg_;
  ParamLayout layout_;
  std::unique_ptr<Backend<T>> be_;
  uint64_t gen_[3] = {0, 0, 0};  // generation() of params, grads, optimizer slots
  double* scalars_ = nullptr;    // kNumScalars doubles in backend memory
  double host_scalars_[kNumScalars] = {};
  T* params_ = nullptr;
  T* grads_ = nullptr;
  T* gout_ = nullptr;  // where backward() writes parameter gradients (grads_ or g1_)

  // Training state (vit_step.cpp): GR buffers and optimizer slots, all flat like params_.
  T* g1_ = nullptr;     // first-pass gradient of a GR step
  T* saved_ = nullptr;  // parameters before the perturbation
  T* slots_[3] = {nullptr, nullptr, nullptr};
  std::vector<std::string> slot_names_;
  OptimConfig optim_;
  bool optim_ready_ = false;
  uint64_t optim_steps_ = 0;
  // Runs of consecutive tensors sharing one weight-decay flag: [begin, end, decay].
  struct DecayRun {
    size_t begin, end;
    bool decay;
  };
  std::vector<DecayRun> decay_runs_;

  // Per-batch buffers (capacity_ sequences), one arena.
  int capacity_ = 0;
  Arena<T> acts_arena_;
  std::vector<LayerActs> layers_;
  float* images_ = nullptr;   // uploaded input
  int32_t* labels_ = nullptr;  // uploaded labels
  uint8_t* correct_ = nullptr;
  T *patches_, *patch_tok_, *x_out_, *tmp_, *cls_in_, *cls_ln_, *meanf_, *rstdf_, *logits_,
      *dlogits_, *row_loss_;
  T *dx_, *dtmp_, *dln_, *dhid_, *dqkv_, *datt_, *dcls_ln_, *dcls_in_, *dpatch_;
  std::vector<T> host_scratch_;  // downloads of logits

  // bf16 mode: the weights rounded to bf16, refreshed from params_ at the start of every
  // forward pass (so after every optimizer update, perturbation and restore); bf16 copies of
  // the patch and head GEMM inputs; the rounded output gradient of the current linear_bwd.
  bool bf16_ = false;
  uint16_t* params_b_ = nullptr;
  uint16_t *patches_b_ = nullptr, *cls_ln_b_ = nullptr, *dy_b_ = nullptr;
};

}  // namespace grwarm
