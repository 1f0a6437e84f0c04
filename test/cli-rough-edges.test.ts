// The CLI rough edges of issue 10, item 7: each behaviour a new user tripped over, fixed or
// documented, with a test that fails when it comes back.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { warnIfOversubscribed, type CliIO } from '../src/cli/common.js';
import * as lib from '../src/index.js';
import { createModel } from '../src/model/vit-model.js';
import { EtaEstimator, evaluationsAfter, GR_COST_RATIO } from '../src/train/eta.js';
import { resolveConfig } from '../src/config/index.js';
import { trainRun } from '../src/train/loop.js';
import type { StepRecord } from '../src/train/metrics.js';
import { describeRunLength, describeSpan, Progress, type ProgressContext } from '../src/train/progress.js';
import { appendRunLog, prepareNewRunDir, removeUnstartedRunDir } from '../src/train/run-dir.js';
import { cli, ROOT } from './support/cli.js';

/** 256 training images at batch 32: 8 steps per epoch; warmup 2 steps. */
const SMALL = ['--synthetic-train', '256', '--synthetic-test', '64', '--batch-size', '32', '--warmup-epochs', '0.25'];

let tmp: string;
const dir = (name: string) => join(tmp, name);
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-rough-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs `fn` with `cwd` as the working directory (default run directories are relative to it). */
async function inDir<T>(cwd: string, fn: () => Promise<T>): Promise<T> {
  const before = process.cwd();
  process.chdir(cwd);
  try {
    return await fn();
  } finally {
    process.chdir(before);
  }
}

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
// The user docs: the README and the CLI reference it links to.
const README = ['README.md', 'docs/cli.md', 'docs/library-api.md'].map((f) => readFileSync(join(ROOT, f), 'utf8')).join('\n');

