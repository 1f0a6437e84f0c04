// The trainer-level step: schedules + GR policy + fused step.
import { describe, expect, it } from 'vitest';
import { createModel, Trainer, type TrainerConfig } from '../src/index.js';
import { randomBatch, TINY } from './support/batch.js';

const cfg = { ...TINY, dropout: 0.1 };
const Tw = 3;

function config(policy: TrainerConfig['gr']['policy'], extra: Partial<TrainerConfig> = {}): TrainerConfig {
  return {
    optimizer: { kind: 'adam', weightDecay: 0.05, clip: 2 },
    schedule: { form: 'paper', lr0: 1e-3, warmupSteps: Tw, totalSteps: 8 },
    gr: { policy, lambda0: 0.08, r0: 0.1, warmupSteps: Tw },
    seed: 1,
    ...extra,
  };
}

async function run(policy: TrainerConfig['gr']['policy'], steps: number, extra: Partial<TrainerConfig> = {}) {
  const model = createModel(cfg, { seed: 2 });
  const trainer = new Trainer(model, config(policy, extra));
  const out = [];
  for (let i = 0; i < steps; i++) out.push(await trainer.step(randomBatch(cfg, 4, 10 + i)));
  return { model, out };
}

describe('Trainer', () => {
  it('zero-warmup: base steps for t <= Tw, GR steps from Tw + 1', async () => {
    const { out } = await run('zero-warmup', 5);
    expect(out.map((m) => m.t)).toEqual([1, 2, 3, 4, 5]);
    expect(out.map((m) => m.secondPass)).toEqual([false, false, false, true, true]);
    expect(out[0].loss2).toBeNull();
    expect(out[3].lambda).toBe(0.08);
    expect(out[3].r).toBe(0.1);
  });

  it('r-warmup and lambda-warmup (step origin 0, the default): a base step first, exactly r0 and lambda0 at t = Tw + 1', async () => {
    const r = await run('r-warmup', Tw + 1);
    expect(r.out[0]).toMatchObject({ r: 0, lambda: 0, secondPass: false });
    expect(r.out[1].r).toBeCloseTo(0.1 / Tw, 15);
    expect(r.out[Tw].r).toBe(0.1);
    expect(r.out[Tw].lambda).toBe(0.08);
    expect(r.out.slice(1).every((m) => m.secondPass)).toBe(true);
    const l = await run('lambda-warmup', Tw + 1);
    expect(l.out[0]).toMatchObject({ lambda: 0, secondPass: false });
    expect(l.out[Tw].lambda).toBe(0.08);
    expect(l.out.slice(1).every((m) => m.r === 0.1)).toBe(true); // t = 1 is a base step (r reported as 0)
  });

  it('step origin 1: r-warmup and lambda-warmup reach exactly r0 and lambda0 at t = Tw', async () => {
    const gr = (policy: 'r-warmup' | 'lambda-warmup') => ({ gr: { policy, lambda0: 0.08, r0: 0.1, warmupSteps: Tw, stepOrigin: 1 as const } });
    const r = await run('r-warmup', Tw, gr('r-warmup'));
    expect(r.out[Tw - 1].r).toBe(0.1);
    expect(r.out[Tw - 1].lambda).toBe(0.08);
    expect(r.out[0].r).toBeCloseTo(0.1 / Tw, 15);
    expect(r.out.every((m) => m.secondPass)).toBe(true);
    const l = await run('lambda-warmup', Tw, gr('lambda-warmup'));
    expect(l.out[Tw - 1].lambda).toBe(0.08);
    expect(l.out.every((m) => m.r === 0.1)).toBe(true);
  });

  it('uses the scheduled learning rate of the paper form', async () => {
    const { out } = await run('none', 2);
    expect(out[0].lr).toBeCloseTo(1e-3 * (1 / Tw) * 0.5 * (1 + Math.cos(Math.PI / 8)), 15);
    expect(out.every((m) => !m.secondPass)).toBe(true);
  });

  it('the unfused trainer path gives the same bits as the fused one', async () => {
    const a = await run('gr', 3);
    const b = await run('gr', 3, { fused: false });
    expect(Buffer.from(b.model.params.buffer).equals(Buffer.from(a.model.params.buffer))).toBe(true);
    expect(b.out.map((m) => m.loss2)).toEqual(a.out.map((m) => m.loss2));
  });

  it('rejects bad GR and schedule parameters before any work', () => {
    const model = createModel(cfg);
    const before = Float32Array.from(model.params);
    expect(() => new Trainer(model, config('gr', { gr: { policy: 'gr', lambda0: 0.1, r0: -0.1, warmupSteps: Tw } }))).toThrow(/r0/);
    expect(() => new Trainer(model, config('gr', { gr: { policy: 'gr', lambda0: 0.1, r0: 0, warmupSteps: Tw } }))).toThrow(/lambda/);
    expect(() => new Trainer(model, config('gr', { schedule: { form: 'paper', lr0: Number.NaN, warmupSteps: Tw, totalSteps: 8 } }))).toThrow(/lr0/);
    expect(Buffer.from(model.params.buffer).equals(Buffer.from(before.buffer))).toBe(true);
  });
});
