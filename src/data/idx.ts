/**
 * MNIST / Fashion-MNIST IDX loaders (docs/method.md section 6). IDX: big-endian uint32 magic
 * (0x00000803 = unsigned bytes, 3 dims: images [N, rows, cols]; 0x00000801 = 1 dim: labels [N]),
 * then one big-endian uint32 per dimension, then the data. Files may be gzip-compressed.
 *
 * The ViT takes 32×32 inputs with patch 4, so 28×28 images are zero-padded (2 px each side)
 * to 32×32; channels stays 1. Mean/std are computed on the padded training images.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { hex32, isFile, readBytes } from './files.js';
import { channelStats } from './stats.js';
import type { Dataset, DatasetSplits } from './types.js';
import { MAX_IMAGES } from '../config/schema.js';

const IDX_IMAGES_MAGIC = 0x00000803;
const IDX_LABELS_MAGIC = 0x00000801;
/** Side the images are padded to (the ViT's input size). */
const TARGET_SIDE = 32;

/**
 * Largest decompressed IDX file accepted: far above MNIST-like sets (47 MB for 60000 28×28
 * images), and a bound on what a gzip bomb can make us allocate.
 */
export const MAX_IDX_BYTES = 1 << 30;
/** Largest image count accepted (also the synthetic set's limit). */
const MAX_IDX_IMAGES = MAX_IMAGES;

/** The file's bytes, gunzipped (to at most `maxBytes`) when they start with the gzip magic 1f 8b. */
export function maybeGunzip(raw: Uint8Array, path: string, maxBytes = MAX_IDX_BYTES): Uint8Array {
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return gunzipSync(raw, { maxOutputLength: maxBytes });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ERR_BUFFER_TOO_LARGE') {
        throw new Error(`${path}: gzip data expands to more than ${maxBytes} bytes, too large for an IDX file`);
      }
      throw new Error(`${path}: bad gzip data: ${err.message}`);
    }
  }
  return raw;
}

/** Parses an IDX header: magic, then one big-endian uint32 per dimension. */
function parseIdxHeader(path: string, buf: Uint8Array, magic: number, what: string): number[] {
  const ndim = magic & 0xff;
  const headerBytes = 4 + 4 * ndim;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 4) {
    throw new Error(`${path}: truncated: ${buf.length} bytes, too short for an IDX header`);
  }
  const got = view.getUint32(0);
  if (got !== magic) {
    throw new Error(
      `${path}: wrong magic number: expected ${hex32(magic)} (IDX ${what}), got ${hex32(got)}`,
    );
  }
  if (buf.length < headerBytes) {
    throw new Error(
      `${path}: truncated: ${buf.length} bytes, IDX ${what} header needs ${headerBytes}`,
    );
  }
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i));
  return dims;
}

/** The file must hold exactly header + product(dims) bytes (dims already bounded: exact). */
function checkIdxSize(path: string, buf: Uint8Array, dims: number[]): void {
  const expected = 4 + 4 * dims.length + dims.reduce((a, b) => a * b, 1);
  if (buf.length !== expected) {
    const kind = buf.length < expected ? 'truncated' : 'trailing bytes';
    throw new Error(
      `${path}: ${kind}: header says ${dims.join('×')} (${expected} bytes with header), ` +
        `file has ${buf.length} bytes`,
    );
  }
}

/** Images of an IDX image file: [count, rows, cols] unsigned bytes, row-major. */
export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** count × rows × cols bytes (a view into the file's bytes). */
  pixels: Uint8Array;
}

/**
 * Parses an IDX image file (`buf`: its bytes, gzipped or not; `path` names it in messages).
 * Rejects degenerate and absurd dimensions before any size arithmetic: no images, 0×0
 * images, images larger than the 32×32 the model takes, more than MAX_IMAGES images.
 */
export function parseIdxImages(buf: Uint8Array, path: string): IdxImages {
  const data = maybeGunzip(buf, path);
  const [n, rows, cols] = parseIdxHeader(path, data, IDX_IMAGES_MAGIC, 'images, ubyte, 3 dims');
  if (n === 0) throw new Error(`${path}: holds 0 images, expected at least 1`);
  if (n > MAX_IDX_IMAGES) throw new Error(`${path}: header says ${n} images, expected at most ${MAX_IDX_IMAGES}`);
  if (rows === 0 || cols === 0 || rows > TARGET_SIDE || cols > TARGET_SIDE || (TARGET_SIDE - rows) % 2 || (TARGET_SIDE - cols) % 2) {
    throw new Error(
      `${path}: images are ${rows}×${cols}; expected at least 1×1 and at most ${TARGET_SIDE}×${TARGET_SIDE} ` +
        `with an even margin so they can be centred by zero padding`,
    );
  }
  checkIdxSize(path, data, [n, rows, cols]);
  return { count: n, rows, cols, pixels: data.subarray(16) };
}

