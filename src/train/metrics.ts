/**
 * Training metrics: the records of metrics.jsonl (one `step` line per update, one `epoch`
 * line per epoch), the per-epoch accumulator, summary.json, and the JSON-lines file itself.
 *
 * Every field is deterministic given the config, seed and thread count except the timing
 * fields listed in `TIMING_FIELDS`, so a resumed run's lines equal an uninterrupted run's
 * lines field for field once those are left out. Errors are fractions in [0, 1].
 */
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.js';
import { withPath } from '../io/fs-errors.js';
import type { StepMetrics } from './trainer.js';

/** Fields that depend on wall-clock time (left out when comparing runs). */
export const TIMING_FIELDS = ['imagesPerSec', 'dataMs', 'stepMs', 'evalSec', 'elapsedSec', 'statMs'] as const;

/**
 * One metrics.jsonl line per update: the trainer's StepMetrics (renamed t -> step, without the
 * native phase timings) plus where and how fast it ran.
 */
export type StepRecord = { type: 'step'; step: number; epoch: number } & Omit<StepMetrics, 't' | 'applied' | 'timings'> & {
  /** Training throughput of this step (batch / step wall time). */
  imagesPerSec: number;
  /** Milliseconds spent building this step's batch (overlapped with the previous step). */
  dataMs: number;
  /** Wall time of the step, from launching the native step to its result. */
  stepMs: number;
};

export interface EpochRecord {
  type: 'epoch';
  epoch: number;
  /** Update index at the end of the epoch. */
  step: number;
  /** Updates in this epoch. */
  steps: number;
  /** Learning rate, lambda and r of the epoch's last update. */
  lr: number;
  lambda: number;
  r: number;
  /** Means over the epoch's steps (first pass). */
  trainLoss: number;
  trainAcc: number;
  /** Means of the second pass over the epoch's GR steps; null when there were none. */
  trainLoss2: number | null;
  trainAcc2: number | null;
  secondPassSteps: number;
  /** Per-epoch mean of ‖g1‖ (the paper's Figures 2 and 4) and of ‖g‖ before/after clipping. */
  g1NormMean: number;
  gradNormMean: number;
  gradNormClippedMean: number;
  /** Test-set mean loss and error (fraction); null on epochs without evaluation. */
  testLoss: number | null;
  testError: number | null;
  /** Held-out validation split (valFraction > 0), else null. */
  valLoss: number | null;
  valError: number | null;
  /** Mean data-preparation time per step, in ms. */
  dataMs: number;
  /** Mean step wall time, in ms. */
  stepMs: number;
  imagesPerSec: number;
  /** Seconds spent evaluating at the end of this epoch. */
  evalSec: number;
  /** Seconds since the run started (all sessions of a resumed run together). */
  elapsedSec: number;
}

/**
 * Statistics of the optimizer's second-moment estimate (Adam's exp_avg_sq, bias-corrected;
 * RMSProp's square_avg), every `logEvery` updates: the quantity whose early accumulation the
 * paper's explanation of GR's harm is about (docs/method.md, section 2). Quantiles are taken
 * over a fixed strided sample of at most SECOND_MOMENT_SAMPLE entries; the mean over all.
 */
export interface SecondMomentRecord {
  type: 'moment2';
  step: number;
  epoch: number;
  slot: string;
  biasCorrected: boolean;
  mean: number;
  p10: number;
  p50: number;
  p90: number;
  max: number;
  /** Milliseconds to copy the state to the host and compute the statistics. */
  statMs: number;
}

/**
 * An evaluation inside an epoch (`--eval-every` of a fraction of an epoch or in steps); the
 * evaluations at epoch ends are in the epoch records.
 */
export interface EvalRecord {
  type: 'eval';
  step: number;
  /** Epochs done, fractional (step / stepsPerEpoch). */
  epoch: number;
  testLoss: number;
  testError: number;
  valLoss: number | null;
  valError: number | null;
  evalSec: number;
  elapsedSec: number;
}

export type MetricsRecord = StepRecord | EpochRecord | SecondMomentRecord | EvalRecord;

/** Entries of the second moment sampled for its quantiles. */
export const SECOND_MOMENT_SAMPLE = 16384;

/**
 * The statistics of a second-moment buffer `v` (scaled by `scale`, e.g. 1/(1 − β2^t) for
 * Adam's bias correction). Deterministic: the sample is every k-th entry.
 */
export function secondMomentStats(v: ArrayLike<number>, scale: number): { mean: number; p10: number; p50: number; p90: number; max: number } {
  const n = v.length;
  if (n === 0) return { mean: 0, p10: 0, p50: 0, p90: 0, max: 0 };
  let sum = 0;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = v[i];
    sum += x;
    if (x > max) max = x;
  }
  const stride = Math.max(1, Math.floor(n / SECOND_MOMENT_SAMPLE));
  const sample = new Float64Array(Math.ceil(n / stride));
  for (let i = 0, j = 0; i < n; i += stride, j++) sample[j] = v[i];
  sample.sort();
  const q = (p: number) => sample[Math.min(sample.length - 1, Math.floor(p * (sample.length - 1) + 0.5))] * scale;
  return { mean: (sum / n) * scale, p10: q(0.1), p50: q(0.5), p90: q(0.9), max: max * scale };
}

