// The report's statistics against reference values: scipy 1.x (scipy.stats.t, scipy.special)
// computed once and pasted here, and the printed t table (t_{0.975,2} = 4.303, t_{0.975,4} = 2.776).
import { describe, expect, it } from 'vitest';
import { fmtP, holm, incompleteBeta, lnGamma, pairedTest, tCdf, tQuantile, tTwoSidedP, wording } from '../src/report/stats.js';

describe('Student t distribution', () => {
  it('lnGamma and the regularized incomplete beta match scipy', () => {
    expect(lnGamma(0.5)).toBeCloseTo(0.5723649429247, 12);
    expect(lnGamma(10.3)).toBeCloseTo(13.482036786138359, 11);
    expect(incompleteBeta(0.3, 2.5, 0.5)).toBeCloseTo(0.018927124071945658, 13);
    expect(incompleteBeta(0.9, 10, 3)).toBeCloseTo(0.889130022255, 11);
    expect(incompleteBeta(0.5, 0.5, 0.5)).toBeCloseTo(0.5, 13);
  });
  it('two-sided p-values match scipy (2·t.sf)', () => {
    const cases: [number, number, number][] = [
      [1.0, 2, 0.4226497308103742],
      [2.5, 2, 0.12961172022151082],
      [4.303, 2, 0.0499925249852145],
      [0.3, 5, 0.7762490422632745],
      [3.1, 4, 0.03622111103743915],
      [10, 1, 0.06345103486110713],
      [2.0, 100, 0.04821217873113365],
    ];
    for (const [t, df, p] of cases) {
      expect(tTwoSidedP(t, df)).toBeCloseTo(p, 10);
      expect(tTwoSidedP(-t, df)).toBeCloseTo(p, 10);
    }
    expect(tCdf(0, 3)).toBeCloseTo(0.5, 14);
    expect(tCdf(-1, 2)).toBeCloseTo(0.4226497308103742 / 2, 12);
  });
  it('quantiles: the printed table and scipy', () => {
    expect(tQuantile(0.975, 2).toFixed(3)).toBe('4.303');
    expect(tQuantile(0.975, 4).toFixed(3)).toBe('2.776');
    expect(tQuantile(0.975, 2)).toBeCloseTo(4.302652729749462, 9);
    expect(tQuantile(0.975, 4)).toBeCloseTo(2.7764451051977934, 9);
    expect(tQuantile(0.025, 1)).toBeCloseTo(-12.706204736174705, 8);
    expect(tQuantile(0.999, 50)).toBeCloseTo(3.261409055798318, 9);
    expect(tQuantile(0.5, 7)).toBe(0);
    expect(tQuantile(1, 7)).toBeNaN();
  });
});

describe('paired test, Holm, wording', () => {
  // docs/repro-small: r-warmup − gr, seeds 0..2 (final test error, %): scipy ttest_1samp.
  const d = [24.92 - 26.5, 23.94 - 27.66, 25.12 - 26.58];
  it('paired t-test and its 95% interval match scipy', () => {
    const t = pairedTest(d);
    expect(t.n).toBe(3);
    expect(t.mean).toBeCloseTo(-2.2533333333333316, 12);
    expect(t.sd).toBeCloseTo(1.2715869350277766, 12);
    expect(t.t).toBeCloseTo(-3.0693047500024937, 10);
    expect(t.p).toBeCloseTo(0.09177186919071799, 10);
    expect(t.ciLow).toBeCloseTo(-5.4121303924048485, 8);
    expect(t.ciHigh).toBeCloseTo(0.9054637257381852, 8);
    expect([t.lower, t.higher, t.ties]).toEqual([3, 0, 0]);
  });
  it('constant differences: p = 0 when not zero, and a single seed cannot be judged', () => {
    expect(pairedTest([1, 1, 1]).p).toBe(0);
    expect(pairedTest([0, 0]).p).toBe(1);
    expect(wording(pairedTest([0.5]), NaN)).toBe('too few paired seeds to judge');
  });
  it('Holm step-down adjustment (hand-computed)', () => {
    // sorted 0.01·4 = 0.04, 0.03·3 = 0.09, 0.04·2 = 0.08 → 0.09 (monotone), 0.5·1 = 0.5
    expect(holm([0.01, 0.04, 0.03, 0.5]).map((x) => Number(x.toFixed(10)))).toEqual([0.04, 0.09, 0.09, 0.5]);
    // 0.6·2 = 1.2 → capped at 1; 0.9·1 = 0.9 → running maximum 1
    expect(holm([0.9, NaN, 0.6])).toEqual([1, NaN, 1]);
    expect(holm([0.5, 0.5, 0.5])).toEqual([1, 1, 1]);
  });
  it('words follow the numbers', () => {
    const t = pairedTest(d);
    expect(wording(t, 0.27)).toBe('direction only (p = 0.092, Holm-adjusted 0.27)');
    expect(wording(t, 0.04)).toMatch(/^significant at 5% after correction/);
    const mixed = pairedTest([0.5, -0.4, 0.2]);
    expect(wording(mixed, 1)).toBe(`within noise (p = ${fmtP(mixed.p)})`);
    expect(fmtP(0.0004)).toBe('< 0.001');
    expect(fmtP(0.5)).toBe('0.50');
    expect(fmtP(0.0123)).toBe('0.012');
  });
});
