/**
 * CIFAR-10 / CIFAR-100 binary-version loaders (docs/method.md section 6). A record is the label byte(s)
 * followed by 3072 bytes: 1024 R, 1024 G, 1024 B, each plane row-major 32×32 — already the
 * channel-planar CHW layout of `Dataset`, so pixels are copied through unchanged.
 */
import { join } from 'node:path';
import { findDirWith, readBytes } from './files.js';
import type { Dataset, DatasetSplits } from './types.js';

const PIXELS = 3 * 32 * 32;

// Published per-channel statistics (CIFAR-10's are docs/method.md section 5's).
const CIFAR10_MEAN = [0.4914, 0.4822, 0.4465];
const CIFAR10_STD = [0.247, 0.2435, 0.2616];
const CIFAR100_MEAN = [0.5071, 0.4865, 0.4409];
const CIFAR100_STD = [0.2673, 0.2564, 0.2762];

interface RecordFormat {
  /**
   * The label bytes before the pixels, in file order (CIFAR-10: one; CIFAR-100: coarse then
   * fine). Every one is range-checked, also the one not kept: a bad byte anywhere means a
   * corrupt file.
   */
  labelFields: { name: string; numClasses: number }[];
  /** Index into labelFields of the label we keep. */
  keep: number;
  description: string;
}

/** Reads one or more record files into a single Dataset (files concatenated in order). */
function readRecords(
  paths: string[],
  fmt: RecordFormat,
  meta: { name: string; mean: number[]; std: number[] },
): Dataset {
  return parseRecords(paths.map((p) => ({ name: p, buf: readBytes(p) })), fmt, meta);
}

/** Record files already in memory (`name` is used in messages) into a single Dataset. */
function parseRecords(
  files: { name: string; buf: Uint8Array }[],
  fmt: RecordFormat,
  meta: { name: string; mean: number[]; std: number[] },
): Dataset {
  const labelBytes = fmt.labelFields.length;
  const recSize = labelBytes + PIXELS;
  for (const { name, buf } of files) {
    if (buf.length === 0 || buf.length % recSize !== 0) {
      throw new Error(
        `${name}: size ${buf.length} bytes is not a positive multiple of the record size ` +
          `${recSize} (${fmt.description}); file truncated or not in this format`,
      );
    }
  }
  const count = files.reduce((s, f) => s + f.buf.length / recSize, 0);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Int32Array(count);
  let n = 0;
  for (const { name, buf } of files) {
    const recs = buf.length / recSize;
    for (let r = 0; r < recs; r++, n++) {
      const off = r * recSize;
      fmt.labelFields.forEach((field, i) => {
        const v = buf[off + i];
        if (v >= field.numClasses) {
          throw new Error(
            `${name}: ${field.name} ${v} out of range [0, ${field.numClasses - 1}] ` +
              `in record ${r} (0-based)`,
          );
        }
      });
      labels[n] = buf[off + fmt.keep];
      images.set(buf.subarray(off + labelBytes, off + recSize), n * PIXELS);
    }
  }
  return {
    name: meta.name,
    images,
    labels,
    count,
    channels: 3,
    height: 32,
    width: 32,
    numClasses: fmt.labelFields[fmt.keep].numClasses,
    mean: meta.mean.slice(),
    std: meta.std.slice(),
  };
}

const CIFAR10_FORMAT: RecordFormat = {
  labelFields: [{ name: 'label', numClasses: 10 }],
  keep: 0,
  description: '1 label byte + 3072 pixel bytes',
};

function cifar100Format(which: 'fine' | 'coarse'): RecordFormat {
  return {
    labelFields: [
      { name: 'coarse label', numClasses: 20 },
      { name: 'fine label', numClasses: 100 },
    ],
    keep: which === 'fine' ? 1 : 0,
    description: `coarse label byte + fine label byte + 3072 pixel bytes; ${which} labels`,
  };
}

/** One CIFAR-10 batch file already in memory (`name` is used in messages). */
export function parseCifar10(buf: Uint8Array, name: string): Dataset {
  return parseRecords([{ name, buf }], CIFAR10_FORMAT, { name: 'cifar10', mean: CIFAR10_MEAN, std: CIFAR10_STD });
}

/** One CIFAR-100 file (train.bin or test.bin) already in memory. */
export function parseCifar100(buf: Uint8Array, name: string, label: 'fine' | 'coarse' = 'fine'): Dataset {
  const dsName = label === 'fine' ? 'cifar100' : 'cifar100-coarse';
  return parseRecords([{ name, buf }], cifar100Format(label), { name: dsName, mean: CIFAR100_MEAN, std: CIFAR100_STD });
}

/** dir may be the folder holding the .bin files or its parent with `cifar-10-batches-bin/`. */
export function loadCifar10(dir: string): DatasetSplits {
  const trainFiles = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
  const all = [...trainFiles, 'test_batch.bin'];
  const root = findDirWith('CIFAR-10', [dir, join(dir, 'cifar-10-batches-bin')], all);
  const fmt = CIFAR10_FORMAT;
  const meta = { mean: CIFAR10_MEAN, std: CIFAR10_STD };
  return {
    train: readRecords(trainFiles.map((f) => join(root, f)), fmt, { name: 'cifar10', ...meta }),
    test: readRecords([join(root, 'test_batch.bin')], fmt, { name: 'cifar10', ...meta }),
  };
}

export interface Cifar100Options {
  /** 'fine' = the 100 classes (default), 'coarse' = the 20 superclasses. */
  label?: 'fine' | 'coarse';
}

/** dir may be the folder holding train.bin/test.bin or its parent with `cifar-100-binary/`. */
export function loadCifar100(dir: string, opts: Cifar100Options = {}): DatasetSplits {
  const which = opts.label ?? 'fine';
  const root = findDirWith('CIFAR-100', [dir, join(dir, 'cifar-100-binary')], [
    'train.bin',
    'test.bin',
  ]);
  const fmt = cifar100Format(which);
  const meta = { mean: CIFAR100_MEAN, std: CIFAR100_STD };
  const name = which === 'fine' ? 'cifar100' : 'cifar100-coarse';
  return {
    train: readRecords([join(root, 'train.bin')], fmt, { name, ...meta }),
    test: readRecords([join(root, 'test.bin')], fmt, { name, ...meta }),
  };
}
