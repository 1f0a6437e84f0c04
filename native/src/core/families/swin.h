// The Swin Transformer family (Liu et al. 2021), timm >= 0.9 layout: patch embedding with
// LayerNorm, stages of (shifted-)window attention blocks with a learned relative position bias,
// patch merging at the start of stages 1.., final LayerNorm, mean pooling over tokens, head.fc.
#pragma once
#include "../family.h"

namespace grwarm {

class SwinFamily final : public Family {
 public:
  std::string name() const override { return "swin"; }
  void apply(ModelConfig& c, const ConfigFields& extra) const override;
  void validate(const ModelConfig& c) const override;
  ParamLayout layout(const ModelConfig& c) const override;
  std::unique_ptr<Net<float>> make_f32(const ModelConfig& c, const ParamLayout& l) const override;
  std::unique_ptr<Net<double>> make_f64(const ModelConfig& c, const ParamLayout& l) const override;
};

}  // namespace grwarm
