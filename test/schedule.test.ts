import { describe, expect, it } from 'vitest';
import {
  GR_POLICIES,
  grAt,
  learningRate,
  validateGrConfig,
  validateLrSchedule,
  warmupFactor,
  type GrConfig,
  type LrSchedule,
} from '../src/schedule/index.js';

/** |actual − expected| ≤ rel·|expected| (expected values are written out by hand below). */
function expectRel(actual: number, expected: number, rel = 1e-13): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rel * Math.abs(expected));
}

const sig5 = (x: number): number => Number(x.toPrecision(5));

describe('warmupFactor', () => {
  it('is min(1, t/Tw) and 1 when Tw = 0', () => {
    expect(warmupFactor(1, 4)).toBe(0.25);
    expect(warmupFactor(3, 4)).toBe(0.75);
    expect(warmupFactor(4, 4)).toBe(1);
    expect(warmupFactor(9, 4)).toBe(1);
    expect(warmupFactor(1, 0)).toBe(1);
  });
  it('rejects bad steps', () => {
    expect(() => warmupFactor(0, 4)).toThrow(/t must be an integer >= 1 .*got 0/);
    expect(() => warmupFactor(1, -1)).toThrow(/warmupSteps must be an integer >= 0, got -1/);
  });
});

describe('learningRate', () => {
  const base = { lr0: 1e-3, warmupSteps: 10, totalSteps: 100 };

  it('paper form at t = 1, Tw, Tw+1, T', () => {
    const s: LrSchedule = { form: 'paper', ...base };
    expectRel(learningRate(1, s), 1e-3 * 0.1 * 0.5 * (1 + Math.cos(Math.PI * 0.01)));
    expectRel(learningRate(10, s), 1e-3 * 1 * 0.5 * (1 + Math.cos(Math.PI * 0.1)));
    expectRel(learningRate(11, s), 1e-3 * 1 * 0.5 * (1 + Math.cos(Math.PI * 0.11)));
    expect(Math.abs(learningRate(100, s))).toBeLessThan(1e-18);
  });

  it('paper form reproduces the documented example values (lr0 1e-3, Tw 7800, T 58500)', () => {
    const s: LrSchedule = { form: 'paper', lr0: 1e-3, warmupSteps: 7800, totalSteps: 58500 };
    expect(sig5(learningRate(194, s))).toBe(2.4871e-5);
    expect(sig5(learningRate(7799, s))).toBe(9.5666e-4);
    expect(Math.abs(learningRate(58500, s))).toBeLessThan(1e-18);
  });

  it('warmup-cosine form at t = 1, Tw, Tw+1, T', () => {
    const s: LrSchedule = { form: 'warmup-cosine', ...base };
    expectRel(learningRate(1, s), 1e-4);
    expect(learningRate(10, s)).toBe(1e-3); // the ramp reaches lr0 exactly
    expectRel(learningRate(11, s), 1e-3 * 0.5 * (1 + Math.cos(Math.PI / 90)));
    expectRel(learningRate(55, s), 0.5e-3); // half way through the cosine
    expect(Math.abs(learningRate(100, s))).toBeLessThan(1e-18);
  });

  it('constant form at t = 1, Tw, Tw+1, T', () => {
    const s: LrSchedule = { form: 'constant', ...base };
    expectRel(learningRate(1, s), 1e-4);
    expect(learningRate(10, s)).toBe(1e-3);
    expect(learningRate(11, s)).toBe(1e-3);
    expect(learningRate(100, s)).toBe(1e-3);
  });

  it('Tw = 0 means no warmup; Tw = T is an all-warmup warmup-cosine', () => {
    const noWarm = { lr0: 2e-3, warmupSteps: 0, totalSteps: 4 };
    expectRel(learningRate(1, { form: 'paper', ...noWarm }), 2e-3 * 0.5 * (1 + Math.cos(Math.PI / 4)));
    expectRel(learningRate(1, { form: 'warmup-cosine', ...noWarm }), 2e-3 * 0.5 * (1 + Math.cos(Math.PI / 4)));
    expect(learningRate(1, { form: 'constant', ...noWarm })).toBe(2e-3);
    const allWarm: LrSchedule = { form: 'warmup-cosine', lr0: 2e-3, warmupSteps: 4, totalSteps: 4 };
    expectRel(learningRate(2, allWarm), 1e-3);
    expect(learningRate(4, allWarm)).toBe(2e-3);
  });

  it('rejects bad inputs naming the field and the value', () => {
    const s: LrSchedule = { form: 'paper', ...base };
    expect(() => learningRate(0, s)).toThrow(/t must be an integer >= 1 .*got 0/);
    expect(() => learningRate(1.5, s)).toThrow(/t must be an integer >= 1 .*got 1\.5/);
    expect(() => learningRate(101, s)).toThrow(/t = 101 is past the schedule horizon totalSteps = 100/);
    expect(() => learningRate(1, { ...s, totalSteps: 0, warmupSteps: 0 })).toThrow(/totalSteps must be an integer >= 1, got 0/);
    expect(() => learningRate(1, { ...s, warmupSteps: 101 })).toThrow(/warmupSteps \(101\) must not exceed totalSteps \(100\)/);
    expect(() => learningRate(1, { ...s, warmupSteps: -1 })).toThrow(/warmupSteps must be an integer >= 0, got -1/);
    expect(() => learningRate(1, { ...s, lr0: NaN })).toThrow(/lr0 must be a finite number >= 0, got NaN/);
    expect(() => learningRate(1, { ...s, lr0: -1e-3 })).toThrow(/lr0 must be a finite number >= 0, got -0\.001/);
    expect(() => learningRate(1, { ...s, lr0: Infinity })).toThrow(/lr0 must be a finite number >= 0, got Infinity/);
    expect(() => validateLrSchedule({ ...s, form: 'linear' as never })).toThrow(
      /lr form must be one of paper, warmup-cosine, constant; got "linear"/,
    );
  });
});

