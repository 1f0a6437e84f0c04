// `grwarm-native sweep`: grid expansion, names, resumable runs, failed cells, thread split;
// and the trainSubset/testSubset options the small protocol uses. The cells run as child
// processes of dist/src/cli.js (rebuilt first when stale).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from '../src/cli.js';
import { ConfigError, resolveConfig, serializeConfig } from '../src/config/index.js';
import { fixedSubset, makeSynthetic } from '../src/data/index.js';
import { expandSweep, loadSweepFile } from '../src/sweep/config.js';
import { STATUS_FILE, type SweepStatusFile } from '../src/sweep/run.js';
import { defaultParallel, splitThreads } from '../src/sweep/threads.js';
import type { StopController } from '../src/train/loop.js';
import { readMetrics, type StepRecord } from '../src/train/metrics.js';
import { loadRunData } from '../src/train/plan.js';
import { cli, type CliRun, ensureCliBuilt } from './support/cli.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli.js');

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-sweep-'));
  ensureCliBuilt();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A tiny sweep: 4 steps of batch 16 on 64 synthetic images, 2 policies x 2 seeds. */
function tinySweep(name: string, extra = ''): string {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(
    file,
    `outDir: ${join(tmp, name)}
base: { steps: 4, batchSize: 16, syntheticTrain: 64, syntheticTest: 32, warmupEpochs: 0, patchSize: 8, logEvery: 2 }
grid:
  gr: [none, gr]
  seed: [0, 1]
${extra}`,
  );
  return file;
}

