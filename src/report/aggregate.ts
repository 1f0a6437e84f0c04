/**
 * From runs to the paper's table shapes. Runs whose configurations differ only in the seed
 * (and in keys that do not change the numbers: outDir, threads, ...) form one *setting*; a
 * setting's cell is the mean ± sample std over its seeds of the final and the best test error.
 *
 * - Table 1 (docs/method.md, section 8): base optimizer (`none`) vs vanilla GR (`gr`), without
 *   (warmupEpochs = 0) and with LR warmup.
 * - Table 2: the GR policies gr / r-warmup / lambda-warmup / zero-warmup with LR warmup.
 *
 * Rows are *contexts*: everything but the policy, the warmup length and the seed (model,
 * optimizer, data, lr, r, ...); the keys that differ between contexts label the rows.
 */
import type { RunConfig } from '../config/index.js';
import type { RunData } from './runs.js';
import { RESUME_OVERRIDABLE } from '../train/plan.js';

/** Keys that never separate settings (where/how a run was kept, not what it computed). */
/** Keys that change how a run is carried out, never its numbers (one list: plan.ts). */
const RUN_ONLY: ReadonlySet<string> = new Set(RESUME_OVERRIDABLE);
/** Keys that separate the columns (policy) and the warmup, not the rows. */
const COLUMN_KEYS = new Set(['gr', 'warmupEpochs', 'seed']);

export const TABLE1_POLICIES = ['none', 'gr'] as const;
export const TABLE2_POLICIES = ['gr', 'r-warmup', 'lambda-warmup', 'zero-warmup'] as const;
export const POLICY_ORDER = ['none', 'gr', 'sam', 'r-warmup', 'lambda-warmup', 'zero-warmup'];

export interface Stat {
  n: number;
  mean: number;
  /** Sample standard deviation (n − 1); 0 for n = 1. */
  std: number;
  min: number;
  max: number;
}

export function stat(xs: readonly number[]): Stat {
  const v = xs.filter((x) => Number.isFinite(x));
  const n = v.length;
  if (n === 0) return { n: 0, mean: NaN, std: NaN, min: NaN, max: NaN };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { n, mean, std, min: Math.min(...v), max: Math.max(...v) };
}

export interface Setting {
  /** Identifies the context (row). */
  contextKey: string;
  context: Record<string, unknown>;
  gr: string;
  warmupEpochs: number;
  runs: RunData[];
  /** Complete runs only. */
  complete: RunData[];
  seeds: number[];
  finalError: Stat;
  bestError: Stat;
  /** Mean training error of the last epoch (first pass, train mode), per seed. */
  finalTrainError: Stat;
  finalTestLoss: Stat;
  /** Lowest per-epoch test loss, per seed (with finalTestLoss: does the test loss rise again?). */
  minTestLoss: Stat;
}

export interface Context {
  key: string;
  values: Record<string, unknown>;
  /** Row label: model, optimizer and the keys that differ between contexts. */
  label: string;
}

/** GR-only keys: a base (`none`) run does not depend on them, so it serves every value. */
const GR_ONLY = ['lambda', 'r'];

function contextOf(cfg: RunConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // Runs made before grStepOrigin existed counted the GR ramps from 1.
  const raw = cfg as unknown as Record<string, unknown>;
  const withOrigin = raw.grStepOrigin === undefined ? { ...raw, grStepOrigin: 1 } : raw;
  for (const [k, v] of Object.entries(withOrigin).sort(([a], [b]) => a.localeCompare(b))) {
    if (!RUN_ONLY.has(k) && !COLUMN_KEYS.has(k)) out[k] = cfg.gr === 'none' && GR_ONLY.includes(k) ? null : v;
  }
  return out;
}

/** The context key of the base runs that go with a context (λ and r do not matter to them). */
function baseKeyOf(values: Record<string, unknown>): string {
  const out: Record<string, unknown> = { ...values };
  for (const k of GR_ONLY) if (k in out) out[k] = null;
  return JSON.stringify(out);
}

export interface Aggregate {
  settings: Setting[];
  contexts: Context[];
  /** Runs without summary.json (unfinished, failed): listed, left out of the tables. */
  incomplete: RunData[];
}

