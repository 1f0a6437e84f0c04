// Seeded mutation fuzzing of every file parser (safetensors weights and checkpoints, CIFAR
// binary, IDX plain and gzipped, YAML/JSON config), plus a replay of test/fixtures/fuzz-corpus.
//
// The property, for every mutated file: it is either rejected with an Error whose message
// names the file, or it loads with every value finite and every shape consistent. The
// parsers run in-process, so a crash or a hang of any of them fails the whole file.
// A failing input is written to $TMPDIR/grwarm-fuzz-failures/ with its seed: add it to the
// corpus once fixed.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from '../src/cli.js';
import { CONFIG_FIELDS, isConfigKey, parseConfigText, resolveConfig, serializeConfig, validateConfig, type RunConfig } from '../src/config/index.js';
import { parseCifar10, parseCifar100 } from '../src/data/cifar.js';
import { idxDataset, parseIdxImages, parseIdxLabels } from '../src/data/idx.js';
import type { Dataset } from '../src/data/types.js';
import { parseSafetensors, writeSafetensors, type SafetensorsContents } from '../src/io/safetensors.js';
import { decodeMeta, readCheckpoint, readCheckpointMeta, type CheckpointMeta } from '../src/train/checkpoint.js';
import { CONFIG, GENERIC, IDX, mutants, SAFETENSORS, type Mutator } from './fuzz-support.js';

const CORPUS = new URL('./fixtures/fuzz-corpus/', import.meta.url).pathname;
const FAILURES = join(tmpdir(), 'grwarm-fuzz-failures');

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-fuzz-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Tally {
  accepted: number;
  rejected: number;
  failures: string[];
}

/**
 * Runs `parse` on one input. A throw must be an Error naming `name`; a result must pass
 * `check` (which throws on an inconsistency). Records failures instead of stopping, so one
 * run reports every bad seed.
 */
function probe<T>(tally: Tally, name: string, input: Uint8Array, label: string, parse: () => T, check: (v: T) => void): void {
  let value: T;
  try {
    value = parse();
  } catch (err) {
    const msg = err instanceof Error ? err.message : `non-Error thrown: ${String(err)}`;
    if (!(err instanceof Error) || !msg.includes(name)) fail(tally, label, input, `rejected without naming ${name}: ${msg.slice(0, 300)}`);
    else tally.rejected++;
    return;
  }
  try {
    check(value);
    tally.accepted++;
  } catch (err) {
    fail(tally, label, input, `accepted but inconsistent: ${(err as Error).message.slice(0, 300)}`);
  }
}

function fail(tally: Tally, label: string, input: Uint8Array, problem: string): void {
  mkdirSync(FAILURES, { recursive: true });
  const file = join(FAILURES, label.replace(/[^\w.-]+/g, '_'));
  writeFileSync(file, input);
  tally.failures.push(`${label}: ${problem} (input saved as ${file})`);
}

const tally = (): Tally => ({ accepted: 0, rejected: 0, failures: [] });

function fuzz(t: Tally, seedInput: Uint8Array, mutators: readonly Mutator[], count: number, base: number, each: (bytes: Uint8Array, seed: number) => void): void {
  for (const { seed, bytes } of mutants(seedInput, mutators, count, base)) each(bytes, seed);
}

// ---------------------------------------------------------------------------- checks

const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
const CTOR: Record<string, string> = { F32: 'Float32Array', F64: 'Float64Array', I32: 'Int32Array', I64: 'BigInt64Array', U8: 'Uint8Array' };

function checkTensors(c: SafetensorsContents): void {
  for (const [name, t] of c.tensors) {
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`${name}: bad shape ${JSON.stringify(t.shape)}`);
    if (t.data.length !== numel(t.shape)) throw new Error(`${name}: ${t.data.length} values for shape ${JSON.stringify(t.shape)}`);
    if (t.data.constructor.name !== CTOR[t.dtype]) throw new Error(`${name}: dtype ${t.dtype} with a ${t.data.constructor.name}`);
    if (t.dtype === 'F32' || t.dtype === 'F64') {
      const d = t.data as Float32Array;
      for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) throw new Error(`${name}: non-finite value ${d[i]} at ${i}`);
    }
  }
  for (const [k, v] of Object.entries(c.metadata)) if (typeof v !== 'string') throw new Error(`metadata ${k} is not a string`);
}

