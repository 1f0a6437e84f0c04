// The host-copy protocol (issue 23, items 1-3 and 9): every write is all-or-nothing (it reaches
// the model and the host copy, or neither changes), and what params/param()/grads/grad() return
// is the caller's own array, never a buffer that a later call mutates or pushes.
//
// Each write path is tried while an async call is in flight (refused as busy) and, for
// editParams, with a callback that throws. Afterwards the model must match a twin that never
// saw the failed write, also after an unrelated later write (the push that used to carry a
// leaked edit into the model) and in a saved file.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSafetensors } from '../src/io/safetensors.js';
import { createModel, type VitModel } from '../src/model/vit-model.js';
import { randomBatch, randomizeParams, TINY } from './support/batch.js';

const tmp = mkdtempSync(join(tmpdir(), 'grwarm-hostcopy-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const bits = (a: Float32Array | Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** A model with non-trivial parameters, gradients and Adam state (same seed: same model). */
async function trained(): Promise<VitModel> {
  const m = createModel(TINY, { seed: 3, device: 'cpu' });
  randomizeParams(m, 5);
  m.configureOptimizer({ kind: 'adam' });
  const { images, labels } = randomBatch(TINY, 4, 7);
  await m.step(images, labels, { lr: 1e-2, lambda: 0, r: 0, seed: 1 });
  await m.forwardBackward(images, labels, { seed: 2 });
  return m;
}

/** Everything a caller can observe of a model's buffers, as bytes. */
function snapshot(m: VitModel, name: string): Record<string, Buffer | number> {
  const path = join(tmp, `${name}.safetensors`);
  m.saveSafetensors(path);
  return {
    params: bits(m.params),
    grads: bits(m.grads),
    ...Object.fromEntries(m.optimizerState().map((s) => [s.name, bits(s.data)])),
    paramNorm: m.paramNorm(),
    gradNorm: m.gradNorm(),
    optimizerSteps: m.optimizerSteps,
    file: readFileSync(path),
  };
}

/** An unrelated write afterwards (same values): it must not carry anything else into the model. */
function unrelatedWrites(m: VitModel): void {
  m.setParam('head.bias', m.param('head.bias'));
  m.setGrads(m.grads);
}

const ones = (n: number) => new Float32Array(n).fill(1);

// Every write path of VitModel, each writing values that differ from the model's.
const writes: [string, (m: VitModel) => void][] = [
  ['setParams', (m) => m.setParams(ones(m.numParams))],
  ['setParam', (m) => m.setParam('blocks.0.attn.qkv.weight', ones(m.param('blocks.0.attn.qkv.weight').length))],
  ['setTensors', (m) => m.setTensors(new Map([['cls_token', ones(TINY.width)], ['head.bias', ones(TINY.numClasses)]]))],
  ['editParams', (m) => m.editParams((p) => p.fill(1))],
  ['setGrads', (m) => m.setGrads(ones(m.numParams))],
  ['setOptimizerState', (m) => m.setOptimizerState('exp_avg', ones(m.numParams))],
  ['optimizerSteps', (m) => (m.optimizerSteps = 99)],
  ['init', (m) => m.init(42)],
  [
    'loadSafetensors',
    (m) => {
      const other = createModel(TINY, { seed: 11, device: 'cpu' });
      const path = join(tmp, 'other.safetensors');
      other.saveSafetensors(path);
      m.loadSafetensors(path);
    },
  ],
];

describe('a write refused as busy changes nothing (items 1 and 2)', () => {
  // evaluate changes neither the parameters nor the gradients, so nothing refreshes the host
  // copy afterwards: a write that leaked into it stays visible (how item 1 showed). A step in
  // flight is the other case: it changes the model, and the refused write must not be undone
  // or replayed by the next push.
  const inFlight: [string, (m: VitModel) => Promise<unknown>][] = [
    ['evaluate', (m) => { const b = randomBatch(TINY, 4, 9); return m.evaluate(b.images, b.labels); }],
    ['step', (m) => { const b = randomBatch(TINY, 4, 9); return m.step(b.images, b.labels, { lr: 1e-2, lambda: 0.5, r: 0.05, seed: 3 }); }],
  ];
  for (const [callName, call] of inFlight) {
    it.each(writes)(`%s while ${callName} is in flight`, async (_name, write) => {
      const [m, twin] = [await trained(), await trained()];
      snapshot(m, 'before'); // pulls every host copy: a leaked write would stay visible in them
      const pending = call(m);
      expect(m.busy).toBe(true);
      expect(() => write(m)).toThrow(/busy/);
      // reads are refused too (the call may be changing the buffers): nothing stale is shown
      for (const read of [() => m.params, () => m.grads, () => m.param('head.bias'), () => m.saveSafetensors(join(tmp, 'x'))]) {
        expect(read).toThrow(/busy/);
      }
      await pending;
      await call(twin);
      expect(snapshot(m, 'm')).toEqual(snapshot(twin, 'twin'));
      unrelatedWrites(m);
      unrelatedWrites(twin);
      expect(snapshot(m, 'm')).toEqual(snapshot(twin, 'twin'));
    });
  }

  it('an editParams callback that starts a step: the write is refused, the step is not undone', async () => {
    const [m, twin] = [await trained(), await trained()];
    const b = randomBatch(TINY, 4, 9);
    const opts = { lr: 1e-2, lambda: 0, r: 0, seed: 3 };
    let pending: Promise<unknown> | undefined;
    expect(() => m.editParams((p) => {
      p.fill(1);
      pending = m.step(b.images, b.labels, opts);
    })).toThrow(/busy/);
    await pending;
    await twin.step(b.images, b.labels, opts);
    unrelatedWrites(m);
    unrelatedWrites(twin);
    expect(snapshot(m, 'm')).toEqual(snapshot(twin, 'twin'));
  });
});

describe('an editParams callback that throws leaves nothing edited (item 2)', () => {
  it('neither the model nor the host copy, also after an unrelated setParam', async () => {
    const [m, twin] = [await trained(), await trained()];
    const before = m.params;
    expect(() => m.editParams((p) => {
      p.fill(1000); // half an edit ...
      throw new Error('callback failed');
    })).toThrow('callback failed');
    expect(bits(m.params).equals(bits(before))).toBe(true);
    unrelatedWrites(m);
    unrelatedWrites(twin);
    expect(snapshot(m, 'm')).toEqual(snapshot(twin, 'twin'));
  });
});

describe('what params/param()/grads/grad() return belongs to the caller (item 3)', () => {
  it('writing into a returned array changes neither the model nor a later read, even after unrelated writes', async () => {
    const [m, twin] = [await trained(), await trained()];
    const p = m.params;
    p.fill(7);
    const w = m.param('blocks.1.mlp.fc1.weight');
    w.fill(8);
    const g = m.grads;
    g.fill(9);
    m.grad('head.weight').fill(10);
    let kept: Float32Array | Float64Array | undefined;
    m.editParams((q) => (kept = q)); // a callback that keeps its array ...
    kept!.fill(11); // ... and writes into it later
    expect(snapshot(m, 'm')).toEqual(snapshot(twin, 'twin'));
    unrelatedWrites(m);
    unrelatedWrites(twin);
    expect(snapshot(m, 'm')).toEqual(snapshot(twin, 'twin'));
  });

  it('a returned array does not change in place after a step, a write or a load', async () => {
    const m = await trained();
    const reads = () => [m.params, m.param('head.weight'), m.grads, m.grad('head.weight')];
    const held = reads();
    const copies = held.map((a) => a.slice());
    const b = randomBatch(TINY, 4, 9);
    await m.step(b.images, b.labels, { lr: 1e-1, lambda: 0, r: 0, seed: 4 });
    m.setParams(ones(m.numParams));
    m.setGrads(ones(m.numParams));
    held.forEach((a, i) => expect(bits(a).equals(bits(copies[i])), `array ${i}`).toBe(true));
    // and the model did change, so the test above could fail
    reads().forEach((a, i) => expect(bits(a).equals(bits(copies[i])), `array ${i}`).toBe(false));
  });

  it('a successful write reaches the model and the copy', async () => {
    const m = await trained();
    const v = ones(m.numParams).map((_, i) => (i % 7) / 10);
    m.setParams(v);
    expect(m.paramNorm()).toBeCloseTo(Math.sqrt(v.reduce((s, x) => s + x * x, 0)), 2);
    expect(bits(m.params).equals(bits(v))).toBe(true);
    m.editParams((p) => (p[0] = 5));
    expect(m.params[0]).toBe(5);
    expect(m.param(m.paramNames[0])[0]).toBe(5);
  });
});

describe('loads are checked after conversion to the model precision (item 9)', () => {
  function f64File(m: VitModel, name: string, edit: (data: Float64Array) => void): string {
    const tensors = m.tensors.map((t) => {
      const data = Float64Array.from(m.param(t.name));
      if (t.name === 'head.weight') edit(data);
      return { name: t.name, dtype: 'F64' as const, shape: t.shape, data };
    });
    const path = join(tmp, name);
    writeSafetensors(path, tensors);
    return path;
  }

  it('an F64 value beyond float32 range is refused by a float32 model, which stays as it was', async () => {
    const m = await trained();
    const before = m.params;
    const path = f64File(createModel(TINY, { seed: 1, device: 'cpu' }), 'big.safetensors', (d) => (d[3] = 1e300));
    expect(() => m.loadSafetensors(path)).toThrow(
      'tensor "head.weight" holds 1 value not finite as float32, the precision of this model\'s parameters (the first, at index 3, is 1e+300)',
    );
    expect(bits(m.params).equals(bits(before))).toBe(true);
    expect(Number.isFinite(m.paramNorm())).toBe(true);
    for (const precision of ['bfloat16', 'float32'] as const) {
      expect(() => createModel(TINY, { seed: 1, device: 'cpu', precision }).loadSafetensors(path)).toThrow(/not finite as float32/);
    }
  });

  it('a float64 model loads the same file; an F64 value just inside float32 range loads into float32', () => {
    const big = f64File(createModel(TINY, { seed: 1, device: 'cpu' }), 'big64.safetensors', (d) => (d[3] = 1e300));
    const m64 = createModel(TINY, { seed: 1, device: 'cpu', precision: 'float64' });
    m64.loadSafetensors(big);
    expect(m64.param('head.weight')[3]).toBe(1e300);
    const edge = f64File(createModel(TINY, { seed: 1, device: 'cpu' }), 'edge.safetensors', (d) => (d[3] = 3.4e38));
    const m32 = createModel(TINY, { seed: 1, device: 'cpu' });
    m32.loadSafetensors(edge);
    expect(m32.param('head.weight')[3]).toBe(Math.fround(3.4e38));
  });
});