describe('sweep file', () => {
  it('expands the union of grids, drops duplicates, names cells from their parameters, seeds slowest', () => {
    const spec = expandSweep(
      {
        outDir: 'out',
        base: { epochs: 2, lr: 0.001 },
        grid: [
          { warmupEpochs: [1], gr: ['none', 'gr', 'zero-warmup'], seed: [0, 1] },
          { warmupEpochs: [0], gr: ['none', 'gr'], seed: [0, 1] },
          { warmupEpochs: [1], gr: ['gr'], seed: [1] }, // a duplicate
        ],
      },
      'sweep.yaml',
    );
    expect(spec.cells.map((c) => c.name)).toEqual([
      'vit-micro_adam_lr0.001_wu1_none_s0',
      'vit-micro_adam_lr0.001_wu1_gr_s0',
      'vit-micro_adam_lr0.001_wu1_zero-warmup_s0',
      'vit-micro_adam_lr0.001_wu0_none_s0',
      'vit-micro_adam_lr0.001_wu0_gr_s0',
      'vit-micro_adam_lr0.001_wu1_none_s1',
      'vit-micro_adam_lr0.001_wu1_gr_s1',
      'vit-micro_adam_lr0.001_wu1_zero-warmup_s1',
      'vit-micro_adam_lr0.001_wu0_none_s1',
      'vit-micro_adam_lr0.001_wu0_gr_s1',
    ]);
    const c = spec.cells[2];
    expect(c.runDir).toBe('out/vit-micro_adam_lr0.001_wu1_zero-warmup_s0');
    expect(c.config).toMatchObject({ epochs: 2, warmupEpochs: 1, gr: 'zero-warmup', seed: 0, outDir: c.runDir });
  });

  it('puts other varied keys into the name', () => {
    const spec = expandSweep({ outDir: 'o', grid: { r: [0.05, 0.1], augment: [true, false] } }, 's.yaml');
    expect(spec.cells.map((c) => c.name)).toEqual([
      'vit-micro_adam_lr0.001_wu1_zero-warmup_augment_r0.05_s0',
      'vit-micro_adam_lr0.001_wu1_zero-warmup_no-augment_r0.05_s0',
      'vit-micro_adam_lr0.001_wu1_zero-warmup_augment_r0.1_s0',
      'vit-micro_adam_lr0.001_wu1_zero-warmup_no-augment_r0.1_s0',
    ]);
  });

  it('rejects bad files with the file and the problem', () => {
    const err = (doc: unknown) => {
      try {
        expandSweep(doc, 'bad.yaml');
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(err({ base: {} })).toContain('bad.yaml: outDir');
    expect(err({ outDir: 'o', grid: { lrr: [1] } })).toContain('unknown train option "lrr"');
    expect(err({ outDir: 'o', base: { batchSize: 0 } })).toContain('batchSize: got 0');
    expect(err({ outDir: 'o', grid: { seed: [] } })).toContain('empty list');
    expect(err({ outDir: 'o', threads: 2 })).toContain('unknown key "threads"');
    expect(err({ outDir: 'o', grid: { outDir: ['a', 'b'] } })).toContain('outDir cannot vary');
    const missing = join(tmp, 'nope.yaml');
    expect(() => loadSweepFile(missing)).toThrow(`${missing}: cannot read it`);
  });

  it('splits the threads between the parallel runs; small models default to one run per core', () => {
    expect(splitThreads(2, 2)).toEqual({ parallel: 2, threadsPerRun: 1 });
    expect(splitThreads(2, 1)).toEqual({ parallel: 1, threadsPerRun: 2 });
    expect(splitThreads(16, 3)).toEqual({ parallel: 3, threadsPerRun: 5 });
    expect(splitThreads(2, 4)).toEqual({ parallel: 4, threadsPerRun: 1 });
    expect(defaultParallel(2, ['vit-micro', 'vit-micro'])).toBe(2);
    expect(defaultParallel(2, ['vit-micro', 'vit-ti'])).toBe(1);
    expect(defaultParallel(1, ['vit-micro'])).toBe(1);
  });
});

describe('sweep runs', () => {
  it('runs every cell, records them, skips them on a second sweep', async () => {
    const file = tinySweep('a');
    const r = await cli(['sweep', '--config', file, '--parallel', '2', '--threads', '2']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('4 cells');
    expect(r.out).toContain('2 at a time x 1 thread');
    expect(r.out).toMatch(/sweep: 2\/4 done, \d running, 2 left, 0 failed/);
    expect(r.out).toContain('sweep finished: 4/4 done, 0 failed');
    const root = join(tmp, 'a');
    const status = JSON.parse(readFileSync(join(root, STATUS_FILE), 'utf8')) as SweepStatusFile;
    expect(Object.values(status.cells).map((c) => c.status)).toEqual(['done', 'done', 'done', 'done']);
    for (const name of Object.keys(status.cells)) {
      const cfg = JSON.parse(readFileSync(join(root, name, 'config.json'), 'utf8'));
      expect(cfg.threads).toBe(1);
      expect(existsSync(join(root, name, 'summary.json'))).toBe(true);
      // moment2 lines every logEvery steps (Adam's second moment)
      const mom = readMetrics(join(root, name, 'metrics.jsonl')).filter((x) => x.type === 'moment2');
      expect(mom.map((m) => m.step)).toEqual([2, 4]);
    }
    const again = await cli(['sweep', '--config', file]);
    expect(again.code).toBe(0);
    expect(again.out).toContain('0 new, 0 to resume, 4 done already');
  });

  it('resumes an interrupted cell from its checkpoint', async () => {
    const file = tinySweep('b');
    const spec = loadSweepFile(file);
    const cell = spec.cells[1];
    const cellFile = join(tmp, 'b-cell.json');
    writeFileSync(cellFile, serializeConfig(cell.config));
    const first = await cli(['train', '--config', cellFile, '--out-dir', cell.runDir, '--quiet'], (rec, stop) => {
      if (rec.step === 2) stop.request('SIGINT');
    });
    expect(first.code).toBe(130);
    const r = await cli(['sweep', '--config', file, '--parallel', '1', '--threads', '1']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('3 new, 1 to resume, 0 done already');
    expect(r.out).toContain(`start (resume) ${cell.name}`);
    const steps = readMetrics(join(cell.runDir, 'metrics.jsonl')).filter((x) => x.type === 'step').map((x) => x.step);
    expect(steps).toEqual([1, 2, 3, 4]);
  });

  it('records a failed cell with its error and runs the others; a run dir of another config is a conflict', async () => {
    // batchSize 48 > the 32 training images of the failing cell (syntheticTrain: 32 via the grid)
    const file = join(tmp, 'c.yaml');
    writeFileSync(
      file,
      `outDir: ${join(tmp, 'c')}
base: { steps: 2, batchSize: 48, syntheticTest: 16, warmupEpochs: 0, patchSize: 8, gr: none }
grid:
  syntheticTrain: [32, 96]
`,
    );
    const r = await cli(['sweep', '--config', file, '--parallel', '2', '--threads', '2']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/FAILED vit-micro_adam_lr0\.001_wu0_none_syntheticTrain32_s0: error: config: .*batchSize: got 48, expected at most the 32 training images/);
    expect(r.out).toContain('done  vit-micro_adam_lr0.001_wu0_none_syntheticTrain96_s0');
    expect(r.out).toContain('sweep finished: 1/2 done, 1 failed');
    const status = JSON.parse(readFileSync(join(tmp, 'c', STATUS_FILE), 'utf8')) as SweepStatusFile;
    const failed = status.cells['vit-micro_adam_lr0.001_wu0_none_syntheticTrain32_s0'];
    expect(failed.status).toBe('failed');
    expect(failed.exitCode).toBe(2);
    expect(failed.error).toContain('batchSize: got 48');

    // Change the sweep so the finished cell's directory now holds a different config.
    writeFileSync(file, readFileSync(file, 'utf8').replace('steps: 2', 'steps: 1'));
    const dry = await cli(['sweep', '--config', file, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/conflict +vit-micro_adam_lr0\.001_wu0_none_syntheticTrain96_s0 +\(.* holds a run of a different configuration/);
  });
});

describe('trainSubset / testSubset', () => {
  it('is a fixed subset: the same for every seed, deterministic, in the original order', () => {
    const ds = makeSynthetic({ seed: 1, trainCount: 200, testCount: 10 }).train;
    const a = fixedSubset(ds, 50, 'train');
    const b = fixedSubset(ds, 50, 'train');
    expect(a.count).toBe(50);
    expect(Buffer.from(a.images).equals(Buffer.from(b.images))).toBe(true);
    expect(a.labels).toEqual(b.labels);
    expect(a.mean).toEqual(ds.mean); // normalisation of the full set
    expect(fixedSubset(ds, 50, 'test').labels).not.toEqual(a.labels); // independent stream
    expect(fixedSubset(ds, 200, 'train')).toBe(ds);
  });

  it('loads the subsets; too large is a config error naming the flag', () => {
    const base = { syntheticTrain: 120, syntheticTest: 40, trainSubset: 30, testSubset: 10 };
    const d0 = loadRunData(resolveConfig({ overrides: base }));
    expect(d0.train.count).toBe(30);
    expect(d0.test.count).toBe(10);
    expect(() => loadRunData(resolveConfig({ overrides: { ...base, trainSubset: 500 } }))).toThrow(
      '--train-subset: got 500, expected at most the 120 training images of synthetic',
    );
  });
});