/** Parses an IDX label file: [count] unsigned bytes, each checked to lie in [0, numClasses). */
export function parseIdxLabels(buf: Uint8Array, path: string, numClasses = 10): Int32Array {
  const data = maybeGunzip(buf, path);
  const [n] = parseIdxHeader(path, data, IDX_LABELS_MAGIC, 'labels, ubyte, 1 dim');
  if (n === 0) throw new Error(`${path}: holds 0 labels, expected at least 1`);
  checkIdxSize(path, data, [n]);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = data[8 + i];
    if (v >= numClasses) {
      throw new Error(`${path}: label ${v} out of range [0, ${numClasses - 1}] in record ${i} (0-based)`);
    }
    labels[i] = v;
  }
  return labels;
}

export interface IdxOptions {
  /** Labels must lie in [0, numClasses); default 10 (MNIST, Fashion-MNIST). */
  numClasses?: number;
  /** Data set name stored in the result. */
  name?: string;
}

/**
 * An IDX image file + label file pair (already parsed) into a Dataset (1 channel, padded to
 * 32×32). The names are used in messages.
 */
export function idxDataset(img: IdxImages, labels: Int32Array, names: { images: string; labels: string }, opts: IdxOptions = {}): Dataset {
  const numClasses = opts.numClasses ?? 10;
  const { count: n, rows, cols } = img;
  if (n !== labels.length) {
    throw new Error(
      `image/label count mismatch: ${names.images} has ${n} images but ${names.labels} has ` +
        `${labels.length} labels`,
    );
  }
  // Centre each image in a zeroed 32×32 canvas.
  const top = (TARGET_SIDE - rows) / 2;
  const left = (TARGET_SIDE - cols) / 2;
  const S = TARGET_SIDE * TARGET_SIDE;
  const images = new Uint8Array(n * S);
  for (let i = 0; i < n; i++) {
    const src = i * rows * cols;
    const dst = i * S + top * TARGET_SIDE + left;
    for (let r = 0; r < rows; r++) {
      images.set(img.pixels.subarray(src + r * cols, src + (r + 1) * cols), dst + r * TARGET_SIDE);
    }
  }
  const { mean, std } = channelStats(images, n, 1, S);
  return {
    name: opts.name ?? 'idx',
    images,
    labels,
    count: n,
    channels: 1,
    height: TARGET_SIDE,
    width: TARGET_SIDE,
    numClasses,
    mean,
    std,
  };
}

/**
 * Loads an IDX image file + label file pair into a Dataset (1 channel, padded to 32×32).
 * mean/std are computed from these images; callers loading a test split should overwrite
 * them with the training split's (loadMnistLike does).
 */
export function loadIdxPair(imagesPath: string, labelsPath: string, opts: IdxOptions = {}): Dataset {
  const img = parseIdxImages(readBytes(imagesPath), imagesPath);
  const labels = parseIdxLabels(readBytes(labelsPath), labelsPath, opts.numClasses ?? 10);
  return idxDataset(img, labels, { images: imagesPath, labels: labelsPath }, opts);
}

export type MnistKind = 'mnist' | 'fashion-mnist';

/** Finds `base` in dir as-is or with `.gz`; also accepts the `train-images.idx3-ubyte` spelling. */
function findIdxFile(dir: string, base: string, tried: string[]): string | undefined {
  const dotted = base.replace(/-(idx\d-ubyte)$/, '.$1');
  for (const name of [base, `${base}.gz`, dotted, `${dotted}.gz`]) {
    const p = join(dir, name);
    if (isFile(p)) return p;
  }
  tried.push(`${base}[.gz]`);
  return undefined;
}

/** Loads the four standard MNIST-layout files from dir (plain or .gz). */
export function loadMnistLike(dir: string, kind: MnistKind): DatasetSplits {
  if (!existsSync(dir)) {
    throw new Error(`${kind}: data directory ${dir} does not exist`);
  }
  const missing: string[] = [];
  const f = {
    trainImages: findIdxFile(dir, 'train-images-idx3-ubyte', missing),
    trainLabels: findIdxFile(dir, 'train-labels-idx1-ubyte', missing),
    testImages: findIdxFile(dir, 't10k-images-idx3-ubyte', missing),
    testLabels: findIdxFile(dir, 't10k-labels-idx1-ubyte', missing),
  };
  if (!f.trainImages || !f.trainLabels || !f.testImages || !f.testLabels) {
    throw new Error(
      `${kind}: missing file(s) ${missing.join(', ')} in ${dir}; expected ` +
        `train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, ` +
        `t10k-labels-idx1-ubyte (each optionally .gz)`,
    );
  }
  const train = loadIdxPair(f.trainImages, f.trainLabels, { name: kind });
  const test = loadIdxPair(f.testImages, f.testLabels, { name: kind });
  // Normalise the test split with the training statistics.
  test.mean = train.mean.slice();
  test.std = train.std.slice();
  return { train, test };
}

/** Where Debian's `dataset-fashion-mnist` package installs the data (`dpkg -L` shows it). */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export function defaultFashionMnistDir(): string {
  if (!isFile(join(DEBIAN_FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'))) {
    throw new Error(
      `Fashion-MNIST not found in ${DEBIAN_FASHION_MNIST_DIR}: run ` +
        `\`apt-get install dataset-fashion-mnist\` or pass --data-dir <dir with the IDX files>`,
    );
  }
  return DEBIAN_FASHION_MNIST_DIR;
}