/** What run a summary belongs to: the same fields in every summary.json. */
export interface RunIdentity {
  configHash: string;
  model: string;
  params: number;
  dataset: string;
  trainImages: number;
  valImages: number;
  testImages: number;
  runDir: string;
  /** Image-folder sets with --skip-bad-images: bad files skipped while loading. */
  skippedBadImages?: number;
}

export interface RunSummary extends RunIdentity {
  status: 'complete';
  finalTestError: number;
  finalTestLoss: number;
  finalTestAccuracy: number;
  bestTestError: number;
  bestEpoch: number;
  bestStep: number;
  finalValError: number | null;
  epochs: number;
  steps: number;
  stepsPerEpoch: number;
  totalTimeSec: number;
  lastCheckpoint: string;
  bestCheckpoint: string;
  finishedAt: string;
  version: string;
}

/**
 * summary.json of a run stopped by SIGINT/SIGTERM (exit 130/143): where it stopped and the
 * best test result reached so far. Replaced by a RunSummary ("status": "complete") once the
 * resumed run finishes; removed when a later session of the run starts.
 */
export interface InterruptedSummary extends RunIdentity {
  status: 'interrupted';
  signal: 'SIGINT' | 'SIGTERM';
  /** Updates done when the run stopped (the checkpoint's step, when one was written). */
  step: number;
  /** Epoch of the last update (1-based, as in train.log; 0 before the first update). */
  epoch: number;
  /** Whole epochs completed. */
  epochsCompleted: number;
  /** The run's planned length. */
  steps: number;
  epochs: number;
  stepsPerEpoch: number;
  /** Lowest test error of the evaluations so far (and its epoch and step); null before the first evaluation. */
  bestTestError: number | null;
  bestEpoch: number | null;
  bestStep: number | null;
  totalTimeSec: number;
  /** The checkpoint to resume from (null when no step had finished: then the run restarts from step 0). */
  lastCheckpoint: string | null;
  bestCheckpoint: string | null;
  resumeCommand: string;
  stoppedAt: string;
  version: string;
}

/** Sums over the steps of the current epoch; plain JSON so checkpoints can carry it. */
export interface EpochSums {
  steps: number;
  images: number;
  loss: number;
  acc: number;
  secondPassSteps: number;
  loss2: number;
  acc2: number;
  g1Norm: number;
  gradNorm: number;
  gradNormClipped: number;
  dataMs: number;
  stepMs: number;
}

export function emptyEpochSums(): EpochSums {
  return {
    steps: 0, images: 0, loss: 0, acc: 0, secondPassSteps: 0, loss2: 0, acc2: 0,
    g1Norm: 0, gradNorm: 0, gradNormClipped: 0, dataMs: 0, stepMs: 0,
  };
}

export function addToEpochSums(s: EpochSums, rec: StepRecord, images: number): void {
  s.steps++;
  s.images += images;
  s.loss += rec.loss;
  s.acc += rec.acc;
  if (rec.loss2 !== null && rec.acc2 !== null) {
    s.secondPassSteps++;
    s.loss2 += rec.loss2;
    s.acc2 += rec.acc2;
  }
  s.g1Norm += rec.g1Norm;
  s.gradNorm += rec.gradNorm;
  s.gradNormClipped += rec.gradNormClipped;
  s.dataMs += rec.dataMs;
  s.stepMs += rec.stepMs;
}

/** Validates epoch sums read back from a checkpoint. */
export function parseEpochSums(v: unknown): EpochSums {
  const base = emptyEpochSums();
  if (typeof v !== 'object' || v === null) throw new Error('epoch sums: not an object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(base) as (keyof EpochSums)[]) {
    const x = o[k];
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new Error(`epoch sums: field ${k} is not a finite number`);
    base[k] = x;
  }
  return base;
}

export function stepRecord(m: StepMetrics, epoch: number, batch: number, dataMs: number, stepMs: number): StepRecord {
  return {
    type: 'step',
    step: m.t,
    epoch,
    lr: m.lr,
    lambda: m.lambda,
    r: m.r,
    alpha: m.alpha,
    secondPass: m.secondPass,
    loss: m.loss,
    acc: m.acc,
    loss2: m.loss2,
    acc2: m.acc2,
    g1Norm: m.g1Norm,
    gradNorm: m.gradNorm,
    gradNormClipped: m.gradNormClipped,
    imagesPerSec: stepMs > 0 ? (batch * 1000) / stepMs : 0,
    dataMs,
    stepMs,
  };
}

