#!/usr/bin/env python3
"""Reference logits of a small Swin from torchvision (0.14), for test/model-swin.test.ts.

Builds torchvision's SwinTransformer in float64 with random weights, renames its parameters
to timm's names (what grwarm-native uses), and writes {params, images, logits, shape} as JSON
to argv[1]. torch/torchvision are never a dependency: the test skips when they are absent.
"""
import json
import re
import sys

import torch
from torchvision.models.swin_transformer import SwinTransformer

torch.manual_seed(0)
cfg = dict(image=16, patch=2, embed=8, depths=[2, 2], heads=[2, 2], window=4, classes=5)
m = SwinTransformer(patch_size=[cfg['patch']] * 2, embed_dim=cfg['embed'], depths=cfg['depths'],
                    num_heads=cfg['heads'], window_size=[cfg['window']] * 2,
                    num_classes=cfg['classes']).double().eval()
with torch.no_grad():
    for p in m.parameters():
        p.copy_(torch.randn_like(p) * 0.3)


def timm_name(n):
    n = n.replace('features.0.0.', 'patch_embed.proj.').replace('features.0.2.', 'patch_embed.norm.')
    k = re.match(r'features\.(\d+)\.(.*)', n)
    if k:
        i, rest = int(k.group(1)), k.group(2)
        if i % 2 == 1:  # a stage's blocks
            rest = rest.replace('mlp.0.', 'mlp.fc1.').replace('mlp.3.', 'mlp.fc2.')
            return f'layers.{i // 2}.blocks.{rest}'
        return f'layers.{i // 2}.downsample.{rest}'  # the merging before stage i // 2
    return n.replace('head.', 'head.fc.')


params = {timm_name(n): p.detach().reshape(-1).tolist() for n, p in m.named_parameters()}
images = torch.rand(3, 3, cfg['image'], cfg['image'], dtype=torch.float64) * 2 - 1
images = images.float().double()  # our inputs are float32
with torch.no_grad():
    logits = m(images)
json.dump({'params': params, 'images': images.reshape(-1).tolist(), 'logits': logits.reshape(-1).tolist(),
           'shape': cfg}, open(sys.argv[1], 'w'))
