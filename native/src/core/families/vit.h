// The Vision Transformer family (docs/method.md section 4): patch embedding, class token and
// learned position embedding sized from the config (any image and patch size), pre-norm blocks,
// class-token head. timm's VisionTransformer names.
#pragma once
#include "../family.h"

namespace grwarm {

class VitFamily final : public Family {
 public:
  std::string name() const override { return "vit"; }
  void apply(ModelConfig& c, const ConfigFields& extra) const override;
  void validate(const ModelConfig& c) const override;
  ParamLayout layout(const ModelConfig& c) const override;
  std::unique_ptr<Net<float>> make_f32(const ModelConfig& c, const ParamLayout& l) const override;
  std::unique_ptr<Net<double>> make_f64(const ModelConfig& c, const ParamLayout& l) const override;
};

}  // namespace grwarm
