// End-to-end tests of `grwarm-native train/eval/info`, run in-process through `main(argv)`.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from '../src/cli.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { createModel } from '../src/model/vit-model.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import type { StopController } from '../src/train/loop.js';
import { readMetrics, withoutTiming, type EpochRecord, type StepRecord } from '../src/train/metrics.js';
import { cli, type CliRun } from './support/cli.js';

/** 256 training images at batch 32: 8 steps per epoch; warmup 2 steps. */
const SMALL = [
  '--model', 'vit-micro',
  '--synthetic-train', '256',
  '--synthetic-test', '64',
  '--batch-size', '32',
  '--warmup-epochs', '0.25',
];

let tmp: string;
const dir = (name: string) => join(tmp, name);

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-cli-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function paramBytes(file: string): Map<string, Buffer> {
  const f = readSafetensors(file);
  const out = new Map<string, Buffer>();
  for (const [name, t] of f.tensors) out.set(name, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return out;
}

describe('train end to end', () => {
  let straight: CliRun;
  beforeAll(async () => {
    straight = await cli(['train', ...SMALL, '--steps', '12', '--out-dir', dir('a')]);
  });

  it('writes config, metrics, summary and loadable checkpoints', () => {
    expect(straight.err).toBe('');
    expect(straight.code).toBe(0);
    const a = dir('a');
    expect(readdirSync(join(a, 'checkpoints')).filter((f) => f.startsWith('step-')).sort()).toEqual(['step-0000008.safetensors', 'step-0000012.safetensors']);
    expect(existsSync(join(a, 'best.safetensors'))).toBe(true);

    const config = JSON.parse(readFileSync(join(a, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model: 'vit-micro', steps: 12, batchSize: 32, syntheticTrain: 256, outDir: a });

    const recs = readMetrics(join(a, 'metrics.jsonl'));
    const steps = recs.filter((r): r is StepRecord => r.type === 'step');
    const epochs = recs.filter((r): r is EpochRecord => r.type === 'epoch');
    expect(steps.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(epochs.map((r) => [r.epoch, r.step, r.steps])).toEqual([[1, 8, 8], [2, 12, 4]]);
    // zero-warmup: no second pass during the 2 warmup steps, every step after.
    expect(steps.map((r) => r.secondPass)).toEqual([false, false, ...Array(10).fill(true)]);
    for (const r of steps) {
      expect(Object.keys(r)).toEqual([
        'type', 'step', 'epoch', 'lr', 'lambda', 'r', 'alpha', 'secondPass', 'loss', 'acc', 'loss2', 'acc2',
        'g1Norm', 'gradNorm', 'gradNormClipped', 'imagesPerSec', 'dataMs', 'stepMs',
      ]);
      expect(Number.isFinite(r.loss) && r.dataMs >= 0 && r.imagesPerSec > 0).toBe(true);
    }
    // an error rate over the 64 test images: a whole number of them, 0 to 64
    for (const e of epochs) {
      const wrong = e.testError! * 64;
      expect(Number.isInteger(wrong) && wrong >= 0 && wrong <= 64, `epoch ${e.epoch}: testError ${e.testError}`).toBe(true);
    }
    expect(epochs[1].g1NormMean).toBeCloseTo(steps.slice(8).reduce((s, r) => s + r.g1Norm, 0) / 4, 12);

    const summary = JSON.parse(readFileSync(join(a, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({
      status: 'complete',
      steps: 12,
      stepsPerEpoch: 8,
      finalTestError: epochs[1].testError,
      finalTestLoss: epochs[1].testLoss,
      model: 'vit-micro',
      trainImages: 256,
      testImages: 64,
    });
    expect(summary.bestTestError).toBe(Math.min(epochs[0].testError!, epochs[1].testError!));
    expect(summary.configHash).toMatch(/^[0-9a-f]{16}$/);

    const lines = straight.out.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^done: test accuracy \d+\.\d% \(error \d+\.\d%\) after 12 steps \(1\.50 epochs\), \d+s; run dir /);
    expect(lines.some((l) => l.startsWith('epoch 1/2 (8 steps): train loss'))).toBe(true);

    // The last checkpoint loads into a fresh model; its metadata describes the run.
    const ck = readCheckpoint(join(a, 'checkpoints', 'step-0000012.safetensors'));
    expect(ck.meta).toMatchObject({ step: 12, epoch: 1, epochStep: 4, configHash: summary.configHash });
    expect(ck.meta.dataOrder).toMatchObject({ epoch: 1, index: 4, stepsPerEpoch: 8, trainCount: 256 });
    expect([...ck.file.tensors.keys()].filter((n) => n.startsWith('optimizer.')).sort()).toEqual([
      'optimizer.exp_avg',
      'optimizer.exp_avg_sq',
    ]);
    const model = createModel(ck.meta.modelConfig);
    model.loadSafetensors(ck.path, ['optimizer.']);
    expect(model.param('head.weight')).toEqual(ck.file.tensors.get('head.weight')!.data);
  });

  it('eval reproduces the final test loss and error from the checkpoint', async () => {
    const r = await cli(['eval', '--checkpoint', join(dir('a'), 'checkpoints', 'step-0000012.safetensors'), '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const res = JSON.parse(r.out);
    const summary = JSON.parse(readFileSync(join(dir('a'), 'summary.json'), 'utf8'));
    expect(res).toMatchObject({ step: 12, images: 64, dataset: 'synthetic', error: summary.finalTestError, loss: summary.finalTestLoss });

    const text = await cli(['eval', '--checkpoint', join(dir('a'), 'best.safetensors')]);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^test loss \d+\.\d{4}, error \d+\.\d{2}% \(accuracy \d+\.\d{2}%\) on 64 synthetic test images; /);
  });

  it('a run stopped mid-epoch and resumed is bit-identical to the straight run', async () => {
    const b = dir('b');
    const first = await cli(['train', ...SMALL, '--steps', '12', '--out-dir', b], (rec, stop) => {
      if (rec.step === 5) stop.request('SIGINT');
    });
    expect(first.code).toBe(130);
    expect(first.err).toContain(`stopped by SIGINT at step 5; checkpoint: ${join(b, 'checkpoints', 'step-0000005.safetensors')}`);
    expect(first.err).toContain(`resume with: grwarm-native train --resume ${b}`);
    expect(JSON.parse(readFileSync(join(b, 'summary.json'), 'utf8'))).toMatchObject({
      status: 'interrupted',
      signal: 'SIGINT',
      step: 5,
      lastCheckpoint: join(b, 'checkpoints', 'step-0000005.safetensors'),
    });
    // Lines of a step past the checkpoint must not survive the resume: fake one.
    writeFileSync(join(b, 'metrics.jsonl'), readFileSync(join(b, 'metrics.jsonl'), 'utf8') + '{"type":"step","step":6}\n');

    const second = await cli(['train', '--resume', b, '--log-every', '100']);
    expect(second.err).toBe('');
    expect(second.code).toBe(0);
    expect(second.out).toContain(`resuming from ${join(b, 'checkpoints', 'step-0000005.safetensors')} at step 5`);

    const a = paramBytes(join(dir('a'), 'checkpoints', 'step-0000012.safetensors'));
    const bb = paramBytes(join(b, 'checkpoints', 'step-0000012.safetensors'));
    expect([...bb.keys()]).toEqual([...a.keys()]);
    for (const [name, bytes] of a) expect(bb.get(name)!.equals(bytes), name).toBe(true);

    const ma = readMetrics(join(dir('a'), 'metrics.jsonl')).map(withoutTiming);
    const mb = readMetrics(join(b, 'metrics.jsonl')).map(withoutTiming);
    expect(mb).toEqual(ma);
    expect(JSON.parse(readFileSync(join(b, 'summary.json'), 'utf8')).status).toBe('complete');
  });

  it('resumes from a checkpoint file into another run directory, bit-identically', async () => {
    const c = dir('c');
    const r = await cli(['train', '--resume', join(dir('a'), 'checkpoints', 'step-0000008.safetensors'), '--out-dir', c, '--quiet']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n')).toHaveLength(1); // --quiet: the final line only
    expect(r.out).toMatch(/^done: test accuracy/);
    const a = paramBytes(join(dir('a'), 'checkpoints', 'step-0000012.safetensors'));
    const cc = paramBytes(join(c, 'checkpoints', 'step-0000012.safetensors'));
    for (const [name, bytes] of a) expect(cc.get(name)!.equals(bytes), name).toBe(true);
    const ma = readMetrics(join(dir('a'), 'metrics.jsonl')).map(withoutTiming).filter((x) => x.step > 8);
    expect(readMetrics(join(c, 'metrics.jsonl')).map(withoutTiming)).toEqual(ma);
  });

  it('refuses flags that change a resumed run, allows harmless ones', async () => {
    const bad = await cli(['train', '--resume', dir('a'), '--model', 'vit-ti', '--lr', '0.001']);
    expect(bad.code).toBe(2);
    expect(bad.err).toBe(
      'error: config: --model: got "vit-ti", but the run being resumed has "vit-micro"; a resumed run keeps ' +
        "its checkpoint's config (only --threads, --device, --out-dir, --data-dir, --checkpoint-every, --keep-last, " +
        '--eval-every, --log-every, --checkpoint-minutes, --tensorboard, --data-workers, --decoded-cache may change)\n',
    );
    const mixed = await cli(['train', '--resume', dir('a'), '--preset', 'quick']);
    expect(mixed.code).toBe(2);
    expect(mixed.err).toBe('error: --resume takes the config from the checkpoint; it cannot be combined with --preset\n');

    const done = await cli(['train', '--resume', dir('a'), '--log-every', '5', '--json']);
    expect(done.code).toBe(0);
    expect(done.err).toContain('nothing to do: the run in');
  });

  it('flags override the config file, which overrides the preset; config.json holds the result', async () => {
    const file = join(tmp, 'run.yaml');
    writeFileSync(file, 'steps: 3\nbatchSize: 32\nsyntheticTrain: 128\nsyntheticTest: 32\nwarmupEpochs: 0\nlr: 0.002\n');
    const r = await cli(['train', '--preset', 'quick', '--config', file, '--lr', '0.003', '--out-dir', dir('p'), '--quiet']);
    expect(r.code, r.err).toBe(0);
    const config = JSON.parse(readFileSync(join(dir('p'), 'config.json'), 'utf8'));
    expect(config).toMatchObject({ steps: 3, batchSize: 32, syntheticTrain: 128, lr: 0.003, model: 'vit-micro', outDir: dir('p') });
  });

  it('--json prints the metrics lines and a summary on stdout', async () => {
    const r = await cli(['train', ...SMALL, '--steps', '3', '--out-dir', dir('j'), '--json', '--eval-every', '5']);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.type)).toEqual(['step', 'step', 'step', 'epoch', 'summary']);
    const file = readFileSync(join(dir('j'), 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(r.out.trim().split('\n').slice(0, 4)).toEqual(file);
  });
});

describe('train: errors', () => {
  it('unknown flag: exit 2 with a suggestion', async () => {
    const r = await cli(['train', '--lrr', '1']);
    expect(r.code).toBe(2);
    expect(r.err).toBe("error: unknown option '--lrr'\n(Did you mean --lr?)\n");
  });

  it('bad enum value: exit 2 naming the flag and the choices', async () => {
    const r = await cli(['train', '--gr', 'zero', '--out-dir', dir('never')]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      'error: config: --gr: got "zero", expected one of "none", "gr", "sam", "r-warmup", "lambda-warmup", "zero-warmup"\n',
    );
    expect(existsSync(dir('never'))).toBe(false);
  });

  it('config file with an unknown key: exit 2 naming the file', async () => {
    const file = join(tmp, 'bad.yaml');
    writeFileSync(file, 'learningRate: 0.001\nepochs: 2\n');
    const r = await cli(['train', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`error: config: ${file}: unknown key "learningRate" (did you mean "lr"?)\n`);
  });

  it('warmup longer than the run: clipped to the run with a warning (issue 22 item 4); --warmup-steps', async () => {
    const r = await cli(['train', ...SMALL, '--warmup-epochs', '1', '--steps', '6', '--out-dir', dir('w')]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(
      "note: --warmup-epochs 1 (8 steps at 8 steps per epoch) is longer than the run's 6 steps (--steps 6): the warmup is clipped to 6 steps\n",
    );
    const lr = (d: string) => readMetrics(join(d, 'metrics.jsonl')).flatMap((x) => (x.type === 'step' ? [x.lr] : []));
    // Clipped: the same schedule as a warmup of exactly the run's 6 steps.
    const six = await cli(['train', ...SMALL, '--warmup-steps', '6', '--steps', '6', '--out-dir', dir('w6')]);
    expect(six.code, six.err).toBe(0);
    expect(lr(dir('w'))).toHaveLength(6);
    expect(lr(dir('w'))).toEqual(lr(dir('w6')));
    // --warmup-steps 3 overrides --warmup-epochs and is the same as --warmup-epochs 0.375 (3 of 8 steps).
    const a = await cli(['train', ...SMALL, '--warmup-steps', '3', '--steps', '6', '--out-dir', dir('ws')]);
    expect(a.code, a.err).toBe(0);
    expect(a.err).not.toContain('warmup');
    const b = await cli(['train', ...SMALL, '--warmup-epochs', '0.375', '--steps', '6', '--out-dir', dir('we')]);
    expect(b.code, b.err).toBe(0);
    expect(lr(dir('ws'))).toEqual(lr(dir('we')));
    const long = await cli(['train', ...SMALL, '--warmup-steps', '100', '--steps', '6', '--out-dir', dir('wl')]);
    expect(long.err).toContain("note: --warmup-steps 100 is longer than the run's 6 steps (--steps 6): the warmup is clipped to 6 steps\n");
  });

  it('a learning rate beyond the native limit: exit 2', async () => {
    const r = await cli(['train', ...SMALL, '--lr', '1e30', '--out-dir', dir('lr')]);
    expect(r.code).toBe(2);
    expect(r.err).toBe('error: config: --lr: got 1e+30, expected at most 1000000 (the largest value the native step accepts)\n');
  });

  it('an existing run directory or a missing --resume path: exit 2', async () => {
    const used = await cli(['train', ...SMALL, '--steps', '2', '--out-dir', dir('a')]);
    expect(used.code).toBe(2);
    expect(used.err).toMatch(/^error: run directory .* already holds a run; continue it with `grwarm-native train --resume /);
    const missing = await cli(['train', '--resume', join(tmp, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toBe(`error: --resume ${join(tmp, 'nope')}: no such file or directory\n`);
    const notCkpt = join(tmp, 'x.safetensors');
    writeFileSync(notCkpt, 'garbage!garbage!');
    const ev = await cli(['eval', '--checkpoint', notCkpt]);
    expect(ev.code).toBe(2);
    expect(ev.err).toMatch(/^error: .*x\.safetensors: not a valid safetensors file: /);
  });

  it('a diverging run stops with a clear message, exit 1, the last checkpoint intact', async () => {
    const d = dir('nan');
    const r = await cli([
      'train', '--synthetic-train', '64', '--synthetic-test', '32', '--batch-size', '32', '--epochs', '5',
      '--warmup-epochs', '0', '--optimizer', 'sgd', '--lr', '1e5', '--schedule', 'constant', '--clip', '0',
      '--gr', 'none', '--out-dir', d,
    ]);
    expect(r.code).toBe(1);
    const m = /^error: training diverged at step (\d+) \(epoch (\d+)\): the (loss|gradient) is not finite/.exec(r.err);
    expect(m, r.err).not.toBeNull();
    const step = Number(m![1]);
    expect(step).toBeGreaterThan(2);
    const ckpts = readdirSync(join(d, 'checkpoints'));
    const last = ckpts.sort().at(-1)!;
    expect(r.err).toContain(`The last good checkpoint is ${join(d, 'checkpoints', last)}`);
    const ck = readCheckpoint(join(d, 'checkpoints', last));
    expect(ck.meta.step).toBeLessThan(step);
    for (const t of ck.file.tensors.values()) expect((t.data as Float32Array).every(Number.isFinite)).toBe(true);
    expect(existsSync(join(d, 'summary.json'))).toBe(false);
    const steps = readMetrics(join(d, 'metrics.jsonl')).filter((x) => x.type === 'step');
    expect(steps.at(-1)!.step).toBe(step - 1); // nothing recorded for the failed step
  });
});

describe('info, help, presets', () => {
  it('info prints version and backend, --json too', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    const text = await cli(['info']);
    expect(text.code).toBe(0);
    expect(text.out).toContain(`grwarm-native ${pkg.version}\n`);
    expect(text.out).toMatch(/\ncuda: +(available|not available: .+)\n/);
    const json = await cli(['info', '--json']);
    expect(JSON.parse(json.out)).toMatchObject({ version: pkg.version, backend: expect.any(String), simd: expect.any(String), cuda: expect.any(Boolean) });
  });

  it('--help documents exit codes; --list-presets lists presets', async () => {
    const h = await cli(['train', '--help']);
    expect(h.code).toBe(0);
    expect(h.out).toContain('Exit codes:');
    expect(h.out).toContain('--synthetic-train <n>');
    expect(h.out).toContain('--no-augment');
    const top = await cli(['--help']);
    expect(top.out).toContain('Commands:');
    const p = await cli(['train', '--list-presets']);
    expect(p.code).toBe(0);
    expect(p.out).toMatch(/^paper-cifar10 +the paper's CIFAR-10 recipe/m);
    const unknownCmd = await cli(['fly']);
    expect(unknownCmd.code).toBe(2);
    expect(unknownCmd.err).toBe("error: unknown command 'fly'\n");
  });
});
