/**
 * Cells left running by a sweep that was killed (kill -9, a lost terminal). Each cell's pid is
 * recorded in `<outDir>/.sweep/<cell>.pid` while it runs. A cell notices its sweep is gone
 * through its lifeline (src/cli/lifeline.ts) and stops after its current step with a
 * checkpoint; the next sweep, once it holds the sweep lock (so the old sweep is surely gone),
 * waits for such a process to finish stopping and then resumes the cell, instead of failing
 * it with "in use by process N". A process that does not stop in time (say, one started by an
 * older version without a lifeline) is killed; its run directory keeps its last checkpoint,
 * and resuming from it is exact.
 */
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LOCK_FILE } from '../train/run-lock.js';

export function pidFilePath(cellDir: string, name: string): string {
  return join(cellDir, `${name}.pid`);
}

/** Whether `pid` exists and has not exited (a zombie waiting for its parent to reap it counts as exited). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // Linux: the state after the command name in parentheses; Z = exited, not yet reaped.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no procfs: the signal check is all there is
  }
}

function readPid(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function lockPid(runDir: string): number | undefined {
  try {
    const o = JSON.parse(readFileSync(join(runDir, LOCK_FILE), 'utf8')) as { pid?: unknown; hostname?: unknown };
    return o.hostname === hostname() && typeof o.pid === 'number' ? o.pid : undefined;
  } catch {
    return undefined;
  }
}

export interface OrphanOptions {
  /** How long an orphan gets to write its checkpoint and exit before it is killed. */
  waitMs: number;
  note: (text: string) => void;
  /** Stop waiting (the new sweep was interrupted). */
  stopped: () => boolean;
}

/**
 * For every cell with a pid file: waits for the process to exit when it is still the holder
 * of the cell's run lock (an orphan), killing it after `waitMs`; removes the pid file.
 */
export async function settleOrphans(cellDir: string, cells: { name: string; runDir: string }[], o: OrphanOptions): Promise<void> {
  for (const c of cells) {
    const pf = pidFilePath(cellDir, c.name);
    if (!existsSync(pf)) continue;
    const pid = readPid(pf);
    // Only the process that both this sweep folder and the run directory name as the cell's.
    if (pid !== undefined && pid !== process.pid && lockPid(c.runDir) === pid && isAlive(pid)) {
      o.note(`cell ${c.name}: process ${pid}, left running by a sweep that ended, is stopping (it writes a checkpoint); waiting for it, then resuming the cell`);
      const exited = await waitForExit(pid, o.waitMs, o.stopped);
      if (!exited && !o.stopped()) {
        o.note(`cell ${c.name}: process ${pid} did not stop within ${Math.round(o.waitMs / 1000)} s; killing it (the run resumes from its last checkpoint)`);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
        await waitForExit(pid, 10_000, o.stopped);
      }
      if (isAlive(pid)) continue; // interrupted: keep the pid file for the next sweep
    }
    try {
      unlinkSync(pf);
    } catch {
      // already gone
    }
  }
}

/**
 * Resolves true once `pid` no longer exists, false after `ms`. Polled: a process that is not
 * our child cannot be waited for with an event in Node.
 */
function waitForExit(pid: number, ms: number, stopped: () => boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  return new Promise((resolve) => {
    const check = () => {
      if (!isAlive(pid)) return resolve(true);
      if (Date.now() >= deadline || stopped()) return resolve(false);
      setTimeout(check, 100);
    };
    check();
  });
}
