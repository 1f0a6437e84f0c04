// The shape of a model: the fields every family shares and each family's own, validated once
// at model creation by the family (families/<name>.cpp).
#pragma once
#include <string>
#include <vector>

#include "grwarm/activations.h"

namespace grwarm {

struct ModelConfig {
  // Which family builds the network: "vit", "swin", "cait" (family.h lists them).
  std::string family = "vit";
  // ---- every family -----------------------------------------------------------------------
  int image_size = 32;  // input side in pixels (square images)
  int channels = 3;
  int patch = 4;        // patch side in pixels
  int num_classes = 10;
  float dropout = 0.0f;     // dropout rate at the family's dropout sites
  float drop_path = 0.0f;   // stochastic depth rate of the last block (families that have it)
  GeluKind gelu = GeluKind::Tanh;
  float ln_eps = 1e-6f;
  // ---- ViT ----------------------------------------------------------------------------------
  int width = 192;  // D
  int depth = 12;
  int heads = 3;
  int mlp_hidden = 768;
  // ---- Swin -------------------------------------------------------------------------------
  int embed_dim = 96;                    // channels of stage 0 (doubled by every patch merging)
  std::vector<int> depths{2, 2, 6, 2};   // blocks per stage
  std::vector<int> stage_heads{3, 6, 12, 24};
  int window = 7;                        // window side in tokens (clipped to the stage side)
  float mlp_ratio = 4.0f;

  // ---- CaiT (width, depth, heads, mlp_hidden as ViT; depth counts the self-attention blocks) --
  int class_depth = 2;          // class-attention blocks after the self-attention blocks
  float layer_scale_init = 0;   // LayerScale's initial gamma; 0 = by depth (layer_scale_for_depth)

  int grid() const { return image_size / patch; }
  int num_patches() const { return grid() * grid(); }
  int patch_dim() const { return channels * patch * patch; }
  int image_numel() const { return channels * image_size * image_size; }
  // ViT only
  int tokens() const { return num_patches() + 1; }  // + class token
  int head_dim() const { return width / heads; }
  // The CaiT paper's LayerScale initialisation by depth: 0.1 up to 18 blocks, 1e-5 up to 24,
  // 1e-6 beyond (layer_scale_init, when set, wins).
  float layer_scale() const {
    if (layer_scale_init > 0) return layer_scale_init;
    return depth <= 18 ? 0.1f : depth <= 24 ? 1e-5f : 1e-6f;
  }
};

}  // namespace grwarm
