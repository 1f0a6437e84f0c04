// Checkpoint and evaluation cadences in epochs, fractions of an epoch or steps, time-based
// checkpoints, and exact resume from a checkpoint in the middle of an epoch after kill -9
// (issue 22 item 1). The killed run is the real binary; the test waits for a step line on
// its stdout (an event), never for a time.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../src/io/safetensors.js';
import { cadenceSteps, eventsAfter } from '../src/train/cadence.js';
import { readMetrics, withoutTiming } from '../src/train/metrics.js';
import { CLI, cli, ensureCliBuilt } from './support/cli.js';

/** 32 training images at batch 8: 4 steps per epoch. */
const SMALL = ['--synthetic-train', '32', '--synthetic-test', '16', '--batch-size', '8', '--warmup-epochs', '0.25', '--threads', '1', '--quiet'];

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-cadence-'));
  ensureCliBuilt();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const steps = (d: string) =>
  readdirSync(join(d, 'checkpoints'))
    .flatMap((f) => (/^step-(\d+)\.safetensors$/.exec(f) ? [Number(f.slice(5, 12))] : []))
    .sort((a, b) => a - b);

describe('cadences', () => {
  it('cadenceSteps and eventsAfter', () => {
    expect([cadenceSteps(1, 156), cadenceSteps(2, 156), cadenceSteps(0.25, 156), cadenceSteps('500steps', 156), cadenceSteps(0.001, 156)]).toEqual([156, 312, 39, 500, 1]);
    expect(eventsAfter(0, 4, 10)).toBe(3); // 4, 8 and the last update 10
    expect(eventsAfter(8, 4, 8)).toBe(0);
    expect(eventsAfter(3, 4, 8)).toBe(2);
  });

  it('--checkpoint-every 0.5 (epochs) and --eval-every 2steps', async () => {
    const d = join(tmp, 'half');
    const r = await cli(['train', ...SMALL, '--steps', '8', '--keep-last', '10', '--checkpoint-every', '0.5', '--eval-every', '2steps', '--out-dir', d]);
    expect(r.code, r.err).toBe(0);
    expect(steps(d)).toEqual([2, 4, 6, 8]);
    const recs = readMetrics(join(d, 'metrics.jsonl'));
    expect(recs.filter((x) => x.type === 'eval').map((x) => [x.step, x.epoch])).toEqual([[2, 0.5], [6, 1.5]]);
    expect(recs.flatMap((x) => (x.type === 'epoch' ? [[x.step, x.testError !== null]] : []))).toEqual([[4, true], [8, true]]);
    // --json prints the same records; the progress display a line per evaluation.
    const j = await cli(['train', ...SMALL, '--steps', '4', '--eval-every', '2steps', '--json', '--out-dir', join(tmp, 'half-json')]);
    expect(j.out.split('\n').filter((l) => l.includes('"type":"eval"')).map((l) => JSON.parse(l).step)).toEqual([2]);
    const p = await cli(['train', ...SMALL.filter((a) => a !== '--quiet'), '--steps', '4', '--eval-every', '2steps', '--out-dir', join(tmp, 'half-plain')]);
    expect(p.out).toMatch(/^step 2\/4 \(epoch 0\.50\): test loss \d\.\d{4} error \d+\.\d%$/m);
  });

  it('--eval-every 3 (epochs) evaluates only at the end of a 2-epoch run; --checkpoint-every 3steps', async () => {
    const d = join(tmp, 'three');
    const r = await cli(['train', ...SMALL, '--steps', '8', '--keep-last', '10', '--checkpoint-every', '3steps', '--eval-every', '3', '--out-dir', d]);
    expect(r.code, r.err).toBe(0);
    expect(steps(d)).toEqual([3, 6, 8]);
    const recs = readMetrics(join(d, 'metrics.jsonl'));
    expect(recs.filter((x) => x.type === 'eval')).toEqual([]);
    expect(recs.flatMap((x) => (x.type === 'epoch' ? [[x.step, x.testError !== null]] : []))).toEqual([[4, false], [8, true]]);
  });

  it('--checkpoint-minutes writes a checkpoint once that time has passed since the last one', async () => {
    const d = join(tmp, 'minutes');
    // A vanishing interval: due after every update.
    const r = await cli(['train', ...SMALL, '--steps', '5', '--keep-last', '10', '--checkpoint-every', '100steps', '--checkpoint-minutes', '1e-9', '--out-dir', d]);
    expect(r.code, r.err).toBe(0);
    expect(steps(d)).toEqual([1, 2, 3, 4, 5]);
    expect(readFileSync(join(d, 'train.log'), 'utf8')).toContain('(1e-9 minutes since the last checkpoint)');
  });

  it('--keep-last keeps the newest checkpoints and the best model they refer to', async () => {
    const d = join(tmp, 'keep');
    const r = await cli(['train', ...SMALL, '--steps', '12', '--keep-last', '2', '--checkpoint-every', '0.5', '--out-dir', d]);
    expect(r.code, r.err).toBe(0);
    expect(steps(d)).toEqual([10, 12]);
    const best = readdirSync(join(d, 'checkpoints')).filter((f) => f.startsWith('best-step-'));
    expect(best.length).toBeGreaterThanOrEqual(1);
    expect(best.length).toBeLessThanOrEqual(2);
  });
});

