/**
 * Statistics of paired differences for the report (no dependency): Student's t distribution
 * (CDF through the regularized incomplete beta function, quantile by bisection), the paired
 * t-test with its 95% interval, a sign count, and Holm's step-down correction across a family
 * of comparisons. The report's words ("within noise", "direction only", "significant at 5%
 * after correction") are derived from these numbers only (see `wording`).
 */

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: about 15 significant digits). */
export function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  const z = x - 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaCf(a: number, b: number, x: number): number {
  const TINY = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b), a, b > 0, 0 ≤ x ≤ 1. */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0) || !(x >= 0 && x <= 1)) return NaN;
  if (x === 0 || x === 1) return x;
  const lnFront = lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  // The continued fraction converges fast for x < (a + 1)/(a + b + 2); use the symmetry
  // I_x(a, b) = 1 − I_{1−x}(b, a) on the other side.
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaCf(a, b, x)) / a;
  return 1 - (Math.exp(lnFront) * betaCf(b, a, 1 - x)) / b;
}

/** Two-sided tail probability P(|T| ≥ |t|) of Student's t with `df` degrees of freedom. */
export function tTwoSidedP(t: number, df: number): number {
  if (!(df > 0) || Number.isNaN(t)) return NaN;
  if (!Number.isFinite(t)) return 0;
  return incompleteBeta(df / (df + t * t), df / 2, 0.5);
}

/** CDF P(T ≤ t) of Student's t with `df` degrees of freedom. */
export function tCdf(t: number, df: number): number {
  const tail = tTwoSidedP(t, df) / 2;
  return t >= 0 ? 1 - tail : tail;
}

/**
 * Quantile of Student's t: the t with P(T ≤ t) = p. Bisection on the CDF (monotone, so it
 * cannot fail to converge); 200 halvings of a bracket that starts at ±1e8 reach double precision.
 */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1) || !(df > 0)) return NaN;
  if (p === 0.5) return 0;
  let lo = -1;
  let hi = 1;
  while (tCdf(lo, df) > p && lo > -1e12) lo *= 2;
  while (tCdf(hi, df) < p && hi < 1e12) hi *= 2;
  for (let i = 0; i < 200; i++) {
    const mid = 0.5 * (lo + hi);
    if (mid === lo || mid === hi) break;
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/** A paired comparison: the per-seed differences a − b and their t statistics. */
export interface PairedTest {
  n: number;
  mean: number;
  /** Sample standard deviation of the differences (n − 1); NaN for n < 2. */
  sd: number;
  /** Standard error sd/√n; NaN for n < 2. */
  se: number;
  /** 95% interval mean ± t_{0.975, n−1}·se; NaN for n < 2. */
  ciLow: number;
  ciHigh: number;
  /** t = mean/se and its two-sided p-value with n − 1 df (p = 0 when sd = 0 and mean ≠ 0). */
  t: number;
  p: number;
  /** Seeds where a < b, a > b, a = b. */
  lower: number;
  higher: number;
  ties: number;
  diffs: number[];
}

export function pairedTest(diffs: readonly number[]): PairedTest {
  const d = diffs.filter((x) => Number.isFinite(x));
  const n = d.length;
  const mean = n ? d.reduce((a, b) => a + b, 0) / n : NaN;
  const sd = n > 1 ? Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN;
  const se = n > 1 ? sd / Math.sqrt(n) : NaN;
  const q = n > 1 ? tQuantile(0.975, n - 1) : NaN;
  let t = NaN;
  let p = NaN;
  if (n > 1) {
    if (se > 0) {
      t = mean / se;
      p = tTwoSidedP(t, n - 1);
    } else {
      // Identical differences on every seed: no spread to test against.
      t = mean === 0 ? 0 : Math.sign(mean) * Infinity;
      p = mean === 0 ? 1 : 0;
    }
  }
  return {
    n,
    mean,
    sd,
    se,
    ciLow: mean - q * se,
    ciHigh: mean + q * se,
    t,
    p,
    lower: d.filter((x) => x < 0).length,
    higher: d.filter((x) => x > 0).length,
    ties: d.filter((x) => x === 0).length,
    diffs: d,
  };
}

/**
 * Holm's step-down adjusted p-values (same order as the input): sort ascending, multiply the
 * i-th smallest (0-based) by m − i, take the running maximum, cap at 1. NaN entries are not
 * part of the family (they stay NaN and do not count in m).
 */
export function holm(ps: readonly number[]): number[] {
  const idx = ps.map((p, i) => [p, i] as const).filter(([p]) => Number.isFinite(p));
  idx.sort((a, b) => a[0] - b[0]);
  const m = idx.length;
  const out = ps.map(() => NaN);
  let running = 0;
  idx.forEach(([p, i], k) => {
    running = Math.max(running, Math.min(1, (m - k) * p));
    out[i] = running;
  });
  return out;
}

/** Two-significant-digit p-value text: `0.047`, `0.31`, `0.0012`, `< 0.001` below that. */
export function fmtP(p: number): string {
  if (!Number.isFinite(p)) return '–';
  if (p < 0.001) return '< 0.001';
  return p.toPrecision(2);
}

/**
 * The report's words for one comparison of a family (pAdj = Holm-adjusted p):
 * - "significant at 5% after correction" when pAdj < 0.05;
 * - "direction only (p = …)" when not, but the uncorrected p < 0.10 or every seed agrees in
 *   sign: a consistent direction that this many seeds cannot establish;
 * - "within noise (p = …)" otherwise.
 */
export function wording(t: PairedTest, pAdj: number): string {
  if (t.n < 2 || !Number.isFinite(t.p)) return 'too few paired seeds to judge';
  if (t.mean === 0 && t.sd === 0) return 'no difference';
  if (Number.isFinite(pAdj) && pAdj < 0.05) return `significant at 5% after correction (p = ${fmtP(t.p)}, Holm-adjusted ${fmtP(pAdj)})`;
  const allSame = t.lower === t.n || t.higher === t.n;
  if (t.p < 0.1 || allSame) return `direction only (p = ${fmtP(t.p)}${Number.isFinite(pAdj) ? `, Holm-adjusted ${fmtP(pAdj)}` : ''})`;
  return `within noise (p = ${fmtP(t.p)})`;
}

/** `−2.25 [−4.06, −0.44]`: mean and 95% interval of a difference, values already in the unit shown. */
export function fmtCi(mean: number, lo: number, hi: number, digits = 2): string {
  const f = (x: number) => (Number.isFinite(x) ? (x < 0 ? '−' : x > 0 ? '+' : '') + Math.abs(x).toFixed(digits) : '–');
  return Number.isFinite(lo) ? `${f(mean)} [${f(lo)}, ${f(hi)}]` : f(mean);
}
