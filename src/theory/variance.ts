/**
 * The adaptive learning rate's variance under decaying gradients (docs/method.md, section 7;
 * the paper's Theorem 4.2 and Figure 3).
 *
 * Gradients g_k ~ N(0, σ_k), k = 1..t, independent, with variance σ_k = e^(−γ(k−1))·σ1. The
 * adaptive learning rate ψ = sqrt(t / Σ g_k²) = Y^(−1/2), Y = (1/t)·Σ g_k², has to first order
 * (the delta method) Var ψ ≈ Var(Y) / (4·E(Y)³), which works out to
 *
 *   Var ψ(t; γ) = t/(2σ1) · (1 + e^(−γt))(1 − e^(−γ))² / ((1 + e^(−γ))(1 − e^(−γt))²)
 *
 * (γ → 0: 1/(2σ1·t)). The Monte Carlo estimate samples ψ directly; the difference shows where
 * the first-order approximation holds (large t, small γ) and where it does not (small t, or
 * γ so large that a few early gradients dominate the sum).
 */
import { deriveSeed, Rng } from '../util/rng.js';

/** The closed form Var ψ(t; γ) for σ1 (the first gradient's variance). */
export function varPsiClosedForm(t: number, gamma: number, sigma1 = 1): number {
  if (!(t >= 1) || !(gamma >= 0) || !(sigma1 > 0)) throw new RangeError(`varPsiClosedForm: need t >= 1, gamma >= 0, sigma1 > 0; got t=${t}, gamma=${gamma}, sigma1=${sigma1}`);
  if (gamma === 0) return 1 / (2 * sigma1 * t);
  // 1 − e^(−x) = −expm1(−x): exact for small x.
  const a = -Math.expm1(-gamma); // 1 − e^(−γ)
  const b = -Math.expm1(-gamma * t); // 1 − e^(−γt)
  const q = Math.exp(-gamma);
  const qt = Math.exp(-gamma * t);
  return (t / (2 * sigma1)) * ((1 + qt) * a * a) / ((1 + q) * b * b);
}

/** E(Y) and Var(Y) exactly (Y = (1/t)·Σ g_k²; E g² = σ_k, Var g² = 2σ_k²). */
export function momentsOfY(t: number, gamma: number, sigma1 = 1): { mean: number; variance: number } {
  let s1 = 0;
  let s2 = 0;
  for (let k = 1; k <= t; k++) {
    const v = sigma1 * Math.exp(-gamma * (k - 1));
    s1 += v;
    s2 += 2 * v * v;
  }
  return { mean: s1 / t, variance: s2 / (t * t) };
}

export interface MonteCarloResult {
  /** Sample variance of ψ over the samples. */
  variance: number;
  /** Mean of ψ. */
  mean: number;
  /** Standard error of the variance estimate (from the fourth central moment). */
  se: number;
  samples: number;
}

/**
 * Monte Carlo estimate of Var ψ(t; γ): `samples` draws of (g_1..g_t), seeded (a pure function
 * of seed, t and γ).
 */
export function varPsiMonteCarlo(t: number, gamma: number, samples: number, seed = 0, sigma1 = 1): MonteCarloResult {
  if (!Number.isInteger(t) || t < 1) throw new RangeError(`varPsiMonteCarlo: t must be an integer >= 1, got ${t}`);
  if (!Number.isInteger(samples) || samples < 2) throw new RangeError(`varPsiMonteCarlo: samples must be an integer >= 2, got ${samples}`);
  const rng = new Rng(deriveSeed(seed, t, Math.round(gamma * 1e9)));
  const sd = new Float64Array(t);
  for (let k = 0; k < t; k++) sd[k] = Math.sqrt(sigma1 * Math.exp(-gamma * k));
  const psi = new Float64Array(samples);
  let sum = 0;
  for (let i = 0; i < samples; i++) {
    let ss = 0;
    for (let k = 0; k < t; k++) {
      const g = sd[k] * rng.normal();
      ss += g * g;
    }
    const p = Math.sqrt(t / ss);
    psi[i] = p;
    sum += p;
  }
  const mean = sum / samples;
  let m2 = 0;
  let m4 = 0;
  for (let i = 0; i < samples; i++) {
    const d = (psi[i] - mean) ** 2;
    m2 += d;
    m4 += d * d;
  }
  const variance = m2 / (samples - 1);
  const mu4 = m4 / samples;
  const s2 = m2 / samples;
  const se = Math.sqrt(Math.max(0, mu4 - ((samples - 3) / (samples - 1)) * s2 * s2) / samples);
  return { variance, mean, se, samples };
}

export interface TheoryGrid {
  ts: number[];
  gammas: number[];
  sigma1: number;
  samples: number;
  seed: number;
  /** [i over gammas][j over ts] */
  closed: number[][];
  mc: number[][];
  mcSe: number[][];
  /** (closed − mc) / mc */
  relDiff: number[][];
}

export const DEFAULT_TS = [5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000];
export const DEFAULT_GAMMAS = [0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2];

export function theoryGrid(o: { ts?: number[]; gammas?: number[]; samples: number; seed?: number; sigma1?: number }): TheoryGrid {
  const ts = o.ts ?? DEFAULT_TS;
  const gammas = o.gammas ?? DEFAULT_GAMMAS;
  const sigma1 = o.sigma1 ?? 1;
  const seed = o.seed ?? 0;
  const closed: number[][] = [];
  const mc: number[][] = [];
  const mcSe: number[][] = [];
  const relDiff: number[][] = [];
  for (const g of gammas) {
    const c: number[] = [];
    const m: number[] = [];
    const se: number[] = [];
    const r: number[] = [];
    for (const t of ts) {
      const cf = varPsiClosedForm(t, g, sigma1);
      const est = varPsiMonteCarlo(t, g, o.samples, seed, sigma1);
      c.push(cf);
      m.push(est.variance);
      se.push(est.se);
      r.push((cf - est.variance) / est.variance);
    }
    closed.push(c);
    mc.push(m);
    mcSe.push(se);
    relDiff.push(r);
  }
  return { ts, gammas, sigma1, samples: o.samples, seed, closed, mc, mcSe, relDiff };
}
