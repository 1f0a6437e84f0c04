// The table of named views into the flat parameter buffer.
//
// Names, shapes and order follow timm's VisionTransformer state_dict so that a
// safetensors checkpoint loads in PyTorch and back. Linear weights are [out, in].
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "vit_config.h"

namespace grwarm {

enum class InitKind { Zeros, Ones, Normal, LecunNormal, XavierUniformQkv, XavierUniform };

struct TensorView {
  std::string name;
  std::vector<int> shape;
  size_t offset = 0;  // in elements, into the flat buffer
  size_t size = 0;    // number of elements
  InitKind init = InitKind::Zeros;
  float init_std = 0.0f;   // for Normal
  bool decay_in_timm = true;  // false for biases, norms, cls token, pos embed
};

// Offsets of one block's tensors, resolved once so the hot path does no lookups.
struct BlockOffsets {
  size_t ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
};

struct ParamLayout {
  std::vector<TensorView> tensors;
  size_t total = 0;
  size_t cls, pos, patch_w, patch_b, norm_w, norm_b, head_w, head_b;
  std::vector<BlockOffsets> blocks;

  static ParamLayout build(const VitConfig& c);
  const TensorView* find(const std::string& name) const;
};

}  // namespace grwarm
