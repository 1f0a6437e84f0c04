// The ViT forward/backward orchestration, written once for every backend and precision.
#pragma once
#include <memory>
#include <vector>

#include "arena.h"
#include "backend.h"
#include "model.h"

namespace grwarm {

template <class T>
class Vit final : public Model {
 public:
  Vit(const VitConfig& cfg, std::unique_ptr<Backend<T>> backend, uint64_t seed);
  ~Vit() override;

  const VitConfig& config() const override { return cfg_; }
  const ParamLayout& layout() const override { return layout_; }
  Precision precision() const override { return sizeof(T) == 8 ? Precision::F64 : Precision::F32; }
  std::string backend_name() const override { return be_->name(); }
  void* params() override { return params_; }
  void* grads() override { return grads_; }
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
  void* optimizer_slot(size_t i) override;

 protected:
  // Activations of one layer, kept from the forward pass for the backward pass.
  struct LayerActs {
    T *x_in, *ln1, *mean1, *rstd1, *qkv, *probs, *att, *x_mid, *ln2, *mean2, *rstd2, *fc1, *gelu;
  };

  void ensure_capacity(int batch);
  // forward + loss + backward with the parameter gradients written to `gout`.
  PassResult pass(T* gout, const float* images, const int32_t* labels, int B, uint64_t seed,
                  bool train, double smoothing);
  DropoutSpec drop(uint64_t seed, uint32_t site, bool train) const;
  void forward(const float* images, int B, uint64_t seed, bool train);
  PassResult loss(const int32_t* labels, int B, double smoothing, bool want_grad);
  void backward(int B, uint64_t seed, bool train);
  void linear_fwd(T* y, const T* x, size_t w, size_t b, int rows, int out, int in);
  void linear_bwd(T* dx, const T* dy, const T* x, size_t w, size_t b, int rows, int out, int in);

  VitConfig cfg_;
  ParamLayout layout_;
  std::unique_ptr<Backend<T>> be_;
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
  std::vector<T> host_scratch_;  // downloads of per-row results
  std::vector<uint8_t> host_correct_;
};

}  // namespace grwarm
