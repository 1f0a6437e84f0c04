// The CaiT family (docs/method.md section 4.8): timm's names and order, parameter counts, the
// backward pass against central finite differences in float64 (with drop path), and the loss,
// logits and every gradient against a plain PyTorch re-implementation with the same weights.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createModel, vitConfig } from '../src/index.js';
import { presetSizes } from '../src/model/preset-sizes.js';
import { randomBatch, randomizeParams } from './support/batch.js';
import { expectBackwardMatchesFD } from './support/fd.js';
import { cli } from './support/cli.js';

/** A tiny CaiT: 16 px, patch 4 (16 patch tokens), 2 self-attention + 2 class-attention blocks. */
const TINY_CAIT = vitConfig('cait-micro', { imageSize: 16, patchSize: 4, width: 12, heads: 3, numClasses: 5, mlpRatio: 2 });

describe('cait', () => {
  it('parameter counts (1000 classes at 224 px; the PyTorch re-implementation gives the same)', () => {
    const sizes = new Map(presetSizes().map((p) => [p.preset as string, p.params]));
    const presetParamCount = (name: string) => sizes.get(name);
    // scripts/cait-vs-torch.py counts: cait-xxs24 = 11,956,264 = timm's cait_xxs24_224.
    expect(presetParamCount('cait-xxs12')).toBe(6_612_808);
    expect(presetParamCount('cait-xxs24')).toBe(11_956_264);
    expect(presetParamCount('cait-xs12')).toBe(14_563_864);
    expect(presetParamCount('cait-s12')).toBe(25_611_688);
    // the layout-only count is the built model's
    expect(createModel(vitConfig('cait-micro'), { seed: 0 }).numParams).toBe(presetParamCount('cait-micro'));
  });

  it('info lists the CaiT presets with their parameter counts', async () => {
    const r = await cli(['info']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\n {2}cait-xxs24 +cait +11,956,264 params, 224 px, patch 16, 1000 classes\n/);
    expect(r.out).toMatch(/\n {2}cait-xxs12-cifar +cait +6,258,154 params, 32 px, patch 4, 10 classes\n/);
  });

  it("timm names and order; LayerScale gammas at the paper's value for the depth", () => {
    const m = createModel(vitConfig('cait-micro'), { seed: 0 });
    const names = m.paramNames;
    expect(names.slice(0, 6)).toEqual(['cls_token', 'pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias', 'blocks.0.gamma_1', 'blocks.0.gamma_2']);
    expect(names).toContain('blocks.1.attn.proj_l.weight');
    expect(names).toContain('blocks_token_only.1.attn.v.bias');
    expect(names.slice(-4)).toEqual(['norm.weight', 'norm.bias', 'head.weight', 'head.bias']);
    expect(m.tensors.find((t) => t.name === 'blocks.0.attn.proj_w.weight')!.shape).toEqual([2, 2]);
    expect(m.tensors.find((t) => t.name === 'pos_embed')!.shape).toEqual([1, 16, 32]);
    expect([...m.param('blocks.0.gamma_1')].every((v) => Math.abs(v - 0.1) < 1e-7)).toBe(true);
    const deep = createModel({ ...vitConfig('cait-micro'), depth: 24 }, { seed: 0 });
    expect(deep.param('blocks_token_only.0.gamma_2')[0]).toBeCloseTo(1e-5, 10);
    const set = createModel({ ...vitConfig('cait-micro'), layerScaleInit: 0.5 }, { seed: 0 });
    expect(set.param('blocks.1.gamma_1')[3]).toBe(0.5);
  });

  it('a batch smaller than an earlier one gives the bits of a fresh model (buffers planned for the larger)', async () => {
    const a = createModel(TINY_CAIT, { seed: 4 }), b = createModel(TINY_CAIT, { seed: 4 });
    const big = randomBatch(TINY_CAIT, 6, 1), small = randomBatch(TINY_CAIT, 3, 2);
    await a.forwardBackward(big.images, big.labels, { seed: 0, train: true });
    const ra = await a.forwardBackward(small.images, small.labels, { seed: 0, train: true });
    const rb = await b.forwardBackward(small.images, small.labels, { seed: 0, train: true });
    expect(ra.loss).toBe(rb.loss);
    expect(Buffer.from(a.grads.buffer).equals(Buffer.from(b.grads.buffer))).toBe(true);
  });

  it('backward = central finite differences (float64), every tensor, with drop path', async () => {
    const model = createModel({ ...TINY_CAIT, dropPath: 0.5 }, { precision: 'float64', seed: 3 });
    randomizeParams(model, 11);
    const { images, labels } = randomBatch(TINY_CAIT, 3, 5);
    const fb = { seed: 1, train: true, labelSmoothing: 0 };
    await expectBackwardMatchesFD(model, images, labels, fb);
  });
});

describe('cait against a plain PyTorch re-implementation (optional: needs python3 with torch)', () => {
  const py = '/usr/bin/python3';
  const probe = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
  it.skipIf(probe.status !== 0)('the same weights (our safetensors, strict load) give the same loss, logits and gradients (float64)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'grwarm-cait-'));
    try {
      const model = createModel(TINY_CAIT, { precision: 'float64', seed: 0 });
      randomizeParams(model, 5);
      const { images, labels } = randomBatch(TINY_CAIT, 4, 9);
      const st = join(dir, 'w.safetensors'), inp = join(dir, 'in.json'), out = join(dir, 'out.json');
      model.saveSafetensors(st);
      writeFileSync(inp, JSON.stringify({ config: TINY_CAIT, images: [...images], labels: [...labels] }));
      const script = fileURLToPath(new URL('../scripts/cait-vs-torch.py', import.meta.url));
      const res = spawnSync(py, [script, 'check', st, inp, out], { encoding: 'utf8', timeout: 120_000 });
      expect(res.status, res.stderr).toBe(0);
      const ref = JSON.parse(readFileSync(out, 'utf8')) as { logits: number[]; loss: number; grads: Record<string, number[]>; names: string[] };
      expect(ref.names).toEqual([...model.paramNames]);
      const r = await model.forwardBackward(images, labels, { seed: 0, train: false, labelSmoothing: 0 });
      expect(Math.abs(r.loss - ref.loss)).toBeLessThan(1e-12);
      let worst = 0;
      for (const t of model.tensors) {
        const g = model.grad(t.name), want = ref.grads[t.name]!;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(g[i]! - want[i]!));
      }
      expect(worst).toBeLessThan(1e-12);
      // predict() returns float32: one float32 rounding of the float64 logits
      const logits = await model.predict(images);
      for (let i = 0; i < ref.logits.length; i++) expect(Math.abs(logits[i]! - ref.logits[i]!)).toBeLessThan(1.2e-7 * Math.max(Math.abs(ref.logits[i]!), 1e-3));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
