/**
 * Reading run directories for a report: config.json, summary.json and metrics.jsonl of every
 * run below a folder (the run folder itself, its children, or grandchildren).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { RunConfig } from '../config/index.js';
import { readMetrics, type EpochRecord, type RunSummary, type SecondMomentRecord, type StepRecord } from '../train/metrics.js';

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

function isRunDir(dir: string): boolean {
  return existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'metrics.jsonl'));
}

/** Every run directory at or below `root` (depth ≤ 3), sorted by path. */
export function findRunDirs(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (isRunDir(dir)) {
      out.push(dir);
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
        if (statSync(p).isDirectory()) walk(p, depth + 1);
      } catch {
        // vanished or unreadable: skip
      }
    }
  };
  walk(root, 0);
  return out;
}

/** Loads one run directory (a missing summary means an unfinished run). */
export function loadRun(dir: string, root: string): RunData {
  const problems: string[] = [];
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as RunConfig;
  let summary: RunSummary | null = null;
  const sp = join(dir, 'summary.json');
  if (existsSync(sp)) {
    try {
      summary = JSON.parse(readFileSync(sp, 'utf8')) as RunSummary;
    } catch (err) {
      problems.push(`summary.json unreadable: ${(err as Error).message}`);
    }
  }
  const recs = readMetrics(join(dir, 'metrics.jsonl'));
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

export function loadRuns(root: string): { runs: RunData[]; skipped: { dir: string; why: string }[] } {
  if (!existsSync(root)) throw new Error(`${root}: no such folder`);
  const runs: RunData[] = [];
  const skipped: { dir: string; why: string }[] = [];
  for (const dir of findRunDirs(root)) {
    try {
      runs.push(loadRun(dir, root));
    } catch (err) {
      skipped.push({ dir, why: (err as Error).message });
    }
  }
  return { runs, skipped };
}
