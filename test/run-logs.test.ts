// Logs for other tools (issue 22 item 7): summary.csv per epoch, TensorBoard event files
// read back by an independent reader (test/support/read_tfevents.py: its own CRC-32C and
// protobuf parsing), plain line-per-update progress off a terminal and under MPI, and the
// start line naming the device and why (item 8).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from '../src/cli.js';
import { crc32c } from '../src/io/tfevents.js';
import { readMetrics, type EpochRecord, type StepRecord } from '../src/train/metrics.js';
import { CSV_COLUMNS } from '../src/train/side-logs.js';
import { cli, ROOT } from './support/cli.js';

const SMALL = ['--synthetic-train', '32', '--synthetic-test', '16', '--batch-size', '8', '--warmup-epochs', '0.25', '--threads', '1'];

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-logs-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type PyEvent = { step: number; file_version?: string; session_start?: boolean; values: Record<string, number> };
const readEvents = (file: string): PyEvent[] =>
  execFileSync('python3', [join(ROOT, 'test', 'support', 'read_tfevents.py'), file], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as PyEvent);
const f32 = (x: number) => Math.fround(x);

describe('summary.csv', () => {
  it("one row per epoch with timm's columns first; after a resume exactly the epochs of metrics.jsonl", async () => {
    const d = join(tmp, 'csv');
    const r = await cli(['train', ...SMALL, '--steps', '12', '--eval-every', '2', '--quiet', '--out-dir', d], (rec, stop) => rec.step === 6 && stop.request('SIGINT'));
    expect(r.code).toBe(130);
    expect((await cli(['train', '--resume', d, '--quiet'])).code).toBe(0);
    const [head, ...rows] = readFileSync(join(d, 'summary.csv'), 'utf8').trim().split('\n');
    expect(head.split(',').slice(0, 5)).toEqual(['epoch', 'train_loss', 'eval_loss', 'eval_top1', 'lr']);
    expect(head.split(',')).toEqual([...CSV_COLUMNS]);
    const epochs = readMetrics(join(d, 'metrics.jsonl')).filter((x): x is EpochRecord => x.type === 'epoch');
    expect(rows).toHaveLength(3);
    rows.forEach((row, i) => {
      const c = Object.fromEntries(row.split(',').map((v, j) => [CSV_COLUMNS[j], v]));
      const e = epochs[i];
      expect(Number(c.epoch)).toBe(e.epoch);
      expect(Number(c.train_loss)).toBe(e.trainLoss);
      expect(Number(c.lr)).toBe(e.lr);
      // --eval-every 2: epoch 1 has no evaluation (empty cells), epochs 2 and 3 (the end) have.
      if (e.testError === null) expect([c.eval_loss, c.eval_top1]).toEqual(['', '']);
      else expect([Number(c.eval_loss), Number(c.eval_top1)]).toEqual([e.testLoss, Math.round((1 - e.testError) * 1e6) / 1e4]);
    });
    expect(epochs.map((e) => e.testError !== null)).toEqual([false, true, true]);
  });
});