describe('grAt', () => {
  // α0 = λ0/r0 = 0.8, as in the paper's λ/r ∈ {0.8, 1}.
  const cfg = (policy: GrConfig['policy'], over: Partial<GrConfig> = {}): GrConfig => ({
    policy,
    lambda0: 0.08,
    r0: 0.1,
    warmupSteps: 10,
    ...over,
  });

  it('none: never a second pass', () => {
    for (const t of [1, 10, 11, 1000]) {
      expect(grAt(t, cfg('none'))).toEqual({ lambda: 0, r: 0, alpha: 0, secondPass: false });
    }
  });

  it('gr: λ0 and r0 from the first step', () => {
    for (const t of [1, 10, 11, 1000]) {
      const s = grAt(t, cfg('gr'));
      expect(s.lambda).toBe(0.08);
      expect(s.r).toBe(0.1);
      expect(s.alpha).toBe(0.08 / 0.1);
      expect(s.secondPass).toBe(true);
    }
  });

  it('sam: λ = r, α = 1', () => {
    const s = grAt(1, cfg('sam', { lambda0: 0.05, r0: 0.05 }));
    expect(s).toEqual({ lambda: 0.05, r: 0.05, alpha: 1, secondPass: true });
  });

  it('step origin 0 (default, the authors\' code): r-warmup and lambda-warmup are a base step at t = 1 and reach λ0, r0 at t = Tw + 1', () => {
    for (const p of ['r-warmup', 'lambda-warmup'] as const) {
      const c = cfg(p);
      expect(grAt(1, c)).toEqual({ lambda: 0, r: p === 'r-warmup' ? 0 : 0.1, alpha: 0, secondPass: false });
      expectRel(grAt(2, c).lambda, 0.008); // s = 1 of Tw = 10
      expectRel(grAt(6, c).lambda, 0.04);
      expect(grAt(10, c).lambda).toBeLessThan(0.08);
      expect(grAt(11, c)).toEqual({ lambda: 0.08, r: 0.1, alpha: 0.08 / 0.1, secondPass: true });
    }
    // zero-warmup is the same under both origins
    for (const t of [1, 10, 11, 12]) expect(grAt(t, cfg('zero-warmup'))).toEqual(grAt(t, cfg('zero-warmup', { stepOrigin: 1 })));
    expect(() => grAt(1, cfg('gr', { stepOrigin: 2 as 0 }))).toThrow(/stepOrigin must be 0 or 1/);
  });

  it('r-warmup (step origin 1): λ and r ramp together, exactly λ0 and r0 at Tw, α fixed at λ0/r0', () => {
    const c = cfg('r-warmup', { stepOrigin: 1 });
    const s1 = grAt(1, c);
    expectRel(s1.lambda, 0.008);
    expectRel(s1.r, 0.01);
    expectRel(grAt(5, c).r, 0.05);
    const sTw = grAt(10, c);
    expect(sTw.lambda).toBe(0.08);
    expect(sTw.r).toBe(0.1);
    expect(grAt(11, c)).toEqual({ lambda: 0.08, r: 0.1, alpha: 0.08 / 0.1, secondPass: true });
    for (let t = 1; t <= 30; t++) {
      const s = grAt(t, c);
      expect(s.alpha).toBe(0.08 / 0.1);
      expect(s.secondPass).toBe(true);
    }
  });

  it('lambda-warmup (step origin 1): λ ramps, r stays r0, α ramps to λ0/r0', () => {
    const c = cfg('lambda-warmup', { stepOrigin: 1 });
    const s1 = grAt(1, c);
    expectRel(s1.lambda, 0.008);
    expect(s1.r).toBe(0.1);
    expectRel(s1.alpha, 0.08);
    expectRel(grAt(5, c).alpha, 0.4);
    const sTw = grAt(10, c);
    expect(sTw.lambda).toBe(0.08);
    expect(sTw.r).toBe(0.1);
    expectRel(sTw.alpha, 0.8);
    expect(grAt(11, c).lambda).toBe(0.08);
    let prev = 0;
    for (let t = 1; t <= 10; t++) {
      const { alpha, secondPass } = grAt(t, c);
      expect(alpha).toBeGreaterThan(prev);
      expect(secondPass).toBe(true);
      prev = alpha;
    }
  });

  it('zero-warmup: no second pass for t <= Tw, λ0 from Tw+1', () => {
    const c = cfg('zero-warmup');
    for (let t = 1; t <= 10; t++) {
      const s = grAt(t, c);
      expect(s.secondPass).toBe(false);
      expect(s.lambda).toBe(0);
      expect(s.alpha).toBe(0);
    }
    const s = grAt(11, c);
    expect(s.secondPass).toBe(true);
    expect(s.lambda).toBe(0.08);
    expect(s.r).toBe(0.1);
    expectRel(s.alpha, 0.8);
    expect(grAt(1000, c).secondPass).toBe(true);
  });

  it('the paper run: zero-warmup with Tw = 7800 switches on at t = 7801', () => {
    const c = cfg('zero-warmup', { lambda0: 0.1, r0: 0.1, warmupSteps: 7800 });
    expect(grAt(7800, c).secondPass).toBe(false);
    expect(grAt(7801, c)).toEqual({ lambda: 0.1, r: 0.1, alpha: 1, secondPass: true });
  });

  it('Tw = 0 makes every warmup policy equal to gr from t = 1', () => {
    for (const p of ['r-warmup', 'lambda-warmup', 'zero-warmup'] as const) {
      expect(grAt(1, cfg(p, { warmupSteps: 0 }))).toEqual(grAt(1, cfg('gr')));
    }
  });

  it('λ = 0 or r = 0 means exactly the base step', () => {
    expect(grAt(3, cfg('gr', { lambda0: 0 }))).toEqual({ lambda: 0, r: 0.1, alpha: 0, secondPass: false });
    expect(grAt(3, cfg('sam', { lambda0: 0, r0: 0 }))).toEqual({ lambda: 0, r: 0, alpha: 0, secondPass: false });
  });

  it('rejects bad steps', () => {
    expect(() => grAt(0, cfg('gr'))).toThrow(/t must be an integer >= 1 .*got 0/);
  });
});

