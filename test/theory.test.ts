// The adaptive-learning-rate variance (docs/method.md, section 7): closed form vs the delta
// method written out, monotonicity in γ, and a seeded Monte Carlo estimate.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from '../src/cli.js';
import { momentsOfY, varPsiClosedForm, varPsiMonteCarlo } from '../src/theory/variance.js';

const tmp = mkdtempSync(join(tmpdir(), 'grwarm-theory-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('closed form', () => {
  it('equals Var(Y) / (4 E(Y)^3) with the moments summed term by term', () => {
    for (const [t, g, s1] of [[10, 0, 1], [10, 0.01, 1], [100, 0.05, 2], [1000, 0.001, 0.5], [30, 0.2, 1]]) {
      const { mean, variance } = momentsOfY(t, g, s1);
      expect(varPsiClosedForm(t, g, s1)).toBeCloseTo(variance / (4 * mean ** 3), 10);
    }
    expect(varPsiClosedForm(200, 0)).toBe(1 / 400); // γ → 0: 1/(2σ1 t)
    expect(varPsiClosedForm(200, 1e-12)).toBeCloseTo(1 / 400, 12);
  });

  it('increases with γ at fixed t', () => {
    for (const t of [2, 5, 10, 50, 100, 300, 1000]) {
      let prev = 0;
      for (let g = 0; g <= 1; g += 0.0025) {
        const v = varPsiClosedForm(t, g);
        expect(v, `t=${t} γ=${g}`).toBeGreaterThan(prev);
        prev = v;
      }
    }
  });
});

describe('Monte Carlo', () => {
  it('is seeded', () => {
    expect(varPsiMonteCarlo(50, 0.01, 500, 3)).toEqual(varPsiMonteCarlo(50, 0.01, 500, 3));
    expect(varPsiMonteCarlo(50, 0.01, 500, 3).variance).not.toBe(varPsiMonteCarlo(50, 0.01, 500, 4).variance);
  });

  // Tolerance 5%: the first-order error is under 1% at t = 1000, γ <= 0.005, and the Monte Carlo
  // standard error at 20,000 samples is about 1% (checked below), so 5% is > 4 standard errors.
  it.each([
    [1000, 0],
    [1000, 0.001],
    [1000, 0.005],
  ])('t = %i, γ = %s: Monte Carlo within 5 percent of the closed form (the approximation holds there)', (t, g) => {
    const mc = varPsiMonteCarlo(t, g, 20_000, 7);
    expect(mc.se / mc.variance).toBeLessThan(0.015);
    expect(Math.abs(varPsiClosedForm(t, g) - mc.variance) / mc.variance).toBeLessThan(0.05);
  });

  it('shows where it does not hold: at t = 10 the closed form is about a third too low', () => {
    const mc = varPsiMonteCarlo(10, 0, 20_000, 7);
    const rel = (varPsiClosedForm(10, 0) - mc.variance) / mc.variance;
    expect(rel).toBeLessThan(-0.25);
    expect(rel).toBeGreaterThan(-0.45);
  });
});

describe('grwarm-native theory', () => {
  it('writes the heat maps, CSV and Markdown', async () => {
    let out = '';
    const io: CliIO = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (out += s) }, env: {}, handleSignals: false };
    const code = await main(['theory', '--out', tmp, '--samples', '300', '--t', '10,100', '--gamma', '0,0.01,0.1'], io);
    expect(code).toBe(0);
    expect(out).toContain('Var ψ on 2 x 3 (t, γ) points, 300 Monte Carlo samples each');
    for (const f of ['theory.html', 'theory.csv', 'theory.md', 'theory-closed-form.svg', 'theory-monte-carlo.svg', 'theory-relative-difference.svg']) {
      expect(existsSync(join(tmp, f)), f).toBe(true);
    }
    const csv = readFileSync(join(tmp, 'theory.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('t,gamma,closedForm,monteCarlo,monteCarloSE,relDiff');
    expect(csv).toHaveLength(7);
    expect(Number(csv[1].split(',')[2])).toBeCloseTo(0.05, 6); // t = 10, γ = 0: 1/(2·10)
    const bad = await main(['theory', '--samples', '1'], io);
    expect(bad).toBe(2);
  });
});
