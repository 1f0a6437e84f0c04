/**
 * Run directory: where one training run keeps everything it writes.
 *
 * ## Run directory layout
 *
 * ```
 * <run dir>/                          --out-dir, default runs/<timestamp> (UTC start time)
 *   config.json                       the resolved configuration, every field (sorted keys);
 *                                     `--config <run dir>/config.json` repeats the run (in a
 *                                     new run directory, runs/<timestamp>, unless --out-dir)
 *   metrics.jsonl                     JSON lines, appended as the run goes:
 *                                       {"type":"step", ...}   one per optimizer update
 *                                       {"type":"epoch", ...}  one per epoch (means, test loss/error)
 *   summary.json                      written once the run completes ("status": "complete"): final
 *                                     and best test error (and its epoch), steps, total time,
 *                                     config hash; or when it stops on SIGINT/SIGTERM ("status":
 *                                     "interrupted"): the step reached, best test error so far,
 *                                     the checkpoint and the command to resume
 *   train.log                         human-readable event log: start, resume, checkpoints,
 *                                     interruptions, errors (timestamped)
 *   run-state.json                    lifecycle state (created, running, final-checkpoint,
 *                                     summarised), run id, world size (run-state.ts)
 *   summary.csv                       one row per epoch (side-logs.ts)
 *   best.safetensors                  the best model so far: a hard link to a best-step file
 *   run.lock                          present while a run uses the directory (pid, host, start)
 *   tensorboard/                      --tensorboard event files
 *   checkpoints/
 *     step-0000156.safetensors        checkpoint after update 156 (the step number is zero-padded
 *     step-0000312.safetensors        to 7 digits); the newest --keep-last are kept
 *     best-step-0000140.safetensors   the best model at update 140, kept while referred to
 *     superseded-<time>/              what a resume from an older checkpoint set aside
 * ```
 *
 * docs/run-directory.md describes the layout, the lifecycle and the resume rules for users.
 *
 * One run at a time: the lock (run-lock.ts) makes a second run on the same directory fail.
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
 * checkpoint's step first, so it never holds lines of the abandoned steps; checkpoints newer
 * than the one resumed from are moved to `checkpoints/superseded-<time>/` (see supersedeAfter).
 */
