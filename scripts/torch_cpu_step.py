#!/usr/bin/env python3
"""PyTorch CPU training steps for bench/vs-torch.ts, driven one step at a time over stdin.

The bench interleaves our steps with PyTorch's in one run, so this script stays alive and
answers one JSON line per request line:
  {"cmd": "setup", "model": "vit-ti" | "swin-t-cifar", "batch": N, "precision": "float32" | "bfloat16"}
      builds the model (seed 0), AdamW(lr 1e-3, wd 0.05), one untimed step -> {"ok": true, ...}
  {"cmd": "step"}  -> {"ms": wall milliseconds of one step}
  {"cmd": "quit"}
A step is forward, cross-entropy, backward, clip_grad_norm_(2.0), AdamW step -- what our base
step does. bfloat16 runs the forward under torch.autocast("cpu", torch.bfloat16) (master weights,
gradients and the optimizer in float32), PyTorch's own mixed-precision recipe on the CPU.

Models: vit-ti is scripts/torch_vit_bench.py's ViT (our preset's shape: 32 px, patch 4, width
192, depth 12, 3 heads, tanh GELU) with dropout 0 and the explicit softmax attention (torch
1.13 has no scaled_dot_product_attention); swin-t-cifar is torchvision's SwinTransformer with
our preset's shape (patch 2, embed 96, depths 2-2-6-2, heads 3-6-12-24, window 4, 10 classes,
stochastic depth 0), as in bench/families.ts.

Usage: /usr/bin/python3 scripts/torch_cpu_step.py THREADS
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def build(model):
    if model == "vit-ti":
        from torch_vit_bench import ViT
        return ViT(192, 12, 3, p=0.0, sdpa=False)
    if model == "swin-t-cifar":
        from torchvision.models.swin_transformer import SwinTransformer
        return SwinTransformer(patch_size=[2, 2], embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
                               window_size=[4, 4], num_classes=10, stochastic_depth_prob=0.0)
    raise ValueError(f"unknown model {model}")


def main():
    torch.set_num_threads(int(sys.argv[1]))
    state = {}
    for line in sys.stdin:
        req = json.loads(line)
        if req["cmd"] == "quit":
            break
        try:
            out = handle(req, state)
        except Exception as e:  # e.g. an op without a bf16 autocast kernel: reported, not fatal
            state.clear()
            out = {"error": f"{type(e).__name__}: {e}".splitlines()[0]}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    return 0


def handle(req, state):
    """One request -> its reply (a dict)."""
    if req["cmd"] == "setup":
        state.clear()
        torch.manual_seed(0)
        m = build(req["model"]).train()
        params = list(m.parameters())
        opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.05)
        x = torch.rand(req["batch"], 3, 32, 32) * 2 - 1
        y = torch.randint(0, 10, (req["batch"],))
        bf16 = req["precision"] == "bfloat16"

        def step(m=m, params=params, opt=opt, x=x, y=y, bf16=bf16):
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = m(x)
            F.cross_entropy(logits.float(), y).backward()
            torch.nn.utils.clip_grad_norm_(params, 2.0)
            opt.step()

        step()
        state["step"] = step
        out = {"ok": True, "torch": torch.__version__, "threads": torch.get_num_threads(),
               "params": sum(p.numel() for p in params)}
    elif req["cmd"] == "step":
        t0 = time.perf_counter()
        state["step"]()
        out = {"ms": (time.perf_counter() - t0) * 1e3}
    else:
        out = {"error": f"unknown command {req['cmd']}"}
    return out


if __name__ == "__main__":
    sys.exit(main())