describe('1. --config <run dir>/config.json repeats the run', () => {
  it('in a new runs/<timestamp> directory, with the same numbers; --out-dir still chooses', async () => {
    const work = dir('repeat');
    mkdirSync(work);
    await inDir(work, async () => {
      const first = await cli(['train', ...SMALL, '--steps', '3', '--out-dir', 'orig', '--quiet']);
      expect(first.code, first.err).toBe(0);
      const again = await cli(['train', '--config', join('orig', 'config.json'), '--quiet']);
      expect(again.code, again.err).toBe(0);
      const made = readdirSync(join(work, 'runs'));
      expect(made).toHaveLength(1);
      expect(made[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$/);
      expect(again.err).toBe(
        `note: orig/config.json is the stored config of the run in orig; repeating it in a new run directory ` +
          `runs/${made[0]} (--out-dir chooses another)\n`,
      );
      const a = readJson(join(work, 'orig', 'summary.json'));
      const b = readJson(join(work, 'runs', made[0], 'summary.json'));
      expect(b.finalTestLoss).toBe(a.finalTestLoss);
      expect(b.configHash).toBe(a.configHash);
      expect(readJson(join(work, 'runs', made[0], 'config.json')).outDir).toBe(`runs/${made[0]}`);

      const chosen = await cli(['train', '--config', join('orig', 'config.json'), '--out-dir', 'mine', '--quiet']);
      expect(chosen.code, chosen.err).toBe(0);
      expect(chosen.err).toBe('');
      expect(existsSync(join(work, 'mine', 'summary.json'))).toBe(true);
      // An explicit --out-dir that holds a run is still refused.
      const used = await cli(['train', '--config', join('orig', 'config.json'), '--out-dir', 'orig', '--quiet']);
      expect(used.code).toBe(2);
      expect(used.err).toMatch(/error: run directory orig already holds a run/);
    });
  });

  it('is what README and --help say', async () => {
    expect(README).toContain('**Repeating a run.** `--config <run dir>/config.json` runs the same configuration again');
    expect(README).toContain('the repeat goes to a new `runs/<timestamp>`');
    const h = await cli(['train', '--help']);
    expect(h.out).toContain('Repeating a run: --config <run dir>/config.json');
  });
});

describe('2. a run that fails before it starts leaves nothing behind', () => {
  it('data that fail to load: no run directory, not even its parents', async () => {
    const r = await cli(['train', '--dataset', 'mnist', '--data-dir', dir('no-such-data'), '--out-dir', join(dir('p1'), 'deep', 'run')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`no-such-data does not exist`);
    expect(existsSync(dir('p1'))).toBe(false);

    const work = dir('default-out');
    mkdirSync(work);
    const d = await inDir(work, () => cli(['train', '--dataset', 'mnist', '--data-dir', dir('no-such-data')]));
    expect(d.code).toBe(1);
    expect(readdirSync(work)).toEqual([]); // no runs/<timestamp>/checkpoints/
  });

  it('a config that does not fit the data: nothing created either', async () => {
    const r = await cli(['train', ...SMALL, '--batch-size', '1000', '--out-dir', dir('p2')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--batch-size: got 1000, expected at most the 256 training images');
    expect(existsSync(dir('p2'))).toBe(false);
  });

  it('a later failure before the first step removes exactly what the run created', () => {
    // A new directory (and parent) made by this run: all gone.
    const run = prepareNewRunDir(join(dir('p3'), 'a', 'run'));
    appendRunLog(run.paths.dir, 'error: could not create the model');
    run.lock.release();
    expect(removeUnstartedRunDir(run)).toEqual([join(dir('p3'), 'a', 'run', 'checkpoints'), join(dir('p3'), 'a', 'run'), join(dir('p3'), 'a'), dir('p3')]);
    expect(existsSync(dir('p3'))).toBe(false);

    // A directory that existed (with the user's file): only the checkpoints/ it made goes; train.log tells what failed.
    const mine = dir('p4');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'mine');
    const r2 = prepareNewRunDir(mine);
    appendRunLog(mine, 'error: could not create the model');
    r2.lock.release();
    expect(removeUnstartedRunDir(r2)).toEqual([join(mine, 'checkpoints')]);
    expect(readdirSync(mine).sort()).toEqual(['notes.txt', 'train.log']);

    // A run that started (config.json written) is never removed.
    const r3 = prepareNewRunDir(dir('p5'));
    writeFileSync(r3.paths.config, '{}');
    r3.lock.release();
    expect(removeUnstartedRunDir(r3)).toEqual([]);
    expect(existsSync(r3.paths.checkpoints)).toBe(true);
  });
});

describe('3. --data-dir with the synthetic data set', () => {
  it('is refused, naming where the value came from', async () => {
    const r = await cli(['train', '--data-dir', '/nonexistent', '--out-dir', dir('s1')]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      'error: config: --data-dir: got "/nonexistent", but data set "synthetic" is generated in memory and reads no files; ' +
        'drop the data directory, or choose a data set read from files with --dataset (cifar10, cifar100, fashion-mnist, mnist, imagefolder, tinyimagenet, imagenet)\n',
    );
    expect(existsSync(dir('s1'))).toBe(false);

    const file = join(tmp, 'with-dir.yaml');
    writeFileSync(file, 'dataDir: /data/x\nsteps: 2\n');
    const f = await cli(['train', '--config', file, '--out-dir', dir('s2')]);
    expect(f.code).toBe(2);
    expect(f.err).toMatch(new RegExp(`^error: config: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: dataDir: got "/data/x", but data set "synthetic"`));
  });

  it('eval and --resume refuse it too; a synthetic-only flag with a file data set gets a note', async () => {
    const d = dir('s3');
    expect((await cli(['train', ...SMALL, '--steps', '2', '--out-dir', d, '--quiet'])).code).toBe(0);
    const ev = await cli(['eval', '--checkpoint', join(d, 'best.safetensors'), '--data-dir', '/x']);
    expect(ev.code).toBe(2);
    expect(ev.err).toContain('error: config: --data-dir: got "/x", but data set "synthetic" is generated in memory');
    const res = await cli(['train', '--resume', join(d, 'best.safetensors'), '--out-dir', dir('s4'), '--data-dir', '/x']);
    expect(res.code).toBe(2);
    expect(res.err).toContain('--data-dir: got "/x", but data set "synthetic"');
    expect(existsSync(dir('s4'))).toBe(false);

    const fm = await cli(['train', '--dataset', 'mnist', '--data-dir', dir('no-such-data'), '--synthetic-train', '100']);
    expect(fm.err).toContain('note: --synthetic-train applies to --dataset synthetic only; data set mnist ignores it\n');
  });
});

describe('4. short tries: subsets and --steps', () => {
  it('the start line says what --steps gives', async () => {
    expect(describeRunLength(200, 937, 64, 94)).toBe('200 steps (0.21 of an epoch of 937 steps, batch 64; warmup 94)');
    expect(describeRunLength(1000, 937, 64, 937)).toBe('1000 steps (1.07 epochs of 937 steps, batch 64; warmup 937)');
    expect(describeRunLength(780, 156, 64, 156)).toBe('5 epochs x 156 steps of batch 64 = 780 steps (warmup 156)');
    expect(describeRunLength(1, 937, 64, 0)).toBe('1 steps (0.001 of an epoch of 937 steps, batch 64; warmup 0)');
    expect(describeSpan(200, 937)).toBe('200 steps (0.21 of an epoch)');
    expect(describeSpan(12, 8)).toBe('12 steps (1.50 epochs)');

    const r = await cli(['train', ...SMALL, '--train-subset', '200', '--test-subset', '40', '--steps', '3', '--out-dir', dir('h1')]);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(/ on synthetic \(200 train \/ 40 test images\) /);
    expect(lines[1]).toBe(`3 steps (0.50 of an epoch of 6 steps, batch 32; warmup 2); run dir ${dir('h1')}`);
    expect(lines.at(-2)).toMatch(/^done: .* after 3 steps \(0\.50 of an epoch\), /);
  });

  it('subsets are documented in --help and README', async () => {
    const h = await cli(['train', '--help']);
    expect(h.out).toContain('--train-subset <n>');
    expect(h.out).toContain('--test-subset <n>');
    expect(h.out).toContain('A short try on a real data set');
    expect(README).toContain('--train-subset');
    expect(README).toContain('--test-subset');
  });
});

describe('5. eval and summary.json agree on the epoch', () => {
  it('a checkpoint after 3 of the 8 steps of epoch 1 is epoch 1 everywhere', async () => {
    const d = dir('e1');
    expect((await cli(['train', ...SMALL, '--steps', '3', '--out-dir', d, '--quiet'])).code).toBe(0);
    const summary = readJson(join(d, 'summary.json'));
    expect(summary.bestEpoch).toBe(1);
    expect(readFileSync(join(d, 'train.log'), 'utf8')).toMatch(/best test error [\d.]+% at epoch 1: /);
    const j = await cli(['eval', '--checkpoint', join(d, 'best.safetensors'), '--json']);
    expect(j.code, j.err).toBe(0);
    expect(JSON.parse(j.out)).toMatchObject({ step: 3, epoch: summary.bestEpoch, weightsOnly: false });
    const t = await cli(['eval', '--checkpoint', join(d, 'best.safetensors')]);
    expect(t.out).toContain(`(step 3, epoch 1 at 3 of its 8 steps, vit-micro)`);
  });
});

describe('6. --threads beyond the CPUs', () => {
  it('warns on stderr and goes on', async () => {
    let err = '';
    const io = { stderr: { write: (s: string) => (err += s) } } as unknown as CliIO;
    expect(warnIfOversubscribed(io, 999, '--threads', 2)).toBe(true);
    expect(err).toBe(
      'warning: --threads 999 is more than the 2 CPUs available to this process (os.availableParallelism()); ' +
        'going on with 999 threads, which oversubscribes the CPUs and is usually slower (--threads 0 picks the number automatically)\n',
    );
    expect(warnIfOversubscribed(io, 2, '--threads', 2)).toBe(false);
    expect(warnIfOversubscribed(io, 0, undefined, 2)).toBe(false);

    const n = availableParallelism() + 1;
    const r = await cli(['train', ...SMALL, '--steps', '2', '--threads', String(n), '--out-dir', dir('t1'), '--quiet']);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`warning: --threads ${n} is more than the ${n - 1} CPU`);
    const h = await cli(['train', '--help']);
    expect(h.out).toContain('--threads larger than the CPUs available (os.availableParallelism()) is allowed');
  });
});

describe('7. an interrupted run writes summary.json', () => {
  it('with status "interrupted", the step, the best result so far and how to resume; resuming replaces it', async () => {
    const d = dir('i1');
    const r = await cli(['train', ...SMALL, '--steps', '12', '--out-dir', d], (rec, stop) => {
      if (rec.step === 10) stop.request('SIGTERM');
    });
    expect(r.code).toBe(143);
    expect(r.err).toContain(`summary: ${join(d, 'summary.json')} ("status": "interrupted")\n`);
    const s = readJson(join(d, 'summary.json'));
    const epoch1 = readFileSync(join(d, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"type":"epoch"')).map((l) => JSON.parse(l));
    expect(s).toMatchObject({
      status: 'interrupted',
      signal: 'SIGTERM',
      step: 10,
      epoch: 2,
      epochsCompleted: 1,
      steps: 12,
      stepsPerEpoch: 8,
      bestTestError: epoch1[0].testError,
      bestEpoch: 1,
      bestStep: 8,
      lastCheckpoint: join(d, 'checkpoints', 'step-0000010.safetensors'),
      bestCheckpoint: join(d, 'best.safetensors'),
      resumeCommand: `grwarm-native train --resume ${d}`,
    });
    const done = await cli(['train', '--resume', d, '--quiet']);
    expect(done.code, done.err).toBe(0);
    expect(readJson(join(d, 'summary.json'))).toMatchObject({ status: 'complete', steps: 12 });
  });

  it('a run directory whose run was interrupted before its first checkpoint can take a new run', async () => {
    const d = dir('i2');
    mkdirSync(d);
    writeFileSync(join(d, 'config.json'), '{}');
    writeFileSync(join(d, 'summary.json'), JSON.stringify({ status: 'interrupted', step: 0, lastCheckpoint: null }));
    const run = prepareNewRunDir(d);
    run.lock.release();
    expect(run.notes[0]).toContain(`removed ${join(d, 'config.json')}, ${join(d, 'summary.json')}`);
    // A complete run is still protected.
    writeFileSync(join(d, 'summary.json'), JSON.stringify({ status: 'complete' }));
    expect(() => prepareNewRunDir(d)).toThrow(/already holds a run/);
  });
});

describe('8. the ETA prices GR steps apart from base steps', () => {
  // zero-warmup with Tw = 4 of T = 10: updates 1-4 are base steps, 5-10 GR steps.
  const secondPassAt = (t: number) => t > 4;

  it('counts the remaining steps of each kind', () => {
    const eta = new EtaEstimator({ totalSteps: 10, secondPassAt });
    expect(eta.remainingSteps(0)).toEqual({ base: 4, gr: 6 });
    expect(eta.remainingSteps(2)).toEqual({ base: 2, gr: 6 });
    expect(eta.remainingSteps(7)).toEqual({ base: 0, gr: 3 });
    expect(eta.remainingSteps(10)).toEqual({ base: 0, gr: 0 });
    expect(eta.remainingSec(0)).toBeUndefined();
  });

  it('weights GR steps 2x until one has run, then uses the measured times', () => {
    const eta = new EtaEstimator({ totalSteps: 10, secondPassAt });
    eta.addStep(false, 100);
    eta.addStep(false, 100);
    // 2 base steps at 100 ms + 6 GR steps at 2 x 100 ms.
    expect(GR_COST_RATIO).toBe(2);
    expect(eta.remainingSec(2)).toBeCloseTo((2 * 100 + 6 * 200) / 1000, 12);
    // A plain average over the steps so far would say 8 x 100 ms: the old, too-short ETA.
    expect(eta.remainingSec(2)).toBeGreaterThan(0.8 * 1.5);
    eta.addStep(false, 100);
    eta.addStep(false, 100);
    eta.addStep(true, 300);
    expect(eta.remainingSec(5)).toBeCloseTo((5 * 300) / 1000, 12);
  });

  it('in a real run: at the end of the warmup the ETA prices the GR steps to come at twice the base steps', async () => {
    const d = dir('eta');
    const cfg = resolveConfig({ overrides: { syntheticTrain: 256, syntheticTest: 32, batchSize: 32, warmupEpochs: 0.5, steps: 8, outDir: d } });
    const seen: { step: number; etaSec: number | undefined; stepMs: number; secondPass: boolean }[] = [];
    class Recording extends Progress {
      override step(rec: StepRecord, ctx: ProgressContext): void {
        seen.push({ step: rec.step, etaSec: ctx.etaSec, stepMs: rec.stepMs, secondPass: rec.secondPass });
      }
    }
    const run = prepareNewRunDir(d);
    try {
      const r = await trainRun({ config: cfg, runDir: d, progress: new Recording('quiet', { write: () => 0 }, { write: () => 0 }, 100), version: 'test' });
      expect(r.status).toBe('complete');
    } finally {
      run.lock.release();
    }
    // zero-warmup, Tw = 4: updates 1-4 base, 5-8 GR.
    expect(seen.map((x) => x.secondPass)).toEqual([false, false, false, false, true, true, true, true]);
    const base = seen.slice(0, 4);
    const meanBaseMs = base.reduce((a, x) => a + x.stepMs, 0) / 4;
    // Each step's loop time is at least its stepMs, so 4 GR steps to come cost at least 2 x 4 x meanBaseMs;
    // an ETA that averaged all steps alike would say about 4 x meanBaseMs.
    expect(seen[3].etaSec! * 1000).toBeGreaterThanOrEqual(1.9 * 4 * meanBaseMs);
    expect(seen[7].etaSec).toBe(0);
  });

  it('adds the evaluations still to come at their measured cost', () => {
    expect(evaluationsAfter(0, 12, 8, 1)).toBe(2);
    expect(evaluationsAfter(8, 12, 8, 1)).toBe(1);
    expect(evaluationsAfter(0, 40, 8, 2)).toBe(3); // epochs 2, 4 and the last (5)
    expect(evaluationsAfter(12, 12, 8, 1)).toBe(0);
    const eta = new EtaEstimator({ totalSteps: 12, secondPassAt: () => true, evaluationsAfter: (s) => evaluationsAfter(s, 12, 8, 1) });
    eta.addStep(true, 200);
    expect(eta.remainingSec(1)).toBeCloseTo(11 * 0.2, 12); // no evaluation measured yet
    eta.addEvaluation(3);
    expect(eta.remainingSec(1)).toBeCloseTo(11 * 0.2 + 2 * 3, 12);
  });
});

describe('9. loss2 and |g1| are explained', () => {
  it('in train --help and README', async () => {
    const h = await cli(['train', '--help']);
    expect(h.out).toMatch(/loss2 +GR steps only: the loss of the same batch at the perturbed weights/);
    expect(h.out).toMatch(/\|g1\| +on epoch lines: the epoch's mean of ‖g1‖, the L2 norm/);
    expect(README).toContain('`loss2`');
    expect(README).toContain('`\\|g1\\|` (epoch line) | `g1Norm` (step), `g1NormMean` (epoch) | ‖g1‖: the L2 norm');
  });
});

describe('10. eval of a plain weights file', () => {
  it('needs --model; then evaluates the weights alone, as the checkpoint they came from', async () => {
    const d = dir('w1');
    expect((await cli(['train', ...SMALL, '--steps', '4', '--out-dir', d, '--quiet'])).code).toBe(0);
    const ck = await cli(['eval', '--checkpoint', join(d, 'best.safetensors'), '--json']);
    const fromCheckpoint = JSON.parse(ck.out);

    const model = createModel('vit-micro', { seed: 3 });
    model.loadSafetensors(join(d, 'best.safetensors'), ['optimizer.']);
    const w = join(tmp, 'weights.safetensors');
    model.saveSafetensors(w);

    const missing = await cli(['eval', '--checkpoint', w]);
    expect(missing.code).toBe(2);
    expect(missing.err).toBe(
      `error: --checkpoint ${w}: a plain weights file (its metadata has no "format": "grwarm-native-checkpoint"), so it ` +
        'does not say which model it holds; expected --model (one of "vit-micro", "vit-ti", "vit-s", "vit-b", "swin-micro", "swin-t", "swin-s", "swin-b", "swin-t-cifar", "cait-micro", "cait-xxs12", "cait-xxs24", "cait-xs12", "cait-s12", "cait-xxs12-cifar", "cait-xxs24-cifar", "cait-xs12-cifar", "cait-s12-cifar") and the data ' +
        'set it was trained on (--dataset, --data-dir; --patch-size and --gelu when not the defaults)\n',
    );

    const ok = await cli(['eval', '--checkpoint', w, '--model', 'vit-micro', '--synthetic-train', '256', '--synthetic-test', '64', '--json']);
    expect(ok.code, ok.err).toBe(0);
    const res = JSON.parse(ok.out);
    expect(res).toMatchObject({ weightsOnly: true, step: null, epoch: null, model: 'vit-micro', images: 64 });
    expect([res.loss, res.error]).toEqual([fromCheckpoint.loss, fromCheckpoint.error]);
    const text = await cli(['eval', '--checkpoint', w, '--model', 'vit-micro', '--synthetic-train', '256', '--synthetic-test', '64']);
    expect(text.out).toContain(`${w} (weights only, vit-micro)\n`);

    const wrong = await cli(['eval', '--checkpoint', w, '--model', 'vit-ti', '--synthetic-test', '64']);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toContain(`error: ${w}: does not hold the parameters of --model vit-ti for synthetic (10 classes): `);

    const h = await cli(['eval', '--help']);
    expect(h.out).toMatch(/--model <name> +model: [^]*\(required\s+for\s+a\s+plain\s+weights\s+file;\s+choices:\s+vit-micro/);

    // A training checkpoint records its model: a different --model is refused.
    const clash = await cli(['eval', '--checkpoint', join(d, 'best.safetensors'), '--model', 'vit-ti']);
    expect(clash.code).toBe(2);
    expect(clash.err).toContain('error: --model: got "vit-ti", but checkpoint');
  });
});

describe('11. data loaders and normalisation are exported', () => {
  it('from the package entry point, and they feed the model as the CLI does', async () => {
    for (const name of [
      'loadDataset', 'loadCifar10', 'loadCifar100', 'loadMnistLike', 'loadIdxPair', 'makeSynthetic', 'fixedSubset',
      'splitValidation', 'stepsPerEpoch', 'allocBatch', 'makeTrainBatch', 'evalBatches', 'normalizeImages', 'normLut',
      'evaluateDataset', 'DATASET_NAMES',
    ]) {
      expect(lib, name).toHaveProperty(name);
    }
    const { train, test } = lib.loadDataset('synthetic', { seed: 0, syntheticTrain: 64, syntheticTest: 16 });
    const small: lib.Dataset = lib.fixedSubset(test, 8, 'test');
    const x = lib.normalizeImages(small);
    expect(x.length).toBe(8 * 3 * 32 * 32);
    const first = lib.evalBatches(small, 8).next().value as lib.Batch;
    expect(x).toEqual(first.images);
    // (x/255 - mean) / std of the first pixel.
    expect(x[0]).toBeCloseTo((small.images[0] / 255 - small.mean[0]) / small.std[0], 6);
    const batch = lib.makeTrainBatch(train, { seed: 0, epoch: 0, index: 0, batchSize: 16, augment: true });
    expect(batch.count).toBe(16);
    // The README example, on the synthetic set.
    const shape = { channels: train.channels, numClasses: train.numClasses };
    const model = lib.createModel(lib.vitConfig('vit-micro', shape), { seed: 0 });
    const logits = await model.predict(lib.normalizeImages(test, 0, 4));
    expect(logits.length).toBe(4 * 10);
    const r = await lib.evaluateDataset(model, small);
    expect(r.count).toBe(8);
    expect(README).toContain("import { createModel, vitConfig, loadDataset, makeTrainBatch, normalizeImages, evaluateDataset, fixedSubset } from 'grwarm-native';");
  });
});
