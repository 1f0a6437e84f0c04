// Clear errors for misuse and hostile files (issue 8, "Unclear errors" and item 8 through the
// CLI): each names the file or flag, the field, the value and what was expected, and comes
// before any training.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from '../src/cli.js';
import { parseSafetensors, writeSafetensors, type TensorToWrite } from '../src/io/safetensors.js';

interface CliRun {
  code: number;
  out: string;
  err: string;
}

async function cli(argv: string[]): Promise<CliRun> {
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

const CORPUS = new URL('./fixtures/fuzz-corpus/', import.meta.url).pathname;
const SMALL = ['--synthetic-train', '32', '--synthetic-test', '16', '--batch-size', '8', '--warmup-epochs', '0.25', '--quiet'];

let tmp: string;
let ckpt: string;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-errs-'));
  const r = await cli(['train', ...SMALL, '--steps', '2', '--out-dir', join(tmp, 'run')]);
  expect(r.code, r.err).toBe(0);
  ckpt = join(tmp, 'run', 'checkpoints', 'step-0000002.safetensors');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The real checkpoint with `edit` applied to its tensors, rewritten (same order and metadata). */
function editedCheckpoint(name: string, edit: (tensors: TensorToWrite[]) => void): string {
  const file = parseSafetensors(readFileSync(ckpt), ckpt);
  const tensors: TensorToWrite[] = [...file.tensors].map(([n, t]) => ({ name: n, dtype: t.dtype, shape: t.shape, data: t.data }));
  edit(tensors);
  const path = join(tmp, name);
  writeSafetensors(path, tensors, file.metadata);
  return path;
}

describe('corrupt checkpoints (item 8)', () => {
  it('a header length one byte short is rejected by eval and resume (it used to evaluate to loss NaN, exit 0)', async () => {
    const bytes = new Uint8Array(readFileSync(ckpt));
    const view = new DataView(bytes.buffer);
    view.setBigUint64(0, view.getBigUint64(0, true) - 1n, true);
    const path = join(tmp, 'short.safetensors');
    writeFileSync(path, bytes);
    const ev = await cli(['eval', '--checkpoint', path]);
    expect(ev.code).toBe(2);
    expect(ev.out).toBe('');
    // The header is space-padded to 8 bytes: with padding the shorter header still parses and the
    // data section is one byte too long; without (it depends on the config's JSON length) the
    // header's closing brace is cut off. Either way the file is refused with the reason.
    expect(ev.err).toMatch(
      new RegExp(`^error: ${path}: not a valid safetensors file: (the tensors fill \\d+ bytes but the data section holds \\d+ \\(1 byte too many\\)|header is not valid JSON)`),
    );
    const re = await cli(['train', '--resume', path, '--out-dir', join(tmp, 'never')]);
    expect(re.code).toBe(2);
    expect(re.err).toBe(ev.err);
  });

  it('NaN or Inf weights are rejected on load, naming the file and the tensor', async () => {
    const path = editedCheckpoint('nan.safetensors', (ts) => {
      (ts.find((t) => t.name === 'head.weight')!.data as Float32Array)[5] = NaN;
      (ts.find((t) => t.name === 'head.weight')!.data as Float32Array)[9] = Infinity;
    });
    const expected = `error: ${path}: tensor "head.weight" holds 2 non-finite values (the first, at index 5, is NaN)\n`;
    const ev = await cli(['eval', '--checkpoint', path]);
    expect([ev.code, ev.err]).toEqual([2, expected]);
    const re = await cli(['train', '--resume', path, '--out-dir', join(tmp, 'never')]);
    expect([re.code, re.err]).toEqual([2, expected]);
    expect(existsSync(join(tmp, 'never'))).toBe(false);
  });

  it('an F64 value beyond float32 range is rejected on load by a float32 run (issue 23 item 9: it loaded as +Inf, eval printed loss NaN, exit 0)', async () => {
    const path = editedCheckpoint('f64-huge.safetensors', (ts) => {
      const t = ts.find((x) => x.name === 'head.weight')!;
      const data = Float64Array.from(t.data as Float32Array);
      data[5] = 1e300;
      Object.assign(t, { dtype: 'F64', data });
      const m = ts.find((x) => x.name === 'optimizer.exp_avg')!;
      Object.assign(m, { dtype: 'F64', data: Float64Array.from(m.data as Float32Array, (v, i) => (i === 2 ? -1e39 : v)) });
    });
    const problem = `tensor "head.weight" holds 1 value not finite as float32, the precision of this model's parameters (the first, at index 5, is 1e+300)`;
    const ev = await cli(['eval', '--checkpoint', path]);
    expect([ev.code, ev.out]).toEqual([2, '']);
    expect(ev.err).toContain(problem);
    const re = await cli(['train', '--resume', path, '--out-dir', join(tmp, 'f64-resumed')]);
    expect(re.code).toBe(2);
    expect(re.err).toContain(problem);
    expect(re.err).toMatch(/optimizer state "[^"]*exp_avg" holds 1 value not finite as float32, .*index 2, is -1e\+39\)/);
  });

  it.each([
    ['model-config-null', 'metadata "model_config": got null, expected a JSON object'],
    ['model-config-string', 'metadata "model_config": got "vit", expected a JSON object'],
    ['model-config-empty', 'metadata "model_config": imageSize: got undefined, expected an integer from 1 to 4096'],
    ['model-config-absurd-width', 'metadata "model_config": width: got 1000000000, expected an integer from 1 to 16384'],
    ['model-config-width-128', `metadata "model_config": width: got 128, expected 64 (what the checkpoint's config, model "vit-micro", builds)`],
    ['config-batch-zero', 'metadata "config" is not a valid run configuration: batchSize: got 0, expected an integer from 1 to 65536'],
    ['config-null', 'metadata "config" is not a valid run configuration: got null, expected an object mapping option names to values'],
    ['config-threads-5000', 'metadata "config" is not a valid run configuration: threads: got 5000, expected an integer from 0 to 1024'],
    ['train-state-null', 'metadata "train_state": got null, expected a JSON object'],
  ])('checkpoint with corrupt metadata (%s): the file and the field are named', async (name, problem) => {
    const path = join(CORPUS, `checkpoint--${name}.safetensors`);
    const ev = await cli(['eval', '--checkpoint', path]);
    expect([ev.code, ev.err]).toEqual([2, `error: ${path}: ${problem}\n`]);
    const re = await cli(['train', '--resume', path, '--out-dir', join(tmp, 'never')]);
    expect([re.code, re.err]).toEqual([2, `error: ${path}: ${problem}\n`]);
  });
});

describe('config values: the source that set them is named', () => {
  it('huge sizes and thread counts are schema errors, from a flag or from a file', async () => {
    const flags = await cli(['train', '--synthetic-train', '1000000000', '--batch-size', '1000000000', '--threads', '5000']);
    expect(flags.code).toBe(2);
    expect(flags.err).toBe(
      'error: config: --synthetic-train: got 1000000000, expected an integer from 1 to 1000000\n' +
        'error: config: --batch-size: got 1000000000, expected an integer from 1 to 65536\n' +
        'error: config: --threads: got 5000, expected an integer from 0 to 1024\n',
    );
    const file = join(CORPUS, 'config--huge-batch.yaml');
    const fromFile = await cli(['train', '--config', file]);
    expect([fromFile.code, fromFile.err]).toEqual([2, `error: config: ${file}: batchSize: got 1000000000, expected an integer from 1 to 65536\n`]);
  });

  it('a batch larger than the data set: the config file is named when it set the value, the flag when a flag did', async () => {
    const file = join(tmp, 'big-batch.yaml');
    writeFileSync(file, 'batchSize: 64\nsyntheticTrain: 32\n');
    const r = await cli(['train', '--config', file, '--out-dir', join(tmp, 'bb1')]);
    expect([r.code, r.err]).toEqual([2, `error: config: ${file}: batchSize: got 64, expected at most the 32 training images (the last partial batch is dropped)\n`]);
    const f = await cli(['train', '--config', file, '--batch-size', '40', '--out-dir', join(tmp, 'bb2')]);
    expect([f.code, f.err]).toEqual([2, 'error: config: --batch-size: got 40, expected at most the 32 training images (the last partial batch is dropped)\n']);
  });

  it.each([
    ['config--nested.json', 'nested 20001 levels deep, expected a flat mapping of option names to values (at most 32 levels)'],
    ['config--nested-flow.yaml', 'nested 10000 levels deep, expected a flat mapping of option names to values (at most 32 levels)'],
    ['config--alias-bomb.yaml', 'invalid YAML: its aliases expand too far (Excessive alias count indicates a resource exhaustion attack); a config needs at most 100 alias uses'],
  ])('a hostile config file (%s) is rejected, naming it', async (name, problem) => {
    const file = join(CORPUS, name);
    const r = await cli(['train', '--config', file]);
    expect([r.code, r.err]).toEqual([2, `error: config: ${file}: ${problem}\n`]);
  });
});

describe('empty data found before training starts', () => {
  it('a validation split that leaves no training image', async () => {
    const d = join(tmp, 'val');
    const r = await cli(['train', '--synthetic-train', '10', '--batch-size', '1', '--val-fraction', '0.99', '--out-dir', d]);
    expect([r.code, r.err]).toEqual([2, 'error: config: data set synthetic: the training split is empty after holding out --val-fraction 0.99; expected at least one image\n']);
    expect(existsSync(join(d, 'metrics.jsonl'))).toBe(false);
  });

  it('an empty IDX test set is named before any step', async () => {
    const data = join(tmp, 'mnist');
    mkdirSync(data);
    const images = (n: number) => {
      const b = Buffer.alloc(16 + n * 784);
      b.writeUInt32BE(0x803, 0);
      b.writeUInt32BE(n, 4);
      b.writeUInt32BE(28, 8);
      b.writeUInt32BE(28, 12);
      return b;
    };
    const labels = (n: number) => {
      const b = Buffer.alloc(8 + n);
      b.writeUInt32BE(0x801, 0);
      b.writeUInt32BE(n, 4);
      return b;
    };
    writeFileSync(join(data, 'train-images-idx3-ubyte.gz'), gzipSync(images(16)));
    writeFileSync(join(data, 'train-labels-idx1-ubyte'), labels(16));
    writeFileSync(join(data, 't10k-images-idx3-ubyte'), images(0));
    writeFileSync(join(data, 't10k-labels-idx1-ubyte'), labels(0));
    const d = join(tmp, 'mnist-run');
    const r = await cli(['train', '--dataset', 'mnist', '--data-dir', data, '--batch-size', '8', '--out-dir', d]);
    expect([r.code, r.err]).toEqual([1, `error: ${join(data, 't10k-images-idx3-ubyte')}: holds 0 images, expected at least 1\n`]);
    // The data are loaded before the run directory is made (issue 10, item 7.2): nothing is left behind.
    expect(existsSync(d)).toBe(false);
  });
});
