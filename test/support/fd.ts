// Central finite differences in float64 against a model's analytic gradients: at element 0 and
// (perTensor - 1) seeded random elements of every tensor. |fd - g| < 1e-7 + 1e-5 |g|: the
// O(h²) truncation at h = 1e-5 plus float64 round-off of a loss of order 1 divided by 2h.
import { expect } from 'vitest';
import type { createModel } from '../../src/index.js';
import { lcg } from './batch.js';

type Model = ReturnType<typeof createModel>;
type FbOptions = Parameters<Model['forwardBackward']>[2];

export async function expectBackwardMatchesFD(
  model: Model,
  images: Float32Array,
  labels: Int32Array,
  fb: FbOptions,
  perTensor = 2,
): Promise<void> {
  await model.forwardBackward(images, labels, fb);
  const analytic = Float64Array.from(model.grads);
  const h = 1e-5;
  const pick = lcg(7);
  for (const t of model.tensors) {
    const p = Float64Array.from(model.param(t.name));
    for (let k = 0; k < perTensor; k++) {
      const i = k === 0 ? 0 : Math.floor(pick() * p.length);
      const orig = p[i]!;
      p[i] = orig + h;
      model.setParam(t.name, p);
      const lp = (await model.forwardBackward(images, labels, fb)).loss;
      p[i] = orig - h;
      model.setParam(t.name, p);
      const lm = (await model.forwardBackward(images, labels, fb)).loss;
      p[i] = orig;
      model.setParam(t.name, p);
      const fd = (lp - lm) / (2 * h);
      const g = analytic[t.offset + i]!;
      expect(Math.abs(fd - g), `${t.name}[${i}]: analytic ${g}, fd ${fd}`).toBeLessThan(1e-7 + 1e-5 * Math.abs(g));
    }
  }
}
