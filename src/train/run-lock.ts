/**
 * The lock that keeps two runs out of one run directory: `<run dir>/run.lock`, created
 * exclusively (O_CREAT|O_EXCL, so exactly one of two racing runs gets it), holding the owner's
 * pid, host name and start time as JSON. It is removed when the run ends, also on an error,
 * Ctrl-C/SIGTERM and `process.exit`. A lock left behind by a killed run (kill -9, power loss)
 * is stale when its pid is no longer alive on this host; the next run takes it over and says
 * so. A lock from another host is never taken over automatically: its pid means nothing here.
 */
import { closeSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { FileSystemError, isErrnoError } from '../io/fs-errors.js';
import { UsageError } from './errors.js';

export const LOCK_FILE = 'run.lock';

/** What a lock guards, for its file name and messages (a run directory; a sweep's folder). */
export interface LockKind {
  file: string;
  /** `run directory`, `sweep folder`: named in the messages before the path. */
  what: string;
  /** What to do when a live process holds it. */
  busyHint: string;
}

export const RUN_LOCK: LockKind = {
  file: LOCK_FILE,
  what: 'run directory',
  busyHint: 'wait for it to finish or stop it, or choose another --out-dir',
};

interface LockOwner {
  pid: number;
  hostname: string;
  startedAt: string;
}

export interface RunLock {
  readonly path: string;
  /** Removes the lock file (idempotent). */
  release(): void;
}

/** A lock younger than this with unreadable content is a run still writing it. */
const FRESH_MS = 10_000;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: existence check only
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (Number.isSafeInteger(o.pid) && (o.pid as number) > 0 && typeof o.hostname === 'string') {
      return { pid: o.pid as number, hostname: o.hostname, startedAt: String(o.startedAt ?? '?') };
    }
  } catch {
    // missing, unreadable or not JSON: undefined
  }
  return undefined;
}

function tryCreate(path: string, owner: LockOwner): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (err) {
    if (isErrnoError(err) && err.code === 'EEXIST') return false;
    throw new FileSystemError(path, 'create the run lock', isErrnoError(err) ? err.code : undefined, { cause: err });
  }
  try {
    writeSync(fd, JSON.stringify(owner) + '\n');
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Takes the lock of `dir` (which must exist). Throws UsageError when a live run holds it,
 * naming the directory and that run's pid and host. `note` receives what was done about a
 * stale lock.
 */
export function acquireRunLock(dir: string, note: (text: string) => void = () => {}, kind: LockKind = RUN_LOCK): RunLock {
  const path = join(dir, kind.file);
  const what = kind.what;
  const me: LockOwner = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() };
  // A few rounds: each one either takes the lock, fails for good, or removes a stale lock.
  for (let round = 0; round < 5; round++) {
    if (tryCreate(path, me)) return makeLock(path);
    const owner = readOwner(path);
    if (owner === undefined) {
      let age = Infinity;
      try {
        age = Date.now() - statSync(path).mtimeMs;
      } catch {
        continue; // removed meanwhile: try again
      }
      if (age < FRESH_MS) {
        throw new UsageError(`${what} ${dir} is being taken by another process (${path} was created ${Math.round(age)} ms ago); try again`);
      }
      if (removeIfUnchanged(path, undefined)) note(`removed the unreadable lock file ${path} (left by a run killed while starting)`);
      continue;
    }
    if (owner.hostname !== me.hostname) {
      throw new UsageError(
        `${what} ${dir} is in use by process ${owner.pid} on host ${owner.hostname} (started ${owner.startedAt}); ` +
          `if that run is gone, delete ${path}`,
      );
    }
    if (isAlive(owner.pid)) {
      const who = owner.pid === process.pid ? 'this process' : `process ${owner.pid}`;
      throw new UsageError(
        `${what} ${dir} is in use by ${who} (started ${owner.startedAt}); ${kind.busyHint}`,
      );
    }
    if (removeIfUnchanged(path, owner)) {
      note(`took over the ${what} ${dir}: its lock was held by process ${owner.pid}, which is no longer running (started ${owner.startedAt})`);
    }
  }
  throw new UsageError(`${what} ${dir}: could not take the lock ${path} (other processes keep taking it)`);
}

/**
 * Removes the lock at `path` if it still belongs to `stale` (undefined: unreadable). The file is
 * first renamed to a name of our own, so that of two runs removing the same stale lock, one
 * cannot delete the fresh lock the other has just created; a renamed file that turns out to
 * be a live lock is put back.
 */
function removeIfUnchanged(path: string, stale: LockOwner | undefined): boolean {
  const mine = `${path}.stale-${process.pid}-${Date.now()}`;
  try {
    renameSync(path, mine);
  } catch {
    return false; // gone already: someone else handled it
  }
  const now = readOwner(mine);
  const same = stale === undefined ? now === undefined : now?.pid === stale.pid && now.startedAt === stale.startedAt;
  if (!same) {
    try {
      // Not the stale lock after all: give it back (link, unlike rename, never replaces a
      // lock created meanwhile).
      linkSync(mine, path);
      unlinkSync(mine);
    } catch {
      // a third run took the lock meanwhile; the next round reports who holds it
    }
    return false;
  }
  unlinkSync(mine);
  return true;
}

function makeLock(path: string): RunLock {
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    // Only our own lock: never remove one another run took over after we lost it.
    if (readOwner(path)?.pid !== process.pid) return;
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  };
  // `process.exit` (second Ctrl-C) skips finally blocks but runs 'exit' listeners.
  process.on('exit', release);
  return { path, release };
}
