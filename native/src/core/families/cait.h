// The CaiT family (Touvron et al. 2021, "Going deeper with Image Transformers"), timm's
// layout (timm/models/cait.py, timm >= 0.9): patch embedding plus position embedding (no class
// token in the self-attention stage), self-attention blocks with talking-heads attention and
// LayerScale, class-attention blocks where only the class token attends to [class, patches]
// and is updated (LayerScale too), final LayerNorm on the class token, head.
#pragma once
#include "../family.h"

namespace grwarm {

class CaitFamily final : public Family {
 public:
  std::string name() const override { return "cait"; }
  void apply(ModelConfig& c, const ConfigFields& extra) const override;
  void validate(const ModelConfig& c) const override;
  ParamLayout layout(const ModelConfig& c) const override;
  std::unique_ptr<Net<float>> make_f32(const ModelConfig& c, const ParamLayout& l) const override;
  std::unique_ptr<Net<double>> make_f64(const ModelConfig& c, const ParamLayout& l) const override;
};

}  // namespace grwarm
