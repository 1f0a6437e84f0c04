// The shape of a Vision Transformer, validated once at model creation.
#pragma once
#include <stdexcept>
#include <string>

#include "grwarm/activations.h"

namespace grwarm {

struct VitConfig {
  int image_size = 32;
  int channels = 3;
  int patch = 4;
  int num_classes = 10;
  int width = 192;  // D
  int depth = 12;
  int heads = 3;
  int mlp_hidden = 768;
  float dropout = 0.0f;
  GeluKind gelu = GeluKind::Tanh;
  float ln_eps = 1e-6f;

  int grid() const { return image_size / patch; }
  int num_patches() const { return grid() * grid(); }
  int tokens() const { return num_patches() + 1; }  // + class token
  int head_dim() const { return width / heads; }
  int patch_dim() const { return channels * patch * patch; }
  int image_numel() const { return channels * image_size * image_size; }

  void validate() const {
    auto bad = [](const std::string& field, int v, const std::string& want) {
      throw std::invalid_argument("config." + field + ": got " + std::to_string(v) + ", expected " + want);
    };
    if (image_size < 1) bad("imageSize", image_size, "an integer >= 1");
    if (channels < 1 || channels > 64) bad("channels", channels, "an integer in [1, 64]");
    if (patch < 1 || image_size % patch != 0) bad("patchSize", patch, "a divisor of imageSize " + std::to_string(image_size));
    if (num_classes < 2) bad("numClasses", num_classes, "an integer >= 2");
    if (width < 1) bad("width", width, "an integer >= 1");
    if (depth < 0) bad("depth", depth, "an integer >= 0");
    if (heads < 1 || width % heads != 0) bad("heads", heads, "a divisor of width " + std::to_string(width));
    if (mlp_hidden < 1) bad("mlpHidden", mlp_hidden, "an integer >= 1");
    if (!(dropout >= 0.0f && dropout < 1.0f))
      throw std::invalid_argument("config.dropout: got " + std::to_string(dropout) + ", expected a number in [0, 1)");
  }
};

}  // namespace grwarm
