// Creating a directory and its missing parents, one level at a time.
//
// Why not `mkdirSync(dir, { recursive: true })`: on file systems where mkdir fails with
// ENOENT even though the parent exists (procfs: `--out-dir /proc/xyz/run`), Node's recursive
// mkdir retries the parent and the child forever at 100% CPU. Here the nearest existing
// ancestor is found first (a bounded walk up the path), then each missing level is created
// once; the first failure is reported with its path and the OS reason.
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { FileSystemError, isErrnoError } from './fs-errors.js';

function kindOf(path: string): 'dir' | 'other' | 'missing' | NodeJS.ErrnoException {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'other';
  } catch (err) {
    // ENOTDIR: some ancestor is a file; the walk up finds it and names it.
    if (isErrnoError(err) && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) return 'missing';
    return err as NodeJS.ErrnoException;
  }
}

/**
 * Makes sure `dir` exists as a directory, creating missing parents. Throws FileSystemError
 * naming the path that could not be created (or the ancestor that is not a directory).
 * Returns the directories it created, outermost first.
 */
export function makeDir(dir: string): string[] {
  const missing: string[] = [];
  let p = resolve(dir);
  // Each step removes one path component, so this ends at the root.
  for (;;) {
    const k = kindOf(p);
    if (k === 'dir') break;
    if (k === 'other') throw new FileSystemError(dir, 'create directory', 'ENOTDIR', { detail: `${p} exists and is not a directory` });
    if (k !== 'missing') throw new FileSystemError(p, 'access', k.code, { cause: k });
    missing.push(p);
    const parent = dirname(p);
    if (parent === p) break; // the root itself is missing: mkdir below reports why
    p = parent;
  }
  const created: string[] = [];
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (err) {
      const code = isErrnoError(err) ? err.code : undefined;
      // Someone else created it in between: fine if it is a directory now.
      if (code === 'EEXIST' && kindOf(d) === 'dir') continue;
      throw new FileSystemError(d, 'create directory', code, { cause: err });
    }
    created.push(d);
  }
  return created;
}
