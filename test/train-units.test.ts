// Unit tests of the training-loop helpers: plan, metrics file, run directory, progress, checkpoints.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../src/config/index.js';
import { makeSynthetic } from '../src/data/index.js';
import { createModel } from '../src/model/vit-model.js';
import { readCheckpoint, readCheckpointMeta, restoreCheckpoint, saveCheckpoint, type CheckpointMeta } from '../src/train/checkpoint.js';
import { UsageError } from '../src/train/errors.js';
import { emptyEpochSums, MetricsLog, readMetrics, truncateMetrics, type StepRecord } from '../src/train/metrics.js';
import { configHash, planRun } from '../src/train/plan.js';
import { formatAccuracy, formatDuration, formatPercent, Progress } from '../src/train/progress.js';
import { checkpointFileName, listCheckpoints, locateResume, prepareNewRunDir, pruneCheckpoints } from '../src/train/run-dir.js';
import { Trainer } from '../src/train/trainer.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-units-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const train = makeSynthetic({ seed: 0, trainCount: 100, testCount: 10 }).train;

describe('planRun', () => {
  it('counts steps and warmup from epochs, maps the GR policy', () => {
    const cfg = resolveConfig({ overrides: { epochs: 3, batchSize: 32, warmupEpochs: 1.5, gr: 'sam', r: 0.05, lambda: 0.3 } });
    const p = planRun(cfg, train);
    expect([p.stepsPerEpoch, p.totalSteps, p.warmupSteps, p.epochs]).toEqual([3, 9, 5, 3]); // round(4.5) = 5
    expect(p.trainer.gr).toEqual({ policy: 'sam', lambda0: 0.05, r0: 0.05, warmupSteps: 5, stepOrigin: 0 }); // SAM: lambda = r
    expect(p.trainer.schedule).toEqual({ form: 'paper', lr0: 1e-3, warmupSteps: 5, totalSteps: 9 });
    expect(p.trainer.optimizer).toMatchObject({ kind: 'adam', rho: 0.9, clip: 2, weightDecay: 0.05 });
    expect(p.modelConfig).toMatchObject({ channels: 3, numClasses: 10, imageSize: 32, width: 64 });

    const none = planRun(resolveConfig({ overrides: { gr: 'none', lambda: 0.5, batchSize: 32 } }), train);
    expect(none.trainer.gr.lambda0).toBe(0);
    const steps = planRun(resolveConfig({ overrides: { steps: 7, batchSize: 32, warmupEpochs: 0 } }), train);
    expect([steps.totalSteps, steps.epochs]).toEqual([7, 3]);
  });

  it('clips warmup past the run (with a note) and rejects a batch larger than the data', () => {
    const cfg = resolveConfig({ overrides: { steps: 2, batchSize: 32, warmupEpochs: 1 } });
    const p = planRun(cfg, train);
    expect([p.warmupSteps, p.trainer.schedule.warmupSteps, p.trainer.gr.warmupSteps]).toEqual([2, 2, 2]);
    expect(p.notes).toEqual(["--warmup-epochs 1 (3 steps at 3 steps per epoch) is longer than the run's 2 steps (--steps 2): the warmup is clipped to 2 steps"]);
    expect(planRun(resolveConfig({ overrides: { epochs: 2, batchSize: 32, warmupEpochs: 5 } }), train).warmupSteps).toBe(6);
    expect(planRun(resolveConfig({ overrides: { epochs: 2, batchSize: 32, warmupSteps: 4 } }), train).warmupSteps).toBe(4);
    expect(() => planRun(resolveConfig({ overrides: { batchSize: 101 } }), train)).toThrow(
      'config: --batch-size: got 101, expected at most the 100 training images (the last partial batch is dropped)',
    );
  });

  it('config hash ignores where the run is kept', () => {
    const a = resolveConfig({ overrides: { outDir: 'x', threads: 1 } });
    const b = resolveConfig({ overrides: { outDir: 'y', threads: 2, logEvery: 3 } });
    const c = resolveConfig({ overrides: { outDir: 'x', lr: 2e-3 } });
    expect(configHash(a)).toBe(configHash(b));
    expect(configHash(a)).not.toBe(configHash(c));
  });
});

describe('metrics file', () => {
  it('appends lines and truncates back to a step, dropping a torn last line', () => {
    const path = join(tmp, 'm.jsonl');
    const log = new MetricsLog(path);
    for (let s = 1; s <= 4; s++) log.append({ type: 'step', step: s } as StepRecord);
    log.close();
    writeFileSync(path, readFileSync(path, 'utf8') + '{"type":"ep');
    expect(readMetrics(path).map((r) => r.step)).toEqual([1, 2, 3, 4]);
    expect(truncateMetrics(path, 2)).toBe(2);
    expect(readFileSync(path, 'utf8')).toBe('{"type":"step","step":1}\n{"type":"step","step":2}\n');
  });
});

