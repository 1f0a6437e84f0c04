// SIGINT/SIGTERM handling of the real binary (dist/src/cli.js, rebuilt first when stale).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { readMetrics } from '../src/train/metrics.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, name.name);
    if (name.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (name.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

interface Spawned {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/**
 * Runs the CLI; once stdout holds a step line, sends the first of `signals`; each further one
 * once stderr shows that the CLI handled the one before ("finishing the current step"), an
 * event rather than a delay (signals sent back to back may be merged by the kernel into one).
 */
function runAndSignal(args: string[], signals: NodeJS.Signals[]): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GRWARM_DEBUG: '' } });
    let out = '';
    let err = '';
    let sent = 0;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (sent === 0 && out.includes('"type":"step"')) child.kill(signals[sent++]);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
      if (sent > 0 && sent < signals.length && err.includes('finishing the current step')) child.kill(signals[sent++]);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-sig-'));
  const stale = !existsSync(CLI) || statSync(CLI).mtimeMs < newestMtime(join(ROOT, 'src'));
  if (stale) {
    try {
      execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'pipe' });
    } catch (err) {
      // tsc still emits when some other file has a type error; only a missing CLI is fatal.
      if (!existsSync(CLI)) throw err;
    }
  }
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** 40 steps per epoch, so no epoch checkpoint is written before the signal arrives. */
const RUN = ['train', '--json', '--synthetic-train', '1280', '--synthetic-test', '32', '--batch-size', '32', '--steps', '200', '--warmup-epochs', '0.1'];

describe('signals', () => {
  it('SIGINT: finishes the step, writes a loadable checkpoint, prints how to resume, exits 130', async () => {
    const d = join(tmp, 'int');
    const r = await runAndSignal([...RUN, '--out-dir', d], ['SIGINT']);
    expect(r.code, r.err).toBe(130);
    const steps = readMetrics(join(d, 'metrics.jsonl')).filter((x) => x.type === 'step');
    const last = steps.at(-1)!.step;
    expect(last).toBeLessThan(200);
    const file = join(d, 'checkpoints', `step-${String(last).padStart(7, '0')}.safetensors`);
    expect(readdirSync(join(d, 'checkpoints'))).toEqual([`step-${String(last).padStart(7, '0')}.safetensors`]);
    expect(r.err).toContain('SIGINT: finishing the current step, then writing a checkpoint');
    expect(r.err).toContain(`stopped by SIGINT at step ${last}; checkpoint: ${file}\nresume with: grwarm-native train --resume ${d}\n`);
    const ck = readCheckpoint(file);
    expect(ck.meta.step).toBe(last);
    expect(ck.meta.dataOrder).toMatchObject({ epoch: 0, index: last });
    const summary = JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ status: 'interrupted', signal: 'SIGINT', step: last, steps: 200, lastCheckpoint: file });
    expect(r.out.trim().split('\n').map((l) => JSON.parse(l)).at(-1)).toEqual({ type: 'summary', ...summary });
  });

  it('SIGTERM: same, exit 143', async () => {
    const d = join(tmp, 'term');
    const r = await runAndSignal([...RUN, '--out-dir', d], ['SIGTERM']);
    expect(r.code, r.err).toBe(143);
    expect(r.err).toContain('stopped by SIGTERM at step');
    expect(JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8'))).toMatchObject({ status: 'interrupted', signal: 'SIGTERM' });
    expect(readdirSync(join(d, 'checkpoints'))).toHaveLength(1);
  });

  it('a second SIGINT exits at once with 130, without writing a checkpoint', async () => {
    const d = join(tmp, 'twice');
    // The second signal follows the CLI's answer to the first at once; bigger batches keep the
    // step in flight running meanwhile (a step is ~1 s here, the answer takes milliseconds).
    const r = await runAndSignal(
      ['train', '--json', '--synthetic-train', '2048', '--synthetic-test', '32', '--batch-size', '256', '--steps', '40', '--warmup-epochs', '0', '--out-dir', d],
      ['SIGINT', 'SIGINT'],
    );
    expect(r.code, r.err).toBe(130);
    expect(r.err).toContain('SIGINT again: exiting now without writing a checkpoint');
    expect(readdirSync(join(d, 'checkpoints'))).toEqual([]);
  });
});
