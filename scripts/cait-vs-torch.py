#!/usr/bin/env python3
"""CaiT in plain PyTorch (float64), the architecture of timm's models/cait.py (timm >= 0.9)
written out from the paper and timm's module structure, with timm's module and parameter
names, so that load_state_dict(strict=True) checks every name and shape of our checkpoint.

  cait-vs-torch.py check <in.safetensors> <in.json> <out.json>
      loads our weights, runs the batch of in.json ({"images", "labels", "config"}), writes
      the logits, the mean cross-entropy loss and the gradient of every parameter.
  cait-vs-torch.py counts
      prints the parameter counts of the presets at 1000 classes.

A reference for tests only (PyTorch is not a dependency of the package).
"""
import json
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class TalkingHeadAttn(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_l = nn.Linear(heads, heads)
        self.proj_w = nn.Linear(heads, heads)

    def forward(self, x):
        B, N, C = x.shape
        H = self.heads
        q, k, v = self.qkv(x).reshape(B, N, 3, H, C // H).permute(2, 0, 3, 1, 4)
        logits = (q * (C // H) ** -0.5) @ k.transpose(-2, -1)          # [B, H, N, N]
        logits = self.proj_l(logits.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        attn = self.proj_w(logits.softmax(-1).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class ClassAttn(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, u):
        B, N, C = u.shape
        H = self.heads
        q = self.q(u[:, 0]).reshape(B, 1, H, C // H).transpose(1, 2)
        k = self.k(u).reshape(B, N, H, C // H).transpose(1, 2)
        v = self.v(u).reshape(B, N, H, C // H).transpose(1, 2)
        attn = ((q * (C // H) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, 1, C))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden, init, cls_attn):
        super().__init__()
        self.gamma_1 = nn.Parameter(init * torch.ones(dim))
        self.gamma_2 = nn.Parameter(init * torch.ones(dim))
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = ClassAttn(dim, heads) if cls_attn else TalkingHeadAttn(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x, x_cls=None):
        if x_cls is None:
            x = x + self.gamma_1 * self.attn(self.norm1(x))
            return x + self.gamma_2 * self.mlp(self.norm2(x))
        u = torch.cat((x_cls, x), dim=1)
        x_cls = x_cls + self.gamma_1 * self.attn(self.norm1(u))
        return x_cls + self.gamma_2 * self.mlp(self.norm2(x_cls))


class PatchEmbed(nn.Module):
    def __init__(self, chans, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(chans, dim, patch, patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class Cait(nn.Module):
    def __init__(self, image, patch, chans, classes, dim, depth, heads, hidden, class_depth, init):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (image // patch) ** 2, dim))
        self.patch_embed = PatchEmbed(chans, dim, patch)
        self.blocks = nn.ModuleList([Block(dim, heads, hidden, init, False) for _ in range(depth)])
        self.blocks_token_only = nn.ModuleList([Block(dim, heads, hidden, init, True) for _ in range(class_depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed(x) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        c = self.cls_token.expand(x.shape[0], -1, -1)
        for blk in self.blocks_token_only:
            c = blk(x, c)
        return self.head(self.norm(c)[:, 0])


def build(cfg):
    return Cait(cfg['imageSize'], cfg['patchSize'], cfg['channels'], cfg['numClasses'], cfg['width'],
                cfg['depth'], cfg['heads'], round(cfg['width'] * cfg['mlpRatio']), cfg.get('classDepth', 2), 0.1)


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        assert e['dtype'] == 'F64', (name, e['dtype'])
        a, b = e['data_offsets']
        t = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float64)
        out[name] = t.reshape(e['shape']) if e['shape'] else t.reshape(())
    return out


def check(st, inp, outp):
    req = json.load(open(inp))
    cfg = req['config']
    model = build(cfg).double()
    state = read_safetensors(st)
    model.load_state_dict(state, strict=True)
    B = len(req['labels'])
    S = cfg['imageSize']
    images = torch.tensor(req['images'], dtype=torch.float32).double().reshape(B, cfg['channels'], S, S)
    labels = torch.tensor(req['labels'], dtype=torch.long)
    logits = model(images)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    grads = {n: p.grad.reshape(-1).tolist() for n, p in model.named_parameters()}
    json.dump({'logits': logits.detach().reshape(-1).tolist(), 'loss': loss.item(), 'grads': grads,
               'names': list(model.state_dict().keys())}, open(outp, 'w'))


PRESETS = {  # name: (width, depth, heads)
    'cait-xxs12': (192, 12, 4), 'cait-xxs24': (192, 24, 4), 'cait-xxs36': (192, 36, 4),
    'cait-xs12': (288, 12, 6), 'cait-s12': (384, 12, 8), 'cait-s24': (384, 24, 8),
}


def counts():
    for name, (d, depth, h) in PRESETS.items():
        for image, patch, classes, tag in ((224, 16, 1000, ''), (32, 4, 1000, '-cifar')):
            m = Cait(image, patch, 3, classes, d, depth, h, 4 * d, 2, 0.1)
            print(f'{name}{tag}: {sum(p.numel() for p in m.parameters())}')


if __name__ == '__main__':
    if sys.argv[1] == 'check':
        check(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        counts()
