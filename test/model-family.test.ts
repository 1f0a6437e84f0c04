// The model-family seam (docs/method.md section 4.7): ViT at other image and patch sizes, the
// family selector and its errors. Small widths keep it fast.
import { describe, expect, it } from 'vitest';
import { createModel, vitConfig } from '../src/index.js';
import { native } from '../src/native.js';

function vitCount(D: number, depth: number, M: number, tokens: number, C: number, p: number, K: number): number {
  return D + tokens * D + D * C * p * p + D + depth * (4 * D * D + 2 * D * M + 9 * D + M) + 2 * D + K * D + K;
}

describe('ViT at any image and patch size', () => {
  it.each([
    [64, 8, 65],
    [224, 16, 197],
    [48, 4, 145],
  ])('%i px with patch %i: %i tokens, pos_embed sized from the config', (S, p, tokens) => {
    const cfg = vitConfig('vit-micro', { imageSize: S, patchSize: p, depth: 1 });
    const m = createModel(cfg, { seed: 1 });
    expect(m.tensors.find((t) => t.name === 'pos_embed')?.shape).toEqual([1, tokens, 64]);
    expect(m.tensors.find((t) => t.name === 'patch_embed.proj.weight')?.shape).toEqual([64, 3, p, p]);
    expect(m.numParams).toBe(vitCount(64, 1, 256, tokens, 3, p, 10));
  });

  it('a forward/backward pass at 64 px / patch 8: uniform initial loss, finite head gradients', async () => {
    const cfg = vitConfig('vit-micro', { imageSize: 64, patchSize: 8, depth: 2, dropout: 0 });
    const m = createModel(cfg, { seed: 3, precision: 'float64' });
    const B = 3;
    const images = new Float32Array(B * 3 * 64 * 64).map((_, i) => Math.sin(i * 0.37));
    const labels = Int32Array.from([1, 4, 7]);
    const r = await m.forwardBackward(images, labels, { seed: 5 });
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(r.loss).toBeCloseTo(Math.log(10), 6); // head weight 0 at init: uniform logits
    // The head is zero at init, so only the head's gradients are non-zero; they must be finite.
    const g = m.grads;
    expect(g.every((v) => Number.isFinite(v))).toBe(true);
    for (const name of ['head.weight', 'head.bias']) {
      const t = m.tensors.find((x) => x.name === name)!;
      expect(g.subarray(t.offset, t.offset + t.size).some((v) => v !== 0), name).toBe(true);
    }
  });
});

describe('family selector', () => {
  const addon = native();
  const base = { imageSize: 32, channels: 3, patchSize: 4, numClasses: 10, width: 16, depth: 1, heads: 2, mlpHidden: 32 };
  it('backendInfo lists the families', () => {
    expect(addon.backendInfo().families).toContain('vit');
  });
  it('the CUDA plugin is an accelerator even when it cannot load, and its reason is the accelerator reason', () => {
    const b = addon.backendInfo();
    const cuda = b.backends.find((d) => d.name === 'cuda');
    expect(cuda?.accelerator).toBe(true); // registered as such, before it is loaded
    expect(b.cudaReason).toBe(cuda!.available ? '' : cuda!.reason);
    expect(b.cudaReason).not.toMatch(/no accelerator backend is registered/);
  });
  it('the default family is vit; an unknown family names the known ones', () => {
    expect(() => new addon.NativeModel({ ...base, family: 'vit' } as never, {})).not.toThrow();
    expect(() => new addon.NativeModel({ ...base, family: 'resnet' } as never, {})).toThrow(/config\.family: got "resnet", expected one of "vit", "swin"/);
  });
  it('a field no family knows is an error naming it', () => {
    expect(() => new addon.NativeModel({ ...base, windowSize: 7 } as never, {})).toThrow(/config\.windowSize: not a field of the vit family/);
  });
  it('patchSize must divide imageSize', () => {
    expect(() => new addon.NativeModel({ ...base, imageSize: 30 } as never, {})).toThrow(/config\.patchSize: got 4, expected a divisor of imageSize 30/);
  });
});

describe('preset sizes without allocating (info, README)', () => {
  it('paramCount equals the allocated model for small presets, the formula for ViT, timm for Swin', async () => {
    const { presetSizes } = await import('../src/model/preset-sizes.js');
    const sizes = new Map(presetSizes().map((s) => [s.preset, s.params]));
    for (const p of ['vit-micro', 'swin-micro'] as const) expect(sizes.get(p)).toBe(createModel(p, { seed: 0 }).numParams);
    expect(sizes.get('vit-ti')).toBe(vitCount(192, 12, 768, 65, 3, 4, 10));
    // timm's swin_{tiny,small,base}_patch4_window7_224 at 1000 classes (torchvision 0.14 agrees for t and s).
    expect(sizes.get('swin-t')).toBe(28_288_354);
    expect(sizes.get('swin-s')).toBe(49_606_258);
    expect(sizes.get('swin-b')).toBe(87_768_224);
    expect(() => native().paramCount({ family: 'swin' } as never)).toThrow(/config\./);
  });
});
