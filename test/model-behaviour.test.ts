// Determinism, dropout replay, learning, and errors at the binding boundary.
import { describe, expect, it } from 'vitest';
import { createModel, vitConfig } from '../src/index.js';
import { randomBatch, randomizeParams, TINY } from './support/batch.js';

const bits = (a: Float32Array | Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('determinism and dropout replay', () => {
  it('same step seed: bit-identical loss and gradients; another seed: different masks', async () => {
    const cfg = vitConfig('vit-micro', { dropout: 0.1 });
    const m = createModel(cfg, { seed: 3 });
    randomizeParams(m, 1, 0.1);
    const { images, labels } = randomBatch(cfg, 16, 2);
    const r1 = await m.forwardBackward(images, labels, { seed: 77 });
    const g1 = Float32Array.from(m.grads);
    const r2 = await m.forwardBackward(images, labels, { seed: 77 });
    expect(r2.loss).toBe(r1.loss);
    expect(bits(m.grads).equals(bits(g1))).toBe(true);
    const r3 = await m.forwardBackward(images, labels, { seed: 78 });
    expect(r3.loss).not.toBe(r1.loss);
    expect(bits(m.grads).equals(bits(g1))).toBe(false);
    // eval mode ignores the seed: no dropout at all
    const e1 = await m.forwardBackward(images, labels, { seed: 1, train: false });
    const e2 = await m.forwardBackward(images, labels, { seed: 2, train: false });
    expect(e2.loss).toBe(e1.loss);
  });

  it('two models built the same way compute the same bits', async () => {
    const cfg = vitConfig('vit-micro');
    const a = createModel(cfg, { seed: 9 });
    const b = createModel(cfg, { seed: 9 });
    randomizeParams(a, 4, 0.1);
    randomizeParams(b, 4, 0.1);
    const { images, labels } = randomBatch(cfg, 8, 1);
    const ra = await a.forwardBackward(images, labels, { seed: 5 });
    const rb = await b.forwardBackward(images, labels, { seed: 5 });
    expect(ra.loss).toBe(rb.loss);
    expect(bits(a.grads).equals(bits(b.grads))).toBe(true);
  });

  it('with dropout 0 the step seed changes nothing', async () => {
    const cfg = vitConfig('vit-micro', { dropout: 0 });
    const m = createModel(cfg, { seed: 3 });
    randomizeParams(m, 2, 0.1);
    const { images, labels } = randomBatch(cfg, 4, 3);
    const a = await m.forwardBackward(images, labels, { seed: 1 });
    const b = await m.forwardBackward(images, labels, { seed: 2 });
    expect(a.loss).toBe(b.loss);
  });
});

describe('learning', () => {
  it('a tiny model overfits one small batch with plain gradient descent', async () => {
    const cfg = { ...TINY, dropout: 0 };
    const m = createModel(cfg, { seed: 0 });
    const { images, labels } = randomBatch(cfg, 8, 21);
    const start = (await m.forwardBackward(images, labels)).loss;
    let loss = start;
    for (let step = 0; step < 300 && loss > 0.05 * start; step++) {
      const g = m.grads;
      m.editParams((p) => {
        for (let i = 0; i < p.length; i++) p[i] -= 0.1 * g[i];
      });
      loss = (await m.forwardBackward(images, labels)).loss;
    }
    expect(loss).toBeLessThan(0.05 * start);
    const ev = await m.evaluate(images, labels);
    expect(ev.correct).toBe(8);
  });

  it('predict returns the eval-mode logits and evaluate agrees with them', async () => {
    const cfg = vitConfig('vit-micro');
    const m = createModel(cfg, { seed: 1 });
    randomizeParams(m, 3, 0.1);
    const { images, labels } = randomBatch(cfg, 300, 4); // more than one evaluation chunk
    const logits = await m.predict(images);
    expect(logits.length).toBe(300 * 10);
    let correct = 0;
    let loss = 0;
    for (let i = 0; i < 300; i++) {
      const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
      loss += lse - row[labels[i]];
      if (row.indexOf(mx) === labels[i]) correct++;
    }
    const ev = await m.evaluate(images, labels);
    expect(ev.correct).toBe(correct);
    expect(Math.abs(ev.loss - loss / 300)).toBeLessThan(1e-5);
  });
});

describe('bad input is an Error, never a crash', () => {
  const cfg = vitConfig('vit-micro');
  const m = createModel(cfg);
  const good = randomBatch(cfg, 2, 1);

  it('wrong image length', async () => {
    await expect(m.forwardBackward(new Float32Array(100), new Int32Array(1))).rejects.toThrow(
      /images: expected N\*3072 floats \(shape \[N, 3, 32, 32\], N >= 1\), got length 100/,
    );
  });
  it('wrong label count', async () => {
    await expect(m.forwardBackward(good.images, new Int32Array(3))).rejects.toThrow(/labels: expected length 2 \(one per image\), got 3/);
  });
  it('label out of range', async () => {
    await expect(m.forwardBackward(good.images, new Int32Array([0, 10]))).rejects.toThrow(
      /labels\[1\]: expected a class in \[0, 9\], got 10/,
    );
    await expect(m.forwardBackward(good.images, new Int32Array([-1, 0]))).rejects.toThrow(/labels\[0\]/);
  });
  it('wrong array types', async () => {
    await expect(m.forwardBackward(new Float64Array(3072 * 2) as never, good.labels)).rejects.toThrow(
      /images: expected a Float32Array/,
    );
    await expect(m.forwardBackward(good.images, [0, 1] as never)).rejects.toThrow(/labels: expected an Int32Array/);
    await expect(m.forwardBackward(good.images, good.labels, { seed: -1 })).rejects.toThrow(/seed: expected an integer/);
  });
  it('a second call while one is running is refused, and the first still completes', async () => {
    const first = m.forwardBackward(good.images, good.labels);
    await expect(m.forwardBackward(good.images, good.labels)).rejects.toThrow(/busy/);
    await expect(first).resolves.toHaveProperty('count', 2);
  });
  it('bad model configs', () => {
    expect(() => createModel({ ...cfg, heads: 3 })).toThrow(/heads: got 3, expected a divisor of width 64/);
    expect(() => createModel({ ...cfg, patchSize: 5 })).toThrow(/patchSize: got 5, expected a divisor of imageSize 32/);
    expect(() => createModel({ ...cfg, dropout: 1 })).toThrow(/dropout/);
    expect(() => createModel('vit-huge' as never)).toThrow(/unknown preset "vit-huge"/);
    expect(() => m.param('nope')).toThrow(/unknown parameter "nope"/);
  });
});
