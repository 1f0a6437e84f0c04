// The table of named views into the flat parameter buffer.
//
// Each family builds its layout with timm's state_dict names, shapes and order, so that a
// safetensors checkpoint loads in PyTorch/timm and back. Linear weights are [out, in].
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "model_config.h"

namespace grwarm {

// Xavier-uniform with fan_in = fan_out = shape[1] (q, k, v initialised as separate maps);
// LeCun-normal with fan_in = the product of shape[1:]; TruncNormal: N(0, init_std) cut at 2 std;
// Constant: every element init_std.
enum class InitKind { Zeros, Ones, Normal, LecunNormal, XavierUniformQkv, XavierUniform, TruncNormal, Constant };

struct TensorView {
  std::string name;
  std::vector<int> shape;
  size_t offset = 0;  // in elements, into the flat buffer
  size_t size = 0;    // number of elements
  InitKind init = InitKind::Zeros;
  float init_std = 0.0f;   // for Normal / TruncNormal
  bool decay_in_timm = true;  // false for biases, norms, tokens, position embeddings and tables
};

struct ParamLayout {
  std::vector<TensorView> tensors;
  size_t total = 0;

  // The layout of c's family (family.h).
  static ParamLayout build(const ModelConfig& c);
  // Appends a tensor; returns its offset.
  size_t add(const std::string& name, std::vector<int> shape, InitKind init, bool decay,
             float init_std = 0.0f);
  const TensorView* find(const std::string& name) const;
};

}  // namespace grwarm