export function aggregate(runs: readonly RunData[]): Aggregate {
  const bySetting = new Map<string, Setting>();
  const ctxValues = new Map<string, Record<string, unknown>>();
  for (const run of runs) {
    const ctx = contextOf(run.config);
    const contextKey = JSON.stringify(ctx);
    ctxValues.set(contextKey, ctx);
    const key = JSON.stringify([contextKey, run.config.gr, run.config.warmupEpochs]);
    let s = bySetting.get(key);
    if (!s) {
      s = {
        contextKey,
        context: ctx,
        gr: run.config.gr,
        warmupEpochs: run.config.warmupEpochs,
        runs: [],
        complete: [],
        seeds: [],
        finalError: stat([]),
        bestError: stat([]),
        finalTrainError: stat([]),
        finalTestLoss: stat([]),
        minTestLoss: stat([]),
      };
      bySetting.set(key, s);
    }
    s.runs.push(run);
    if (run.summary?.status === 'complete') s.complete.push(run);
  }
  for (const s of bySetting.values()) {
    s.complete.sort((a, b) => a.config.seed - b.config.seed);
    s.seeds = s.complete.map((r) => r.config.seed);
    s.finalError = stat(s.complete.map((r) => r.summary!.finalTestError));
    s.bestError = stat(s.complete.map((r) => r.summary!.bestTestError));
    s.finalTrainError = stat(s.complete.map((r) => 1 - (r.epochs.at(-1)?.trainAcc ?? NaN)));
    s.finalTestLoss = stat(s.complete.map((r) => r.summary!.finalTestLoss));
    s.minTestLoss = stat(
      s.complete.map((r) => Math.min(...r.epochs.map((e) => e.testLoss ?? Infinity))),
    );
  }
  const settings = [...bySetting.values()].sort(
    (a, b) =>
      a.contextKey.localeCompare(b.contextKey) ||
      a.warmupEpochs - b.warmupEpochs ||
      POLICY_ORDER.indexOf(a.gr) - POLICY_ORDER.indexOf(b.gr),
  );
  // Contexts of base runs are shown on the rows of the GR contexts they go with; only base
  // runs with no GR counterpart get rows of their own.
  const grBaseKeys = new Set([...ctxValues.entries()].filter(([k, v]) => baseKeyOf(v) !== k).map(([, v]) => baseKeyOf(v)));
  const keys = [...ctxValues.keys()].filter((k) => !grBaseKeys.has(k)).sort();
  const varying = new Set<string>();
  const all = keys.map((k) => ctxValues.get(k)!);
  for (const k of new Set(all.flatMap((c) => Object.keys(c)))) {
    const first = JSON.stringify(all[0][k]);
    if (all.some((c) => JSON.stringify(c[k]) !== first)) varying.add(k);
  }
  varying.delete('model');
  varying.delete('optimizer');
  const contexts = keys.map((key) => {
    const values = ctxValues.get(key)!;
    const extra = [...varying].sort().map((k) => `${k}=${JSON.stringify(values[k])}`);
    return { key, values, label: [String(values.model), String(values.optimizer), ...extra].join(', ') };
  });
  return { settings, contexts, incomplete: runs.filter((r) => r.summary?.status !== 'complete') };
}

/** The settings of a context (its base runs included, which are stored under their own key). */
export function settingsOf(agg: Aggregate, contextKey: string): Setting[] {
  const values = JSON.parse(contextKey) as Record<string, unknown>;
  const base = baseKeyOf(values);
  return agg.settings.filter((s) => s.contextKey === contextKey || (s.gr === 'none' && s.contextKey === base));
}

export function findSetting(agg: Aggregate, contextKey: string, gr: string, warmupEpochs: number): Setting | undefined {
  return settingsOf(agg, contextKey).find((s) => s.gr === gr && s.warmupEpochs === warmupEpochs);
}

/** Warmup lengths present for a context (sorted). */
export function warmupsOf(agg: Aggregate, contextKey: string): number[] {
  return [...new Set(settingsOf(agg, contextKey).map((s) => s.warmupEpochs))].sort((a, b) => a - b);
}

/**
 * Difference of a setting's final test error from a reference setting, paired by seed
 * (seeds run in both): mean and standard error of the per-seed differences. The seeds share
 * the initialisation and the data order across policies, so pairing removes that part of
 * the spread.
 */
export interface PairedDiff {
  n: number;
  mean: number;
  /** Standard error of the mean difference (std / √n); NaN for n < 2. */
  se: number;
  /** Per-seed differences. */
  diffs: number[];
}

export function pairedDiff(a: Setting, ref: Setting, which: 'final' | 'best' = 'final'): PairedDiff {
  const val = (r: RunData) => (which === 'final' ? r.summary!.finalTestError : r.summary!.bestTestError);
  const refBySeed = new Map(ref.complete.map((r) => [r.config.seed, val(r)]));
  const diffs: number[] = [];
  for (const r of a.complete) {
    const b = refBySeed.get(r.config.seed);
    if (b !== undefined) diffs.push(val(r) - b);
  }
  const s = stat(diffs);
  return { n: s.n, mean: s.mean, se: s.n > 1 ? s.std / Math.sqrt(s.n) : NaN, diffs };
}
