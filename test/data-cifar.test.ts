import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCifar10, loadCifar100 } from '../src/data/cifar.js';

const PIX = 3072;
const root = mkdtempSync(join(tmpdir(), 'grwarm-cifar-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Deterministic pixel value for (file, record, channel, row, col): catches any misplacement. */
const px = (f: number, r: number, c: number, y: number, x: number): number =>
  (f * 101 + r * 37 + c * 71 + y * 13 + x * 7) & 0xff;

/** Builds a record file: each record = label bytes then the R, G, B planes (row-major 32×32). */
function records(f: number, labels: number[][]): Buffer {
  const lb = labels[0].length;
  const buf = Buffer.alloc(labels.length * (lb + PIX));
  labels.forEach((ls, r) => {
    const off = r * (lb + PIX);
    ls.forEach((v, i) => (buf[off + i] = v));
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 32; y++)
        for (let x = 0; x < 32; x++) buf[off + lb + c * 1024 + y * 32 + x] = px(f, r, c, y, x);
  });
  return buf;
}

function writeCifar10(dir: string, perFile = 4): void {
  mkdirSync(dir, { recursive: true });
  for (let f = 1; f <= 5; f++) {
    const labels = Array.from({ length: perFile }, (_, r) => [(f + r) % 10]);
    writeFileSync(join(dir, `data_batch_${f}.bin`), records(f, labels));
  }
  writeFileSync(join(dir, 'test_batch.bin'), records(9, [[9], [0], [5]]));
}

function writeCifar100(dir: string, fine: number[], coarse: number[]): void {
  mkdirSync(dir, { recursive: true });
  const labels = fine.map((v, i) => [coarse[i], v]);
  writeFileSync(join(dir, 'train.bin'), records(1, labels));
  writeFileSync(join(dir, 'test.bin'), records(2, labels.slice(0, 2)));
}

describe('loadCifar10', () => {
  const dir = join(root, 'c10');
  writeCifar10(dir);

  it('reads pixels and labels at the right places, files concatenated in order', () => {
    const { train, test } = loadCifar10(dir);
    expect([train.count, test.count]).toEqual([20, 3]);
    expect([train.channels, train.height, train.width, train.numClasses]).toEqual([3, 32, 32, 10]);
    expect(train.images.length).toBe(20 * PIX);
    // Record 3 of data_batch_1: R plane, row 5, col 7 (and G/B at the same spot).
    for (let c = 0; c < 3; c++) {
      expect(train.images[3 * PIX + c * 1024 + 5 * 32 + 7]).toBe(px(1, 3, c, 5, 7));
    }
    // Global record 9 = record 1 of data_batch_3: label (3+1)%10, pixel (B, 31, 0).
    expect(train.labels[9]).toBe(4);
    expect(train.images[9 * PIX + 2 * 1024 + 31 * 32 + 0]).toBe(px(3, 1, 2, 31, 0));
    expect(Array.from(test.labels)).toEqual([9, 0, 5]);
    expect(test.images[2 * PIX + 1024 + 32 + 1]).toBe(px(9, 2, 1, 1, 1));
    expect(train.mean).toEqual([0.4914, 0.4822, 0.4465]);
    expect(train.std).toEqual([0.247, 0.2435, 0.2616]);
  });

  it('accepts the cifar-10-batches-bin/ sub-folder', () => {
    const parent = join(root, 'c10parent');
    writeCifar10(join(parent, 'cifar-10-batches-bin'), 1);
    expect(loadCifar10(parent).train.count).toBe(5);
  });

  it('names missing files and where it looked', () => {
    const d = join(root, 'c10missing');
    writeCifar10(d);
    rmSync(join(d, 'data_batch_4.bin'));
    expect(() => loadCifar10(d)).toThrow(/missing .*data_batch_4\.bin/);
    expect(() => loadCifar10(d)).toThrow(new RegExp(`${escape(d)} \\(missing data_batch_4\\.bin\\)`));
    expect(() => loadCifar10(d)).toThrow(/cifar-10-batches-bin \(no such directory\)/);
  });

  it('rejects a truncated file, naming it and the record size', () => {
    const d = join(root, 'c10trunc');
    writeCifar10(d);
    const p = join(d, 'data_batch_2.bin');
    writeFileSync(p, records(2, [[1], [2]]).subarray(0, 3073 + 100));
    expect(() => loadCifar10(d)).toThrow(
      new RegExp(`${escape(p)}: size 3173 bytes is not a positive multiple of the record size 3073`),
    );
  });

  it('rejects an out-of-range label, naming file, record and value', () => {
    const d = join(root, 'c10label');
    writeCifar10(d);
    const p = join(d, 'test_batch.bin');
    writeFileSync(p, records(9, [[1], [2], [10]]));
    expect(() => loadCifar10(d)).toThrow(
      new RegExp(`${escape(p)}: label 10 out of range \\[0, 9\\] in record 2`),
    );
  });
});

describe('loadCifar100', () => {
  const dir = join(root, 'c100');
  const fine = [0, 99, 42, 7];
  const coarse = [0, 19, 3, 11];
  writeCifar100(dir, fine, coarse);

  it('reads fine labels by default, coarse on request, pixels after both label bytes', () => {
    const fineDs = loadCifar100(dir);
    expect(Array.from(fineDs.train.labels)).toEqual(fine);
    expect(fineDs.train.numClasses).toBe(100);
    expect(fineDs.train.mean).toEqual([0.5071, 0.4865, 0.4409]);
    const coarseDs = loadCifar100(dir, { label: 'coarse' });
    expect(Array.from(coarseDs.train.labels)).toEqual(coarse);
    expect(coarseDs.train.numClasses).toBe(20);
    // Record 3, R plane, row 5, col 7; record 0's first and last bytes.
    expect(fineDs.train.images[3 * PIX + 5 * 32 + 7]).toBe(px(1, 3, 0, 5, 7));
    expect(fineDs.train.images[0]).toBe(px(1, 0, 0, 0, 0));
    expect(fineDs.train.images[PIX - 1]).toBe(px(1, 0, 2, 31, 31));
    expect(fineDs.test.count).toBe(2);
  });

  it('accepts the cifar-100-binary/ sub-folder', () => {
    const parent = join(root, 'c100parent');
    writeCifar100(join(parent, 'cifar-100-binary'), [1], [1]);
    expect(loadCifar100(parent).train.count).toBe(1);
  });

  it('range-checks both label bytes', () => {
    const d = join(root, 'c100bad');
    writeCifar100(d, [1, 100], [1, 2]);
    expect(() => loadCifar100(d)).toThrow(/train\.bin: fine label 100 out of range \[0, 99\] in record 1/);
    writeCifar100(d, [1, 2], [20, 2]);
    expect(() => loadCifar100(d, { label: 'fine' })).toThrow(
      /train\.bin: coarse label 20 out of range \[0, 19\] in record 0/,
    );
  });

  it('rejects a file whose size is not a multiple of 3074', () => {
    const d = join(root, 'c100trunc');
    writeCifar100(d, [1, 2], [1, 2]);
    writeFileSync(join(d, 'test.bin'), Buffer.alloc(3073));
    expect(() => loadCifar100(d)).toThrow(/test\.bin: size 3073 bytes .*record size 3074/);
  });

  it('names the missing files', () => {
    const d = join(root, 'c100missing');
    mkdirSync(d);
    expect(() => loadCifar100(d)).toThrow(/CIFAR-100: missing file\(s\); expected train\.bin, test\.bin/);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
