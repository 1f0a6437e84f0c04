/**
 * Image-folder data sets (imagefolder, tinyimagenet, imagenet) → DatasetSplits.
 *
 * Every file is decoded once at load time by the worker pool (pool.ts), optionally through the
 * decoded cache (cache.ts):
 *   - training images at side S = imageSize + evalCropPad (shorter side resized to S, centre
 *     S×S square kept) into `store`, from which each training step takes Inception crops
 *     (augment.ts); `images` holds their central imageSize×imageSize crops (used when
 *     augmentation is off and for a validation split);
 *   - evaluation images as the centre crop of side imageSize/(imageSize + pad)·min(h, w),
 *     resized to imageSize — computed as "shorter side to S, central imageSize square", which
 *     is the same region.
 * Normalisation uses the ImageNet channel statistics (the authors' code does so for
 * TinyImageNet too).
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { Dataset, DatasetSplits } from '../types.js';
import { cacheKey, cachePath, readCache, writeCache } from './cache.js';
import type { DecodeSpec } from './decode.js';
import { decodeFiles } from './pool.js';
import { listSource, type FileList, type ImageSourceKind } from './sources.js';

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

export { listSource, checkSameClasses, IMAGE_EXTENSIONS, type ImageSourceKind, type FileList } from './sources.js';
export { decodeFiles, type DecodeResult } from './pool.js';
export { randomResizedCrop, centreFallback, cropResizeInto, type CropBox } from './augment.js';

/** Default evaluation-crop padding: a quarter of the side up to 64 px (16 at 64), 32 above. */
export function defaultEvalCropPad(imageSize: number): number {
  return imageSize <= 64 ? Math.round(imageSize / 4) : 32;
}

export interface ImageLoadOptions {
  dataDir: string;
  imageSize: number;
  evalCropPad?: number;
  workers: number;
  skipBadImages: boolean;
  /** Folder of the decoded cache; absent: decode every time. */
  cacheDir?: string;
  /** Progress and notes (opening the folder, decoding, cache use, skipped files). */
  log?: (text: string) => void;
  /** mixup α of the training batches (0: off). */
  mixup?: number;
  /** RandAugment ops per training image (0: off) and their magnitude bin (of 31). */
  randAugment?: number;
  randAugmentMagnitude?: number;
  /** Decode the evaluation split only (`eval`): the training split comes back empty. */
  testOnly?: boolean;
}

/** Progress lines go here unless a caller passes `log` (the CLI points it at stderr). */
let defaultLog: (text: string) => void = () => undefined;
export function setImageLoadLog(fn: (text: string) => void): void {
  defaultLog = fn;
}

export function loadImageDataset(kind: ImageSourceKind, o: ImageLoadOptions): DatasetSplits {
  const log = o.log ?? defaultLog;
  const pad = o.evalCropPad ?? defaultEvalCropPad(o.imageSize);
  const size = o.imageSize;
  const side = size + pad;
  log(`${kind}: listing ${o.dataDir}`);
  const lists = listSource(kind, o.dataDir, {
    skipBadImages: o.skipBadImages,
    onProgress: (files, classes) => log(`${kind}: found ${files} files in ${classes} classes`),
  });
  for (const split of [lists.train, lists.test]) {
    if (split.emptyClasses.length > 0) log(`${kind}: skipping empty class folders ${split.emptyClasses.join(', ')} (the classes are kept, without images)`);
  }
  const trainList = o.testOnly ? { ...lists.train, files: [], labels: new Int32Array(0) } : lists.train;
  const train = decodeSplit(kind, 'train', trainList, { side, crop: side }, o, log);
  const test = decodeSplit(kind, 'test', lists.test, { side, crop: size }, o, log);
  const numClasses = lists.train.classes.length;
  const base = { name: kind, channels: 3, height: size, width: size, numClasses, mean: IMAGENET_MEAN.slice(), std: IMAGENET_STD.slice() };
  const storeBytes = 3 * side * side;
  const bytes = 3 * size * size;
  // Training images without augmentation: the central size×size of each stored image.
  const images = new Uint8Array(train.labels.length * bytes);
  const off = Math.floor(pad / 2);
  for (let n = 0; n < train.labels.length; n++) {
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < size; y++) {
        const s = n * storeBytes + (c * side + y + off) * side + off;
        images.set(train.pixels.subarray(s, s + size), n * bytes + (c * size + y) * size);
      }
    }
  }
  const skipped = o.skipBadImages ? train.skipped + test.skipped : undefined;
  const trainDs: Dataset = { ...base, images, labels: train.labels, count: train.labels.length, store: { side, pixels: train.pixels, workers: o.workers, mixup: o.mixup ?? 0, randAugment: { n: o.randAugment ?? 0, magnitude: o.randAugmentMagnitude ?? 9 } }, skippedImages: skipped };
  const testDs: Dataset = { ...base, mean: base.mean.slice(), std: base.std.slice(), images: test.pixels, labels: test.labels, count: test.labels.length, skippedImages: skipped };
  return { train: trainDs, test: testDs };
}

