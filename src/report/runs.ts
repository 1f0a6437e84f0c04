/**
 * Reading run directories for a report: config.json, summary.json and metrics.jsonl of every
 * run below a folder (the run folder itself, its children, or grandchildren).
 */
import { existsSync, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ConfigError, validateConfig, type RunConfig } from '../config/index.js';
import { readRegularFile } from '../io/read-regular.js';
import type { EpochRecord, MetricsRecord, RunSummary, SecondMomentRecord, StepRecord } from '../train/metrics.js';

export interface RunData {
  dir: string;
  /** Path relative to the report's root folder. */
  name: string;
  config: RunConfig;
  summary: RunSummary | null;
  epochs: EpochRecord[];
  /** Per-step schedules (lr, lambda, r) and ‖g1‖, thinned to at most MAX_STEP_POINTS. */
  steps: Pick<StepRecord, 'step' | 'lr' | 'lambda' | 'r' | 'g1Norm'>[];
  moments: SecondMomentRecord[];
  /** Warnings about this run (unreadable files). */
  problems: string[];
}

const MAX_STEP_POINTS = 600;
const MAX_DEPTH = 3;
/** Size limits of the files read from a run directory (they are small; a larger one is not ours). */
const MAX_JSON_BYTES = 4 << 20;
const MAX_METRICS_BYTES = 256 << 20;

function isRunDir(dir: string): boolean {
  return existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'metrics.jsonl'));
}

/**
 * Every run directory at or below `root` (depth ≤ 3), sorted by path, each real directory
 * once: a symbolic link to a run that is also reached directly (`runs/latest -> run-s1`) is
 * left out, so it never counts a run twice. `duplicates` lists the paths left out that way.
 */
export function findRunDirs(root: string, duplicates: { dir: string; sameAs: string }[] = []): string[] {
  const found: { dir: string; viaLink: boolean; real: string }[] = [];
  const walk = (dir: string, depth: number, viaLink: boolean) => {
    if (isRunDir(dir)) {
      let real = dir;
      try {
        real = realpathSync(dir);
      } catch {
        // vanished: keep the path as it is
      }
      found.push({ dir, viaLink, real });
      return;
    }
    if (depth >= MAX_DEPTH) return;
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.startsWith('.') || e === 'checkpoints') continue;
      const p = join(dir, e);
      try {
        if (statSync(p).isDirectory()) walk(p, depth + 1, viaLink || lstatSync(p).isSymbolicLink());
      } catch {
        // vanished or unreadable: skip
      }
    }
  };
  walk(root, 0, false);
  // Per real directory, the path reached without a link wins (else the first in path order).
  const byReal = new Map<string, (typeof found)[number]>();
  for (const f of found) {
    const had = byReal.get(f.real);
    if (!had || (had.viaLink && !f.viaLink)) byReal.set(f.real, f);
  }
  const out: string[] = [];
  for (const f of found) {
    const kept = byReal.get(f.real)!;
    if (kept === f) out.push(f.dir);
    else duplicates.push({ dir: f.dir, sameAs: kept.dir });
  }
  return out;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function readJsonFile(path: string, what: string): unknown {
  const text = readRegularFile(path, MAX_JSON_BYTES);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** config.json as this version's schema reads it; throws naming the first problems. */
function parseConfig(raw: unknown): RunConfig {
  if (!isPlainObject(raw)) throw new Error(`config.json: expected an object of train options, got ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}`);
  if (Object.keys(raw).length === 0) throw new Error('config.json: empty ({}), not a run configuration');
  try {
    return validateConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) throw new Error(`config.json: ${err.issues.slice(0, 3).map((i) => i.text).join('; ')}`);
    throw err;
  }
}

const SUMMARY_NUMBERS = ['finalTestError', 'bestTestError', 'finalTestLoss'] as const;

/** summary.json checked where the tables read it: a complete summary has finite numbers. */
function parseSummary(raw: unknown): RunSummary {
  if (!isPlainObject(raw)) throw new Error(`summary.json: expected an object, got ${raw === null ? 'null' : typeof raw}`);
  if (raw.status === 'complete') {
    for (const k of SUMMARY_NUMBERS) {
      const v = raw[k];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`summary.json: ${k} is ${JSON.stringify(v) ?? 'missing'}, expected a number`);
    }
  }
  return raw as unknown as RunSummary;
}

/** metrics.jsonl records (objects with a type and a numeric step); a torn last line is dropped. */
function parseMetrics(text: string, problems: string[]): MetricsRecord[] {
  const lines = text.split('\n');
  const out: MetricsRecord[] = [];
  let bad = 0;
  let firstBad = '';
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (err) {
      if (lines.slice(i + 1).every((l) => l.trim() === '')) return; // a write cut short by a kill
      throw new Error(`metrics.jsonl: line ${i + 1}: ${(err as Error).message}`);
    }
    if (isPlainObject(rec) && typeof rec.type === 'string' && typeof rec.step === 'number') out.push(rec as unknown as MetricsRecord);
    else if (bad++ === 0) firstBad = `line ${i + 1}`;
  });
  if (bad > 0) problems.push(`metrics.jsonl: ${bad} line(s) that are not metrics records ignored (first: ${firstBad})`);
  return out;
}

/** Loads one run directory (a missing summary means an unfinished run). Throws when the run cannot be used. */
export function loadRun(dir: string, root: string): RunData {
  const problems: string[] = [];
  const config = parseConfig(readJsonFile(join(dir, 'config.json'), 'config.json'));
  let summary: RunSummary | null = null;
  const sp = join(dir, 'summary.json');
  if (existsSync(sp)) summary = parseSummary(readJsonFile(sp, 'summary.json'));
  const recs = parseMetrics(readRegularFile(join(dir, 'metrics.jsonl'), MAX_METRICS_BYTES), problems);
  const epochs: EpochRecord[] = [];
  const allSteps: StepRecord[] = [];
  const moments: SecondMomentRecord[] = [];
  for (const r of recs) {
    if (r.type === 'epoch') epochs.push(r);
    else if (r.type === 'step') allSteps.push(r);
    else if (r.type === 'moment2') moments.push(r);
  }
  const stride = Math.max(1, Math.ceil(allSteps.length / MAX_STEP_POINTS));
  const steps = allSteps
    .filter((_, i) => i % stride === 0 || i === allSteps.length - 1)
    .map((s) => ({ step: s.step, lr: s.lr, lambda: s.lambda, r: s.r, g1Norm: s.g1Norm }));
  return { dir, name: relative(root, dir) || '.', config, summary, epochs, steps, moments, problems };
}

/**
 * Loads every run below `root`. A run that cannot be used (unreadable or malformed
 * config.json / summary.json / metrics.jsonl, a file that is not a regular file) is skipped
 * with its reason; a second path to the same run (a symbolic link) is skipped too.
 */
export function loadRuns(root: string): { runs: RunData[]; skipped: { dir: string; why: string }[] } {
  if (!existsSync(root)) throw new Error(`${root}: no such folder`);
  const runs: RunData[] = [];
  const skipped: { dir: string; why: string }[] = [];
  const duplicates: { dir: string; sameAs: string }[] = [];
  for (const dir of findRunDirs(root, duplicates)) {
    try {
      runs.push(loadRun(dir, root));
    } catch (err) {
      skipped.push({ dir, why: (err as Error).message });
    }
  }
  for (const d of duplicates) skipped.push({ dir: d.dir, why: `the same run directory as ${d.sameAs} (a symbolic link); counted once` });
  return { runs, skipped };
}
