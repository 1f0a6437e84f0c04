#!/usr/bin/env python3
"""PyTorch eager float32 baseline for grwarm_bench_native: the same ViT, the same two steps.

Model (the shape of grwarm's presets, docs/method.md): 32x32x3 images, patch 4 (64 patches +
a class token = 65 tokens), learned position embedding, pre-norm blocks (LayerNorm eps 1e-6),
fused qkv, tanh-approximated GELU, dropout 0.1 after the embedding, on the attention
probabilities, after the attention projection, after GELU and after the second MLP layer;
class-token head, 10 classes.

Timed steps (median milliseconds over --iters after --warmup untimed ones, CUDA events, TF32
off for matmuls and cuDNN):
  base  forward, cross-entropy, backward, clip_grad_norm_(2.0), AdamW(lr 1e-3, wd 0.3) step
  gr    the GR step with lambda = r = 0.1: forward/backward (g1), ||g1||, save theta,
        theta += r g1 / (||g1|| + 1e-12), forward/backward on the same batch with the same
        dropout masks (the CUDA RNG state is replayed), g = (1 - a) g1 + a g2 (a = lambda / r),
        restore theta from the saved copy, clip, AdamW step

Prints one JSON line. Exit code 3 when the requested device is not available.
Usage: python3 scripts/torch_vit_bench.py --model vit-ti --batch 256 [--iters 20] [--warmup 3]
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {  # width, depth, heads (MLP = 4 x width)
    "vit-micro": (64, 4, 2),
    "vit-ti": (192, 12, 3),
    "vit-s": (384, 12, 6),
    "vit-b": (768, 12, 12),
}


class Attention(nn.Module):
    def __init__(self, dim, heads, p, sdpa):
        super().__init__()
        self.heads, self.hd, self.p, self.sdpa = heads, dim // heads, p, sdpa
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attn_drop = nn.Dropout(p)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(p)

    def forward(self, x):
        B, T, D = x.shape
        q, k, v = self.qkv(x).reshape(B, T, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4).unbind(0)
        if self.sdpa:
            o = F.scaled_dot_product_attention(q, k, v, dropout_p=self.p if self.training else 0.0)
        else:
            a = (q @ k.transpose(-2, -1)) * self.hd ** -0.5
            o = self.attn_drop(a.softmax(dim=-1)) @ v
        return self.proj_drop(self.proj(o.transpose(1, 2).reshape(B, T, D)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp, p, sdpa):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, p, sdpa)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp), nn.GELU(approximate="tanh"), nn.Dropout(p), nn.Linear(mlp, dim), nn.Dropout(p)
        )

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, width, depth, heads, classes=10, image=32, patch=4, p=0.1, sdpa=True):
        super().__init__()
        tokens = (image // patch) ** 2 + 1
        self.patch_embed = nn.Conv2d(3, width, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.randn(1, tokens, width) * 0.02)
        self.pos_drop = nn.Dropout(p)
        self.blocks = nn.Sequential(*[Block(width, heads, 4 * width, p, sdpa) for _ in range(depth)])
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.head = nn.Linear(width, classes)

    def forward(self, img):
        x = self.patch_embed(img).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.blocks(self.pos_drop(x + self.pos_embed))
        return self.head(self.norm(x)[:, 0])


def foreach_copy_(dst, src):
    if hasattr(torch, "_foreach_copy_"):
        torch._foreach_copy_(dst, src)
    else:
        for d, s in zip(dst, src):
            d.copy_(s)


def add_scaled_(dst, src, scale):
    """dst += scale * src with a 0-dim tensor scale (no host sync)."""
    try:
        torch._foreach_add_(dst, torch._foreach_mul(src, scale))
    except (RuntimeError, TypeError):  # torch without the Tensor-scalar foreach overload
        for d, s in zip(dst, src):
            d.add_(s * scale)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="vit-ti", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "math"],
                    help="sdpa: F.scaled_dot_product_attention (timm's default); math: explicit softmax")
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()

    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"tool": "torch_vit_bench", "model": args.model, "error": "CUDA is not available"}))
        return 3
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    torch.manual_seed(0)

    width, depth, heads = PRESETS[args.model]
    model = ViT(width, depth, heads, sdpa=args.attn == "sdpa").to(dev).train()
    params = [p for p in model.parameters()]
    try:
        opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.3, fused=True)
        opt_impl = "fused"
    except (RuntimeError, TypeError, ValueError):
        opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.3, foreach=True)
        opt_impl = "foreach"
    x = torch.rand(args.batch, 3, 32, 32, device=dev) * 2 - 1
    y = torch.randint(0, 10, (args.batch,), device=dev)

    lam, r = 0.1, 0.1
    alpha = lam / r
    g1 = [torch.empty_like(p) for p in params]
    saved = [torch.empty_like(p) for p in params]

    def update():
        torch.nn.utils.clip_grad_norm_(params, 2.0, foreach=True)
        opt.step()

    def base_step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        update()

    def gr_step():
        rng = torch.cuda.get_rng_state(dev) if dev.type == "cuda" else torch.get_rng_state()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        with torch.no_grad():
            grads = [p.grad for p in params]
            foreach_copy_(g1, grads)
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(g1)))
            scale = r / (norm + 1e-12)
            foreach_copy_(saved, params)
            add_scaled_(params, g1, scale)
        opt.zero_grad(set_to_none=True)
        if dev.type == "cuda":  # the same dropout masks in the second pass
            torch.cuda.set_rng_state(rng, dev)
        else:
            torch.set_rng_state(rng)
        F.cross_entropy(model(x), y).backward()
        with torch.no_grad():
            grads = [p.grad for p in params]
            torch._foreach_mul_(grads, alpha)
            torch._foreach_add_(grads, g1, alpha=1.0 - alpha)
            foreach_copy_(params, saved)  # bit-exact restore
        update()

    def timed(step):
        times = []
        for i in range(args.warmup + args.iters):
            if dev.type == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                step()
                end.record()
                end.synchronize()
                ms = start.elapsed_time(end)
            else:
                t0 = time.perf_counter()
                step()
                ms = (time.perf_counter() - t0) * 1e3
            if i >= args.warmup:
                times.append(ms)
        return statistics.median(times), min(times)

    base_ms, base_min = timed(base_step)
    gr_ms, gr_min = timed(gr_step)
    print(json.dumps({
        "tool": "torch_vit_bench",
        "model": args.model,
        "batch": args.batch,
        "iters": args.iters,
        "warmup": args.warmup,
        "params": sum(p.numel() for p in params),
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "tf32": False,
        "attn": args.attn,
        "optimizer": "AdamW " + opt_impl,
        "base_ms": base_ms,
        "base_ms_min": base_min,
        "gr_ms": gr_ms,
        "gr_ms_min": gr_min,
        "gr_over_base": gr_ms / base_ms,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
