// Bad input (each case: a clear error naming the file, or skipped and counted) and the decoded
// cache (hit, stale, truncated).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadImageDataset } from '../src/data/index.js';
import { ensureCliBuilt } from './support/cli.js';
import { makeImageFolder, writeImage } from './support/images.js';

let tmp: string;
let n = 0;
/** A fresh 2-class folder with 3 training images per class. */
async function freshFolder(): Promise<string> {
  const dir = join(tmp, `f${n++}`);
  await makeImageFolder(dir, 2, 3);
  return dir;
}
function load(dir: string, skip: boolean, cacheDir?: string, log: string[] = []) {
  return loadImageDataset('imagefolder', { dataDir: dir, imageSize: 16, workers: 2, skipBadImages: skip, cacheDir, log: (t) => log.push(t) });
}

beforeAll(() => {
  ensureCliBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-imgbad-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('bad input', () => {
  const jpegBytes = (dir: string) => readFileSync(join(dir, 'train', 'classa', 'img0.jpg'));
  const cases: [string, (dir: string, file: string) => void, RegExp][] = [
    ['a truncated JPEG', (dir, f) => writeFileSync(f, jpegBytes(dir).subarray(0, Math.floor(jpegBytes(dir).length * 0.6))), /premature end|truncated|cannot decode/],
    ['a zero-byte file', (_, f) => writeFileSync(f, ''), /unsupported image format|cannot decode/],
    ['a non-image file', (_, f) => writeFileSync(f, 'these are not the pixels you are looking for\n'), /unsupported image format/],
    ['an unreadable file (dangling link)', (dir, f) => symlinkSync(join(dir, 'gone.jpg'), f), /missing|cannot decode/],
  ];
  for (const [what, make, why] of cases) {
    it(`${what}: an error naming the file by default; skipped and counted with skipBadImages`, async () => {
      const dir = await freshFolder();
      const file = join(dir, 'train', 'classb', 'zz-bad.jpg');
      make(dir, file);
      let msg = '';
      try {
        load(dir, false);
      } catch (e) {
        msg = (e as Error).message;
      }
      expect(msg).toContain(`${file}: cannot decode image`);
      expect(msg).toMatch(why);
      const { train, test } = load(dir, true);
      expect(train.count).toBe(6);
      expect(train.skippedImages).toBe(1);
      expect(test.count).toBe(4);
      expect(Array.from(train.labels)).toEqual([0, 0, 0, 1, 1, 1]);
    });
  }

  it('an empty class folder: an error naming it; kept without images with skipBadImages', async () => {
    const dir = await freshFolder();
    mkdirSync(join(dir, 'train', 'classc'));
    mkdirSync(join(dir, 'val', 'classc'));
    writeFileSync(join(dir, 'train', 'classc', 'notes.txt'), 'no images here');
    expect(() => load(dir, false)).toThrow(new RegExp(`${join(dir, 'train', 'classc')}: class folder holds no image`));
    const log: string[] = [];
    const { train } = load(dir, true, undefined, log);
    expect(train.numClasses).toBe(3);
    expect(train.count).toBe(6);
    expect(log.join('\n')).toMatch(/skipping empty class folders classc/);
  });

  it('an unreadable file with the permission bits off (when not running as root)', async () => {
    if (process.getuid?.() === 0) return; // root reads everything; the dangling link covers this case
    const dir = await freshFolder();
    const file = join(dir, 'train', 'classa', 'img0.jpg');
    const { chmodSync } = await import('node:fs');
    chmodSync(file, 0o000);
    expect(() => load(dir, false)).toThrow(new RegExp(`${file}: cannot decode image`));
  });
});

describe('decoded cache', () => {
  it('is written once, hit later, rebuilt when a file changes or the cache is truncated', async () => {
    const dir = await freshFolder();
    const cache = join(tmp, 'cache');
    let log: string[] = [];
    const first = load(dir, false, cache, log);
    expect(log.join('\n')).toMatch(/imagefolder train: decoded cache .*: no cache yet; decoding/);
    const files = readdirSync(cache).filter((f) => f.endsWith('.u8'));
    expect(files).toHaveLength(2); // train store and test crops
    log = [];
    const second = load(dir, false, cache, log);
    expect(log.join('\n')).toMatch(/imagefolder train: 6 images from the decoded cache/);
    expect(log.join('\n')).not.toMatch(/decoded in/);
    expect(Buffer.from(second.train.store!.pixels).equals(Buffer.from(first.train.store!.pixels))).toBe(true);
    expect(Buffer.from(second.test.images).equals(Buffer.from(first.test.images))).toBe(true);
    expect(Array.from(second.train.labels)).toEqual(Array.from(first.train.labels));

    // A source file changes: stale, rebuilt with the new pixels.
    await writeImage(join(dir, 'train', 'classa', 'img0.jpg'), 30, 30, 3, 9, 'jpeg');
    log = [];
    const third = load(dir, false, cache, log);
    expect(log.join('\n')).toMatch(/imagefolder train: decoded cache .*: stale/);
    expect(log.join('\n')).toMatch(/imagefolder test: 4 images from the decoded cache/); // untouched split
    expect(Buffer.from(third.train.store!.pixels).equals(Buffer.from(first.train.store!.pixels))).toBe(false);

    // Decode settings are part of the key too.
    log = [];
    loadImageDataset('imagefolder', { dataDir: dir, imageSize: 16, evalCropPad: 8, workers: 1, skipBadImages: false, cacheDir: cache, log: (t) => log.push(t) });
    expect(log.join('\n')).toMatch(/imagefolder train: decoded cache .*: no cache yet/); // another side: another file

    // Truncated (a crash while copying it, a full disk): detected by its length, rebuilt.
    const trainCache = join(cache, readdirSync(cache).find((f) => f.includes('-train-20-20-'))!);
    truncateSync(trainCache, statSync(trainCache).size - 100);
    log = [];
    const fourth = load(dir, false, cache, log);
    expect(log.join('\n')).toMatch(/decoded cache .*: truncated/);
    expect(Buffer.from(fourth.train.store!.pixels).equals(Buffer.from(third.train.store!.pixels))).toBe(true);
    writeFileSync(trainCache, 'garbage');
    log = [];
    load(dir, false, cache, log);
    expect(log.join('\n')).toMatch(/not a decoded-cache file/);
    log = [];
    load(dir, false, cache, log);
    expect(log.join('\n')).toMatch(/imagefolder train: 6 images from the decoded cache/);
  });
});
