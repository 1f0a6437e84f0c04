/**
 * Running a sweep: every cell is a `grwarm-native train` child process in its own run
 * directory, `parallel` at a time with the CPU threads split between them.
 *
 * Resumable: a cell whose run directory holds a complete run of the same config (summary.json
 * with the cell's config hash) is skipped; one with an unfinished run is continued with
 * `train --resume` (bit-identical to an uninterrupted run); a run directory holding a
 * different config is a failed cell (never overwritten). A failed cell is recorded in
 * `<outDir>/sweep-status.json` with its error and does not stop the others; the next sweep
 * retries it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { serializeConfig } from '../config/index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { makeDir } from '../io/make-dir.js';
import { makeOutputDir } from '../io/out-dir.js';
import { LIFELINE_ENV } from '../cli/lifeline.js';
import { configHash } from '../train/plan.js';
import { acquireRunLock, type LockKind, type RunLock } from '../train/run-lock.js';
import { checkSweepData, dataProblemText } from './data-check.js';
import { pidFilePath, settleOrphans } from './orphans.js';
import { formatDuration } from '../train/progress.js';
import type { SweepCell, SweepSpec } from './config.js';

export type CellStatus = 'done' | 'skipped' | 'failed' | 'interrupted';

export interface CellResult {
  name: string;
  status: CellStatus;
  /** Error text of a failed cell (the child's `error:` lines, or its exit). */
  error?: string;
  exitCode?: number | null;
  wallSec?: number;
  threads?: number;
  finalTestError?: number;
  bestTestError?: number;
  startedAt?: string;
  finishedAt?: string;
}

export interface SweepStatusFile {
  file: string;
  updatedAt: string;
  parallel: number;
  threadsPerRun: number;
  cells: Record<string, CellResult & { runDir: string; params: Record<string, unknown> }>;
}

export interface SweepProgressState {
  total: number;
  done: number;
  failed: number;
  running: number;
  left: number;
  elapsedSec: number;
  etaSec: number | undefined;
}

export interface SweepRunOptions {
  spec: SweepSpec;
  parallel: number;
  /** Threads of each run (the machine's threads split between the parallel runs). */
  threadsPerRun: number;
  /** The CLI script the cells run (default: this package's dist/src/cli.js). */
  cli?: string;
  /** Only list what would run. */
  dryRun?: boolean;
  onEvent?: (e: SweepEvent) => void;
  /** Set to stop: no new cells start, running ones get SIGINT (they write a checkpoint). */
  stop?: SweepStop;
  /** How the user named the sweep's root, for errors about it (`--out-dir`, or the file's outDir). */
  outDirFlag?: string;
  /** How long a cell left running by a killed sweep gets to stop before it is killed (default 120 s). */
  orphanWaitMs?: number;
  /** Extra environment for the children. */
  env?: Record<string, string | undefined>;
}

/** A stop request: set `requested`, then call `notify` (runSweep installs it) to reach the running cells at once. */
export interface SweepStop {
  requested: boolean;
  notify?: () => void;
}

export type SweepEvent =
  | { kind: 'note'; text: string }
  | { kind: 'plan'; cells: { name: string; action: 'skip' | 'resume' | 'new' | 'conflict'; why?: string }[] }
  | { kind: 'start'; name: string; action: 'resume' | 'new'; progress: SweepProgressState }
  | { kind: 'finish'; result: CellResult; progress: SweepProgressState }
  | { kind: 'tick'; progress: SweepProgressState };

export const STATUS_FILE = 'sweep-status.json';
export const CELL_DIR = '.sweep';
export const SWEEP_LOCK: LockKind = {
  file: 'sweep.lock',
  what: 'sweep folder',
  busyHint: 'another sweep is running there: wait for it or stop it (Ctrl-C), or give this one another --out-dir',
};

/** Data the sweep's cells need is missing (exit 1, like a train run's missing data). */
export class SweepDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SweepDataError';
  }
}

/** Path of this package's built CLI (dist/src/cli.js), found from this module's location. */
export function defaultCliPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        if ((JSON.parse(readFileSync(p, 'utf8')) as { name?: string }).name === 'grwarm-native') return join(dir, 'dist', 'src', 'cli.js');
      } catch {
        // keep looking
      }
    }
    dir = dirname(dir);
  }
  throw new Error('cannot find the grwarm-native package (dist/src/cli.js) above ' + fileURLToPath(import.meta.url));
}