describe('--tensorboard', () => {
  it('CRC-32C check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('writes event files that an independent reader decodes to the values of metrics.jsonl', async () => {
    const d = join(tmp, 'tb');
    const r = await cli(['train', ...SMALL, '--steps', '8', '--log-every', '1', '--tensorboard', '--quiet', '--out-dir', d]);
    expect(r.code, r.err).toBe(0);
    const files = readdirSync(join(d, 'tensorboard'));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^events\.out\.tfevents\.\d{10}\.[^.]+/);
    const events = readEvents(join(d, 'tensorboard', files[0]));
    expect(events[0].file_version).toBe('brain.Event:2');
    const recs = readMetrics(join(d, 'metrics.jsonl'));
    const steps = recs.filter((x): x is StepRecord => x.type === 'step');
    const at = (step: number, tag: string) => events.find((e) => e.step === step && tag in e.values)?.values[tag];
    for (const s of steps) {
      expect(at(s.step, 'train/loss')).toBe(f32(s.loss));
      expect(at(s.step, 'train/acc')).toBe(f32(s.acc));
      expect(at(s.step, 'train/lr')).toBe(f32(s.lr));
      expect(at(s.step, 'gr/lambda')).toBe(f32(s.lambda));
      expect(at(s.step, 'gr/r')).toBe(f32(s.r));
      expect(at(s.step, 'grad/g1_norm')).toBe(f32(s.g1Norm));
      expect(at(s.step, 'time/step_ms')).toBe(f32(s.stepMs));
      expect(at(s.step, 'train/loss2')).toBe(s.loss2 === null ? undefined : f32(s.loss2));
    }
    for (const e of recs.filter((x): x is EpochRecord => x.type === 'epoch')) {
      expect(at(e.step, 'epoch/train_loss')).toBe(f32(e.trainLoss));
      expect(at(e.step, 'eval/test_loss')).toBe(f32(e.testLoss!));
      expect(at(e.step, 'eval/test_acc')).toBe(f32(1 - e.testError!));
    }
  });

  it('a resumed session starts its own file with a SessionLog START after the checkpoint', async () => {
    const d = join(tmp, 'tb-resume');
    expect((await cli(['train', ...SMALL, '--steps', '8', '--tensorboard', '--quiet', '--out-dir', d], (rec, stop) => rec.step === 3 && stop.request('SIGINT'))).code).toBe(130);
    expect((await cli(['train', '--resume', d, '--quiet'])).code).toBe(0);
    const files = readdirSync(join(d, 'tensorboard')).sort();
    expect(files).toHaveLength(2);
    // TensorBoard takes the first START of a run as its start, a later one as a restart that
    // drops the events of steps >= its step.
    expect(readEvents(join(d, 'tensorboard', files[0]))[1]).toMatchObject({ step: 1, session_start: true });
    expect(readEvents(join(d, 'tensorboard', files[1]))[1]).toMatchObject({ step: 4, session_start: true });
  });
});

/** The CLI in-process with a stdout that claims to be a terminal. */
async function ttyRun(argv: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = {
    stdout: { write: (s: string) => (out += s), isTTY: true, columns: 200 } as CliIO['stdout'],
    stderr: { write: (s: string) => (err += s), isTTY: true } as CliIO['stderr'],
    env,
    handleSignals: false,
  };
  return { code: await main(argv, io), out, err };
}

describe('progress output', () => {
  it('a terminal gets in-place updates; under an MPI launcher or TERM=dumb, plain lines', async () => {
    const args = ['train', ...SMALL, '--steps', '4', '--log-every', '1'];
    const tty = await ttyRun([...args, '--out-dir', join(tmp, 'tty')], {});
    expect(tty.code, tty.err).toBe(0);
    expect(tty.out).toContain('\r');
    for (const env of [{ OMPI_COMM_WORLD_SIZE: '2' }, { PMI_SIZE: '2' }, { TERM: 'dumb' }]) {
      const r = await ttyRun([...args, '--out-dir', join(tmp, `plain-${Object.keys(env)[0]}`)], env);
      expect(r.code, r.err).toBe(0);
      expect(r.out).not.toMatch(/\r|\x1b\[K/);
      expect(r.out.split('\n').filter((l) => /^epoch 1\/1 step \d\/4 /.test(l))).toHaveLength(4);
    }
  });

  it('the start line names the device and why it was chosen', async () => {
    const auto = await cli(['train', ...SMALL, '--steps', '1', '--out-dir', join(tmp, 'dev-auto')]);
    expect(auto.code, auto.err).toBe(0);
    expect(auto.out.split('\n')[0]).toMatch(/, device (cpu \(auto: CUDA not used: .+\)|cuda \(auto: CUDA available\))$/);
    const cpu = await cli(['train', ...SMALL, '--steps', '1', '--device', 'cpu', '--out-dir', join(tmp, 'dev-cpu')]);
    expect(cpu.out.split('\n')[0]).toMatch(/, device cpu \(--device cpu\)$/);
  });
});
