// The precision-erased model interface the N-API binding talks to.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "grwarm/optim.h"
#include "param_layout.h"
#include "vit_config.h"

namespace grwarm {

enum class Precision { F32, F64 };

struct PassResult {
  double loss = 0;   // mean loss over the batch
  int correct = 0;   // argmax == label
  int count = 0;     // batch size
};

// The optimizer of SPEC section 2, configured once per run.
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

// One training step: the GR step of SPEC section 1, or the base step when lambda or r is 0.
struct StepOptions {
  uint64_t seed = 0;  // dropout masks of BOTH passes
  bool train = true;
  double smoothing = 0;
  double lr = 0;      // scheduled learning rate
  double lambda = 0;  // GR strength
  double r = 0;       // perturbation radius
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
  // Wall-clock phases in milliseconds.
  double ms_first = 0, ms_perturb = 0, ms_second = 0, ms_combine = 0, ms_optim = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const VitConfig& config() const = 0;
  virtual const ParamLayout& layout() const = 0;
  virtual Precision precision() const = 0;
  virtual std::string backend_name() const = 0;

  // Host-visible flat buffers (layout().total elements of the model's precision).
  virtual void* params() = 0;
  virtual void* grads() = 0;

  // Re-initialises every parameter from `seed` (SPEC section 4).
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

  // ---- training (vit_step.cpp) ----
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
  // PyTorch names of the state slots ("exp_avg", "exp_avg_sq", ...) and their flat buffers.
  virtual std::vector<std::string> optimizer_slot_names() const = 0;
  virtual void* optimizer_slot(size_t i) = 0;
};

std::unique_ptr<Model> make_cpu_model(const VitConfig& cfg, Precision precision, uint64_t seed);

}  // namespace grwarm