describe('the best model', () => {
  it('is chosen by the validation error when --val-fraction holds out a split', async () => {
    const d = join(tmp, 'val');
    const r = await cli(['train', ...SMALL, '--synthetic-train', '40', '--val-fraction', '0.2', '--steps', '12', '--eval-every', '1steps', '--out-dir', d]);
    expect(r.code, r.err).toBe(0);
    const evals = readMetrics(join(d, 'metrics.jsonl')).flatMap((x) =>
      x.type === 'eval' || (x.type === 'epoch' && x.testError !== null) ? [{ step: x.step, val: x.valError!, test: x.testError! }] : [],
    );
    expect(evals.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    // The first evaluation with the lowest validation error (a later tie is not better).
    const best = evals.reduce((a, b) => (b.val < a.val ? b : a));
    const summary = JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8'));
    expect([summary.bestStep, summary.bestTestError]).toEqual([best.step, best.test]);
    expect(readSafetensors(join(d, 'best.safetensors')).metadata.step).toBe(String(best.step));
  });
});

/** Runs the binary with --json; SIGKILLs it once a step line with step >= `atStep` shows. */
function runAndKill(args: string[], atStep: number): Promise<{ signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const seen = [...out.matchAll(/"type":"step","step":(\d+)/g)].map((m) => Number(m[1]));
      if (!sent && seen.some((s) => s >= atStep)) {
        sent = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (_code, signal) => resolve({ signal }));
  });
}

describe('exact resume in the middle of an epoch', () => {
  it('kill -9 mid-epoch, then --resume: the same metrics and weights as the uninterrupted run', async () => {
    // 128 images at batch 8: 16 steps per epoch; checkpoints every 5 steps (mid-epoch),
    // evaluations every half epoch.
    const RUN = ['--synthetic-train', '128', '--synthetic-test', '16', '--batch-size', '8', '--warmup-epochs', '0.25', '--threads', '1', '--steps', '24', '--checkpoint-every', '5steps', '--eval-every', '0.5', '--keep-last', '2'];
    const a = join(tmp, 'straight');
    expect((await cli(['train', ...RUN, '--quiet', '--out-dir', a])).code).toBe(0);

    const b = join(tmp, 'killed');
    const killed = await runAndKill(['train', ...RUN, '--json', '--out-dir', b], 7);
    expect(killed.signal).toBe('SIGKILL');
    const r = await cli(['train', '--resume', b, '--quiet']);
    expect(r.code, r.err).toBe(0);
    const from = Number(/resume from \S+ at step (\d+)/.exec(readFileSync(join(b, 'train.log'), 'utf8'))![1]);
    expect(from % 5).toBe(0);
    expect(from % 16).not.toBe(0); // in the middle of an epoch

    const last = (d: string) => readSafetensors(join(d, 'checkpoints', 'step-0000024.safetensors')).tensors;
    const ta = last(a);
    for (const [name, t] of last(b)) {
      expect(Buffer.from(t.data.buffer).equals(Buffer.from(ta.get(name)!.data.buffer)), name).toBe(true);
    }
    expect(readMetrics(join(b, 'metrics.jsonl')).map(withoutTiming)).toEqual(readMetrics(join(a, 'metrics.jsonl')).map(withoutTiming));
  });
});
