// Image-folder data sets: listing, decoding (modes, sizes), labels, worker-count independence,
// the evaluation crop, TinyImageNet's layout, and the class-mismatch error.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadImageDataset, makeTrainBatch, IMAGENET_MEAN, IMAGENET_STD } from '../src/data/index.js';
import { ensureCliBuilt } from './support/cli.js';
import { makeImageFolder, makeTinyImageNet, pattern } from './support/images.js';

let tmp: string;
let folder: string;
const logs: string[] = [];
const load = (workers: number, size = 16, pad = 4, dir = folder) =>
  loadImageDataset('imagefolder', { dataDir: dir, imageSize: size, evalCropPad: pad, workers, skipBadImages: false, log: (t) => logs.push(t) });

beforeAll(async () => {
  ensureCliBuilt(); // the decode workers run the compiled script
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-img-'));
  folder = join(tmp, 'folder');
  await makeImageFolder(folder, 3, 6);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('imagefolder source', () => {
  it('labels follow the sorted class folders; every mode becomes 3-channel uint8 at the right sizes', () => {
    const { train, test } = load(2);
    expect(train.count).toBe(18);
    expect(test.count).toBe(6);
    expect(Array.from(train.labels)).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]);
    expect(Array.from(test.labels)).toEqual([0, 0, 1, 1, 2, 2]);
    for (const ds of [train, test]) {
      expect([ds.channels, ds.height, ds.width, ds.numClasses]).toEqual([3, 16, 16, 3]);
      expect(ds.images.length).toBe(ds.count * 3 * 16 * 16);
      expect(ds.mean).toEqual(IMAGENET_MEAN);
      expect(ds.std).toEqual(IMAGENET_STD);
    }
    expect(train.store?.side).toBe(20);
    expect(train.store?.pixels.length).toBe(18 * 3 * 20 * 20);
    // Class b image 0 is PNG (mode index 1): its red channel is exactly the class colour 80.
    const red = train.images.subarray(6 * 768, 6 * 768 + 256);
    expect(Math.min(...red)).toBe(80);
    expect(Math.max(...red)).toBe(80);
    // Gray (class a image 2) has equal channels; CMYK, 16-bit, alpha decode to plausible colour.
    const g = train.images.subarray(2 * 768, 3 * 768);
    expect(Array.from(g.subarray(0, 256))).toEqual(Array.from(g.subarray(256, 512)));
    const a16 = train.images.subarray(1 * 768, 2 * 768); // class a image 1: PNG
    expect(Math.abs(a16[0] - 20)).toBeLessThanOrEqual(0);
    const c16 = train.images.subarray(4 * 768, 5 * 768); // class a image 4: 16-bit PNG
    expect(Math.abs(c16[100] - 20)).toBeLessThanOrEqual(3);
    const alpha = train.images.subarray(5 * 768, 6 * 768); // class a image 5: RGBA PNG, alpha dropped
    expect(Math.abs(alpha[100] - 20)).toBeLessThanOrEqual(3);
    // CMYK JPEG (class a image 3): converted through the colour profile, so only roughly the same.
    const cmyk = train.images.subarray(3 * 768, 4 * 768);
    expect(Math.abs(cmyk[256 + 128] - alpha[256 + 128])).toBeLessThan(40);
  });

  it('gives the same bytes and the same batches with 1 and 2 workers', () => {
    const a = load(1);
    const b = load(2);
    expect(Buffer.from(a.train.store!.pixels).equals(Buffer.from(b.train.store!.pixels))).toBe(true);
    expect(Buffer.from(a.test.images).equals(Buffer.from(b.test.images))).toBe(true);
    const spec = { seed: 7, epoch: 1, index: 1, batchSize: 8, augment: true };
    const ba = makeTrainBatch(a.train, spec);
    const bb = makeTrainBatch(b.train, spec);
    expect(Array.from(ba.labels)).toEqual(Array.from(bb.labels));
    expect(ba.images).toEqual(bb.images);
    // A shard is the same samples as in the whole batch.
    expect(a.train.store!.workers).toBe(1); // computed on the main thread
    expect(b.train.store!.workers).toBe(2); // computed by the augmentation worker pool
    for (const ds of [a.train, b.train]) {
      const shard = makeTrainBatch(ds, { ...spec, shard: { offset: 3, count: 4 } });
      expect(shard.images).toEqual(ba.images.subarray(3 * 768, 7 * 768));
      expect(Array.from(shard.labels)).toEqual(Array.from(ba.labels.subarray(3, 7)));
    }
    // Many batches through the pool in a row (each waits for every worker): still equal; also
    // with RandAugment (the ops are drawn on the main thread, applied in the workers).
    for (const ra of [undefined, { n: 2, magnitude: 9 }]) {
      a.train.store!.randAugment = ra;
      b.train.store!.randAugment = ra;
      for (let index = 0; index < 4; index++) {
        const s2 = { ...spec, batchSize: 4, index };
        expect(makeTrainBatch(b.train, s2).images).toEqual(makeTrainBatch(a.train, s2).images);
      }
    }
    expect(makeTrainBatch(a.train, { ...spec, batchSize: 4 }).images).not.toEqual(makeTrainBatch({ ...a.train, store: { ...a.train.store!, randAugment: undefined } }, { ...spec, batchSize: 4 }).images);
  });

  it('evaluation takes the centre crop of side size/(size+pad)·min(h, w), resized to size', async () => {
    const size = 16;
    const pad = 8;
    const { test } = load(1, size, pad);
    // Eval image 1 of class a: PNG (mode index 1), 53×45 (see makeImageFolder).
    const [w, h] = [53, 45];
    const side = Math.round((size / (size + pad)) * Math.min(w, h));
    const ref = await sharp(pattern(w, h, 0, 1), { raw: { width: w, height: h, channels: 3 } })
      .extract({ left: Math.round((w - side) / 2), top: Math.round((h - side) / 2), width: side, height: side })
      .resize(size, size, { kernel: 'cubic' })
      .raw()
      .toBuffer();
    const got = test.images.subarray(1 * 768, 2 * 768);
    let diff = 0;
    for (let p = 0; p < size * size; p++) for (let c = 0; c < 3; c++) diff += Math.abs(got[c * 256 + p] - ref[p * 3 + c]);
    expect(diff / (3 * size * size)).toBeLessThan(4); // resampling order differs, the region does not
    // A region off by a few pixels would differ far more (the pattern is a gradient).
    const off = await sharp(pattern(w, h, 0, 1), { raw: { width: w, height: h, channels: 3 } })
      .extract({ left: 0, top: 0, width: side, height: side })
      .resize(size, size, { kernel: 'cubic' })
      .raw()
      .toBuffer();
    let offDiff = 0;
    for (let p = 0; p < size * size; p++) for (let c = 0; c < 3; c++) offDiff += Math.abs(got[c * 256 + p] - off[p * 3 + c]);
    expect(offDiff / (3 * size * size)).toBeGreaterThan(8);
  });

  it('needs the same classes in the training and evaluation folders, naming the difference', async () => {
    const dir = join(tmp, 'mismatch');
    await makeImageFolder(dir, 2, 1);
    mkdirSync(join(dir, 'train', 'zebra'));
    writeFileSync(join(dir, 'train', 'zebra', 'x.png'), await sharp(pattern(8, 8, 0, 0), { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer());
    expect(() => load(1, 16, 4, dir)).toThrow(/different classes \(only in .*train: zebra\)/);
  });

  it('reports a missing layout', () => {
    expect(() => load(1, 16, 4, join(tmp, 'nope'))).toThrow(/does not exist/);
    mkdirSync(join(tmp, 'empty'));
    expect(() => load(1, 16, 4, join(tmp, 'empty'))).toThrow(/expected .*train\/<class>\/<images>/);
  });
});

describe('tinyimagenet source', () => {
  it('reads wnids.txt, train/<wnid>/images and val/val_annotations.txt without reorganising', async () => {
    const dir = join(tmp, 'tiny');
    await makeTinyImageNet(dir, 3, 4);
    const { train, test } = loadImageDataset('tinyimagenet', { dataDir: dir, imageSize: 16, workers: 2, skipBadImages: false, log: () => undefined });
    expect(train.numClasses).toBe(3);
    expect(Array.from(train.labels)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    // val_0,1 are class 0; val_2,3 class 1; val_4,5 class 2 (annotations listed in reverse).
    expect(Array.from(test.labels)).toEqual([0, 0, 1, 1, 2, 2]);
    // The red channel encodes the class (JPEG: within a few levels).
    for (let n = 0; n < test.count; n++) expect(Math.abs(test.images[n * 768 + 100] - (test.labels[n] * 60 + 20))).toBeLessThan(6);
    expect(train.store?.side).toBe(20); // 16 + default pad 4
  });

  it('names a class of val_annotations.txt missing from wnids.txt', async () => {
    const dir = join(tmp, 'tiny-bad');
    await makeTinyImageNet(dir, 2, 1);
    writeFileSync(join(dir, 'val', 'val_annotations.txt'), 'val_0.JPEG\tn09999999\t0\t0\t1\t1\n');
    expect(() => loadImageDataset('tinyimagenet', { dataDir: dir, imageSize: 16, workers: 1, skipBadImages: false, log: () => undefined })).toThrow(
      /val_annotations.txt: line 1: class n09999999 is not in .*wnids.txt/,
    );
  });
});