function checkMeta(m: CheckpointMeta): void {
  const mc = m.modelConfig;
  for (const k of ['width', 'depth', 'heads', 'imageSize', 'channels', 'numClasses', 'patchSize'] as const) {
    if (!Number.isSafeInteger(mc[k]) || mc[k] < 1 || mc[k] > 16384) throw new Error(`model_config.${k} = ${mc[k]}`);
  }
  if (mc.width % mc.heads !== 0 && mc.width !== 64) throw new Error(`width ${mc.width} heads ${mc.heads}`);
  const d = m.dataOrder;
  if (d.epoch * d.stepsPerEpoch + d.index !== m.step) throw new Error(`data_order ${JSON.stringify(d)} vs step ${m.step}`);
  checkConfig(m.config);
}

function checkConfig(cfg: RunConfig): void {
  for (const [k, v] of Object.entries(cfg)) {
    if (!isConfigKey(k)) throw new Error(`unknown key ${k}`);
    const kind = CONFIG_FIELDS[k].kind;
    if ((kind === 'number' || kind === 'integer') && v !== undefined && !Number.isFinite(v)) throw new Error(`${k} = ${v}`);
  }
  if (cfg.batchSize > 65536 || cfg.syntheticTrain > 1e6 || cfg.threads > 1024) throw new Error(`unbounded size ${serializeConfig(cfg)}`);
}

function checkDataset(ds: Dataset): void {
  const per = ds.channels * ds.height * ds.width;
  if (ds.count < 1 || ds.images.length !== ds.count * per || ds.labels.length !== ds.count) {
    throw new Error(`count ${ds.count}, ${ds.images.length} pixels, ${ds.labels.length} labels`);
  }
  for (const l of ds.labels) if (!(l >= 0 && l < ds.numClasses)) throw new Error(`label ${l}`);
  for (const v of [...ds.mean, ...ds.std]) if (!Number.isFinite(v)) throw new Error(`mean/std ${v}`);
}

function report(t: Tally, what: string): void {
  expect(t.failures, `${what}: ${t.failures.length} failures\n${t.failures.slice(0, 20).join('\n')}`).toEqual([]);
  // The mutants must exercise both outcomes, or the fuzzer tests nothing.
  expect(t.rejected, `${what}: rejected`).toBeGreaterThan(0);
}

// ---------------------------------------------------------------------------- seeds

function plainWeights(): Uint8Array {
  const path = join(tmp, 'weights.safetensors');
  writeSafetensors(
    path,
    [
      { name: 'w', dtype: 'F32', shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 7 - 0.5) },
      { name: 'b', dtype: 'F64', shape: [5], data: Float64Array.from([1e-3, -2, 3.5, 0, 1e10]) },
      { name: 'idx', dtype: 'I32', shape: [2, 2], data: Int32Array.from([1, -2, 3, 2 ** 31 - 1]) },
      { name: 'step', dtype: 'I64', shape: [1], data: BigInt64Array.from([123n]) },
      { name: 'mask', dtype: 'U8', shape: [7], data: Uint8Array.from([0, 1, 2, 3, 250, 255, 9]) },
      { name: 'empty', dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
    ],
    { note: 'fuzz seed', nested: JSON.stringify({ a: [1, 2] }) },
  );
  return readFileSync(path);
}

function idxImagesFile(n: number, rows: number, cols: number): Uint8Array {
  const b = Buffer.alloc(16 + n * rows * cols);
  b.writeUInt32BE(0x803, 0);
  b.writeUInt32BE(n, 4);
  b.writeUInt32BE(rows, 8);
  b.writeUInt32BE(cols, 12);
  for (let i = 16; i < b.length; i++) b[i] = (i * 37) & 0xff;
  return b;
}

function idxLabelsFile(labels: number[]): Uint8Array {
  const b = Buffer.alloc(8 + labels.length);
  b.writeUInt32BE(0x801, 0);
  b.writeUInt32BE(labels.length, 4);
  labels.forEach((v, i) => (b[8 + i] = v));
  return b;
}

function cifarFile(labelBytes: number[][]): Uint8Array {
  const rec = labelBytes[0].length + 3072;
  const b = Buffer.alloc(labelBytes.length * rec);
  labelBytes.forEach((ls, r) => {
    ls.forEach((v, i) => (b[r * rec + i] = v));
    for (let i = ls.length; i < rec; i++) b[r * rec + i] = (r * 31 + i) & 0xff;
  });
  return b;
}