/** Decoded pixels and labels of one split's good files, through the cache when one is set. */
function decodeSplit(
  kind: string,
  split: string,
  list: FileList,
  spec: DecodeSpec,
  o: ImageLoadOptions,
  log: (text: string) => void,
): { pixels: Uint8Array; labels: Int32Array; skipped: number } {
  const bytes = 3 * spec.crop * spec.crop;
  if (list.files.length === 0) return { pixels: new Uint8Array(0), labels: new Int32Array(0), skipped: 0 };
  let decoded: { pixels: Uint8Array; ok: Uint8Array } | undefined;
  let path: string | undefined;
  let key = '';
  if (o.cacheDir !== undefined) {
    key = cacheKey(list.files, list.labels, spec, o.skipBadImages);
    const root = createHash('sha256').update(resolve(o.dataDir)).digest('hex').slice(0, 12);
    path = cachePath(o.cacheDir, `${kind}-${split}-${spec.side}-${spec.crop}-${root}`);
    const hit = readCache(path, key);
    if ('reason' in hit) log(`${kind} ${split}: decoded cache ${path}: ${hit.reason}; decoding`);
    else {
      log(`${kind} ${split}: ${list.files.length} images from the decoded cache ${path}`);
      decoded = hit;
    }
  }
  if (decoded === undefined) {
    const t0 = Date.now();
    const r = decodeFiles(list.files, spec, {
      workers: o.workers,
      skipBad: o.skipBadImages,
      onProgress: (done, total) => log(`${kind} ${split}: decoded ${done}/${total} images`),
    });
    for (const b of r.bad.slice(0, 10)) log(`skipped bad image: ${b.message}`);
    if (r.bad.length > 10) log(`... and ${r.bad.length - 10} more bad images skipped`);
    log(`${kind} ${split}: ${list.files.length} images decoded in ${((Date.now() - t0) / 1000).toFixed(1)} s with ${o.workers} workers`);
    decoded = { pixels: r.pixels, ok: r.ok };
    if (path !== undefined && o.cacheDir !== undefined) writeCache(path, o.cacheDir, key, decoded, bytes);
  }
  return compact(decoded, list.labels, bytes);
}

/** Drops the slots of bad files. */
function compact(d: { pixels: Uint8Array; ok: Uint8Array }, labels: Int32Array, bytes: number): { pixels: Uint8Array; labels: Int32Array; skipped: number } {
  let good = 0;
  for (const v of d.ok) good += v;
  if (good === d.ok.length) return { pixels: d.pixels, labels: labels.slice(), skipped: 0 };
  const pixels = new Uint8Array(new SharedArrayBuffer(good * bytes)); // shared: see AugmentPool
  const out = new Int32Array(good);
  for (let i = 0, k = 0; i < d.ok.length; i++) {
    if (!d.ok[i]) continue;
    pixels.set(d.pixels.subarray(i * bytes, (i + 1) * bytes), k * bytes);
    out[k++] = labels[i];
  }
  return { pixels, labels: out, skipped: d.ok.length - good };
}