export interface EvalResult {
  loss: number;
  error: number;
  count: number;
}

export function epochRecord(args: {
  epoch: number;
  step: number;
  last: StepRecord;
  sums: EpochSums;
  test: EvalResult | null;
  val: EvalResult | null;
  evalSec: number;
  elapsedSec: number;
}): EpochRecord {
  const { sums: s, last } = args;
  const n = Math.max(1, s.steps);
  return {
    type: 'epoch',
    epoch: args.epoch,
    step: args.step,
    steps: s.steps,
    lr: last.lr,
    lambda: last.lambda,
    r: last.r,
    trainLoss: s.loss / n,
    trainAcc: s.acc / n,
    trainLoss2: s.secondPassSteps > 0 ? s.loss2 / s.secondPassSteps : null,
    trainAcc2: s.secondPassSteps > 0 ? s.acc2 / s.secondPassSteps : null,
    secondPassSteps: s.secondPassSteps,
    g1NormMean: s.g1Norm / n,
    gradNormMean: s.gradNorm / n,
    gradNormClippedMean: s.gradNormClipped / n,
    testLoss: args.test ? args.test.loss : null,
    testError: args.test ? args.test.error : null,
    valLoss: args.val ? args.val.loss : null,
    valError: args.val ? args.val.error : null,
    dataMs: s.dataMs / n,
    stepMs: s.stepMs / n,
    imagesPerSec: s.stepMs > 0 ? (s.images * 1000) / s.stepMs : 0,
    evalSec: args.evalSec,
    elapsedSec: args.elapsedSec,
  };
}

/** metrics.jsonl, opened for appending; each record is one line, written at once. */
export class MetricsLog {
  private fd: number | undefined;

  constructor(readonly path: string) {
    this.fd = withPath(path, 'open', () => openSync(path, 'a'));
  }

  /** Appends one line; an OS error (disk full, ...) is a FileSystemError naming the file. */
  append(rec: MetricsRecord): void {
    const fd = this.fd;
    if (fd === undefined) throw new Error(`metrics log ${this.path} is closed`);
    const bytes = Buffer.from(JSON.stringify(rec) + '\n', 'utf8');
    withPath(this.path, 'write', () => {
      // writeSync may write less than asked (a nearly full disk): finish the line or fail.
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
    });
  }

  close(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // nothing to do about a failed close of an append-only log
      }
    }
    this.fd = undefined;
  }
}

/** Parses metrics.jsonl; a torn last line (crash mid-write) is dropped, other bad lines throw. */
export function readMetrics(path: string): MetricsRecord[] {
  if (!existsSync(path)) return [];
  const lines = withPath(path, 'read', () => readFileSync(path, 'utf8')).split('\n');
  const out: MetricsRecord[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (err) {
      // A run killed in the middle of an append leaves a torn last line: it is dropped.
      const isLast = lines.slice(i + 1).every((l) => l.trim() === '');
      if (!isLast) throw new Error(`${path}:${i + 1}: not valid JSON (${(err as Error).message})`);
      return;
    }
    const problem = recordProblem(rec);
    if (problem) throw new Error(`${path}:${i + 1}: ${problem}`);
    out.push(rec as MetricsRecord);
  });
  return out;
}

/** Why a parsed line is not a metrics record (an object with a string "type" and an integer "step" >= 0), or undefined. */
function recordProblem(rec: unknown): string | undefined {
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) {
    return `got ${JSON.stringify(rec)?.slice(0, 60)}, expected a JSON object (a metrics record)`;
  }
  const r = rec as { type?: unknown; step?: unknown };
  if (typeof r.type !== 'string') return `"type": got ${JSON.stringify(r.type) ?? 'nothing'}, expected a string`;
  if (!Number.isSafeInteger(r.step) || (r.step as number) < 0) return `"step": got ${JSON.stringify(r.step) ?? 'nothing'}, expected an integer >= 0`;
  return undefined;
}

/**
 * Cuts metrics.jsonl back to the records of updates 1..step (atomically), so a run resumed
 * from the checkpoint of `step` carries on without lines of the abandoned steps. Returns
 * the number of records dropped.
 */
export function truncateMetrics(path: string, step: number): number {
  if (!existsSync(path)) return 0;
  const all = readMetrics(path);
  const kept = all.filter((r) => r.step <= step);
  const text = kept.map((r) => JSON.stringify(r) + '\n').join('');
  writeFileAtomic(path, [Buffer.from(text, 'utf8')]);
  return all.length - kept.length;
}

/** A record without its timing fields, for comparing runs. */
export function withoutTiming<T extends MetricsRecord>(rec: T): Omit<T, (typeof TIMING_FIELDS)[number]> {
  const copy: Record<string, unknown> = { ...rec };
  for (const k of TIMING_FIELDS) delete copy[k];
  return copy as Omit<T, (typeof TIMING_FIELDS)[number]>;
}