// ---------------------------------------------------------------------------- parsers

/** What parsing a file of each kind means, and what a loaded result must satisfy. */
const parsers = {
  safetensors: (bytes: Uint8Array, name: string) => () => {
    const c = parseSafetensors(bytes, name, { requireFinite: true });
    return () => checkTensors(c);
  },
  checkpoint: (bytes: Uint8Array, name: string) => () => {
    const c = parseSafetensors(bytes, name, { requireFinite: true });
    const meta = decodeMeta(name, c.metadata);
    return () => {
      checkTensors(c);
      checkMeta(meta);
    };
  },
  cifar10: (bytes: Uint8Array, name: string) => () => {
    const ds = parseCifar10(bytes, name);
    return () => checkDataset(ds);
  },
  cifar100: (bytes: Uint8Array, name: string) => () => {
    const ds = parseCifar100(bytes, name);
    return () => checkDataset(ds);
  },
  idxImages: (bytes: Uint8Array, name: string) => () => {
    const img = parseIdxImages(bytes, name);
    const labels = new Int32Array(img.count).fill(1);
    const ds = idxDataset(img, labels, { images: name, labels: 'labels' });
    return () => {
      if (img.rows < 1 || img.cols < 1 || img.rows > 32 || img.cols > 32) throw new Error(`${img.rows}x${img.cols}`);
      if (img.pixels.length !== img.count * img.rows * img.cols) throw new Error('pixel count');
      checkDataset(ds);
    };
  },
  idxLabels: (bytes: Uint8Array, name: string) => () => {
    const labels = parseIdxLabels(bytes, name, 10);
    return () => {
      if (labels.length < 1) throw new Error('no labels');
      for (const l of labels) if (!(l >= 0 && l < 10)) throw new Error(`label ${l}`);
    };
  },
  config: (bytes: Uint8Array, name: string) => () => {
    // As resolveConfig does with a file layer: every value's source is the file.
    const layer = parseConfigText(new TextDecoder().decode(bytes), name);
    const cfg = validateConfig(layer, Object.fromEntries(Object.keys(layer).map((k) => [k, name])));
    return () => checkConfig(cfg);
  },
};
type Kind = keyof typeof parsers;

function run(t: Tally, kind: Kind, bytes: Uint8Array, name: string, label: string): void {
  let check: () => void = () => {};
  probe(
    t,
    name,
    bytes,
    label,
    () => {
      check = parsers[kind](bytes, name)();
    },
    () => check(),
  );
}

// ---------------------------------------------------------------------------- the runs

describe('fuzz: safetensors', () => {
  it('plain weights: 500 mutants', () => {
    const seed = plainWeights();
    const t = tally();
    fuzz(t, seed, SAFETENSORS, 500, 1000, (bytes, s) => run(t, 'safetensors', bytes, `weights-${s}.safetensors`, `weights-${s}.safetensors`));
    report(t, 'weights');
    expect(t.accepted).toBeGreaterThan(10);
  });

  it('checkpoints written by the training CLI: 300 mutants, in memory and through the file readers', async () => {
    const dir = join(tmp, 'run');
    const io: CliIO = { stdout: { write: () => true }, stderr: { write: () => true }, env: {}, handleSignals: false };
    const code = await main(
      ['train', '--synthetic-train', '16', '--synthetic-test', '8', '--batch-size', '8', '--steps', '2', '--warmup-epochs', '0', '--out-dir', dir, '--quiet'],
      io,
    );
    expect(code).toBe(0);
    const seed = readFileSync(join(dir, 'checkpoints', 'step-0000002.safetensors'));
    const t = tally();
    fuzz(t, seed, SAFETENSORS, 300, 5000, (bytes, s) => {
      const name = `ckpt-${s}.safetensors`;
      run(t, 'checkpoint', bytes, name, name);
      if (s % 10 === 0) {
        // The on-disk readers: header only (eval) and the whole file (resume).
        const path = join(tmp, name);
        writeFileSync(path, bytes);
        probe(t, path, bytes, `${name} (header)`, () => readCheckpointMeta(path), checkMeta);
        probe(t, path, bytes, `${name} (file)`, () => readCheckpoint(path), (c) => (checkTensors(c.file), checkMeta(c.meta)));
        rmSync(path);
      }
    });
    report(t, 'checkpoints');
  });
});

