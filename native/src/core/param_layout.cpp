#include "param_layout.h"

namespace grwarm {

namespace {

size_t numel(const std::vector<int>& shape) {
  size_t n = 1;
  for (int s : shape) n *= size_t(s);
  return n;
}

}  // namespace

ParamLayout ParamLayout::build(const VitConfig& c) {
  ParamLayout L;
  auto add = [&](const std::string& name, std::vector<int> shape, InitKind init, bool decay,
                 float std_ = 0.0f) {
    TensorView t;
    t.name = name;
    t.shape = std::move(shape);
    t.size = numel(t.shape);
    t.offset = L.total;
    t.init = init;
    t.init_std = std_;
    t.decay_in_timm = decay;
    L.total += t.size;
    L.tensors.push_back(std::move(t));
    return L.tensors.back().offset;
  };
  const int D = c.width, P = c.patch, C = c.channels, H = c.mlp_hidden;
  L.cls = add("cls_token", {1, 1, D}, InitKind::Zeros, false);
  L.pos = add("pos_embed", {1, c.tokens(), D}, InitKind::Normal, false, 0.02f);
  L.patch_w = add("patch_embed.proj.weight", {D, C, P, P}, InitKind::LecunNormal, true);
  L.patch_b = add("patch_embed.proj.bias", {D}, InitKind::Zeros, false);
  for (int i = 0; i < c.depth; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    BlockOffsets b;
    b.ln1_w = add(p + "norm1.weight", {D}, InitKind::Ones, false);
    b.ln1_b = add(p + "norm1.bias", {D}, InitKind::Zeros, false);
    b.qkv_w = add(p + "attn.qkv.weight", {3 * D, D}, InitKind::XavierUniformQkv, true);
    b.qkv_b = add(p + "attn.qkv.bias", {3 * D}, InitKind::Zeros, false);
    b.proj_w = add(p + "attn.proj.weight", {D, D}, InitKind::XavierUniform, true);
    b.proj_b = add(p + "attn.proj.bias", {D}, InitKind::Zeros, false);
    b.ln2_w = add(p + "norm2.weight", {D}, InitKind::Ones, false);
    b.ln2_b = add(p + "norm2.bias", {D}, InitKind::Zeros, false);
    b.fc1_w = add(p + "mlp.fc1.weight", {H, D}, InitKind::XavierUniform, true);
    b.fc1_b = add(p + "mlp.fc1.bias", {H}, InitKind::Normal, false, 1e-6f);
    b.fc2_w = add(p + "mlp.fc2.weight", {D, H}, InitKind::XavierUniform, true);
    b.fc2_b = add(p + "mlp.fc2.bias", {D}, InitKind::Normal, false, 1e-6f);
    L.blocks.push_back(b);
  }
  L.norm_w = add("norm.weight", {D}, InitKind::Ones, false);
  L.norm_b = add("norm.bias", {D}, InitKind::Zeros, false);
  L.head_w = add("head.weight", {c.num_classes, D}, InitKind::Zeros, true);
  L.head_b = add("head.bias", {c.num_classes}, InitKind::Zeros, false);
  return L;
}

const TensorView* ParamLayout::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace grwarm
