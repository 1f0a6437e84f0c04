// The precision-erased model interface the N-API binding talks to.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "param_layout.h"
#include "vit_config.h"

namespace grwarm {

enum class Precision { F32, F64 };

struct PassResult {
  double loss = 0;   // mean loss over the batch
  int correct = 0;   // argmax == label
  int count = 0;     // batch size
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
                                      uint64_t seed, bool train, float label_smoothing) = 0;
  // Eval-mode forward only: loss and accuracy (labels given) and/or logits [batch, classes]
  // (float32 whatever the precision; pass nullptr for either to skip it).
  virtual PassResult evaluate(float* logits, const float* images, const int32_t* labels,
                              int batch, float label_smoothing) = 0;

  virtual double param_norm() = 0;
  virtual double grad_norm() = 0;
};

std::unique_ptr<Model> make_cpu_model(const VitConfig& cfg, Precision precision, uint64_t seed);

}  // namespace grwarm