describe('fuzz: data files', () => {
  it('CIFAR-10 and CIFAR-100 binary: 300 mutants each', () => {
    const t = tally();
    const c10 = cifarFile([[3], [9], [0]]);
    const c100 = cifarFile([[19, 99], [0, 0], [7, 42]]);
    fuzz(t, c10, GENERIC, 300, 20000, (bytes, s) => run(t, 'cifar10', bytes, `data_batch-${s}.bin`, `cifar10-${s}.bin`));
    fuzz(t, c100, GENERIC, 300, 30000, (bytes, s) => run(t, 'cifar100', bytes, `train-${s}.bin`, `cifar100-${s}.bin`));
    report(t, 'cifar');
    expect(t.accepted).toBeGreaterThan(20);
  });

  it('IDX images and labels, plain and gzipped: 600 mutants', () => {
    const t = tally();
    const images = idxImagesFile(3, 28, 28);
    const labels = idxLabelsFile([3, 1, 4]);
    fuzz(t, images, IDX, 200, 40000, (bytes, s) => run(t, 'idxImages', bytes, `images-${s}.idx`, `idx-images-${s}.idx`));
    fuzz(t, labels, IDX, 150, 50000, (bytes, s) => run(t, 'idxLabels', bytes, `labels-${s}.idx`, `idx-labels-${s}.idx`));
    // Gzipped: mutate the content, then compress (the parser must see the mutated IDX) ...
    fuzz(t, images, IDX, 150, 60000, (bytes, s) => run(t, 'idxImages', gzipSync(bytes), `images-${s}.idx.gz`, `idx-images-${s}.idx.gz`));
    // ... and mutate the compressed bytes themselves.
    fuzz(t, gzipSync(labels), GENERIC, 100, 70000, (bytes, s) => run(t, 'idxLabels', bytes, `labels-${s}.gz`, `idx-labels-${s}.gz`));
    report(t, 'idx');
    expect(t.accepted).toBeGreaterThan(20);
  });
});

describe('fuzz: config files', () => {
  it('YAML and JSON: 400 mutants each', () => {
    const base = resolveConfig({ overrides: { syntheticTrain: 512, batchSize: 32, epochs: 3, warmupEpochs: 1, outDir: 'runs/x' } });
    const json = new TextEncoder().encode(serializeConfig(base));
    const yaml = new TextEncoder().encode(
      Object.entries(base)
        .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
        .join('\n') + '\n',
    );
    const t = tally();
    fuzz(t, yaml, CONFIG, 400, 80000, (bytes, s) => run(t, 'config', bytes, `run-${s}.yaml`, `config-${s}.yaml`));
    fuzz(t, json, CONFIG, 400, 90000, (bytes, s) => run(t, 'config', bytes, `run-${s}.json`, `config-${s}.json`));
    report(t, 'config');
    expect(t.accepted).toBeGreaterThan(20);
  });
});

// ---------------------------------------------------------------------------- corpus

/** Corpus files are named `<kind>--<what>.<ext>`; the kind picks the parser. */
const corpus = existsSync(CORPUS) ? readdirSync(CORPUS).filter((f) => f.includes('--')).sort() : [];

describe('fuzz corpus replay', () => {
  it('has the cases that once broke something', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(10);
  });

  it.each(corpus)('%s is rejected with its name, or loads consistently', (file) => {
    const kind = file.slice(0, file.indexOf('--')) as Kind;
    expect(Object.keys(parsers)).toContain(kind);
    const path = join(CORPUS, file);
    const bytes = readFileSync(path);
    const t = tally();
    run(t, kind, bytes, path, file);
    // Also through the readers that take a path, where there is one.
    if (kind === 'config') probe(t, path, bytes, `${file} (file)`, () => resolveConfig({ configFile: path }), checkConfig);
    if (kind === 'checkpoint') probe(t, path, bytes, `${file} (file)`, () => readCheckpoint(path), (c) => (checkTensors(c.file), checkMeta(c.meta)));
    expect(t.failures).toEqual([]);
    // Every file in the corpus is broken on purpose: it must be rejected.
    expect(t.rejected, file).toBeGreaterThan(0);
    expect(t.accepted, file).toBe(0);
  });
});