import { appendFileSync, copyFileSync, existsSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { isTempFileName } from '../io/atomic.js';
import { readSafetensorsHeader } from '../io/safetensors.js';
import { FileSystemError } from '../io/fs-errors.js';
import { makeDir } from '../io/make-dir.js';
import { UsageError } from './errors.js';
import { acquireRunLock, LOCK_FILE, type RunLock } from './run-lock.js';

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

/** `best-step-0000156.safetensors`: the best model so far, written at update 156. */
export function bestStepFileName(step: number): string {
  return `best-step-${String(step).padStart(7, '0')}.safetensors`;
}

const BEST_STEP_RE = /^best-step-(\d+)\.safetensors$/;

/** The best-model files of a run directory (`checkpoints/best-step-*.safetensors`), oldest first. */
export function listBestFiles(dir: string): { step: number; path: string }[] {
  const cdir = runPaths(dir).checkpoints;
  let names: string[];
  try {
    names = readdirSync(cdir);
  } catch {
    return [];
  }
  const out: { step: number; path: string }[] = [];
  for (const name of names) {
    const m = BEST_STEP_RE.exec(name);
    if (m) out.push({ step: Number(m[1]), path: join(cdir, name) });
  }
  return out.sort((a, b) => a.step - b.step);
}

/**
 * Deletes all but the `keepLast` newest step checkpoints, and every best-step file that
 * neither a kept checkpoint nor the current best (`bestStep`) refers to; returns the deleted
 * paths. A kept checkpoint whose metadata cannot be read keeps every best file.
 */
export function pruneCheckpoints(dir: string, keepLast: number, bestStep?: number): string[] {
  const all = listCheckpoints(dir);
  const doomed = all.slice(0, Math.max(0, all.length - keepLast)).map((c) => c.path);
  for (const f of doomed) rmSync(f, { force: true });
  const needed = new Set<number>(bestStep === undefined ? [] : [bestStep]);
  for (const c of all.slice(doomed.length)) {
    const b = bestStepOf(c.path);
    if (b === null) return doomed; // unreadable: keep the best files
    if (b !== undefined) needed.add(b);
  }
  for (const b of listBestFiles(dir)) {
    if (needed.has(b.step)) continue;
    rmSync(b.path, { force: true });
    doomed.push(b.path);
  }
  return doomed;
}

/** The best step a checkpoint refers to (undefined: none yet; null: unreadable). */
function bestStepOf(path: string): number | undefined | null {
  try {
    const raw = readSafetensorsHeader(path).metadata.train_state;
    const best = (JSON.parse(raw ?? 'null') as { best?: { step?: unknown } | null } | null)?.best;
    if (best === null || best === undefined) return undefined;
    return Number.isSafeInteger(best.step) ? (best.step as number) : null;
  } catch {
    return null;
  }
}

const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** A run directory opened for writing: its paths, its lock and what was done to open it. */
export interface OpenRunDir {
  paths: RunPaths;
  lock: RunLock;
  /** Human-readable lines about what was cleaned up or taken over (print them). */
  notes: string[];
  /** Directories created to open it (the run directory, missing parents, checkpoints/), outermost first. */
  created: string[];
}

/**
 * Creates (if needed) and locks `dir`, then runs `check` with the lock held; on any error
 * the lock is released again. Removes temp files of writes a killed run left behind.
 */
function openLocked(dir: string, flag: string, check: (notes: string[]) => void): OpenRunDir {
  const p = runPaths(dir);
  if (existsSync(dir) && !isDir(dir)) throw new UsageError(`${flag} ${dir} exists and is not a directory`);
  const created: string[] = [];
  try {
    created.push(...makeDir(dir));
  } catch (err) {
    // The path the user gave cannot hold a run (read-only, permission, not a directory, ...).
    if (err instanceof FileSystemError) throw new UsageError(`${flag} ${dir}: ${err.message}`);
    throw err;
  }
  const notes: string[] = [];
  const lock = acquireRunLock(dir, (t) => notes.push(t));
  try {
    check(notes);
    const removed = removeTempFiles(dir);
    if (removed.length > 0) {
      notes.push(`removed ${removed.length} temporary file${removed.length === 1 ? '' : 's'} left by an interrupted write: ${removed.join(', ')}`);
    }
    created.push(...makeDir(p.checkpoints));
  } catch (err) {
    lock.release();
    throw err;
  }
  return { paths: p, lock, notes, created };
}

/**
 * What a run that never wrote a checkpoint leaves (train.log stays: it tells the story); its
 * summary.json, if any, is that of a run interrupted before its first step finished.
 */
const RUN_FILES = ['config.json', 'metrics.jsonl', 'summary.json', 'summary.csv', 'run-state.json'];

/** The "status" of a summary.json ("complete", "interrupted"); undefined when missing or unreadable. */
export function readSummaryStatus(path: string): string | undefined {
  try {
    const s = JSON.parse(readFileSync(path, 'utf8')) as { status?: unknown };
    return typeof s?.status === 'string' ? s.status : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when `dir` holds a checkpoint or a finished run: something to resume or keep. The
 * summary of an interrupted run counts only through its checkpoint.
 */
function holdsResumableRun(dir: string): boolean {
  const p = runPaths(dir);
  if (existsSync(p.best) || listCheckpoints(dir).length > 0) return true;
  return existsSync(p.summary) && readSummaryStatus(p.summary) !== 'interrupted';
}

/**
 * Undoes the opening of a new run directory whose run failed before it started (no
 * config.json written, e.g. the model could not be created): removes the directories the
 * opening created, with what the failed run put in them (train.log, an empty checkpoints/).
 * A directory that existed before is left with its train.log (which says what failed). Call
 * it after releasing the lock. Returns the directories removed.
 */
export function removeUnstartedRunDir(run: OpenRunDir): string[] {
  const p = run.paths;
  if (existsSync(p.config) || listCheckpoints(p.dir).length > 0 || existsSync(p.best)) return [];
  const removed: string[] = [];
  const createdDir = run.created.some((d) => resolve(d) === resolve(p.dir));
  if (createdDir) {
    // Made by this run a moment ago and held under its lock: everything in it is the run's.
    for (const f of [p.log, p.metrics, p.summary, join(p.dir, 'run-state.json'), join(p.dir, LOCK_FILE)]) rmSync(f, { force: true });
  }
  // Innermost first; a directory that is not empty (someone else's files) stays.
  for (const d of [...run.created].reverse()) {
    try {
      rmdirSync(d);
      removed.push(d);
    } catch {
      break;
    }
  }
  return removed;
}

/**
 * Creates and locks the directory of a new run. Refuses one that holds a run with a
 * checkpoint or a summary, so a second run never mixes its files into the first one's. A run
 * that died before its first checkpoint (config and metrics, nothing to resume from) is
 * cleared away: its files are removed, and the notes say which.
 */
export function prepareNewRunDir(dir: string): OpenRunDir {
  return openLocked(dir, '--out-dir', (notes) => {
    if (holdsResumableRun(dir)) {
      throw new UsageError(
        `run directory ${dir} already holds a run; continue it with \`grwarm-native train --resume ${dir}\` ` +
          'or choose another --out-dir',
      );
    }
    const removed = RUN_FILES.map((f) => join(dir, f)).filter((f) => existsSync(f));
    for (const f of removed) rmSync(f, { force: true });
    if (removed.length > 0) {
      notes.push(`run directory ${dir} held a run that stopped before its first checkpoint; starting over in it (removed ${removed.join(', ')})`);
      appendRunLog(dir, `new run in place of one that stopped before its first checkpoint (removed ${removed.map((f) => basename(f)).join(', ')})`);
    }
  });
}

/** Locks the directory of a run being continued (resume or restart in place). */
export function openRunDirForResume(dir: string): OpenRunDir {
  return openLocked(dir, '--resume', () => {});
}

/** Removes the temp files (`<file>.tmp-<pid>-<hex>`) of the run directory and its checkpoints; returns their paths. */
export function removeTempFiles(dir: string): string[] {
  const removed: string[] = [];
  for (const d of [dir, runPaths(dir).checkpoints]) {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!isTempFileName(name)) continue;
      const f = join(d, name);
      try {
        rmSync(f, { force: true });
        removed.push(f);
      } catch {
        // leave it; it harms nothing
      }
    }
  }
  return removed;
}

/**
 * What `--resume <path>` refers to: a run directory (its newest step checkpoint, else
 * best.safetensors, else, for a run that stopped before its first checkpoint, its
 * config.json: `checkpoint` undefined, restart from step 0) or a checkpoint file. `runDir` is
 * the directory the file belongs to (the parent of `checkpoints/`, or the folder of a
 * best.safetensors / a file next to a config.json); undefined for a stand-alone file.
 */
export function locateResume(path: string): { checkpoint: string | undefined; runDir: string | undefined } {
  if (!existsSync(path)) throw new UsageError(`--resume ${path}: no such file or directory`);
  if (isDir(path)) {
    const latest = listCheckpoints(path).at(-1);
    if (latest) return { checkpoint: latest.path, runDir: path };
    const p = runPaths(path);
    if (existsSync(p.best)) return { checkpoint: p.best, runDir: path };
    if (existsSync(p.config)) return { checkpoint: undefined, runDir: path };
    throw new UsageError(
      `--resume ${path}: no checkpoint to resume from (no ${CHECKPOINTS_DIR}/step-*.safetensors, no ${BEST_CHECKPOINT} ` +
        'and no config.json to restart from)',
    );
  }
  const parent = dirname(resolve(path));
  if (basename(parent) === CHECKPOINTS_DIR) return { checkpoint: path, runDir: dirname(parent) };
  const p = runPaths(parent);
  if (existsSync(p.config) || existsSync(p.metrics)) return { checkpoint: path, runDir: parent };
  return { checkpoint: path, runDir: undefined };
}

/**
 * Resuming `dir` from the checkpoint of `step` abandons everything the run did after that
 * step. So that a later `--resume <dir>` cannot pick up that abandoned future (and find the
 * metrics of its steps cut away), the newer step checkpoints, a newer best.safetensors, the
 * summary and a copy of metrics.jsonl move to `checkpoints/superseded-<time>/`. `stepOf` reads
 * a checkpoint's step (undefined when unreadable: then it stays). Returns what was moved.
 */
export function supersedeAfter(
  dir: string,
  step: number,
  stepOf: (path: string) => number | undefined,
  now: Date = new Date(),
): { folder: string; moved: string[] } | undefined {
  const p = runPaths(dir);
  const doomed = [...listCheckpoints(dir), ...listBestFiles(dir)].filter((c) => c.step > step).map((c) => c.path);
  if (existsSync(p.best)) {
    const s = stepOf(p.best);
    if (s !== undefined && s > step) doomed.push(p.best);
  }
  if (doomed.length === 0) return undefined;
  if (existsSync(p.summary)) doomed.push(p.summary);
  const folder = join(p.checkpoints, `superseded-${now.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-')}`);
  makeDir(folder);
  const moved: string[] = [];
  for (const f of doomed) {
    renameSync(f, join(folder, basename(f)));
    moved.push(f);
  }
  if (existsSync(p.metrics)) {
    copyFileSync(p.metrics, join(folder, basename(p.metrics)));
    moved.push(`a copy of ${p.metrics}`);
  }
  return { folder, moved };
}

/** Appends one timestamped line to train.log (best effort: logging never fails a run). */
export function appendRunLog(dir: string, line: string): void {
  try {
    appendFileSync(runPaths(dir).log, `${new Date().toISOString()} ${line}\n`);
  } catch {
    // the log is a convenience; metrics and checkpoints are what matter
  }
}
