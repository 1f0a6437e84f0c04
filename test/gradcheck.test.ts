// Backward pass vs central finite differences, in float64 so the tolerance can be tight.
import { describe, expect, it } from 'vitest';
import { createModel, setGemm, backendInfo } from '../src/index.js';
import { lcg, randomBatch, randomizeParams, TINY } from './support/batch.js';
import type { VitConfig } from '../src/model/presets.js';

/**
 * For every parameter tensor, compares the analytic gradient at a few coordinates with
 * (L(θ+h e_i) − L(θ−h e_i)) / 2h. In float64 with h = 1e-5 the truncation error is
 * O(h²·|L'''|) ≈ 1e-10 and the rounding error ≈ ε·|L|/h ≈ 1e-11, so a disagreement above
 * 1e-7 + 1e-5·|g| means a wrong derivative, not noise. Dropout is on: the masks are a pure
 * function of the step seed, so L is a fixed smooth function of θ for that seed.
 */
async function gradcheck(cfg: VitConfig, opts: { labelSmoothing: number; perTensor: number }): Promise<void> {
  const model = createModel(cfg, { precision: 'float64', seed: 3 });
  randomizeParams(model, 11);
  const { images, labels } = randomBatch(cfg, 3, 5);
  const fb = { seed: 42, train: true, labelSmoothing: opts.labelSmoothing };
  await model.forwardBackward(images, labels, fb);
  const analytic = Float64Array.from(model.grads);
  const h = 1e-5;
  const pick = lcg(99);
  let checked = 0;
  for (const name of model.paramNames) {
    const p = Float64Array.from(model.param(name)); // host copy; written back with setParam
    const g = analytic.subarray(model.tensors.find((t) => t.name === name)!.offset);
    const count = Math.min(opts.perTensor, p.length);
    for (let k = 0; k < count; k++) {
      const i = k === 0 ? 0 : Math.floor(pick() * p.length);
      const orig = p[i];
      p[i] = orig + h;
      model.setParam(name, p);
      const lp = (await model.forwardBackward(images, labels, fb)).loss;
      p[i] = orig - h;
      model.setParam(name, p);
      const lm = (await model.forwardBackward(images, labels, fb)).loss;
      p[i] = orig;
      model.setParam(name, p);
      const fd = (lp - lm) / (2 * h);
      const err = Math.abs(fd - g[i]);
      if (err > 1e-7 + 1e-5 * Math.abs(g[i])) {
        throw new Error(`${name}[${i}]: analytic ${g[i]}, finite difference ${fd}, error ${err}`);
      }
      checked++;
    }
  }
  expect(checked).toBeGreaterThan(model.paramNames.length);
}

describe('gradient check (float64, finite differences)', () => {
  it('tanh GELU, dropout on, every tensor', async () => {
    await gradcheck(TINY, { labelSmoothing: 0, perTensor: 4 });
  });

  it('erf GELU, label smoothing 0.1, every tensor', async () => {
    await gradcheck({ ...TINY, gelu: 'erf', dropout: 0.2 }, { labelSmoothing: 0.1, perTensor: 3 });
  });

  it('with the built-in GEMM instead of the BLAS', async () => {
    if (!backendInfo().blasAvailable) return; // already the only GEMM: covered above
    setGemm('builtin');
    try {
      await gradcheck({ ...TINY, depth: 1, heads: 4 }, { labelSmoothing: 0, perTensor: 2 });
    } finally {
      setGemm('blas');
    }
  });
});

describe('float32 matches float64', () => {
  it('gradients of the float32 model agree with the float64 model within 1e-4 relative', async () => {
    const cfg: VitConfig = { ...TINY, imageSize: 32, width: 32, depth: 3, heads: 4 };
    const m64 = createModel(cfg, { precision: 'float64', seed: 1 });
    randomizeParams(m64, 7, 0.2);
    const m32 = createModel(cfg, { precision: 'float32', seed: 1 });
    m32.setParams(m64.params); // rounds each parameter to float32
    m64.setParams(m32.params); // so both models hold exactly the same values
    const { images, labels } = randomBatch(cfg, 8, 9);
    const r64 = await m64.forwardBackward(images, labels, { seed: 5 });
    const r32 = await m32.forwardBackward(images, labels, { seed: 5 });
    expect(Math.abs(r32.loss - r64.loss) / r64.loss).toBeLessThan(1e-5);
    // Per tensor: ‖g32 − g64‖ / ‖g64‖. float32 carries ~7 digits; a dozen layers of
    // accumulation lose one or two, so 1e-4 leaves margin yet catches any formula error.
    for (const name of m64.paramNames) {
      const a = m64.grad(name);
      const b = m32.grad(name);
      let num = 0;
      let den = 0;
      for (let i = 0; i < a.length; i++) {
        num += (a[i] - b[i]) ** 2;
        den += a[i] ** 2;
      }
      if (den > 0) expect(Math.sqrt(num / den), name).toBeLessThan(1e-4);
    }
  });
});
