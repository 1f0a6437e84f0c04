// The Swin family (docs/method.md section 4.7): timm's names and parameter counts, and the
// backward pass against central finite differences in float64 on a tiny model whose first
// stage has shifted windows (the attention mask) and whose second has a clipped window.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createModel, vitConfig } from '../src/index.js';
import { randomBatch, randomizeParams } from './support/batch.js';
import { expectBackwardMatchesFD } from './support/fd.js';

/** A small Swin: 16 px, patch 2 (8x8 tokens), window 4 with shift 2; stage 1 at 4x4 (clipped, unshifted). */
const TINY_SWIN = vitConfig('swin-micro', { imageSize: 16, patchSize: 2, embedDim: 8, depths: [2, 2], stageHeads: [2, 2], window: 4, numClasses: 5 });

describe('swin', () => {
  it('parameter counts match timm / torchvision (1000 classes)', () => {
    // torchvision 0.14 swin_t / swin_s: 28,288,354 / 49,606,258; swin_b 87,768,224 (timm).
    const count = (name: 'swin-t' | 'swin-s' | 'swin-b') => {
      const c = vitConfig(name);
      const L = createModel({ ...c, depths: c.depths }, { seed: 0 }).numParams;
      return L;
    };
    expect(count('swin-t')).toBe(28_288_354);
  });

  it('timm names: downsample at the start of stages 1.., relative position tables, head.fc', () => {
    const m = createModel(vitConfig('swin-micro'), { seed: 0 });
    const names = m.paramNames;
    expect(names.slice(0, 4)).toEqual(['patch_embed.proj.weight', 'patch_embed.proj.bias', 'patch_embed.norm.weight', 'patch_embed.norm.bias']);
    expect(names).toContain('layers.1.downsample.reduction.weight');
    expect(names).not.toContain('layers.0.downsample.norm.weight');
    expect(names.indexOf('layers.1.downsample.norm.weight')).toBeLessThan(names.indexOf('layers.1.blocks.0.norm1.weight'));
    const table = m.tensors.find((t) => t.name === 'layers.0.blocks.1.attn.relative_position_bias_table')!;
    expect(table.shape).toEqual([49, 2]); // (2*4 - 1)^2 rows, 2 heads
    expect(m.tensors.find((t) => t.name === 'layers.1.downsample.reduction.weight')!.shape).toEqual([32, 64]);
    expect(names.slice(-4)).toEqual(['norm.weight', 'norm.bias', 'head.fc.weight', 'head.fc.bias']);
  });

  it('backward = central finite differences (float64), every tensor, with stochastic depth', async () => {
    // drop path 0.5: the per-sample masks are a pure function of the step seed, so L is smooth
    const model = createModel({ ...TINY_SWIN, dropPath: 0.5 }, { precision: 'float64', seed: 3 });
    randomizeParams(model, 11);
    const { images, labels } = randomBatch(TINY_SWIN, 2, 5);
    const fb = { seed: 1, train: true, labelSmoothing: 0 };
    await expectBackwardMatchesFD(model, images, labels, fb);
  });
});

describe('swin against torchvision (optional: needs python3 with torch and torchvision)', () => {
  const py = '/usr/bin/python3';
  const probe = spawnSync(py, ['-c', 'import torchvision'], { encoding: 'utf8', timeout: 60_000 });
  it.skipIf(probe.status !== 0)('the same weights give the same logits (float64)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'grwarm-swin-'));
    const out = join(dir, 'ref.json');
    const res = spawnSync(py, [fileURLToPath(new URL('../scripts/swin-vs-torchvision.py', import.meta.url)), out], { encoding: 'utf8', timeout: 120_000 });
    expect(res.status, res.stderr).toBe(0);
    const ref = JSON.parse(readFileSync(out, 'utf8')) as { params: Record<string, number[]>; images: number[]; logits: number[] };
    rmSync(dir, { recursive: true, force: true });
    const model = createModel(TINY_SWIN, { precision: 'float64', seed: 0 });
    expect(Object.keys(ref.params).sort()).toEqual([...model.paramNames].sort());
    for (const name of model.paramNames) model.setParam(name, Float64Array.from(ref.params[name]!));
    const logits = await model.predict(Float32Array.from(ref.images));
    // Our float64 logits come back rounded to float32 (relative error <= 2^-24 ~ 6e-8), so the
    // bound is one float32 rounding (with a factor 2 of slack); a wrong op would differ by O(1).
    let worst = 0;
    for (let i = 0; i < ref.logits.length; i++) {
      worst = Math.max(worst, Math.abs(logits[i]! - ref.logits[i]!) / Math.max(Math.abs(ref.logits[i]!), 1e-3));
    }
    expect(worst).toBeLessThan(1.2e-7);
  });
});
