// Atomic file replacement: readers of `path` see either the old file or the complete
// new one, never a half-written file (a crash mid-checkpoint must not destroy the
// previous checkpoint). Write a sibling temp file, fsync it, rename it over the target.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { FileSystemError, isErrnoError } from './fs-errors.js';

/** Name of the temp file used while writing `path`; exported so tests can look for leftovers. */
export const TEMP_INFIX = '.tmp-';

export function tempPathFor(path: string): string {
  // pid + random: two processes (or two writes in one process) never share a temp file.
  return `${path}${TEMP_INFIX}${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** writeSync may write fewer bytes than asked; loop until the chunk is fully written. */
function writeAll(fd: number, chunk: Uint8Array): void {
  let done = 0;
  while (done < chunk.byteLength) {
    done += writeSync(fd, chunk, done, chunk.byteLength - done);
  }
}

/**
 * fsync the directory so the rename itself survives a power loss. Not possible on
 * every platform (Windows cannot open directories), so failures here are ignored:
 * the data is already safe in the renamed file, only the directory entry may lag.
 */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // best effort, see above
  } finally {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // ignore
      }
    }
  }
}

/**
 * Write `chunks` back to back into `path`, atomically. Chunks are written one by one
 * to the file descriptor (no concatenated copy), so callers can pass views of large
 * tensors directly, or a generator that produces them lazily. If anything throws
 * (including the iterable itself), the temp file is removed, the target is untouched
 * and the error is rethrown; an OS error (disk full, read-only file system, permission)
 * as a FileSystemError naming `path` and the reason.
 */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array>): void {
  const tmp = tempPathFor(path);
  let fd: number;
  try {
    // 'wx': fail rather than write into a file that already exists under that name.
    fd = openSync(tmp, 'wx');
  } catch (err) {
    throw asFileSystemError(err, path);
  }
  let fdOpen = true;
  try {
    for (const chunk of chunks) writeAll(fd, chunk);
    fsyncSync(fd);
    closeSync(fd);
    fdOpen = false;
    renameSync(tmp, path);
  } catch (err) {
    if (fdOpen) {
      try {
        closeSync(fd);
      } catch {
        // keep the original error
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      // keep the original error
    }
    throw asFileSystemError(err, path);
  }
  fsyncDir(dirname(path));
}

function asFileSystemError(err: unknown, path: string): unknown {
  return isErrnoError(err) ? new FileSystemError(path, 'write', err.code, { cause: err }) : err;
}

/** True for the name of a temp file left by an interrupted `writeFileAtomic` of some file. */
export function isTempFileName(name: string): boolean {
  return /\.tmp-\d+-[0-9a-f]{12}$/.test(name);
}
