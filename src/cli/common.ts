// Shared pieces of the CLI: output streams, exit codes, error reporting, package version.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommanderError } from 'commander';
import { ConfigError } from '../config/index.js';
import { CheckpointError, DivergedError, UsageError } from '../train/errors.js';
import type { StopController } from '../train/loop.js';
import type { StepRecord } from '../train/metrics.js';
import type { OutStream } from '../train/progress.js';

export interface CliIO {
  stdout: OutStream;
  stderr: OutStream;
  env: Record<string, string | undefined>;
  /** Install SIGINT/SIGTERM handlers while training (default true; the real binary). */
  handleSignals?: boolean;
  /** Test hook: called after every training step with the run's stop controller. */
  onStep?: (rec: StepRecord, stop: StopController) => void;
}

export const EXIT = {
  OK: 0,
  RUNTIME: 1,
  USAGE: 2,
  SIGINT: 130,
  SIGTERM: 143,
} as const;

export const EXIT_CODES_HELP = `
Exit codes:
  0    success
  1    runtime error: data files, I/O (disk full, ...), training diverged (NaN/Inf
       loss or gradient)
  2    usage or configuration error: unknown option, bad value, bad config file,
       unusable --resume/--checkpoint path or checkpoint, an --out-dir that cannot be
       created or is in use by another run
  130  stopped by SIGINT (Ctrl-C): the step in flight finishes and a checkpoint is
       written; a second Ctrl-C quits at once without one
  143  stopped by SIGTERM (checkpoint written as for SIGINT)

Set GRWARM_DEBUG=1 to print stack traces of errors.`;

/** The top-level --help: the exit codes every command shares (train's --help has the full list). */
export const GENERAL_EXIT_CODES_HELP = `
Exit codes: 0 success, 1 runtime error (data, I/O, a diverged run), 2 usage or
configuration error, 130/143 stopped by SIGINT/SIGTERM; each command's --help says
what they mean for it. Set GRWARM_DEBUG=1 to print stack traces of errors.`;

/** The end of a command's --help other than train's: its own exit codes, in one or two lines. */
export function exitHelp(codes: string): string {
  return `
Exit: ${codes}.
Set GRWARM_DEBUG=1 to print stack traces of errors.`;
}

/** Exit code for an error thrown by a command. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  if (err instanceof ConfigError || err instanceof UsageError || err instanceof CheckpointError) return EXIT.USAGE;
  if (err instanceof DivergedError) return EXIT.RUNTIME;
  return EXIT.RUNTIME;
}

/** Prints `error: <message>` (one `error:` per line of a ConfigError); the stack only with GRWARM_DEBUG=1. */
export function reportError(io: CliIO, err: unknown): number {
  const code = exitCodeFor(err);
  if (err instanceof CommanderError) return code; // commander printed its message already
  const e = err instanceof Error ? err : new Error(String(err));
  const text =
    e instanceof ConfigError
      ? e.message
          .split('\n')
          .map((l) => `error: ${l}`)
          .join('\n')
      : `error: ${e.message}`;
  io.stderr.write(text + '\n');
  if (io.env.GRWARM_DEBUG === '1' && e.stack) io.stderr.write(e.stack + '\n');
  return code;
}

let cachedVersion: string | undefined;

/** The package version, from the package.json above this module (src/ or dist/src/). */
export function packageVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'grwarm-native' && typeof pkg.version === 'string') return (cachedVersion = pkg.version);
    } catch {
      // not here; go up
    }
    dir = dirname(dir);
  }
  return (cachedVersion = 'unknown');
}

/** Quotes a path for a shell command line when it needs it. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * More threads than CPUs is allowed (the native code runs them; it oversubscribes the CPUs
 * and is usually slower): a warning on stderr, the command goes on. `source` says where the
 * value came from (a flag, a config file, a checkpoint). Returns whether it warned.
 */
export function warnIfOversubscribed(io: CliIO, threads: number, source: string | undefined, cpus = availableParallelism()): boolean {
  if (!(threads > cpus)) return false;
  const what = source === undefined || source === '--threads' ? `--threads ${threads}` : `threads ${threads} (from ${source})`;
  io.stderr.write(
    `warning: ${what} is more than the ${cpus} CPU${cpus === 1 ? '' : 's'} available to this process ` +
      `(os.availableParallelism()); going on with ${threads} threads, which oversubscribes the CPUs and is usually ` +
      `slower (--threads 0 picks the number automatically)\n`,
  );
  return true;
}
