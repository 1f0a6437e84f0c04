/**
 * Training a run: `prepareRun` (data and plan, every problem found before the first step) and
 * `trainRun`, which runs one TrainSession (session.ts: the lifecycle as a state machine,
 * the step loop, evaluation, checkpoints, resume, graceful stop and divergence handling).
 *
 * Determinism: batch k of epoch e is a pure function of (seed, e, k), dropout masks of update
 * t a pure function of (seed, t), and a checkpoint restores parameters, optimizer state, the
 * update count and the loop's bookkeeping (partial-epoch sums, best result). A run resumed
 * from any checkpoint therefore computes exactly what the uninterrupted run computes (same
 * seed and thread count), and its metrics lines are equal apart from the timing fields.
 *
 * Stopping: `stop.request(signal)` (the CLI calls it from its SIGINT/SIGTERM handler) lets
 * the step in flight finish (native work is never abandoned), then a checkpoint and
 * summary.json ("status": "interrupted") are written and the run returns
 * `{ status: 'interrupted' }`.
 */
import { ConfigError, relabelIssues, toFlagName, type RunConfig, type SourceMap } from '../config/index.js';
import type { Distributed } from '../distributed/index.js';
import type { LoadedCheckpoint } from './checkpoint.js';
import { DivergedError } from './errors.js';
import type { InterruptedSummary, RunSummary, StepRecord } from './metrics.js';
import { loadRunData, planRun, type RunData, type RunPlan } from './plan.js';
import type { Progress } from './progress.js';
import { appendRunLog as appendRunLogToDir, listCheckpoints } from './run-dir.js';
import { TrainSession } from './session.js';

export type StopSignalName = 'SIGINT' | 'SIGTERM';

/** Set by a signal handler; the loop stops after the step in flight. */
export class StopController {
  requested: StopSignalName | undefined;
  request(signal: StopSignalName): void {
    this.requested ??= signal;
  }
}

export interface TrainRunOptions {
  config: RunConfig;
  /** The run directory (created; for a resume, the one being continued). */
  runDir: string;
  /**
   * Checkpoint to continue from; its config must be `config` up to RESUME_OVERRIDABLE keys.
   * Its tensors are released (the map is cleared) once copied into the model.
   */
  resume?: LoadedCheckpoint;
  progress: Progress;
  stop?: StopController;
  /** Package version, for checkpoints and summary.json. */
  version: string;
  /** Called after every step's record is written (tests use it to request a stop). */
  onStep?: (rec: StepRecord) => void;
  /** Where each config value came from, so data-dependent config errors name the right source. */
  sources?: SourceMap;
  /**
   * The data and plan of `config` from `prepareRun`, when the caller loaded them already (the
   * CLI does, before it creates the run directory, so a run whose data fail to load leaves
   * nothing behind). Loaded here when absent.
   */
  prepared?: PreparedRun;
  /** Receives notices about files moved aside (default: the progress display's notes). */
  notify?: (text: string) => void;
  /**
   * Data-parallel run (src/distributed/): this rank trains its shard of every global batch;
   * only rank 0 writes the run directory (`resume` is given to rank 0 alone; the others get
   * the model state from it).
   */
  dist?: Distributed;
}

export type TrainRunResult =
  | { status: 'complete'; summary: RunSummary; finalLine: string }
  | { status: 'interrupted'; signal: StopSignalName; step: number; checkpoint: string | undefined; summary: InterruptedSummary }
  | { status: 'already-complete'; step: number };

export interface PreparedRun {
  data: RunData;
  plan: RunPlan;
}

/**
 * The data and the plan of a run, every problem found before the first step: an empty split
 * is an error here, not after an epoch of training; a config value that does not fit the data
 * is reported with the source that set it (flag, config file, checkpoint).
 */
export function prepareRun(cfg: RunConfig, sources: SourceMap): PreparedRun {
  try {
    const data = loadRunData(cfg);
    for (const [split, ds] of [['training', data.train], ['validation', data.val], ['test', data.test]] as const) {
      if (ds !== null && ds.count === 0) {
        const why = split === 'training' && cfg.valFraction > 0 ? ` after holding out ${toFlagName('valFraction')} ${cfg.valFraction}` : '';
        throw new ConfigError([{ field: 'dataset', text: `data set ${cfg.dataset}: the ${split} split is empty${why}; expected at least one image` }]);
      }
    }
    return { data, plan: planRun(cfg, data.train) };
  } catch (err) {
    throw err instanceof ConfigError ? relabelIssues(err, sources) : err;
  }
}

export async function trainRun(o: TrainRunOptions): Promise<TrainRunResult> {
  try {
    return await trainRunInner(o);
  } catch (err) {
    // Every failure ends up in train.log too (a diverged run has logged its own line). On a
    // full disk this may fail as well: the message on stderr is then all there is.
    if (!(err instanceof DivergedError) && (o.dist?.isRoot ?? true)) appendRunLogToDir(o.runDir, `error: ${(err as Error)?.message ?? String(err)}`);
    throw err;
  }
}

async function trainRunInner(o: TrainRunOptions): Promise<TrainRunResult> {
  const prepared = o.prepared ?? prepareRun(o.config, o.sources ?? {});
  return new TrainSession({ ...o, stop: o.stop ?? new StopController(), prepared }).run();
}

/** The step checkpoint to show for a run directory (newest), if any. */
export function newestCheckpoint(runDir: string): string | undefined {
  return listCheckpoints(runDir).at(-1)?.path;
}
