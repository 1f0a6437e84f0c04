/**
 * The run's logs for other tools, beside metrics.jsonl (written by rank 0 only):
 *
 * - summary.csv: one row per epoch, timm's column names where they apply (epoch, train_loss,
 *   eval_loss, eval_top1 in percent, lr), then ours. Rewritten whole (atomically) at each
 *   epoch end from the epoch records, so after a resume it holds exactly the epochs of
 *   metrics.jsonl.
 * - `--tensorboard`: TensorBoard event files in <run dir>/tensorboard/, one per session; a
 *   session that starts at update s (0 for a new run) begins with a SessionLog START at s + 1,
 *   so TensorBoard drops what an abandoned future had logged past a resumed checkpoint.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RunConfig } from '../config/index.js';
import { makeDir } from '../io/make-dir.js';
import { EventFileWriter } from '../io/tfevents.js';
import { readMetrics, type EpochRecord, type EvalRecord, type StepRecord } from './metrics.js';
import type { RunDirWriter } from './run-writer.js';

export const SUMMARY_CSV = 'summary.csv';
export const TENSORBOARD_DIR = 'tensorboard';

/** The columns of summary.csv: timm's first (eval_top5 is not computed), then this package's. */
export const CSV_COLUMNS = [
  'epoch', 'train_loss', 'eval_loss', 'eval_top1', 'lr',
  'step', 'train_top1', 'train_loss2', 'g1_norm', 'eval_error', 'val_loss', 'val_top1', 'lambda', 'r',
  'images_per_sec', 'elapsed_sec',
] as const;

const num = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '' : String(x));
const pct = (err: number | null): string => (err === null ? '' : String(Math.round((1 - err) * 1e6) / 1e4));

/** One summary.csv row of an epoch record. */
export function csvRow(r: EpochRecord): string {
  const cells: Record<(typeof CSV_COLUMNS)[number], string> = {
    epoch: String(r.epoch),
    train_loss: num(r.trainLoss),
    eval_loss: num(r.testLoss),
    eval_top1: pct(r.testError),
    lr: num(r.lr),
    step: String(r.step),
    train_top1: pct(1 - r.trainAcc),
    train_loss2: num(r.trainLoss2),
    g1_norm: num(r.g1NormMean),
    eval_error: num(r.testError),
    val_loss: num(r.valLoss),
    val_top1: pct(r.valError),
    lambda: num(r.lambda),
    r: num(r.r),
    images_per_sec: num(r.imagesPerSec),
    elapsed_sec: num(r.elapsedSec),
  };
  return CSV_COLUMNS.map((c) => cells[c]).join(',');
}

export class RunSideLogs {
  private rows: string[] = [];
  private events: EventFileWriter | undefined;

  constructor(
    private readonly writer: RunDirWriter,
    private readonly cfg: Pick<RunConfig, 'tensorboard' | 'logEvery'>,
  ) {}

  /** Starts a session at update `startStep` (metrics.jsonl already cut back to it). */
  open(startStep: number): void {
    if (!this.writer.active) return;
    this.rows = readMetrics(this.writer.paths.metrics).flatMap((r) => (r.type === 'epoch' ? [csvRow(r)] : []));
    // Cut back to the epochs of metrics.jsonl (a resume); a new run writes it at its first epoch end.
    if (this.rows.length > 0 || existsSync(this.csvPath())) this.writeCsv();
    if (this.cfg.tensorboard) {
      const dir = join(this.writer.dir, TENSORBOARD_DIR);
      makeDir(dir);
      this.events = new EventFileWriter(dir);
      // Every session starts with one: TensorBoard takes the first START of a run as its
      // start and a later one as a restart that drops the events of steps >= its step.
      this.events.sessionStart(startStep + 1);
    }
  }

  /** Step scalars every `logEvery` updates. */
  step(r: StepRecord): void {
    if (!this.events || r.step % this.cfg.logEvery !== 0) return;
    this.events.scalars(r.step, [
      ['train/loss', r.loss],
      ['train/loss2', r.loss2],
      ['train/acc', r.acc],
      ['train/lr', r.lr],
      ['gr/lambda', r.lambda],
      ['gr/r', r.r],
      ['grad/g1_norm', r.g1Norm],
      ['grad/norm', r.gradNorm],
      ['time/step_ms', r.stepMs],
    ]);
  }

  /** An evaluation inside an epoch. */
  evaluation(r: EvalRecord): void {
    this.events?.scalars(r.step, evalScalars(r.testLoss, r.testError, r.valLoss, r.valError));
  }

  epoch(r: EpochRecord): void {
    if (!this.writer.active) return;
    this.rows.push(csvRow(r));
    this.writeCsv();
    this.events?.scalars(r.step, [
      ['epoch/train_loss', r.trainLoss],
      ['epoch/train_acc', r.trainAcc],
      ['epoch/g1_norm', r.g1NormMean],
      ['epoch/images_per_sec', r.imagesPerSec],
      ...(r.testError !== null ? evalScalars(r.testLoss, r.testError, r.valLoss, r.valError) : []),
    ]);
  }

  close(): void {
    this.events?.close();
    this.events = undefined;
  }

  private csvPath(): string {
    return join(this.writer.dir, SUMMARY_CSV);
  }

  private writeCsv(): void {
    this.writer.text(this.csvPath(), [CSV_COLUMNS.join(','), ...this.rows].join('\n') + '\n');
  }
}

function evalScalars(testLoss: number | null, testError: number | null, valLoss: number | null, valError: number | null): [string, number | null][] {
  return [
    ['eval/test_loss', testLoss],
    ['eval/test_acc', testError === null ? null : 1 - testError],
    ['eval/val_loss', valLoss],
    ['eval/val_acc', valError === null ? null : 1 - valError],
  ];
}
