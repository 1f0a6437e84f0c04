import { describe, expect, it } from 'vitest';
import { deriveSeed, permutation, Rng } from '../src/util/rng.js';

const draw = (seed: number, n: number): number[] => {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => r.nextU32());
};

describe('Rng', () => {
  it('is reproducible for a seed and differs across seeds', () => {
    expect(draw(42, 100)).toEqual(draw(42, 100));
    expect(draw(42, 100)).not.toEqual(draw(43, 100));
    // Adjacent small seeds must not give shifted copies of one stream.
    const a = draw(0, 50);
    const b = draw(1, 50);
    expect(a.filter((v) => b.includes(v))).toHaveLength(0);
  });

  it('matches xoshiro128** reference outputs for state (1, 2, 3, 4)', () => {
    // First outputs of the reference C implementation from s = {1, 2, 3, 4}
    // (the first three are easy to verify by hand: rotl(2*5, 7)*9 = 11520, then 0, ...).
    const r = Rng.fromState([1, 2, 3, 4]);
    expect([r.nextU32(), r.nextU32(), r.nextU32(), r.nextU32()]).toEqual([
      11520, 0, 5927040, 70819200,
    ]);
  });

  it('pins the stream (guards against accidental algorithm changes breaking resume)', () => {
    // Values recorded from this implementation; a change here changes every run's data order.
    expect(draw(123, 4)).toEqual(PINNED_123);
    expect(deriveSeed(7, 3, 5, 1)).toBe(PINNED_DERIVE);
  });

  it('nextU32 is a uint32 and nextFloat lies in [0,1)', () => {
    const r = new Rng(5);
    let ok = true;
    let maxU = 0;
    for (let i = 0; i < 10000; i++) {
      const u = r.nextU32();
      ok &&= Number.isInteger(u) && u >= 0 && u < 2 ** 32;
      maxU = Math.max(maxU, u);
      const f = r.nextFloat();
      ok &&= f >= 0 && f < 1;
    }
    expect(ok).toBe(true);
    // The top bit is used (not a 31-bit generator in disguise).
    expect(maxU).toBeGreaterThan(2 ** 31);
  });

  it('nextInt covers [0,n) uniformly', () => {
    const r = new Rng(9);
    const n = 7;
    const draws = 70000;
    const counts = new Array(n).fill(0);
    for (let i = 0; i < draws; i++) counts[r.nextInt(n)]++;
    // Any out-of-range draw would have left a non-numeric or extra slot.
    expect(counts).toHaveLength(n);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(draws);
    // Chi-square with 6 degrees of freedom: P(χ² > 22.46) = 0.001.
    const e = draws / n;
    const chi2 = counts.reduce((s, c) => s + ((c - e) * (c - e)) / e, 0);
    expect(chi2).toBeLessThan(22.46);
    // Extreme n: 1 always gives 0; 2^32 is accepted; invalid n throws.
    expect(r.nextInt(1)).toBe(0);
    expect(r.nextInt(2 ** 32)).toBeLessThan(2 ** 32);
    expect(() => r.nextInt(0)).toThrow(/nextInt/);
    expect(() => r.nextInt(2.5)).toThrow(/nextInt/);
  });

  it('normal() has mean ≈ 0 and variance ≈ 1', () => {
    const r = new Rng(11);
    const n = 50000;
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      s1 += z;
      s2 += z * z;
    }
    // Standard errors: mean 1/√n ≈ 0.0045, variance √(2/n) ≈ 0.0063; allow ~5 SE.
    expect(Math.abs(s1 / n)).toBeLessThan(0.025);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.035);
  });
});

describe('deriveSeed', () => {
  it('is a pure uint32 function sensitive to every part, its order and count', () => {
    const s = deriveSeed(1, 2, 3);
    expect(s).toBe(deriveSeed(1, 2, 3));
    expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
    const variants = [
      deriveSeed(1, 2, 3),
      deriveSeed(1, 3, 2),
      deriveSeed(1, 2, 4),
      deriveSeed(2, 2, 3),
      deriveSeed(1, 2),
      deriveSeed(1, 2, 3, 0),
      deriveSeed(1, 2, 3 + 2 ** 32),
      deriveSeed(-1, 2, 3),
    ];
    expect(new Set(variants).size).toBe(variants.length);
  });

  it('gives distinct seeds over a grid of (epoch, batch)', () => {
    const seen = new Set<number>();
    for (let e = 0; e < 100; e++) for (let k = 0; k < 200; k++) seen.add(deriveSeed(0, e, k, 1));
    // 20000 uint32 hashes: a collision has probability ~5e-5.
    expect(seen.size).toBe(20000);
  });

  it('rejects non-integers', () => {
    expect(() => deriveSeed(1.5)).toThrow(/safe integer/);
  });
});

describe('permutation', () => {
  it('is a valid permutation, deterministic for the rng state', () => {
    for (const n of [0, 1, 2, 10, 1000]) {
      const p = permutation(n, new Rng(3));
      expect(p.length).toBe(n);
      expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(Array.from(permutation(n, new Rng(3)))).toEqual(Array.from(p));
    }
    expect(Array.from(permutation(50, new Rng(3)))).not.toEqual(
      Array.from(permutation(50, new Rng(4))),
    );
  });

  it('puts each element in each position about equally often', () => {
    const n = 5;
    const trials = 20000;
    const pos = Array.from({ length: n }, () => new Array(n).fill(0));
    const r = new Rng(77);
    for (let t = 0; t < trials; t++) {
      const p = permutation(n, r);
      for (let i = 0; i < n; i++) pos[p[i]][i]++;
    }
    // Each cell expects 4000 with SD ≈ 57; 300 is > 5 SD.
    for (const row of pos) for (const c of row) expect(Math.abs(c - trials / n)).toBeLessThan(300);
  });
});

const PINNED_123 = [1637004519, 4502186, 2305127012, 3267558455];
const PINNED_DERIVE = 688874356;
