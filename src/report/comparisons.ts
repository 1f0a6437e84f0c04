/**
 * The family of paired comparisons the report shows, with their statistics and words.
 *
 * Per context (row) the family holds: vanilla GR − base at every LR warmup; each GR warmup
 * policy − vanilla GR and − base with LR warmup; and the effect of the LR warmup itself
 * (base with − base without, GR with − GR without). Differences are paired by seed, in
 * percentage points of final test error. Holm's correction runs across the whole family, so
 * the words "significant at 5% after correction" account for every comparison shown.
 * Comparisons against the same reference runs are not independent: `sharedBaselines` names
 * them and the seed that drives them when it is the same one in every comparison.
 */
import { findSetting, pairedDiff, warmupsOf, type Aggregate, type Setting } from './aggregate.js';
import { holm, pairedTest, wording, type PairedTest } from './stats.js';

export interface Comparison {
  contextLabel: string;
  /** "no" or "10 ep" for within-warmup comparisons; "10 ep vs none" for the LR-warmup effect. */
  warmupLabel: string;
  /** What is compared: "gr − none", "r-warmup − gr", "LR warmup 10 ep − none (gr)". */
  what: string;
  a: Setting;
  b: Setting;
  /** Percentage points (a − b), paired by seed. */
  test: PairedTest;
  /** Seeds of the pairs, in the order of test.diffs. */
  seeds: number[];
  pHolm: number;
  words: string;
}

export interface SharedBaseline {
  contextLabel: string;
  baseline: string;
  comparisons: string[];
  /** The seed with the largest |difference| in every one of them, if it is the same seed. */
  drivingSeed?: number;
  text: string;
}

const wuText = (w: number) => (w === 0 ? 'no LR warmup' : `LR warmup ${w} ep`);

function pairedSeeds(a: Setting, b: Setting): number[] {
  const inB = new Set(b.complete.map((r) => r.config.seed));
  return a.complete.map((r) => r.config.seed).filter((s) => inB.has(s));
}

export function comparisons(agg: Aggregate): Comparison[] {
  const out: Comparison[] = [];
  const add = (contextLabel: string, warmupLabel: string, what: string, a?: Setting, b?: Setting) => {
    if (!a || !b || a.complete.length === 0 || b.complete.length === 0) return;
    const d = pairedDiff(a, b);
    if (d.n === 0) return;
    out.push({ contextLabel, warmupLabel, what, a, b, test: pairedTest(d.diffs.map((x) => 100 * x)), seeds: pairedSeeds(a, b), pHolm: NaN, words: '' });
  };
  for (const c of agg.contexts) {
    const ws = warmupsOf(agg, c.key);
    for (const w of ws) {
      const gr = findSetting(agg, c.key, 'gr', w);
      const base = findSetting(agg, c.key, 'none', w);
      add(c.label, wuText(w), 'gr − none', gr, base);
      if (w === 0) continue;
      for (const p of ['r-warmup', 'lambda-warmup', 'zero-warmup']) add(c.label, wuText(w), `${p} − gr`, findSetting(agg, c.key, p, w), gr);
      for (const p of ['r-warmup', 'lambda-warmup', 'zero-warmup']) add(c.label, wuText(w), `${p} − none`, findSetting(agg, c.key, p, w), base);
    }
    if (ws.includes(0)) {
      for (const w of ws.filter((x) => x > 0)) {
        for (const p of ['none', 'gr']) {
          add(c.label, `${w} ep vs none`, `${p}: LR warmup ${w} ep − no LR warmup`, findSetting(agg, c.key, p, w), findSetting(agg, c.key, p, 0));
        }
      }
    }
  }
  const adj = holm(out.map((x) => x.test.p));
  out.forEach((x, i) => {
    x.pHolm = adj[i];
    x.words = wording(x.test, adj[i]);
  });
  return out;
}

/** Groups of ≥ 2 comparisons with the same reference runs, and what that means for reading them. */
export function sharedBaselines(cs: readonly Comparison[]): SharedBaseline[] {
  const groups = new Map<Setting, Comparison[]>();
  for (const c of cs) groups.set(c.b, [...(groups.get(c.b) ?? []), c]);
  const out: SharedBaseline[] = [];
  for (const [b, g] of groups) {
    if (g.length < 2) continue;
    const name = `${b.gr} (${wuText(b.warmupEpochs)})`;
    const drivers = g.map((c) => {
      let best = -1;
      c.test.diffs.forEach((d, i) => {
        if (best < 0 || Math.abs(d) > Math.abs(c.test.diffs[best])) best = i;
      });
      return c.seeds[best];
    });
    const same = drivers.every((s) => s === drivers[0]) && drivers[0] !== undefined && g[0].test.n > 2;
    const text =
      `${g.length} comparisons share the ${name} runs as their reference (${g.map((c) => c.what).join('; ')}): ` +
      'they are not independent, since a reference seed that ends unusually high or low moves all of them together' +
      (same ? `; seed ${drivers[0]} gives the largest difference in every one of them.` : '.');
    out.push({ contextLabel: g[0].contextLabel, baseline: name, comparisons: g.map((c) => c.what), drivingSeed: same ? drivers[0] : undefined, text });
  }
  return out;
}
