// The real binary killed hard: `kill -9` mid-run leaves a directory that `--resume` continues
// bit-identically (taking over the dead run's lock), and `process.exit` on a second Ctrl-C
// still removes the lock. Uses dist/src/cli.js (rebuilt first when stale, as cli-signals does).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from '../src/cli.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { readMetrics, withoutTiming } from '../src/train/metrics.js';
import { LOCK_FILE } from '../src/train/run-lock.js';
import { ensureCliBuilt } from './support/cli.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli.js');

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-kill-'));
  ensureCliBuilt();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * Runs the binary; when a step line with step >= `atStep` shows, sends the first of `signals`;
 * each further one once stderr shows the CLI handled the one before (an event, not a delay).
 */
function runAndSignal(args: string[], atStep: number, signals: NodeJS.Signals[]): Promise<{ code: number | null; signal: string | null; pid: number; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let sent = 0;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const steps = [...out.matchAll(/"type":"step","step":(\d+)/g)].map((m) => Number(m[1]));
      if (sent === 0 && steps.some((s) => s >= atStep)) child.kill(signals[sent++]);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
      if (sent > 0 && sent < signals.length && err.includes('finishing the current step')) child.kill(signals[sent++]);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, pid: child.pid!, err }));
  });
}

async function cli(argv: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const io: CliIO = { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) }, env: {}, handleSignals: false };
  return { code: await main(argv, io), err };
}

const RUN = ['--synthetic-train', '64', '--synthetic-test', '16', '--batch-size', '8', '--warmup-epochs', '0.25', '--steps', '40'];

describe('kill -9 and a second Ctrl-C', () => {
  it('a run killed with SIGKILL resumes bit-identically; its stale lock is taken over', async () => {
    const a = join(tmp, 'straight');
    expect((await cli(['train', ...RUN, '--quiet', '--out-dir', a])).code).toBe(0);

    const b = join(tmp, 'killed');
    const killed = await runAndSignal(['train', ...RUN, '--json', '--out-dir', b], 10, ['SIGKILL']);
    expect(killed.signal).toBe('SIGKILL');
    expect(JSON.parse(readFileSync(join(b, LOCK_FILE), 'utf8')).pid).toBe(killed.pid);
    expect(existsSync(join(b, 'summary.json'))).toBe(false);

    const r = await cli(['train', '--resume', b, '--quiet']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`note: took over the run directory ${b}: its lock was held by process ${killed.pid}, which is no longer running`);
    expect(existsSync(join(b, LOCK_FILE))).toBe(false);

    const last = (d: string) => readSafetensors(join(d, 'checkpoints', 'step-0000040.safetensors')).tensors;
    const ta = last(a);
    for (const [name, t] of last(b)) {
      expect(Buffer.from(t.data.buffer).equals(Buffer.from(ta.get(name)!.data.buffer)), name).toBe(true);
    }
    expect(readMetrics(join(b, 'metrics.jsonl')).map(withoutTiming)).toEqual(readMetrics(join(a, 'metrics.jsonl')).map(withoutTiming));
  });

  it('a second SIGINT (process.exit) leaves no lock behind', async () => {
    const d = join(tmp, 'twice');
    const r = await runAndSignal(
      ['train', '--json', '--synthetic-train', '2048', '--synthetic-test', '32', '--batch-size', '256', '--steps', '40', '--warmup-epochs', '0', '--out-dir', d],
      1,
      ['SIGINT', 'SIGINT'],
    );
    expect(r.code, r.err).toBe(130);
    expect(r.err).toContain('SIGINT again: exiting now without writing a checkpoint');
    expect(existsSync(join(d, LOCK_FILE))).toBe(false);
  });
});