interface Summary {
  status?: string;
  configHash?: string;
  finalTestError?: number;
  bestTestError?: number;
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** What to do with a cell: skip a complete run, resume an unfinished one, start a new one. */
export function cellAction(cell: SweepCell): { action: 'skip' | 'resume' | 'new' | 'conflict'; why?: string; summary?: Summary } {
  const hash = configHash(cell.config);
  const summary = readJson<Summary>(join(cell.runDir, 'summary.json'));
  const cfgPath = join(cell.runDir, 'config.json');
  if (existsSync(cfgPath)) {
    const cfg = readJson<Record<string, unknown>>(cfgPath);
    // configHash leaves out outDir, threads and the other keys that do not change the numbers.
    const theirs = cfg ? configHash(cfg as never) : undefined;
    if (theirs !== hash) {
      return {
        action: 'conflict',
        why: `${cell.runDir} holds a run of a different configuration (config hash ${theirs ?? 'unreadable'}, the cell's is ${hash}); remove it or change the sweep's outDir`,
      };
    }
    if (summary?.status === 'complete' && summary.configHash === hash) return { action: 'skip', summary };
    return { action: 'resume' };
  }
  return { action: 'new' };
}

function nowIso(): string {
  return new Date().toISOString();
}

/** Runs the sweep; resolves when every cell finished (or the stop was requested and the running ones stopped). */
export async function runSweep(o: SweepRunOptions): Promise<{ results: CellResult[]; statusFile: string }> {
  const { spec } = o;
  const root = spec.outDir;
  const emit = o.onEvent ?? (() => {});
  const stop = o.stop ?? { requested: false };
  const cellDir = join(root, CELL_DIR);
  let lock: RunLock | undefined;
  if (!o.dryRun) {
    makeOutputDir(o.outDirFlag ?? 'outDir', root);
    // One sweep per folder: a second one refuses at once, naming the holder's pid.
    lock = acquireRunLock(root, (text) => emit({ kind: 'note', text }), SWEEP_LOCK);
  }
  try {
    if (!o.dryRun) {
      makeDir(cellDir);
      await settleOrphans(cellDir, spec.cells, {
        waitMs: o.orphanWaitMs ?? 120_000,
        note: (text) => emit({ kind: 'note', text }),
        stopped: () => stop.requested,
      });
    }
    return await runPlanned(o, cellDir);
  } finally {
    lock?.release();
  }
}

async function runPlanned(o: SweepRunOptions, cellDir: string): Promise<{ results: CellResult[]; statusFile: string }> {
  const { spec } = o;
  const root = spec.outDir;
  const statusPath = join(root, STATUS_FILE);
  const emit = o.onEvent ?? (() => {});
  const stop = o.stop ?? { requested: false };
  const plan = spec.cells.map((c) => ({ cell: c, ...cellAction(c) }));
  emit({ kind: 'plan', cells: plan.map((p) => ({ name: p.cell.name, action: p.action, why: p.why })) });
  // Data first (also for --dry-run): missing data fails the sweep once, before any cell starts.
  const toRun = plan.filter((p) => p.action === 'new' || p.action === 'resume');
  const dataProblems = checkSweepData(toRun.map((p) => p.cell.config));
  if (dataProblems.length > 0) throw new SweepDataError(dataProblemText(dataProblems, toRun.length));
  if (o.dryRun || stop.requested) return { results: [], statusFile: statusPath };
  const prev = readJson<SweepStatusFile>(statusPath);
  const status: SweepStatusFile = {
    file: spec.file,
    updatedAt: nowIso(),
    parallel: o.parallel,
    threadsPerRun: o.threadsPerRun,
    cells: {},
  };
  for (const c of spec.cells) {
    const old = prev?.cells?.[c.name];
    status.cells[c.name] = old ? { ...old, runDir: c.runDir, params: c.params } : { name: c.name, status: 'interrupted', runDir: c.runDir, params: c.params };
  }
  const saveStatus = () => {
    status.updatedAt = nowIso();
    writeFileAtomic(statusPath, [Buffer.from(JSON.stringify(status, null, 2) + '\n', 'utf8')]);
  };

  const results: CellResult[] = [];
  const started = performance.now();
  let done = 0;
  let failed = 0;
  const running = new Map<string, { startStep: number | undefined; step: number; total: number | undefined }>();
  let progressedUnits = 0; // fractions of cells computed in this session (finished + running)

  for (const p of plan) {
    if (p.action === 'skip') {
      done++;
      const r: CellResult = {
        ...status.cells[p.cell.name],
        name: p.cell.name,
        status: 'done',
        error: undefined,
        finalTestError: p.summary?.finalTestError,
        bestTestError: p.summary?.bestTestError,
      };
      status.cells[p.cell.name] = { ...status.cells[p.cell.name], ...r };
    }
  }
  const queue = plan.filter((p) => p.action !== 'skip');

  const state = (): SweepProgressState => {
    const elapsedSec = (performance.now() - started) / 1000;
    let runningUnits = 0;
    let runningLeft = 0;
    for (const r of running.values()) {
      if (r.total !== undefined && r.startStep !== undefined) {
        runningUnits += (r.step - r.startStep) / r.total;
        runningLeft += (r.total - r.step) / r.total;
      } else runningLeft += 1;
    }
    const units = progressedUnits + runningUnits;
    const notStarted = spec.cells.length - done - failed - running.size;
    const leftUnits = runningLeft + notStarted;
    const etaSec = units > 0.02 && elapsedSec > 5 ? (leftUnits * elapsedSec) / units : undefined;
    return {
      total: spec.cells.length,
      done,
      failed,
      running: running.size,
      left: spec.cells.length - done - failed,
      elapsedSec,
      etaSec,
    };
  };

  const cli = o.cli ?? defaultCliPath();
  const children = new Set<ChildProcess>();
  let stopForwarded = false;
  const forwardStop = () => {
    if (stopForwarded) return;
    stopForwarded = true;
    for (const ch of children) ch.kill('SIGINT');
  };
  stop.notify = () => {
    if (stop.requested) forwardStop();
  };
  const tick = setInterval(() => {
    if (stop.requested) forwardStop();
    emit({ kind: 'tick', progress: state() });
  }, 1000);

  const runCell = (p: (typeof queue)[number]): Promise<CellResult> =>
    new Promise((resolvePromise) => {
      const { cell } = p;
      const t0 = performance.now();
      const startedAt = nowIso();
      const cellFile = join(root, CELL_DIR, `${cell.name}.json`);
      if (p.action === 'conflict') {
        resolvePromise({ name: cell.name, status: 'failed', error: p.why, startedAt, finishedAt: nowIso(), wallSec: 0 });
        return;
      }
      writeFileAtomic(cellFile, [Buffer.from(serializeConfig(cell.config), 'utf8')]);
      const action: 'resume' | 'new' = p.action === 'resume' ? 'resume' : 'new';
      const args =
        action === 'resume'
          ? [cli, 'train', '--resume', cell.runDir, '--threads', String(o.threadsPerRun), '--json']
          : [cli, 'train', '--config', cellFile, '--out-dir', cell.runDir, '--threads', String(o.threadsPerRun), '--json'];
      const logPath = join(root, CELL_DIR, `${cell.name}.stderr.log`);
      const logFd = openSync(logPath, 'a+'); // read back for the error lines
      writeSync(logFd, `--- ${startedAt} ${action}: node ${args.join(' ')}\n`);
      const logStart = fstatSync(logFd).size;
      const child = spawn(process.execPath, args, {
        // stdin: the lifeline, a pipe held open and never written; it closes when this process ends.
        // stderr: straight into the cell's log, so what it says after this sweep is gone is kept.
        stdio: ['pipe', 'pipe', logFd],
        detached: true, // its own process group: a terminal Ctrl-C reaches only the sweep, which forwards one SIGINT
        env: { ...process.env, ...o.env, [LIFELINE_ENV]: 'stdin' },
      });
      child.stdin!.on('error', () => {}); // EPIPE once the cell has exited
      const pidFile = pidFilePath(cellDir, cell.name);
      if (child.pid !== undefined) writeFileAtomic(pidFile, [Buffer.from(`${child.pid}\n`, 'utf8')]);
      children.add(child);
      const track = { startStep: undefined as number | undefined, step: 0, total: cell.config.steps as number | undefined };
      running.set(cell.name, track);
      emit({ kind: 'start', name: cell.name, action, progress: state() });
      if (stop.requested) child.kill('SIGINT');
      let buf = '';
      let summaryLine: Summary | undefined;
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.startsWith('{')) continue;
          try {
            const rec = JSON.parse(line) as { type: string; step?: number; epoch?: number } & Summary;
            if (rec.type === 'step' && typeof rec.step === 'number') {
              track.startStep ??= rec.step - 1;
              track.step = rec.step;
            } else if (rec.type === 'epoch' && track.total === undefined && rec.step && rec.epoch) {
              track.total = cell.config.epochs * Math.round(rec.step / rec.epoch);
            } else if (rec.type === 'summary') summaryLine = rec;
          } catch {
            // not a metrics line
          }
        }
      });
      const finish = (code: number | null, signal: string | null, spawnError?: Error) => {
        children.delete(child);
        running.delete(cell.name);
        child.stdin!.destroy();
        try {
          unlinkSync(pidFile);
        } catch {
          // never written (spawn failed) or gone
        }
        if (track.total && track.startStep !== undefined) progressedUnits += (track.step - track.startStep) / track.total;
        const errTail = logTail(logFd, logStart, 8000);
        try {
          closeSync(logFd);
        } catch {
          // ignore
        }
        const wallSec = (performance.now() - t0) / 1000;
        const base = { name: cell.name, exitCode: code, wallSec, threads: o.threadsPerRun, startedAt, finishedAt: nowIso() };
        if (code === 0) {
          const s = summaryLine ?? readJson<Summary>(join(cell.runDir, 'summary.json'));
          resolvePromise({ ...base, status: 'done', finalTestError: s?.finalTestError, bestTestError: s?.bestTestError });
        } else if (code === 130 || code === 143 || (stop.requested && signal !== null)) {
          resolvePromise({ ...base, status: 'interrupted', error: `stopped (${signal ?? `exit ${code}`}); the next sweep resumes it` });
        } else {
          const errLines = errTail
            .split('\n')
            .filter((l) => l.startsWith('error:'))
            .join('\n');
          const lastLine = errTail.trim().split('\n').at(-1);
          const error = spawnError
            ? `could not start: ${spawnError.message}`
            : errLines || (signal ? `killed by ${signal}` : lastLine ? `exit ${code}: ${lastLine}` : `exit ${code}`);
          resolvePromise({ ...base, status: 'failed', error });
        }
      };
      let settled = false;
      child.on('error', (err) => {
        if (!settled) {
          settled = true;
          finish(null, null, err);
        }
      });
      child.on('close', (code, signal) => {
        if (!settled) {
          settled = true;
          finish(code, signal);
        }
      });
    });

  try {
    saveStatus();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (!stop.requested && next < queue.length) {
        const p = queue[next++];
        const r = await runCell(p);
        if (r.status === 'done') done++;
        else if (r.status === 'failed') failed++;
        results.push(r);
        status.cells[r.name] = { ...status.cells[r.name], ...r };
        if (r.status !== 'failed') delete status.cells[r.name].error;
        saveStatus();
        emit({ kind: 'finish', result: r, progress: state() });
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(o.parallel, queue.length)) }, () => worker()));
  } finally {
    clearInterval(tick);
    stop.notify = undefined;
  }
  return { results, statusFile: statusPath };
}

/** The last `max` bytes the cell wrote to its log since `from` (its error lines are there). */
function logTail(fd: number, from: number, max: number): string {
  try {
    const end = fstatSync(fd).size;
    const start = Math.max(from, end - max);
    const buf = Buffer.alloc(end - start);
    const n = readSync(fd, buf, 0, buf.length, start);
    return buf.subarray(0, n).toString('utf8');
  } catch {
    return '';
  }
}

/** One progress line: `sweep 3/15 done, 2 running, 10 left, 1 failed | 4m12s elapsed, ETA 20m`. */
export function progressLine(s: SweepProgressState): string {
  const eta = s.left === 0 ? '' : s.etaSec === undefined ? ', ETA …' : `, ETA ${formatDuration(s.etaSec)}`;
  return (
    `sweep: ${s.done}/${s.total} done, ${s.running} running, ${s.left} left, ${s.failed} failed` +
    ` | ${formatDuration(s.elapsedSec)} elapsed${eta}`
  );
}
