// The fused GR step (docs/method.md section 1) against hand-written steps and the unfused TS step.
import { describe, expect, it } from 'vitest';
import { createModel, unfusedStep, type VitModel } from '../src/index.js';
import { randomBatch, randomizeParams, TINY } from './support/batch.js';

const bits = (a: Float32Array | Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const cfg = { ...TINY, dropout: 0.1 };

function twin(seed = 3): VitModel {
  const m = createModel(cfg, { seed });
  randomizeParams(m, 17, 0.2);
  m.configureOptimizer({ kind: 'adam', weightDecay: 0.05, clip: 2 });
  return m;
}

describe('fused GR step', () => {
  const { images, labels } = randomBatch(cfg, 6, 3);

  it('alpha = 1 equals a SAM step computed by hand from two forwardBackward calls', async () => {
    const fused = twin();
    const hand = twin();
    const r = 0.05;
    const res = await fused.step(images, labels, { lr: 1e-3, lambda: r, r, seed: 9 });
    expect(res.secondPass).toBe(true);

    // by hand: g1, e = r g1 / (||g1|| + 1e-12), g2 at θ + e with the same masks, restore, step on g2
    await hand.forwardBackward(images, labels, { seed: 9 });
    const g1 = Float64Array.from(hand.grads);
    const n1 = Math.sqrt(g1.reduce((s, v) => s + v * v, 0));
    const theta = Float32Array.from(hand.params);
    hand.setParams(theta.map((v, i) => v + (r * g1[i]) / (n1 + 1e-12)));
    const second = await hand.forwardBackward(images, labels, { seed: 9 });
    hand.setParams(theta);
    await hand.applyOptimizer(1e-3);

    expect(res.g1Norm).toBeCloseTo(n1, 9);
    expect(res.second!.loss).toBe(second.loss);
    expect(bits(fused.grads).equals(bits(hand.grads))).toBe(true); // g = g2 exactly when alpha = 1
    expect(bits(fused.params).equals(bits(hand.params))).toBe(true);
  });

  it('restores θ bit-exactly after the perturbation (lr = 0, no decay: θ unchanged)', async () => {
    const m = twin();
    m.configureOptimizer({ kind: 'adam' });
    const before = Float32Array.from(m.params);
    const res = await m.step(images, labels, { lr: 0, lambda: 0.1, r: 0.1, seed: 4 });
    expect(res.secondPass).toBe(true);
    expect(res.second!.loss).not.toBe(res.first.loss); // the second pass did see θ + e
    expect(bits(m.params).equals(bits(before))).toBe(true);
  });

  it('both passes use identical dropout masks (a vanishing perturbation reproduces pass 1 exactly)', async () => {
    const m = twin();
    // r = 1e-30: θ + e rounds back to θ in float32, so any difference would come from the masks.
    const res = await m.step(images, labels, { lr: 1e-3, lambda: 1e-30, r: 1e-30, seed: 12 });
    expect(res.secondPass).toBe(true);
    expect(res.second!.loss).toBe(res.first.loss);
    expect(res.second!.correct).toBe(res.first.correct);
    // control: another seed gives other masks, hence another loss
    const other = await twin().forwardBackward(images, labels, { seed: 13 });
    expect(other.loss).not.toBe(res.first.loss);
  });

  it('lambda = 0 or r = 0 skips the second pass and equals the base optimizer step', async () => {
    for (const [lambda, r] of [
      [0, 0.1],
      [0, 0],
    ]) {
      const fused = twin();
      const base = twin();
      const res = await fused.step(images, labels, { lr: 1e-3, lambda, r, seed: 2 });
      expect(res.secondPass).toBe(false);
      expect(res.second).toBeNull();
      expect(res.timings.secondPass).toBe(0);
      await base.forwardBackward(images, labels, { seed: 2 });
      await base.applyOptimizer(1e-3);
      expect(bits(fused.params).equals(bits(base.params))).toBe(true);
    }
  });

  it('fused equals unfused bit for bit over several GR steps (alpha = 0.8, dropout on)', async () => {
    const fused = twin();
    const plain = twin();
    for (let step = 0; step < 3; step++) {
      const b = randomBatch(cfg, 6, 100 + step);
      const opts = { lr: 1e-3, lambda: 0.08, r: 0.1, seed: 50 + step };
      const a = await fused.step(b.images, b.labels, opts);
      const u = await unfusedStep(plain, b.images, b.labels, opts);
      expect(u.first.loss).toBe(a.first.loss);
      expect(u.second!.loss).toBe(a.second!.loss);
      expect(u.g1Norm).toBe(a.g1Norm);
      expect(u.gradNorm).toBe(a.gradNorm);
      expect(bits(plain.grads).equals(bits(fused.grads))).toBe(true);
      expect(bits(plain.params).equals(bits(fused.params))).toBe(true);
    }
    const sa = fused.optimizerState();
    const su = plain.optimizerState();
    for (let i = 0; i < sa.length; i++) expect(bits(su[i].data).equals(bits(sa[i].data))).toBe(true);
  });

  it('rejects bad parameters before doing any work', async () => {
    const m = twin();
    const before = Float32Array.from(m.params);
    await expect(m.step(images, labels, { lr: 1e-3, lambda: 0.1, r: -0.1, seed: 1 })).rejects.toThrow(/options\.r: expected a finite number in \[0, /);
    await expect(m.step(images, labels, { lr: 1e-3, lambda: 0.1, r: 0, seed: 1 })).rejects.toThrow(/options\.r: got 0 with lambda = 0\.1 > 0/);
    await expect(m.step(images, labels, { lr: Number.NaN, lambda: 0, r: 0, seed: 1 })).rejects.toThrow(/options\.lr: expected a finite number/);
    await expect(m.step(images, labels, { lambda: 0, r: 0, seed: 1 } as never)).rejects.toThrow(/options\.lr: expected a number, got undefined/);
    expect(bits(m.params).equals(bits(before))).toBe(true);
    expect(m.optimizerSteps).toBe(0);
    const fresh = createModel(cfg);
    await expect(fresh.step(images, labels, { lr: 1e-3, lambda: 0, r: 0, seed: 1 })).rejects.toThrow(/configureOptimizer first/);
  });

  it('reports phase timings in milliseconds that fit inside the step; a plain step has no GR phases', async () => {
    const m = twin();
    const total = (t: object) => Object.values(t).reduce((s: number, v: number) => s + v, 0);
    let t0 = performance.now();
    const gr = await m.step(images, labels, { lr: 1e-3, lambda: 0.1, r: 0.1, seed: 1 });
    let wall = performance.now() - t0;
    expect(Object.keys(gr.timings).sort()).toEqual(['combineRestore', 'firstPass', 'normPerturb', 'optimizer', 'secondPass']);
    // The phases are disjoint parts of the native call: their sum is at most the call as the
    // caller saw it (a phase counted twice, or in microseconds, would exceed it).
    expect(total(gr.timings)).toBeLessThanOrEqual(wall);
    expect(gr.timings.firstPass).toBeGreaterThan(0);
    expect(gr.timings.secondPass).toBeGreaterThan(0);
    t0 = performance.now();
    const plain = await m.step(images, labels, { lr: 1e-3, lambda: 0, r: 0, seed: 2 });
    wall = performance.now() - t0;
    expect(total(plain.timings)).toBeLessThanOrEqual(wall);
    expect([plain.timings.normPerturb, plain.timings.secondPass, plain.timings.combineRestore]).toEqual([0, 0, 0]);
  });
});
