// The one way a command creates the output folder the user named (train's --out-dir,
// report --out, theory --out, sweep --out-dir): makeDir (bounded, no recursive-mkdir spin on
// procfs), and a failure becomes a usage error (exit 2) naming the flag.
import { FileSystemError } from './fs-errors.js';
import { makeDir } from './make-dir.js';
import { UsageError } from '../train/errors.js';

/** Makes sure `dir` exists; throws UsageError `<flag> <dir>: cannot create directory …: <reason>`. */
export function makeOutputDir(flag: string, dir: string): string[] {
  try {
    return makeDir(dir);
  } catch (err) {
    if (err instanceof FileSystemError) throw new UsageError(`${flag} ${dir}: ${err.message}`);
    throw err;
  }
}
