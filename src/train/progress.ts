/**
 * What a training run prints while it goes.
 *
 * - `tty`: one status line redrawn in place with `\r` (at most ~10 times a second), plus a
 *   line per epoch and the final line.
 * - `plain` (stdout is not a terminal): a progress line every `logEvery` steps, a line per
 *   epoch, the final line.
 * - `quiet`: only the final line (errors go to stderr regardless).
 * - `json`: the metrics records as JSON lines on stdout (exactly the lines of
 *   metrics.jsonl) and a final `{"type":"summary", ...}` line; notes go to stderr.
 */
import { performance } from 'node:perf_hooks';
import type { EpochRecord, EvalRecord, InterruptedSummary, RunIdentity, RunSummary, StepRecord } from './metrics.js';

export interface OutStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export type ProgressMode = 'tty' | 'plain' | 'quiet' | 'json';

export interface RunStartInfo extends Omit<RunIdentity, 'configHash'> {
  batchSize: number;
  stepsPerEpoch: number;
  totalSteps: number;
  epochs: number;
  warmupSteps: number;
  gr: string;
  optimizer: string;
  threads: number;
  /** Model precision (float32, bfloat16, float64); named on the start line when not float32. */
  precision?: string;
  /** The device the model runs on and why it was chosen, e.g. `cpu (auto: ...)`. */
  device?: string;
  /** Update count the run starts from (0 unless resumed). */
  startStep: number;
  resumedFrom?: string;
}

export interface ProgressContext {
  totalSteps: number;
  epochs: number;
  /** Estimated seconds to the end of the run; undefined until it can be estimated. */
  etaSec: number | undefined;
}

/** `45s`, `2m13s`, `1h02m`. */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** A fraction of epochs for text: two decimals, or one significant digit below 0.01. */
export function formatEpochs(x: number): string {
  return x >= 0.01 || x === 0 ? x.toFixed(2) : x.toPrecision(1);
}

/**
 * The length of a run for the start line: `5 epochs x 156 steps of batch 64 = 780 steps
 * (warmup 156)` when the steps fill whole epochs, else what `--steps` gives, e.g. `200 steps
 * (0.21 of an epoch of 937 steps, batch 64; warmup 94)` or `1000 steps (1.07 epochs of 937
 * steps, batch 64; warmup 937)`.
 */
export function describeRunLength(totalSteps: number, stepsPerEpoch: number, batchSize: number, warmupSteps: number): string {
  if (totalSteps % stepsPerEpoch === 0) {
    const e = totalSteps / stepsPerEpoch;
    return `${e} epoch${e === 1 ? '' : 's'} x ${stepsPerEpoch} steps of batch ${batchSize} = ${totalSteps} steps (warmup ${warmupSteps})`;
  }
  const f = totalSteps / stepsPerEpoch;
  const span = totalSteps < stepsPerEpoch ? `${formatEpochs(f)} of an epoch` : `${formatEpochs(f)} epochs`;
  return `${totalSteps} steps (${span} of ${stepsPerEpoch} steps, batch ${batchSize}; warmup ${warmupSteps})`;
}

/** `12 steps (1.50 epochs)`, `200 steps (0.21 of an epoch)` or `5 epochs`, for the final line. */
export function describeSpan(totalSteps: number, stepsPerEpoch: number): string {
  if (totalSteps % stepsPerEpoch === 0) {
    const e = totalSteps / stepsPerEpoch;
    return `${e} epoch${e === 1 ? '' : 's'}`;
  }
  const f = totalSteps / stepsPerEpoch;
  return `${totalSteps} steps (${formatEpochs(f)} ${totalSteps < stepsPerEpoch ? 'of an epoch' : 'epochs'})`;
}

/** 0.0661 → `6.6%`. */
export function formatPercent(x: number, digits = 1): string {
  // Round on the decimal digits (0.0425 → 4.3%, not toFixed's binary-rounding 4.2%).
  const scale = 10 ** digits;
  return `${(Math.round(x * 100 * scale) / scale).toFixed(digits)}%`;
}

/** Accuracy from an error: 100% minus the rounded error, so the two printed numbers add up to 100%. */
export function formatAccuracy(error: number, digits = 1): string {
  const scale = 10 ** digits;
  return `${((100 * scale - Math.round(error * 100 * scale)) / scale).toFixed(digits)}%`;
}

const fmtLoss = (x: number): string => (Number.isFinite(x) ? x.toFixed(4) : String(x));
const fmtLr = (x: number): string => x.toExponential(2);
const fmtRate = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

/** Minimum milliseconds between two redraws of the TTY status line (~10 Hz). */
const TTY_INTERVAL_MS = 100;

export class Progress {
  private lastDraw = -Infinity;
  private lineShown = false;