describe('run directory', () => {
  it('lists, prunes and locates checkpoints; refuses a used directory', () => {
    const d = join(tmp, 'run');
    prepareNewRunDir(d).lock.release();
    expect(() => locateResume(d)).toThrow(UsageError);
    for (const s of [3, 12, 7]) writeFileSync(join(d, 'checkpoints', checkpointFileName(s)), '');
    writeFileSync(join(d, 'config.json'), '{}');
    expect(() => prepareNewRunDir(d)).toThrow(/already holds a run/);
    expect(listCheckpoints(d).map((c) => c.step)).toEqual([3, 7, 12]);
    expect(locateResume(d)).toEqual({ checkpoint: join(d, 'checkpoints', 'step-0000012.safetensors'), runDir: d });
    expect(pruneCheckpoints(d, 2)).toEqual([join(d, 'checkpoints', 'step-0000003.safetensors')]);
    expect(locateResume(join(d, 'checkpoints', 'step-0000007.safetensors')).runDir).toBe(d);
    const loose = join(tmp, 'loose');
    mkdirSync(loose);
    writeFileSync(join(loose, 'c.safetensors'), '');
    expect(locateResume(join(loose, 'c.safetensors')).runDir).toBeUndefined();
  });
});

describe('progress', () => {
  it('formats durations', () => {
    expect([formatDuration(4.4), formatDuration(133), formatDuration(3725)]).toEqual(['4s', '2m13s', '1h02m']);
    expect([formatPercent(0.0425), formatAccuracy(0.0425), formatAccuracy(0.06612, 2)]).toEqual(['4.3%', '95.7%', '93.39%']);
  });

  it('TTY mode redraws one line at most every 100 ms; plain mode logs every logEvery steps', () => {
    let now = 0;
    let tty = '';
    const p = new Progress('tty', { write: (s: string) => (tty += s), isTTY: true }, { write: () => 0 }, 5, () => now);
    const rec = (step: number) => ({ type: 'step', step, epoch: 1, loss: 1, acc: 0.5, lr: 1e-3, imagesPerSec: 100, secondPass: false }) as StepRecord;
    const ctx = { totalSteps: 10, epochs: 1, etaSec: 30 };
    for (let s = 1; s <= 10; s++) {
      p.step(rec(s), ctx);
      now += 40;
    }
    const draws = tty.split('\r').filter((x) => x.startsWith('epoch'));
    expect(draws.map((d) => /step (\d+)/.exec(d)![1])).toEqual(['1', '4', '7', '10']);
    expect(draws[0]).toBe('epoch 1/1 step 1/10 loss 1.0000 acc 50.0% lr 1.00e-3 100 img/s ETA 30s\x1b[K');

    let plain = '';
    const q = new Progress('plain', { write: (s: string) => (plain += s) }, { write: () => 0 }, 4);
    for (let s = 1; s <= 10; s++) q.step(rec(s), ctx);
    expect(plain.trim().split('\n').map((l) => /step (\d+)/.exec(l)![1])).toEqual(['4', '8', '10']);
  });
});

describe('checkpoints', () => {
  it('round-trips parameters, optimizer state and update count; never writes non-finite parameters', async () => {
    const cfg = resolveConfig({ overrides: { batchSize: 4 } });
    const model = createModel('vit-micro', { seed: 1 });
    const tr = new Trainer(model, {
      optimizer: { kind: 'adam' },
      schedule: { form: 'constant', lr0: 1e-3, warmupSteps: 0, totalSteps: 10 },
      gr: { policy: 'none', lambda0: 0, r0: 0, warmupSteps: 0 },
      seed: 0,
    });
    const images = new Float32Array(4 * 3 * 32 * 32).map((_, i) => Math.sin(i));
    await tr.step({ images, labels: new Int32Array([0, 1, 2, 3]) });
    const meta: CheckpointMeta = {
      step: 1,
      epoch: 0,
      epochStep: 1,
      dataOrder: { seed: 0, epoch: 0, index: 1, batchSize: 4, stepsPerEpoch: 25, trainCount: 100 },
      config: cfg,
      configHash: configHash(cfg),
      modelConfig: model.config,
      state: { epochSums: emptyEpochSums(), best: null, elapsedSec: 1.5 },
      producer: 'test',
      createdAt: 'now',
    };
    const path = join(tmp, 'c.safetensors');
    saveCheckpoint(path, model, meta);
    expect(readCheckpointMeta(path)).toEqual(meta);

    const other = createModel('vit-micro', { seed: 2 });
    new Trainer(other, tr.config);
    restoreCheckpoint(other, readCheckpoint(path));
    expect(other.optimizerSteps).toBe(1);
    expect(Buffer.from(other.params.buffer).equals(Buffer.from(model.params.buffer))).toBe(true);
    expect(other.optimizerState()[1].data).toEqual(model.optimizerState()[1].data);

    model.editParams((p) => {
      p[0] = NaN;
    });
    const bad = join(tmp, 'bad.safetensors');
    expect(() => saveCheckpoint(bad, model, meta)).toThrow(/parameters are not finite/);
    expect(existsSync(bad)).toBe(false);
    expect(() => readCheckpoint(join(tmp, 'nothing.safetensors'))).toThrow('nothing.safetensors: no such file');
  });
});
