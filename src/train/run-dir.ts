/**
 * Run directory: where one training run keeps everything it writes.
 *
 * ## Run directory layout
 *
 * ```
 * <run dir>/                          --out-dir, default runs/<timestamp> (UTC start time)
 *   config.json                       the resolved configuration, every field (sorted keys);
 *                                     `--config <run dir>/config.json` repeats the run
 *   metrics.jsonl                     JSON lines, appended as the run goes:
 *                                       {"type":"step", ...}   one per optimizer update
 *                                       {"type":"epoch", ...}  one per epoch (means, test loss/error)
 *   summary.json                      written once the run completes: final and best test error
 *                                     (and its epoch), steps, total time, config hash
 *   train.log                         human-readable event log: start, resume, checkpoints,
 *                                     interruptions, errors (timestamped)
 *   best.safetensors                  checkpoint with the lowest test error so far
 *   checkpoints/
 *     step-0000156.safetensors        checkpoint after update 156 (the step number is zero-padded
 *     step-0000312.safetensors        to 7 digits); the newest --keep-last are kept
 * ```
 *
 * Checkpoints are safetensors files: the model parameters under their timm names (they load
 * in PyTorch/timm as they are), the optimizer state as one flat tensor per slot
 * (`optimizer.exp_avg`, `optimizer.exp_avg_sq`, ... in the parameters' flat layout), and
 * string metadata: `format` ("grwarm-native-checkpoint"), `format_version`, `step` (updates
 * done), `epoch`, `epoch_step`, `data_order` (seed, epoch and index of the next batch),
 * `config` (resolved config JSON), `config_hash`, `model_config`, `train_state` (partial-epoch
 * sums, best test error, elapsed time). Every file is written atomically (temp file + rename),
 * so a crash never leaves a half-written checkpoint or config.
 *
 * `grwarm-native train --resume <run dir>` continues from the newest checkpoint in
 * `checkpoints/` (or `--resume <file>` from a given one); the result is bit-identical to an
 * uninterrupted run with the same seed and thread count. metrics.jsonl is cut back to the
 * checkpoint's step first, so it never holds lines of the abandoned steps.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from './errors.js';

export interface RunPaths {
  dir: string;
  config: string;
  metrics: string;
  summary: string;
  log: string;
  best: string;
  checkpoints: string;
}

export const CHECKPOINTS_DIR = 'checkpoints';
export const BEST_CHECKPOINT = 'best.safetensors';

export function runPaths(dir: string): RunPaths {
  return {
    dir,
    config: join(dir, 'config.json'),
    metrics: join(dir, 'metrics.jsonl'),
    summary: join(dir, 'summary.json'),
    log: join(dir, 'train.log'),
    best: join(dir, BEST_CHECKPOINT),
    checkpoints: join(dir, CHECKPOINTS_DIR),
  };
}

/** `step-0000156.safetensors`. */
export function checkpointFileName(step: number): string {
  return `step-${String(step).padStart(7, '0')}.safetensors`;
}

const CHECKPOINT_RE = /^step-(\d+)\.safetensors$/;

/** The step checkpoints of a run directory, oldest (lowest step) first. */
export function listCheckpoints(dir: string): { step: number; path: string }[] {
  const cdir = runPaths(dir).checkpoints;
  let names: string[];
  try {
    names = readdirSync(cdir);
  } catch {
    return [];
  }
  const out: { step: number; path: string }[] = [];
  for (const name of names) {
    const m = CHECKPOINT_RE.exec(name);
    if (m) out.push({ step: Number(m[1]), path: join(cdir, name) });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** Deletes all but the `keepLast` newest step checkpoints; returns the deleted paths. */
export function pruneCheckpoints(dir: string, keepLast: number): string[] {
  const all = listCheckpoints(dir);
  const doomed = all.slice(0, Math.max(0, all.length - keepLast));
  for (const c of doomed) rmSync(c.path, { force: true });
  return doomed.map((c) => c.path);
}

const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/**
 * Creates the directory of a new run. Refuses one that already holds a run (config,
 * metrics or checkpoints), so a second run never mixes its files into the first one's.
 */
export function prepareNewRunDir(dir: string): RunPaths {
  const p = runPaths(dir);
  if (existsSync(dir) && !isDir(dir)) {
    throw new UsageError(`--out-dir ${dir} exists and is not a directory`);
  }
  // An empty checkpoints/ folder (a run that failed before its first step) does not count.
  const used = [p.config, p.metrics, p.best].some((f) => existsSync(f)) || listCheckpoints(dir).length > 0;
  if (used) {
    throw new UsageError(
      `run directory ${dir} already holds a run; continue it with \`grwarm-native train --resume ${dir}\` ` +
        'or choose another --out-dir',
    );
  }
  mkdirSync(p.checkpoints, { recursive: true });
  return p;
}

/**
 * What `--resume <path>` refers to: a run directory (its newest step checkpoint, else
 * best.safetensors) or a checkpoint file. `runDir` is the directory the file belongs to
 * (the parent of `checkpoints/`, or the folder of a best.safetensors / a file next to a
 * config.json); undefined for a stand-alone checkpoint file.
 */
export function locateResume(path: string): { checkpoint: string; runDir: string | undefined } {
  if (!existsSync(path)) throw new UsageError(`--resume ${path}: no such file or directory`);
  if (isDir(path)) {
    const latest = listCheckpoints(path).at(-1);
    if (latest) return { checkpoint: latest.path, runDir: path };
    const best = runPaths(path).best;
    if (existsSync(best)) return { checkpoint: best, runDir: path };
    throw new UsageError(
      `--resume ${path}: no checkpoint to resume from (no ${CHECKPOINTS_DIR}/step-*.safetensors and no ${BEST_CHECKPOINT})`,
    );
  }
  const parent = dirname(resolve(path));
  if (basename(parent) === CHECKPOINTS_DIR) return { checkpoint: path, runDir: dirname(parent) };
  const p = runPaths(parent);
  if (existsSync(p.config) || existsSync(p.metrics)) return { checkpoint: path, runDir: parent };
  return { checkpoint: path, runDir: undefined };
}

/** Appends one timestamped line to train.log (best effort: logging never fails a run). */
export function appendRunLog(dir: string, line: string): void {
  try {
    appendFileSync(runPaths(dir).log, `${new Date().toISOString()} ${line}\n`);
  } catch {
    // the log is a convenience; metrics and checkpoints are what matter
  }
}
