// Run directories under misuse and faults: an --out-dir that cannot be created (no hang),
// read-only and full file systems, two runs on one directory (lock), resuming from an older
// checkpoint (newer ones moved aside), runs that died before their first checkpoint and temp
// files of killed writes. Issue 8, items 5, 11, 12 and 13 and the disk errors.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from '../src/cli.js';
import { FileSystemError } from '../src/io/fs-errors.js';
import { makeDir } from '../src/io/make-dir.js';
import type { StopController } from '../src/train/loop.js';
import { MetricsLog, readMetrics, withoutTiming, type StepRecord } from '../src/train/metrics.js';
import { acquireRunLock, LOCK_FILE } from '../src/train/run-lock.js';
import { cli, type CliRun } from './support/cli.js';

/** 32 training images at batch 8: 4 steps per epoch (small: every step costs). */
const SMALL = ['--synthetic-train', '32', '--synthetic-test', '16', '--batch-size', '8', '--warmup-epochs', '0.25', '--quiet'];

let tmp: string;
const mounts: string[] = [];
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-hard-'));
});
afterAll(() => {
  for (const m of mounts) spawnSync('umount', [m]);
  rmSync(tmp, { recursive: true, force: true });
});

/** A tmpfs mounted at a fresh folder (root only); undefined where mounting is not allowed. */
function tryMount(name: string, options: string): string | undefined {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'ignore' });
  if (r.status !== 0) return undefined;
  mounts.push(dir);
  return dir;
}

const isRoot = process.getuid?.() === 0;