describe('validateGrConfig', () => {
  const ok: GrConfig = { policy: 'gr', lambda0: 0.1, r0: 0.1, warmupSteps: 10 };

  it('accepts sane configs for every policy', () => {
    for (const policy of GR_POLICIES) expect(() => validateGrConfig({ ...ok, policy })).not.toThrow();
    // 'none' ignores λ0/r0, so λ > 0 with r = 0 is harmless there.
    expect(() => validateGrConfig({ ...ok, policy: 'none', r0: 0 })).not.toThrow();
  });

  it('rejects negative, NaN and infinite values', () => {
    expect(() => validateGrConfig({ ...ok, r0: -0.1 })).toThrow(/r0 must be >= 0, got -0\.1/);
    expect(() => validateGrConfig({ ...ok, lambda0: -1 })).toThrow(/lambda0 must be >= 0, got -1/);
    expect(() => validateGrConfig({ ...ok, lambda0: NaN })).toThrow(/lambda0 must be a finite number, got NaN/);
    expect(() => validateGrConfig({ ...ok, r0: Infinity })).toThrow(/r0 must be a finite number, got Infinity/);
    expect(() => validateGrConfig({ ...ok, policy: 'none', r0: NaN })).toThrow(/r0 must be a finite number, got NaN/);
    expect(() => validateGrConfig({ ...ok, warmupSteps: NaN })).toThrow(/warmupSteps must be a finite number, got NaN/);
    expect(() => validateGrConfig({ ...ok, warmupSteps: 2.5 })).toThrow(/warmupSteps must be an integer >= 0, got 2\.5/);
  });

  it('rejects lambda > 0 with r = 0 where alpha = lambda/r is needed', () => {
    for (const policy of ['gr', 'r-warmup', 'lambda-warmup', 'zero-warmup'] as const) {
      expect(() => validateGrConfig({ ...ok, policy, r0: 0 })).toThrow(
        new RegExp(`policy ${policy} with lambda0 = 0\\.1 > 0 needs r0 > 0`),
      );
    }
  });

  it('requires lambda0 = r0 under sam', () => {
    expect(() => validateGrConfig({ ...ok, policy: 'sam', lambda0: 0.08 })).toThrow(
      /policy sam means lambda = r .*set lambda0 = r0, got lambda0 = 0\.08, r0 = 0\.1/,
    );
  });

  it('rejects an unknown policy, listing the allowed ones', () => {
    expect(() => validateGrConfig({ ...ok, policy: 'asam' as never })).toThrow(
      /unknown GR policy "asam"; allowed: none, gr, sam, r-warmup, lambda-warmup, zero-warmup/,
    );
  });
});
