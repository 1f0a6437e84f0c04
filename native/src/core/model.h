// The precision-erased model interface the N-API binding talks to.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "grwarm/optim.h"
#include "param_layout.h"
#include "model_config.h"

namespace grwarm {

class Communicator;  // communicator.h

// BF16: float32 master weights, gradients, optimizer state and reductions; GEMM inputs
// rounded to bf16 with float32 accumulation (FlatModel<float> in bf16 mode).
enum class Precision { F32, F64, BF16 };

struct PassResult {
  double loss = 0;   // mean loss over the batch
  int correct = 0;   // argmax == label
  int count = 0;     // batch size
};

// The optimizer of docs/method.md section 2, configured once per run.
struct OptimConfig {
  OptimKind kind = OptimKind::Adam;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double rho = 0.9;       // RMSProp
  double momentum = 0;    // RMSProp / SGD
  bool centered = false;  // RMSProp
  double weight_decay = 0;
  bool timm_mask = false;  // true: no decay on biases, norms, cls token, pos embed
  double clip = 0;         // global-norm clipping of the final gradient; 0 = off
};

// One training step: the GR step of docs/method.md section 1, or the base step when lambda or r is 0.
struct StepOptions {
  uint64_t seed = 0;  // dropout masks of BOTH passes
  bool train = true;
  double smoothing = 0;
  double lr = 0;      // scheduled learning rate
  double lambda = 0;  // GR strength
  double r = 0;       // perturbation radius
  // How the GR perturbation is shared (docs/method.md; README "Data-parallel training"):
  // false (global): one perturbation from the gradient of the whole (global) batch;
  // true (local): each shard of `shards` per process, and each rank of a data-parallel job,
  // perturbs with its own g1 and norm and combines locally; the combined gradients are then
  // averaged, weighted by shard size (SAM's m-sharpness; the authors' JAX code with
  // sync_perturbations = False). One process with local = false or shards = 1 is the plain
  // single-process step.
  bool local_perturbation = false;
  int shards = 1;  // local mode only: perturbation shards of this process's batch
};

struct ApplyResult {
  double g_norm = 0;          // ||g|| before clipping
  double g_norm_clipped = 0;  // after
  bool applied = false;       // false when ||g|| is not finite: parameters left untouched
};

struct StepResult {
  PassResult first, second;  // second is meaningful when second_pass
  bool second_pass = false;
  double g1_norm = 0;
  ApplyResult update;
  // Phases in milliseconds, measured by the backend's timing marks (CUDA events on the GPU),
  // so they mean the same on every backend.
  double ms_first = 0, ms_perturb = 0, ms_second = 0, ms_combine = 0, ms_optim = 0;
  // Data-parallel steps: milliseconds in gradient all-reduces and bytes each rank sent for
  // them (ring model), 0 in a single process.
  double ms_comm = 0, comm_bytes = 0;
};

// The flat buffers a caller can copy out of / into a model (host-copy protocol).
enum class FlatBuffer { Params, Grads, OptimSlot };

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  virtual const ParamLayout& layout() const = 0;
  virtual Precision precision() const = 0;
  virtual std::string backend_name() const = 0;

  // ---- host-copy protocol ------------------------------------------------------------
  // Callers never hold pointers into backend memory: they copy whole flat buffers
  // (layout().total elements of the model's precision) out and in. `slot` indexes
  // optimizer_slot_names() for FlatBuffer::OptimSlot and is ignored otherwise. Both wait for
  // the backend. A write replaces the whole buffer.
  virtual void read_buffer(FlatBuffer which, size_t slot, void* host_dst) = 0;
  virtual void write_buffer(FlatBuffer which, size_t slot, const void* host_src) = 0;
  // Bumped every time the model changes that buffer (a step, init, a write, a new optimizer),
  // so a host copy knows when it is stale.
  virtual uint64_t generation(FlatBuffer which) const = 0;
  // The backend's one-line description (Backend::describe()).
  virtual std::string backend_detail() const = 0;
  // Bytes of activation memory a batch of `batch` images needs (for clear out-of-memory errors).
  virtual size_t activation_bytes(int batch) const = 0;

  // Re-initialises every parameter from `seed` (docs/method.md section 4).
  virtual void init(uint64_t seed) = 0;

  // Forward + backward on a batch; gradients of the mean loss are written (not accumulated)
  // to grads(). Dropout masks are a pure function of `seed`, so the same seed replays them.
  virtual PassResult forward_backward(const float* images, const int32_t* labels, int batch,
                                      uint64_t seed, bool train, double label_smoothing) = 0;
  // Eval-mode forward only: loss and accuracy (labels given) and/or logits [batch, classes]
  // (float32 whatever the precision; pass nullptr for either to skip it).
  virtual PassResult evaluate(float* logits, const float* images, const int32_t* labels,
                              int batch, double label_smoothing) = 0;

  virtual double param_norm() = 0;
  virtual double grad_norm() = 0;

  // ---- training (flat_model_step.cpp) ----
  // (Re)allocates and zeroes the optimizer state; resets the step counter.
  virtual void configure_optimizer(const OptimConfig& cfg) = 0;
  virtual bool has_optimizer() const = 0;
  // The fused step: forward/backward, and when lambda > 0 and r > 0 the GR second pass,
  // combine and exact restore; then clipping and the optimizer update. Grads end up in grads().
  virtual StepResult step(const float* images, const int32_t* labels, int batch,
                          const StepOptions& opts) = 0;
  // Clipping + optimizer update with the gradient currently in grads() (the unfused path).
  virtual ApplyResult apply_optimizer(double lr) = 0;
  virtual uint64_t optimizer_steps() const = 0;
  virtual void set_optimizer_steps(uint64_t steps) = 0;
  // PyTorch names of the state slots ("exp_avg", "exp_avg_sq", ...); read and write them with
  // read_buffer / write_buffer(FlatBuffer::OptimSlot, i, ...).
  virtual std::vector<std::string> optimizer_slot_names() const = 0;

  // ---- data parallelism ----
  // With a communicator (communicator.h) of N ranks, step() and forward_backward() treat the
  // batch passed in as this rank's part of a global batch: the ranks' batches, in rank order,
  // are the global batch (dropout masks are keyed by the global sample index), gradients are
  // averaged over it weighted by the ranks' batch sizes, and losses/counts are global. Every
  // rank must make the same calls with the same options. nullptr: one process (the default).
  virtual void set_communicator(std::shared_ptr<Communicator> comm) = 0;
};

// Models are created through the backend registry: see registry.h (create_model).

}  // namespace grwarm
