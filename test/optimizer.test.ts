// Optimizer updates against the docs/method.md section 2 formulas evaluated by hand in the test.
import { describe, expect, it } from 'vitest';
import { createModel, type OptimizerConfig } from '../src/index.js';
import { lcg, TINY } from './support/batch.js';

type Hand = (theta: number, g: number, state: number[], t: number, decay: boolean) => number;

/** Reference updates written straight from docs/method.md section 2, one parameter at a time. */
function handAdam(lr: number, wd: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): Hand {
  return (theta, g, s, t, decay) => {
    s[0] = b1 * s[0] + (1 - b1) * g;
    s[1] = b2 * s[1] + (1 - b2) * g * g;
    const mhat = s[0] / (1 - b1 ** t);
    const vhat = s[1] / (1 - b2 ** t);
    return theta - lr * (mhat / (Math.sqrt(vhat) + eps)) - lr * (decay ? wd : 0) * theta;
  };
}
function handRmsprop(lr: number, wd: number, rho = 0.9, eps = 1e-8, momentum = 0, centered = false): Hand {
  return (theta, g, s, _t, decay) => {
    s[0] = rho * s[0] + (1 - rho) * g * g;
    let denom = s[0];
    if (centered) {
      s[2] = rho * s[2] + (1 - rho) * g;
      denom = s[0] - s[2] * s[2];
    }
    const upd = g / (Math.sqrt(denom) + eps);
    if (momentum > 0) {
      s[1] = momentum * s[1] + upd;
      return theta - lr * s[1] - lr * (decay ? wd : 0) * theta;
    }
    return theta - lr * upd - lr * (decay ? wd : 0) * theta;
  };
}
function handSgd(lr: number, wd: number, momentum: number): Hand {
  return (theta, g, s, _t, decay) => {
    s[0] = momentum * s[0] + g;
    return theta - lr * s[0] - lr * (decay ? wd : 0) * theta;
  };
}

/**
 * Runs `steps` updates natively (float64 model, so only the order of operations differs from
 * the JS reference: agreement to 1e-12 relative) with random gradients written into the
 * gradient buffer, and compares every parameter with the hand-computed update.
 */
async function check(cfg: OptimizerConfig, hand: Hand, lrs: number[], clip = 0, timm = false) {
  const m = createModel(TINY, { precision: 'float64', seed: 1 });
  const r = lcg(5);
  m.setParams(Float64Array.from({ length: m.numParams }, () => 2 * r() - 1));
  m.configureOptimizer({ ...cfg, clip, wdMask: timm ? 'timm' : 'all' });
  const theta = Float64Array.from(m.params);
  const state = Array.from({ length: theta.length }, () => [0, 0, 0]);
  const decay = new Uint8Array(theta.length);
  for (const t of m.tensors) decay.fill(timm ? (t.decayInTimm ? 1 : 0) : 1, t.offset, t.offset + t.size);
  for (let step = 0; step < lrs.length; step++) {
    const g = Float64Array.from({ length: m.numParams }, () => (2 * r() - 1) * (step + 1));
    m.setGrads(g);
    let norm = Math.sqrt(g.reduce((s, v) => s + v * v, 0));
    const scale = clip > 0 && norm > clip ? clip / norm : 1;
    const res = await m.applyOptimizer(lrs[step]);
    expect(res.gradNorm).toBeCloseTo(norm, 10);
    expect(res.gradNormClipped).toBeCloseTo(norm * scale, 10);
    for (let i = 0; i < theta.length; i++) theta[i] = hand(theta[i], g[i] * scale, state[i], step + 1, decay[i] === 1);
    norm = 0;
    const params = m.params;
    for (let i = 0; i < theta.length; i++) {
      const err = Math.abs(params[i] - theta[i]);
      if (err > 1e-12 * Math.max(1, Math.abs(theta[i]))) {
        throw new Error(`step ${step + 1}, param ${i}: native ${params[i]}, by hand ${theta[i]}`);
      }
    }
  }
  expect(m.optimizerSteps).toBe(lrs.length);
}

describe('optimizers match the documented formulas (two steps, float64)', () => {
  const lrs = [1e-3, 5e-4];
  it('Adam, no weight decay, no clipping', () => check({ kind: 'adam' }, (th, g, s, t, d) => handAdam(lrs[t - 1], 0)(th, g, s, t, d), lrs));
  it('Adam with decoupled weight decay 0.3 and clipping at 2.0', () =>
    check({ kind: 'adam', weightDecay: 0.3 }, (th, g, s, t, d) => handAdam(lrs[t - 1], 0.3)(th, g, s, t, d), lrs, 2.0));
  it('Adam with the timm weight-decay mask', () =>
    check({ kind: 'adam', weightDecay: 0.05 }, (th, g, s, t, d) => handAdam(lrs[t - 1], 0.05)(th, g, s, t, d), lrs, 0, true));
  it('RMSProp (paper form), with weight decay and clipping', () =>
    check({ kind: 'rmsprop', weightDecay: 0.1 }, (th, g, s, t, d) => handRmsprop(lrs[t - 1], 0.1)(th, g, s, t, d), lrs, 1.5));
  it('RMSProp centered with momentum', () =>
    check(
      { kind: 'rmsprop', momentum: 0.9, centered: true },
      (th, g, s, t, d) => handRmsprop(lrs[t - 1], 0, 0.9, 1e-8, 0.9, true)(th, g, s, t, d),
      lrs,
    ));
  it('SGD with momentum, weight decay and clipping', () =>
    check({ kind: 'sgd', momentum: 0.9, weightDecay: 0.01 }, (th, g, s, t, d) => handSgd(lrs[t - 1], 0.01, 0.9)(th, g, s, t, d), lrs, 3));
  it('float32 Adam agrees with the float64 formula to float precision', async () => {
    const m = createModel(TINY, { seed: 2 });
    m.configureOptimizer({ kind: 'adam', weightDecay: 0.3 });
    const before = Float64Array.from(m.params);
    const r = lcg(8);
    m.setGrads(Float32Array.from({ length: m.numParams }, () => 2 * r() - 1));
    const g = Float64Array.from(m.grads);
    await m.applyOptimizer(1e-3);
    const hand = handAdam(1e-3, 0.3);
    const params = m.params;
    for (let i = 0; i < before.length; i++) {
      const want = hand(before[i], g[i], [0, 0, 0], 1, true);
      expect(Math.abs(params[i] - want)).toBeLessThan(1e-6 * Math.max(1, Math.abs(want)));
    }
  });
  it('a non-finite gradient updates nothing and reports applied = false', async () => {
    const m = createModel(TINY, { seed: 2 });
    m.configureOptimizer({ kind: 'adam' });
    const before = Float32Array.from(m.params);
    const g = new Float32Array(m.numParams);
    g[3] = Number.NaN;
    m.setGrads(g);
    const res = await m.applyOptimizer(1e-3);
    expect(res.applied).toBe(false);
    expect(Buffer.from(m.params.buffer).equals(Buffer.from(before.buffer))).toBe(true);
    expect(m.optimizerSteps).toBe(0);
  });
});
