import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEBIAN_FASHION_MNIST_DIR,
  defaultFashionMnistDir,
  loadIdxPair,
  loadMnistLike,
  MAX_IDX_BYTES,
  maybeGunzip,
} from '../src/data/idx.js';

const root = mkdtempSync(join(tmpdir(), 'grwarm-idx-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const px = (i: number, r: number, c: number): number => (i * 31 + r * 11 + c * 3 + 1) & 0xff;

function idxImages(n: number, rows = 28, cols = 28, magic = 0x00000803): Buffer {
  const b = Buffer.alloc(16 + n * rows * cols);
  b.writeUInt32BE(magic, 0);
  b.writeUInt32BE(n, 4);
  b.writeUInt32BE(rows, 8);
  b.writeUInt32BE(cols, 12);
  for (let i = 0; i < n; i++)
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) b[16 + (i * rows + r) * cols + c] = px(i, r, c);
  return b;
}

function idxLabels(labels: number[], magic = 0x00000801): Buffer {
  const b = Buffer.alloc(8 + labels.length);
  b.writeUInt32BE(magic, 0);
  b.writeUInt32BE(labels.length, 4);
  labels.forEach((v, i) => (b[8 + i] = v));
  return b;
}

function writePair(name: string, imgs: Buffer, lbls: Buffer, gz = false): [string, string] {
  const ip = join(root, `${name}-images${gz ? '.gz' : ''}`);
  const lp = join(root, `${name}-labels${gz ? '.gz' : ''}`);
  writeFileSync(ip, gz ? gzipSync(imgs) : imgs);
  writeFileSync(lp, gz ? gzipSync(lbls) : lbls);
  return [ip, lp];
}

const LABELS = [3, 1, 4, 1, 5];

function checkPadded(ds: ReturnType<typeof loadIdxPair>): void {
  expect([ds.count, ds.channels, ds.height, ds.width, ds.numClasses]).toEqual([5, 1, 32, 32, 10]);
  expect(ds.images.length).toBe(5 * 1024);
  expect(Array.from(ds.labels)).toEqual(LABELS);
  // Image 3, source (row 5, col 7) lands at (7, 9) after the 2-pixel zero border.
  expect(ds.images[3 * 1024 + 7 * 32 + 9]).toBe(px(3, 5, 7));
  expect(ds.images[4 * 1024 + 2 * 32 + 2]).toBe(px(4, 0, 0));
  expect(ds.images[4 * 1024 + 29 * 32 + 29]).toBe(px(4, 27, 27));
  // The border is zero.
  for (const [r, c] of [[0, 0], [1, 15], [15, 1], [30, 16], [16, 31], [31, 31]]) {
    expect(ds.images[3 * 1024 + r * 32 + c]).toBe(0);
  }
}

describe('loadIdxPair', () => {
  it('reads plain IDX files and zero-pads 28×28 to 32×32', () => {
    checkPadded(loadIdxPair(...writePair('plain', idxImages(5), idxLabels(LABELS))));
  });

  it('reads gzipped IDX files transparently', () => {
    checkPadded(loadIdxPair(...writePair('gz', idxImages(5), idxLabels(LABELS), true)));
  });

  it('computes mean/std over the padded images', () => {
    const ds = loadIdxPair(...writePair('stats', idxImages(5), idxLabels(LABELS)));
    let s = 0;
    let s2 = 0;
    for (const v of ds.images) {
      s += v / 255;
      s2 += (v / 255) ** 2;
    }
    const m = s / ds.images.length;
    expect(ds.mean[0]).toBeCloseTo(m, 10);
    expect(ds.std[0]).toBeCloseTo(Math.sqrt(s2 / ds.images.length - m * m), 8);
  });

  it('rejects a wrong magic number, printing expected and got in hex', () => {
    const [ip, lp] = writePair('magic', idxImages(5, 28, 28, 0x00000801), idxLabels(LABELS));
    expect(() => loadIdxPair(ip, lp)).toThrow(
      new RegExp(`${escape(ip)}: wrong magic number: expected 0x00000803 .*got 0x00000801`),
    );
    const [ip2, lp2] = writePair('magic2', idxImages(5), idxLabels(LABELS, 0x00000803));
    expect(() => loadIdxPair(ip2, lp2)).toThrow(
      new RegExp(`${escape(lp2)}: wrong magic number: expected 0x00000801 .*got 0x00000803`),
    );
  });

  it('rejects truncated files (data and header), plain and gzipped', () => {
    const full = idxImages(5);
    const [ip, lp] = writePair('trunc', full.subarray(0, full.length - 1), idxLabels(LABELS));
    expect(() => loadIdxPair(ip, lp)).toThrow(
      new RegExp(`${escape(ip)}: truncated: header says 5×28×28 \\(3936 bytes with header\\), file has 3935 bytes`),
    );
    const [ip2, lp2] = writePair('truncgz', idxImages(5), idxLabels(LABELS).subarray(0, 10), true);
    expect(() => loadIdxPair(ip2, lp2)).toThrow(new RegExp(`${escape(lp2)}: truncated`));
    const [ip3, lp3] = writePair('header', full.subarray(0, 9), idxLabels(LABELS));
    expect(() => loadIdxPair(ip3, lp3)).toThrow(new RegExp(`${escape(ip3)}: truncated: 9 bytes, IDX .*header needs 16`));
  });

  it('rejects trailing bytes after the data', () => {
    const [ip, lp] = writePair('trail', idxImages(5), Buffer.concat([idxLabels(LABELS), Buffer.from([0])]));
    expect(() => loadIdxPair(ip, lp)).toThrow(new RegExp(`${escape(lp)}: trailing bytes`));
  });

  it('rejects an image/label count mismatch, naming both files and counts', () => {
    const [ip, lp] = writePair('count', idxImages(5), idxLabels(LABELS.slice(0, 4)));
    expect(() => loadIdxPair(ip, lp)).toThrow(
      new RegExp(`count mismatch: ${escape(ip)} has 5 images but ${escape(lp)} has 4 labels`),
    );
  });

  it('rejects an out-of-range label, naming the record, value and range', () => {
    const [ip, lp] = writePair('label', idxImages(5), idxLabels([3, 1, 4, 10, 5]));
    expect(() => loadIdxPair(ip, lp)).toThrow(
      new RegExp(`${escape(lp)}: label 10 out of range \\[0, 9\\] in record 3`),
    );
  });

  it('rejects bad gzip data', () => {
    const ip = join(root, 'bad.gz');
    const gz = gzipSync(idxImages(5));
    writeFileSync(ip, gz.subarray(0, gz.length - 20));
    const [, lp] = writePair('badgz', idxImages(1), idxLabels([1]));
    expect(() => loadIdxPair(ip, lp)).toThrow(new RegExp(`${escape(ip)}: bad gzip data`));
  });

  it('rejects images larger than 32×32', () => {
    const [ip, lp] = writePair('big', idxImages(1, 34, 34), idxLabels([1]));
    expect(() => loadIdxPair(ip, lp)).toThrow(new RegExp(`${escape(ip)}: images are 34×34`));
  });

  // Issue 8, item 9: 0×0 images were accepted and trained on as blank images.
  it.each([
    ['0x0', [3, 0, 0], 'images are 0×0; expected at least 1×1 and at most 32×32'],
    ['28x0', [3, 28, 0], 'images are 28×0; expected at least 1×1'],
    ['no images', [0, 28, 28], 'holds 0 images, expected at least 1'],
    ['absurd count', [0xffffffff, 28, 28], 'header says 4294967295 images, expected at most 1000000'],
    ['absurd rows', [1, 0xffffffff, 0xffffffff], 'images are 4294967295×4294967295; expected at least 1×1'],
  ] as const)('rejects degenerate dimensions (%s), plain and gzipped, naming the file', (name, dims, problem) => {
    const b = Buffer.alloc(16);
    b.writeUInt32BE(0x803, 0);
    dims.forEach((d, i) => b.writeUInt32BE(d >>> 0, 4 + 4 * i));
    for (const gz of [false, true]) {
      const [ip, lp] = writePair(`degenerate-${name.replace(/ /g, '-')}`, b, idxLabels([1, 2, 3]), gz);
      expect(() => loadIdxPair(ip, lp)).toThrow(`${ip}: ${problem}`);
    }
  });

  it('rejects an empty label file', () => {
    const [ip, lp] = writePair('nolabels', idxImages(1), idxLabels([]));
    expect(() => loadIdxPair(ip, lp)).toThrow(`${lp}: holds 0 labels, expected at least 1`);
  });

  it('bounds what a gzip file may expand to (1 GiB; shown here with a small bound)', () => {
    expect(MAX_IDX_BYTES).toBe(2 ** 30);
    const bomb = gzipSync(Buffer.alloc(4096));
    expect(() => maybeGunzip(bomb, 'bomb.gz', 4095)).toThrow('bomb.gz: gzip data expands to more than 4095 bytes, too large for an IDX file');
    expect(maybeGunzip(bomb, 'bomb.gz', 4096).length).toBe(4096);
  });
});

describe('loadMnistLike', () => {
  it('finds the four files with or without .gz and normalises test with train stats', () => {
    const d = join(root, 'mnist');
    mkdirSync(d);
    writeFileSync(join(d, 'train-images-idx3-ubyte.gz'), gzipSync(idxImages(5)));
    writeFileSync(join(d, 'train-labels-idx1-ubyte'), idxLabels(LABELS));
    writeFileSync(join(d, 't10k-images-idx3-ubyte'), idxImages(2, 28, 28));
    writeFileSync(join(d, 't10k-labels-idx1-ubyte.gz'), gzipSync(idxLabels([7, 0])));
    const { train, test } = loadMnistLike(d, 'mnist');
    checkPadded(train);
    expect(Array.from(test.labels)).toEqual([7, 0]);
    expect(test.mean).toEqual(train.mean);
    expect(test.std).toEqual(train.std);
    expect(train.name).toBe('mnist');
  });

  it('names the missing files and the directory', () => {
    const d = join(root, 'mnist-missing');
    mkdirSync(d);
    writeFileSync(join(d, 'train-images-idx3-ubyte'), idxImages(1));
    expect(() => loadMnistLike(d, 'fashion-mnist')).toThrow(
      new RegExp(`missing file\\(s\\) train-labels-idx1-ubyte\\[\\.gz\\], t10k-images-idx3-ubyte\\[\\.gz\\], t10k-labels-idx1-ubyte\\[\\.gz\\] in ${escape(d)}`),
    );
    expect(() => loadMnistLike(join(root, 'nope'), 'mnist')).toThrow(/nope does not exist/);
  });
});

const haveFashion = existsSync(join(DEBIAN_FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));

describe('real Fashion-MNIST (Debian dataset-fashion-mnist)', () => {
  it.skipIf(!haveFashion)('loads 60000/10000 images of 10 balanced classes', () => {
    const { train, test } = loadMnistLike(defaultFashionMnistDir(), 'fashion-mnist');
    expect([train.count, test.count]).toEqual([60000, 10000]);
    expect([train.channels, train.height, train.width]).toEqual([1, 32, 32]);
    const counts = new Array(10).fill(0);
    for (const l of train.labels) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(6000));
    // Fashion-MNIST's published pixel mean/std are ≈0.286/0.353 on 28×28; the zero border
    // (224 of 1024 pixels) lowers the mean by 28²/32² → ≈0.219.
    expect(train.mean[0]).toBeGreaterThan(0.2);
    expect(train.mean[0]).toBeLessThan(0.24);
    expect(train.std[0]).toBeGreaterThan(0.3);
    expect(train.std[0]).toBeLessThan(0.36);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
