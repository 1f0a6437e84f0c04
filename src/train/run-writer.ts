/**
 * RunDirWriter: every write a training run makes to its run directory goes through one of
 * these. In a data-parallel run only rank 0 writes: the other ranks hold an inactive writer
 * whose methods do nothing, so the loop has no `if (root)` of its own.
 */
import { existsSync, linkSync, renameSync, rmSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { serializeConfig, type RunConfig } from '../config/index.js';
import { tempPathFor, writeFileAtomic } from '../io/atomic.js';
import type { VitModel } from '../model/vit-model.js';
import { saveCheckpoint, type CheckpointMeta } from './checkpoint.js';
import { MetricsLog, truncateMetrics, type MetricsRecord } from './metrics.js';
import { appendRunLog, bestStepFileName, pruneCheckpoints, runPaths, type RunPaths } from './run-dir.js';
import { runStatePath, type RunState } from './run-state.js';

/** Where metrics records go (metrics.jsonl on rank 0, nowhere on the others). */
export interface MetricsSink {
  append(rec: MetricsRecord): void;
  close(): void;
}

export class RunDirWriter {
  readonly paths: RunPaths;
  constructor(
    readonly dir: string,
    /** False on ranks other than 0: nothing is written. */
    readonly active: boolean,
  ) {
    this.paths = runPaths(dir);
  }

  /** One timestamped line in train.log (best effort). */
  log(line: string): void {
    if (this.active) appendRunLog(this.dir, line);
  }

  /** Writes `value` as pretty JSON to `path`, atomically. */
  json(path: string, value: unknown): void {
    if (this.active) writeFileAtomic(path, [Buffer.from(JSON.stringify(value, null, 2) + '\n', 'utf8')]);
  }

  text(path: string, text: string): void {
    if (this.active) writeFileAtomic(path, [Buffer.from(text, 'utf8')]);
  }

  config(cfg: RunConfig): void {
    this.text(this.paths.config, serializeConfig(cfg));
  }

  state(s: RunState): void {
    this.json(runStatePath(this.dir), s);
  }

  summary(s: unknown): void {
    this.json(this.paths.summary, s);
  }

  removeSummary(): void {
    if (this.active) rmSync(this.paths.summary, { force: true });
  }

  metrics(): MetricsSink {
    return this.active ? new MetricsLog(this.paths.metrics) : { append: () => undefined, close: () => undefined };
  }

  /** Cuts metrics.jsonl back to the records of updates 1..step. */
  truncateMetrics(step: number): void {
    if (this.active) truncateMetrics(this.paths.metrics, step);
  }

  /** Writes a step checkpoint and prunes all but the newest `keepLast` (and the best files they need). */
  checkpoint(path: string, model: VitModel, meta: CheckpointMeta, keepLast: number): void {
    if (!this.active) return;
    saveCheckpoint(path, model, meta);
    pruneCheckpoints(this.dir, keepLast, meta.state.best?.step);
  }

  /**
   * Writes the best model so far as `checkpoints/best-step-<step>.safetensors` and points
   * best.safetensors at it (a hard link, else a copy; replaced atomically). Every kept step
   * checkpoint's best stays on disk (see pruneCheckpoints), so a resume from any of them
   * finds its best.safetensors again (relinkBest).
   */
  best(model: VitModel, meta: CheckpointMeta): void {
    if (!this.active) return;
    const file = join(this.paths.checkpoints, bestStepFileName(meta.step));
    saveCheckpoint(file, model, meta);
    this.linkBest(file);
  }

  /** Points best.safetensors at the best file of `step`; false when that file is missing. */
  relinkBest(step: number): boolean {
    const file = join(this.paths.checkpoints, bestStepFileName(step));
    if (!existsSync(file)) return false;
    if (this.active) this.linkBest(file);
    return true;
  }

  private linkBest(file: string): void {
    const tmp = tempPathFor(this.paths.best);
    try {
      linkSync(file, tmp);
    } catch {
      copyFileSync(file, tmp); // a file system without hard links
    }
    renameSync(tmp, this.paths.best);
  }
}
