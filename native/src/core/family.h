// The seam for model families (ViT, Swin, ...).
//
// A family is a config check, a parameter layout with timm's names, and a network: a forward
// and a backward pass over Backend<T> ops that read parameters from, and write gradients into,
// views of the flat buffers FlatModel<T> (flat_model.h) owns. Everything else (flat parameter,
// gradient and optimizer buffers, the GR step, optimizers, clipping, checkpoints through the
// host-copy protocol, bf16 weight rounding, data parallelism) lives in FlatModel and works for
// every family unchanged. A new family is a pair of files in families/ and one line in
// family.cpp's registry; the GR step, the binding and the CLI do not change.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "arena.h"
#include "backend.h"
#include "model_config.h"
#include "param_layout.h"

namespace grwarm {

// One network instance: its activation buffers and its passes. FlatModel binds the flat
// buffers before every pass (bind()), so the network never owns parameters.
template <class T>
class Net {
 public:
  struct Bound {
    Backend<T>* be = nullptr;
    Bf16Ops* bf = nullptr;              // bf16 mode: the backend's bf16 ops; else null
    const T* params = nullptr;          // the flat parameters (possibly perturbed)
    const uint16_t* params_b = nullptr; // bf16 mode: params rounded to bf16
    T* gout = nullptr;                  // where backward() writes parameter gradients
    uint64_t sample_offset = 0;         // global index of the first sample (dropout keys)
  };
  virtual ~Net() = default;
  void bind(const Bound& b) { b_ = b; }

  // Registers every activation buffer a batch of B needs in `a`, into a staged set; after
  // a.commit() succeeds, adopt() makes the staged set current (so a failed allocation leaves
  // the current set valid). Planning alone (a scratch arena) sizes the memory.
  virtual void plan(Arena<T>& a, int B) = 0;
  virtual void adopt() = 0;
  // images [B, C, S, S] (backend memory) -> logits [B, classes]. Dropout and drop-path masks
  // are a pure function of `seed`.
  virtual void forward(const float* images, int B, uint64_t seed, bool train, T* logits) = 0;
  // Gradients of the loss whose logit gradient is `dlogits`, written (not added) to b_.gout.
  virtual void backward(const T* dlogits, int B, uint64_t seed, bool train) = 0;

 protected:
  // Dropout/drop-path mask of `site`; `per_sample` elements of the site's tensor belong to one
  // sample (masks are keyed by the global element index in data-parallel runs).
  DropoutSpec drop(uint64_t seed, uint32_t site, bool train, float rate, uint64_t per_sample) const;
  // Bias offset of a Linear layer without bias (timm's PatchMerging reduction).
  static constexpr size_t kNoBias = ~size_t(0);
  // y[rows, out] = x W^T + b (w, b: offsets into the flat buffer; b may be kNoBias). bf16 mode: x (when not
  // null) is rounded into x_b first; a null x means the producer already wrote x_b.
  void linear_fwd(T* y, const T* x, uint16_t* x_b, size_t w, size_t b, int rows, int out, int in);
  // x_out = x_res + dropout(x W^T + b), the branch written to tmp on the way: a linear layer
  // whose output joins the residual stream. Without dropout the backend may fuse the add into
  // the GEMM (Backend::linear_residual_fwd) and tmp is not written.
  void linear_residual_fwd(T* x_out, const T* x_res, T* tmp, const T* x, uint16_t* x_b, size_t w,
                           size_t b, int rows, int out, int in, const DropoutSpec& drop);
  // dW = dy^T x, db = colsum dy, and (if dx) dx = dy W, written not added. bf16 mode: from
  // x_b, bf16(dy) (into dy_b_) and the bf16 weights.
  void linear_bwd(T* dx, const T* dy, const T* x, const uint16_t* x_b, size_t w, size_t b,
                  int rows, int out, int in);
  // bf16 mode: the GEMMs of linear_bwd once dy_b_ holds bf16(dy) and the bias gradient is done.
  void linear_bwd_rounded(T* dx, const uint16_t* x_b, size_t w, int rows, int out, int in);
  // A LayerNorm whose output only feeds the next GEMM: into y, or in bf16 mode into y_b alone.
  void layernorm_for_gemm(T* y, uint16_t* y_b, T* mean, T* rstd, const T* x, size_t w, size_t b,
                          int rows, int cols, float eps);
  const T* prm(size_t off) const { return b_.params + off; }
  T* grd(size_t off) const { return b_.gout + off; }
  bool bf16() const { return b_.bf != nullptr; }

  Bound b_;
  uint16_t* dy_b_ = nullptr;  // bf16 mode: the rounded output gradient (planned by the family)
};

// bf16 mode exists for T = float only (a float64 backend offers no bf16 ops), so wherever
// Bound::bf is set this cast is the identity; it lets Net<double> compile the same code.
template <class T>
float* f32(T* p) { return reinterpret_cast<float*>(p); }
template <class T>
const float* f32(const T* p) { return reinterpret_cast<const float*>(p); }

// Family-specific config fields the binding does not know, by their JS names (numbers and
// arrays of numbers): the family reads them in apply().
using ConfigFields = std::map<std::string, std::vector<double>>;

class Family {
 public:
  virtual ~Family() = default;
  virtual std::string name() const = 0;
  // Sets the family's own fields from `extra` (throws std::invalid_argument naming an unknown
  // or malformed "config.<key>").
  virtual void apply(ModelConfig& c, const ConfigFields& extra) const = 0;
  // Throws std::invalid_argument naming the bad "config.<field>".
  virtual void validate(const ModelConfig& c) const = 0;
  virtual ParamLayout layout(const ModelConfig& c) const = 0;
  virtual std::unique_ptr<Net<float>> make_f32(const ModelConfig& c, const ParamLayout& l) const = 0;
  virtual std::unique_ptr<Net<double>> make_f64(const ModelConfig& c, const ParamLayout& l) const = 0;
};

// The family called `name`; throws std::invalid_argument listing the known ones.
const Family& find_family(const std::string& name);
std::vector<std::string> family_names();
// find_family(c.family).validate(c), for callers that only hold a config.
void validate_config(const ModelConfig& c);

}  // namespace grwarm
