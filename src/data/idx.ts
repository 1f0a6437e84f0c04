/**
 * MNIST / Fashion-MNIST IDX loaders (SPEC 6). IDX: big-endian uint32 magic
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

const IDX_IMAGES_MAGIC = 0x00000803;
const IDX_LABELS_MAGIC = 0x00000801;
/** Side the images are padded to (the ViT's input size). */
const TARGET_SIDE = 32;

/** Reads a file, gunzipping it when it starts with the gzip magic 1f 8b. */
function readMaybeGzip(path: string): Buffer {
  const raw = readBytes(path);
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return gunzipSync(raw);
    } catch (e) {
      throw new Error(`${path}: bad gzip data: ${(e as Error).message}`);
    }
  }
  return raw;
}

/** Parses an IDX header, checking magic and that the data size matches the dimensions. */
function parseIdx(path: string, buf: Buffer, magic: number, what: string): number[] {
  const ndim = magic & 0xff;
  const headerBytes = 4 + 4 * ndim;
  if (buf.length < 4) {
    throw new Error(`${path}: truncated: ${buf.length} bytes, too short for an IDX header`);
  }
  const got = buf.readUInt32BE(0);
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
  for (let i = 0; i < ndim; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  const expected = headerBytes + dims.reduce((a, b) => a * b, 1);
  if (buf.length !== expected) {
    const kind = buf.length < expected ? 'truncated' : 'trailing bytes';
    throw new Error(
      `${path}: ${kind}: header says ${dims.join('×')} (${expected} bytes with header), ` +
        `file has ${buf.length} bytes`,
    );
  }
  return dims;
}

export interface IdxOptions {
  /** Labels must lie in [0, numClasses); default 10 (MNIST, Fashion-MNIST). */
  numClasses?: number;
  /** Data set name stored in the result. */
  name?: string;
}

/**
 * Loads an IDX image file + label file pair into a Dataset (1 channel, padded to 32×32).
 * mean/std are computed from these images; callers loading a test split should overwrite
 * them with the training split's (loadMnistLike does).
 */
export function loadIdxPair(imagesPath: string, labelsPath: string, opts: IdxOptions = {}): Dataset {
  const numClasses = opts.numClasses ?? 10;
  const imgBuf = readMaybeGzip(imagesPath);
  const [n, rows, cols] = parseIdx(imagesPath, imgBuf, IDX_IMAGES_MAGIC, 'images, ubyte, 3 dims');
  const lblBuf = readMaybeGzip(labelsPath);
  const [nLabels] = parseIdx(labelsPath, lblBuf, IDX_LABELS_MAGIC, 'labels, ubyte, 1 dim');
  if (n !== nLabels) {
    throw new Error(
      `image/label count mismatch: ${imagesPath} has ${n} images but ${labelsPath} has ` +
        `${nLabels} labels`,
    );
  }
  if (rows > TARGET_SIDE || cols > TARGET_SIDE || (TARGET_SIDE - rows) % 2 || (TARGET_SIDE - cols) % 2) {
    throw new Error(
      `${imagesPath}: images are ${rows}×${cols}; expected at most ${TARGET_SIDE}×${TARGET_SIDE} ` +
        `with an even margin so they can be centred by zero padding`,
    );
  }

  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = lblBuf[8 + i];
    if (v >= numClasses) {
      throw new Error(
        `${labelsPath}: label ${v} out of range [0, ${numClasses - 1}] in record ${i} (0-based)`,
      );
    }
    labels[i] = v;
  }

  // Centre each image in a zeroed 32×32 canvas.
  const top = (TARGET_SIDE - rows) / 2;
  const left = (TARGET_SIDE - cols) / 2;
  const S = TARGET_SIDE * TARGET_SIDE;
  const images = new Uint8Array(n * S);
  const src0 = 16;
  for (let i = 0; i < n; i++) {
    const src = src0 + i * rows * cols;
    const dst = i * S + top * TARGET_SIDE + left;
    for (let r = 0; r < rows; r++) {
      images.set(imgBuf.subarray(src + r * cols, src + (r + 1) * cols), dst + r * TARGET_SIDE);
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
