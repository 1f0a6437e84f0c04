// The family-agnostic model: flat parameter, gradient and optimizer buffers, the fused GR step,
// optimizers and data parallelism, written once for every family, backend and precision. The
// network itself (forward/backward over views of the flat buffers) is the family's Net<T>
// (family.h).
#pragma once
#include <memory>
#include <vector>

#include "arena.h"
#include "backend.h"
#include "communicator.h"
#include "device_buffer.h"
#include "family.h"
#include "model.h"

namespace grwarm {

template <class T>
class FlatModel final : public Model {
 public:
  // bf16: mixed precision (Precision::BF16): GEMM inputs rounded to bf16, the rest in T
  // (float32 only; the backend must offer bf16()).
  FlatModel(const ModelConfig& cfg, std::unique_ptr<Backend<T>> backend, uint64_t seed,
            bool bf16 = false);
  ~FlatModel() override;

  const ModelConfig& config() const override { return cfg_; }
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
  // Per-step scalars kept in backend memory (scalars_[k]) and read back once per call.
  enum Scalar { kLoss1 = 0, kCorrect1, kLoss2, kCorrect2, kG1Sq, kGSq, kNormSq, kNumScalars };

  void ensure_capacity(int batch);
  // The model's own per-batch buffers (logits and loss rows) and the network's, into `a`.
  void plan_buffers(Arena<T>& a, int batch);
  size_t input_bytes(int batch) const;
  void bind(T* gout);
  T* optimizer_slot(size_t i);
  T* flat(FlatBuffer which, size_t slot, const char* what);
  // forward + loss + backward with the parameter gradients written to `gout`; the loss sum
  // and correct count go to scalars_[stats], scalars_[stats + 1].
  void pass(T* gout, const float* images, const int32_t* labels, int B, uint64_t seed,
            bool train, double smoothing, int stats);

  // ---- data parallelism and perturbation shards (flat_model_step.cpp) ----
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
  // The GR sequence of docs/method.md section 1, written once for every step variant: g1 into
  // g1_, ||g1||, save and perturb theta, g2 (same batch, same masks) into grads_, combine, and
  // restore theta bit-exactly. `gb` (data parallel, global perturbation) all-reduces g1 and g2;
  // `marks` brackets the phases with timing marks 1..3.
  void gr_sequence(const float* images, const int32_t* labels, int B, const StepOptions& s,
                   const GlobalBatch* gb, StepResult& out, bool marks);
  std::shared_ptr<Communicator> comm_;
  uint64_t sample_offset_ = 0;  // global index of the first sample in flight (dropout keys)
  std::vector<T> stage_;        // host staging of all-reduces on device backends
  void forward(const float* images, int B, uint64_t seed, bool train);
  void loss(const int32_t* labels, int B, double smoothing, bool want_grad, int stats);
  // Issues clipping + the optimizer update of grads_ (norm into scalars_[kGSq]); the caller
  // reads the norm back to learn whether it was applied (finish_optimizer).
  OptimStep issue_optimizer(double lr);
  ApplyResult finish_optimizer(double g_sq, const OptimStep& o);
  PassResult pass_result(int stats, int B) const;
  void download_scalars();
  ModelConfig cfg_;
  ParamLayout layout_;
  std::unique_ptr<Backend<T>> be_;  // declared before every buffer: destroyed after them
  uint64_t gen_[3] = {0, 0, 0};  // generation() of params, grads, optimizer slots
  DeviceBuffer<T, double> scalars_;  // kNumScalars doubles in backend memory
  double host_scalars_[kNumScalars] = {};
  DeviceBuffer<T> params_;
  DeviceBuffer<T> grads_;
  DeviceBuffer<T> acc_;  // running mean of the shards' combined gradients

  // Training state (flat_model_step.cpp): GR buffers and optimizer slots, all flat like params_.
  DeviceBuffer<T> g1_;     // first-pass gradient of a GR step
  DeviceBuffer<T> saved_;  // parameters before the perturbation
  DeviceBuffer<T> slots_[3];
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

  // Per-batch buffers (capacity_ sequences), one arena shared with the network.
  std::unique_ptr<Net<T>> net_;
  int capacity_ = 0;
  Arena<T> acts_arena_;
  DeviceBuffer<T, float> images_;     // uploaded input
  DeviceBuffer<T, int32_t> labels_;  // uploaded labels
  DeviceBuffer<T, uint8_t> correct_;
  T *logits_ = nullptr, *dlogits_ = nullptr, *row_loss_ = nullptr;
  T *staged_logits_ = nullptr, *staged_dlogits_ = nullptr, *staged_row_loss_ = nullptr;
  std::vector<T> host_scratch_;  // downloads of logits

  // bf16 mode: the weights rounded to bf16, refreshed from params_ at the start of every
  // forward pass (so after every optimizer update, perturbation and restore).
  bool bf16_ = false;
  Bf16Ops* bf_ = nullptr;  // the backend's bf16 ops in bf16 mode, else null
  DeviceBuffer<T, uint16_t> params_b_;
};

}  // namespace grwarm