/** A pid that is certainly not running: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

function writeLock(dir: string, owner: { pid: number; hostname: string; startedAt?: string }): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ startedAt: '2026-01-01T00:00:00.000Z', ...owner }) + '\n');
}

describe('--out-dir that cannot be created (item 5)', () => {
  it('/proc/xyz/run fails at once, naming the path and the OS reason (no endless mkdir loop)', async () => {
    // An endless loop would never return: the test's timeout fails it, no clock needed.
    const r = await cli(['train', ...SMALL, '--steps', '1', '--out-dir', '/proc/xyz/run']);
    expect(r.code).toBe(2);
    expect(r.err).toBe('error: --out-dir /proc/xyz/run: cannot create directory /proc/xyz: no such file or directory (ENOENT)\n');
  });

  it('makeDir names a path component that is a file, and creates missing levels once', () => {
    const file = join(tmp, 'plain-file');
    writeFileSync(file, 'x');
    expect(() => makeDir(join(file, 'a', 'b'))).toThrow(`cannot create directory ${join(file, 'a', 'b')}: ${file} exists and is not a directory`);
    expect(makeDir(join(tmp, 'x', 'y', 'z'))).toEqual([join(tmp, 'x'), join(tmp, 'x', 'y'), join(tmp, 'x', 'y', 'z')]);
    expect(makeDir(join(tmp, 'x', 'y', 'z'))).toEqual([]);
  });

  it.skipIf(!isRoot)('a read-only file system is reported as read-only, not as ENOENT', async () => {
    const ro = tryMount('ro', 'ro,size=1m');
    if (!ro) return; // no permission to mount here: nothing to test
    const r = await cli(['train', ...SMALL, '--steps', '1', '--out-dir', join(ro, 'run')]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`error: --out-dir ${join(ro, 'run')}: cannot create directory ${join(ro, 'run')}: read-only file system (EROFS)\n`);
  });

  it.skipIf(isRoot)('a directory without write permission is reported as such', async () => {
    const locked = join(tmp, 'no-write');
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    const r = await cli(['train', ...SMALL, '--steps', '1', '--out-dir', join(locked, 'run')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('permission denied (EACCES)');
  });
});

describe('full disk', () => {
  it('a metrics write on a full device names the file and says "disk full"', () => {
    const log = new MetricsLog('/dev/full');
    try {
      expect(() => log.append({ type: 'step', step: 1 } as StepRecord)).toThrow(
        new FileSystemError('/dev/full', 'write', 'ENOSPC').message,
      );
    } finally {
      log.close();
    }
    expect(new FileSystemError('/x', 'write', 'ENOSPC').message).toBe('cannot write /x: no space left on the device (disk full) (ENOSPC)');
  });

  it.skipIf(!isRoot)('a run on a full file system stops with the path in the message and in train.log, no temp files left', async () => {
    const small = tryMount('small', 'size=512k');
    if (!small) return;
    const d = join(small, 'run');
    const r = await cli(['train', ...SMALL, '--steps', '4', '--out-dir', d]);
    expect(r.code).toBe(1);
    // A vit-micro checkpoint is 2.5 MB: the first one does not fit.
    const best = join(d, 'checkpoints', 'best-step-0000004.safetensors');
    expect(r.err).toBe(`error: cannot write ${best}: no space left on the device (disk full) (ENOSPC)\n`);
    expect(readFileSync(join(d, 'train.log'), 'utf8')).toContain(`error: cannot write ${best}: no space left on the device`);
    expect(readdirSync(d).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(existsSync(join(d, LOCK_FILE))).toBe(false);
  });
});

describe('one run per directory (item 11)', () => {
  it('a second run on a directory in use fails, naming the directory and the pid; the lock goes when the run ends', async () => {
    const d = join(tmp, 'busy');
    // Two runs started together in this process: exactly one may run.
    const [a, b] = await Promise.all([
      cli(['train', ...SMALL, '--steps', '2', '--out-dir', d]),
      cli(['train', ...SMALL, '--steps', '2', '--out-dir', d]),
    ]);
    const codes = [a.code, b.code].sort();
    expect(codes).toEqual([0, 2]);
    const loser = a.code === 2 ? a : b;
    expect(loser.err).toMatch(new RegExp(`^error: run directory ${d} is in use by this process \\(started [^)]+\\); wait for it to finish`));
    expect(existsSync(join(d, LOCK_FILE))).toBe(false);
  });

  it('a lock held by another live process refuses the run; once that process is gone it is taken over', async () => {
    const d = join(tmp, 'held');
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      writeLock(d, { pid: child.pid!, hostname: hostname() });
      const r = await cli(['train', ...SMALL, '--steps', '1', '--out-dir', d]);
      expect(r.code).toBe(2);
      expect(r.err).toBe(
        `error: run directory ${d} is in use by process ${child.pid} (started 2026-01-01T00:00:00.000Z); wait for it to finish or stop it, or choose another --out-dir\n`,
      );
      expect(existsSync(join(d, 'config.json'))).toBe(false);
    } finally {
      child.kill('SIGKILL');
      await new Promise((res) => child.once('exit', res));
    }
    const again = await cli(['train', ...SMALL, '--steps', '2', '--out-dir', d]);
    expect(again.code, again.err).toBe(0);
    expect(again.err).toBe(
      `note: took over the run directory ${d}: its lock was held by process ${child.pid}, which is no longer running (started 2026-01-01T00:00:00.000Z)\n`,
    );
    expect(existsSync(join(d, LOCK_FILE))).toBe(false);
  });

  it('a stale lock of a killed run does not block --resume; a lock from another host does', async () => {
    const d = join(tmp, 'stale');
    expect((await cli(['train', ...SMALL, '--steps', '5', '--out-dir', d])).code).toBe(0);
    const pid = deadPid();
    writeLock(d, { pid, hostname: hostname() });
    const r = await cli(['train', '--resume', d, '--quiet']);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`note: took over the run directory ${d}: its lock was held by process ${pid}, which is no longer running`);

    writeLock(d, { pid: 1234, hostname: 'elsewhere.example' });
    const other = await cli(['train', '--resume', d]);
    expect(other.code).toBe(2);
    expect(other.err).toBe(
      `error: run directory ${d} is in use by process 1234 on host elsewhere.example (started 2026-01-01T00:00:00.000Z); ` +
        `if that run is gone, delete ${join(d, LOCK_FILE)}\n`,
    );
    rmSync(join(d, LOCK_FILE));
  });

  it('the lock is released on errors and on a graceful stop', async () => {
    const d = join(tmp, 'released');
    const warm = await cli(['train', ...SMALL, '--steps', '2', '--batch-size', '64', '--out-dir', d]);
    expect(warm.code).toBe(2); // a config error found once the data set is known (64 > 32 images)
    expect(existsSync(join(d, LOCK_FILE))).toBe(false);
    const stopped = await cli(['train', ...SMALL, '--steps', '6', '--out-dir', d], (rec, stop) => {
      expect(existsSync(join(d, LOCK_FILE))).toBe(true);
      if (rec.step === 2) stop.request('SIGTERM');
    });
    expect(stopped.code).toBe(143);
    expect(existsSync(join(d, LOCK_FILE))).toBe(false);
  });

  it('acquireRunLock: exclusive within a process, released once', () => {
    const d = join(tmp, 'unit-lock');
    mkdirSync(d);
    const lock = acquireRunLock(d);
    expect(JSON.parse(readFileSync(lock.path, 'utf8'))).toMatchObject({ pid: process.pid, hostname: hostname() });
    expect(() => acquireRunLock(d)).toThrow(`run directory ${d} is in use by this process`);
    lock.release();
    lock.release();
    expect(existsSync(lock.path)).toBe(false);
    acquireRunLock(d).release();
  });

  it('process.exit (a second Ctrl-C) removes the lock through an exit listener; a kill -9 lock is taken over', () => {
    const d = join(tmp, 'exit-lock');
    mkdirSync(d);
    const before = process.listeners('exit');
    const lock = acquireRunLock(d);
    const added = process.listeners('exit').filter((l) => !before.includes(l));
    expect(added).toHaveLength(1);
    (added[0] as () => void)(); // what process.exit runs
    expect(existsSync(lock.path)).toBe(false);
    expect(process.listeners('exit')).toEqual(before);
    // kill -9 leaves the lock with a dead pid: the next run takes it over.
    writeLock(d, { pid: deadPid(), hostname: hostname() });
    const notes: string[] = [];
    acquireRunLock(d, (n) => notes.push(n)).release();
    expect(notes[0]).toMatch(/^took over the run directory .*which is no longer running/);
  });
});

describe('resuming from an older checkpoint (item 12)', () => {
  it('moves the newer checkpoints aside, so a later --resume of the directory cannot lose metrics', async () => {
    const d = join(tmp, 'older');
    const straight = await cli(['train', ...SMALL, '--steps', '16', '--keep-last', '10', '--out-dir', d]);
    expect(straight.code, straight.err).toBe(0);
    const reference = readMetrics(join(d, 'metrics.jsonl')).map(withoutTiming);
    const ck = (s: number) => join(d, 'checkpoints', `step-${String(s).padStart(7, '0')}.safetensors`);
    expect(readdirSync(join(d, 'checkpoints')).filter((f) => f.startsWith('step-')).sort()).toEqual([4, 8, 12, 16].map((s) => ck(s).split('/').pop()));
    const newerBest = readdirSync(join(d, 'checkpoints')).filter((f) => /^best-step-/.test(f) && Number(/\d+/.exec(f)![0]) > 4);

    // Resume from step 4 and stop at step 6: the run now stands at 6; 8, 12, 16 belong to
    // the abandoned future.
    const older = await cli(['train', '--resume', ck(4), '--quiet'], (rec, stop) => {
      if (rec.step === 6) stop.request('SIGINT');
    });
    expect(older.code).toBe(130);
    const note = /^note: resuming from step 4 abandons what this run did after it: moved (.*) to (\S+)$/m.exec(older.err);
    expect(note, older.err).not.toBeNull();
    const folder = note![2];
    expect(folder.startsWith(join(d, 'checkpoints', 'superseded-'))).toBe(true);
    const moved = [ck(8), ck(12), ck(16), ...newerBest.map((f) => join(d, 'checkpoints', f))];
    const bestStep = JSON.parse(readFileSync(join(folder, 'summary.json'), 'utf8')).bestStep;
    if (bestStep > 4) moved.push(join(d, 'best.safetensors'));
    moved.push(join(d, 'summary.json'), `a copy of ${join(d, 'metrics.jsonl')}`);
    expect(note![1]).toBe(moved.join(', '));
    expect(readdirSync(folder)).toContain('step-0000016.safetensors');
    expect(readMetrics(join(folder, 'metrics.jsonl')).map(withoutTiming)).toEqual(reference);
    expect(readFileSync(join(d, 'train.log'), 'utf8')).toContain('resuming from step 4 abandons what this run did after it');

    // The directory's newest checkpoint is now step 6: resuming it finishes the run with
    // every metrics line, equal to the uninterrupted run's.
    const later = await cli(['train', '--resume', d, '--quiet']);
    expect(later.code, later.err).toBe(0);
    expect(later.err).toBe('');
    expect(readMetrics(join(d, 'metrics.jsonl')).map(withoutTiming)).toEqual(reference);
  });
});

describe('a run that died before its first checkpoint (item 13)', () => {
  /** A real run that fails at step 3 (before the first checkpoint at step 4), plus temp files of killed writes. */
  async function deadRun(name: string): Promise<string> {
    const d = join(tmp, name);
    const r = await cli(['train', ...SMALL, '--steps', '8', '--out-dir', d], (rec) => {
      if (rec.step === 3) throw new Error('simulated crash');
    });
    expect(r.code).toBe(1);
    expect(existsSync(join(d, 'config.json')) && existsSync(join(d, 'metrics.jsonl'))).toBe(true);
    expect(readdirSync(join(d, 'checkpoints'))).toEqual([]);
    expect(readFileSync(join(d, 'train.log'), 'utf8')).toContain('error: simulated crash');
    writeFileSync(join(d, 'checkpoints', 'step-0000004.safetensors.tmp-999999-0123456789ab'), 'half a checkpoint');
    writeFileSync(join(d, 'metrics.jsonl.tmp-999999-ba9876543210'), 'half');
    return d;
  }

  it('--resume restarts it from step 0 with its config.json and removes the temp files, saying so', async () => {
    const d = await deadRun('dead-resume');
    const r = await cli(['train', '--resume', d, '--quiet']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe(
      `note: ${d} has no checkpoint (its run stopped before writing one): restarting it from step 0 with ${join(d, 'config.json')}\n` +
        `note: removed 2 temporary files left by an interrupted write: ${join(d, 'metrics.jsonl.tmp-999999-ba9876543210')}, ` +
        `${join(d, 'checkpoints', 'step-0000004.safetensors.tmp-999999-0123456789ab')}\n`,
    );
    const steps = readMetrics(join(d, 'metrics.jsonl')).filter((x) => x.type === 'step').map((x) => x.step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('a new run may take the directory over', async () => {
    const d = await deadRun('dead-new');
    const r = await cli(['train', ...SMALL, '--steps', '4', '--out-dir', d]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(
      `note: run directory ${d} held a run that stopped before its first checkpoint; starting over in it ` +
        `(removed ${join(d, 'config.json')}, ${join(d, 'metrics.jsonl')}, ${join(d, 'run-state.json')})\n`,
    );
    expect(r.err).toContain('note: removed 2 temporary files left by an interrupted write');
    expect(readMetrics(join(d, 'metrics.jsonl')).filter((x) => x.type === 'step').map((x) => x.step)).toEqual([1, 2, 3, 4]);
    expect(JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')).steps).toBe(4);
  });

  it('a directory with a checkpoint is still refused to a new run', async () => {
    const d = join(tmp, 'has-ckpt');
    expect((await cli(['train', ...SMALL, '--steps', '4', '--out-dir', d])).code).toBe(0);
    const r = await cli(['train', ...SMALL, '--steps', '4', '--out-dir', d]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/already holds a run; continue it with `grwarm-native train --resume/);
  });
});
