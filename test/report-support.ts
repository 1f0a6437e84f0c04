// Shared by the report tests: trains a tiny Table 1 + Table 2 protocol in-process.
import { join } from 'node:path';
import { main, type CliIO } from '../src/cli.js';

export const POLICIES = ['none', 'gr', 'r-warmup', 'lambda-warmup', 'zero-warmup'] as const;

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = {
    stdout: { write: (s: string) => (out += s), isTTY: false },
    stderr: { write: (s: string) => (err += s), isTTY: false },
    env: {},
    handleSignals: false,
  };
  const code = await main(argv, io);
  return { code, out, err };
}

/**
 * Trains the runs of a small Table 1 + Table 2 protocol under `root`: 48 synthetic images at
 * batch 16 (3 steps per epoch), 3 epochs, LR warmup 1 epoch (every policy) or none (none, gr),
 * seeds 0 and 1.
 */
export async function makeRuns(root: string): Promise<void> {
  const common = ['--synthetic-train', '48', '--synthetic-test', '32', '--batch-size', '16', '--epochs', '3', '--patch-size', '8', '--log-every', '1', '--threads', '1', '--quiet'];
  const cells: [string, number][] = [...POLICIES.map((p) => [p, 1] as [string, number]), ['none', 0], ['gr', 0]];
  for (const seed of [0, 1]) {
    for (const [gr, wu] of cells) {
      const r = await cli(['train', ...common, '--gr', gr, '--warmup-epochs', String(wu), '--seed', String(seed), '--out-dir', join(root, `${gr}-wu${wu}-s${seed}`)]);
      if (r.code !== 0) throw new Error(`training ${gr} failed: ${r.err}`);
    }
  }
}