  constructor(
    readonly mode: ProgressMode,
    private readonly out: OutStream,
    private readonly err: OutStream,
    private readonly logEvery: number,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  start(info: RunStartInfo): void {
    if (this.mode === 'quiet' || this.mode === 'json') return;
    const val = info.valImages > 0 ? ` / ${info.valImages} val` : '';
    const lines = [
      `training ${info.model} (${info.params.toLocaleString('en-US')} params) on ${info.dataset} ` +
        `(${info.trainImages} train${val} / ${info.testImages} test images) with ${info.optimizer}, gr ${info.gr}, ` +
        `${info.threads} thread${info.threads === 1 ? '' : 's'}` +
        (info.precision && info.precision !== 'float32' ? `, ${info.precision}` : '') +
        (info.device !== undefined ? `, device ${info.device}` : ''),
      `${describeRunLength(info.totalSteps, info.stepsPerEpoch, info.batchSize, info.warmupSteps)}; run dir ${info.runDir}`,
    ];
    if (info.resumedFrom !== undefined) {
      lines.push(`resuming from ${info.resumedFrom} at step ${info.startStep}`);
    }
    this.line(lines.join('\n'));
  }

  step(rec: StepRecord, ctx: ProgressContext): void {
    switch (this.mode) {
      case 'json':
        this.out.write(JSON.stringify(rec) + '\n');
        return;
      case 'quiet':
        return;
      case 'plain':
        if (rec.step % this.logEvery === 0 || rec.step === ctx.totalSteps) this.out.write(this.stepText(rec, ctx) + '\n');
        return;
      case 'tty': {
        const now = this.clock();
        if (now - this.lastDraw < TTY_INTERVAL_MS && rec.step !== ctx.totalSteps) return;
        this.lastDraw = now;
        let text = this.stepText(rec, ctx);
        const cols = this.out.columns;
        if (cols !== undefined && cols > 10 && text.length >= cols) text = text.slice(0, cols - 1);
        this.out.write(`\r${text}\x1b[K`);
        this.lineShown = true;
        return;
      }
    }
  }

  epoch(rec: EpochRecord, ctx: ProgressContext): void {
    if (this.mode === 'json') {
      this.out.write(JSON.stringify(rec) + '\n');
      return;
    }
    if (this.mode === 'quiet') return;
    const parts = [
      `epoch ${rec.epoch}/${ctx.epochs} (${rec.steps} steps): train loss ${fmtLoss(rec.trainLoss)} acc ${formatPercent(rec.trainAcc)}`,
    ];
    if (rec.valError !== null && rec.valLoss !== null) {
      parts.push(`val loss ${fmtLoss(rec.valLoss)} error ${formatPercent(rec.valError)}`);
    }
    if (rec.testError !== null && rec.testLoss !== null) {
      parts.push(`test loss ${fmtLoss(rec.testLoss)} error ${formatPercent(rec.testError)}`);
    }
    parts.push(`|g1| ${rec.g1NormMean.toPrecision(4)}`);
    parts.push(`${fmtRate(rec.imagesPerSec)} img/s, data ${rec.dataMs.toFixed(1)} ms/step`);
    parts.push(`${formatDuration(rec.elapsedSec)} elapsed`);
    this.line(parts.join(' | '));
  }

  /** An evaluation inside an epoch: its record in json mode, else the line `text`. */
  evaluation(rec: EvalRecord, text: string): void {
    if (this.mode === 'json') this.out.write(JSON.stringify(rec) + '\n');
    else if (this.mode !== 'quiet') this.line(text);
  }

  /** An informational line (stderr in json mode, nothing in quiet mode). */
  note(text: string): void {
    if (this.mode === 'quiet') return;
    if (this.mode === 'json') {
      this.err.write(text + '\n');
      return;
    }
    this.line(text);
  }

  /** The last line of a completed run (a summary JSON line in json mode). */
  final(text: string, summary: RunSummary): void {
    this.clear();
    if (this.mode === 'json') this.out.write(JSON.stringify({ type: 'summary', ...summary }) + '\n');
    else this.out.write(text + '\n');
  }

  /** The summary of an interrupted run: a `{"type":"summary","status":"interrupted",...}` line in json mode. */
  interrupted(summary: InterruptedSummary): void {
    this.clear();
    if (this.mode === 'json') this.out.write(JSON.stringify({ type: 'summary', ...summary }) + '\n');
  }

  /** Erases the TTY status line, if one is shown (before other output, e.g. an error). */
  clear(): void {
    if (this.lineShown) {
      this.out.write('\r\x1b[K');
      this.lineShown = false;
    }
  }

  private line(text: string): void {
    this.clear();
    this.out.write(text + '\n');
  }

  private stepText(rec: StepRecord, ctx: ProgressContext): string {
    const eta = ctx.etaSec === undefined ? '' : ` ETA ${formatDuration(ctx.etaSec)}`;
    const gr = rec.secondPass ? ` loss2 ${fmtLoss(rec.loss2 ?? NaN)}` : '';
    return (
      `epoch ${rec.epoch}/${ctx.epochs} step ${rec.step}/${ctx.totalSteps} loss ${fmtLoss(rec.loss)}${gr} ` +
      `acc ${formatPercent(rec.acc)} lr ${fmtLr(rec.lr)} ${fmtRate(rec.imagesPerSec)} img/s${dataWaitText(rec)}${eta}`
    );
  }
}

/**
 * ` data wait ≤x%`: the batch of a step is built on the main thread while the native step
 * before it runs, so the step can wait for data at most the time spent building it; that time
 * as a share of the step bounds the data-wait share from above (bench/data.ts measures both
 * parts separately). Empty without timings.
 */
export function dataWaitText(rec: Pick<StepRecord, 'dataMs' | 'stepMs'>): string {
  if (!(rec.stepMs > 0) || !(rec.dataMs >= 0)) return '';
  const pct = Math.min(100, (100 * rec.dataMs) / rec.stepMs);
  return ` data wait ≤${pct.toFixed(pct < 10 ? 1 : 0)}%`;
}
