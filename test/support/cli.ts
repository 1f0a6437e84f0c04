// Shared helpers of the CLI tests: run `main` in-process with captured output, and make sure
// dist/src/cli.js (for tests that spawn the real binary) is at least as new as src/.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main, type CliIO } from '../../src/cli.js';
import type { StopController } from '../../src/train/loop.js';
import type { StepRecord } from '../../src/train/metrics.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in this process (no signal handlers), capturing stdout and stderr. */
export async function cli(argv: string[], onStep?: (rec: StepRecord, stop: StopController) => void): Promise<CliRun> {
  let out = '';
  let err = '';
  const io: CliIO = {
    stdout: { write: (s: string) => (out += s), isTTY: false },
    stderr: { write: (s: string) => (err += s), isTTY: false },
    env: {},
    handleSignals: false,
    onStep,
  };
  const code = await main(argv, io);
  return { code, out, err };
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** Compiles the TypeScript when dist/src/cli.js is missing or older than src/. */
export function ensureCliBuilt(): void {
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= newestMtime(join(ROOT, 'src'))) return;
  try {
    execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'pipe' });
  } catch (err) {
    if (!existsSync(CLI)) throw err; // tsc emits despite type errors elsewhere
  }
}
