/**
 * Training and evaluation batches.
 *
 * Batch `index` of epoch `epoch` is a PURE function of (seed, epoch, index) and the data set:
 *   - the epoch's sample order is permutation(N, Rng(deriveSeed(seed, epoch))), and batch k
 *     takes order[k*B .. (k+1)*B);
 *   - its augmentation draws come from Rng(deriveSeed(seed, epoch, k, AUG_STREAM)).
 * No generator state is carried from one batch to the next, so resuming a run needs only
 * (epoch, batch index) in the checkpoint: the resumed run sees exactly the batches the
 * uninterrupted one would have, and batches can be built in any order.
 */
import { deriveSeed, permutation, Rng } from '../util/rng.js';
import { augmentInto, IDENTITY_AUG, normLut, PAD, type AugParams } from './augment.js';
import { cropResizeInto, randomResizedCrop } from './images/augment.js';
import { AugmentPool, type AugmentJob } from './images/augment-pool.js';
import { betaSymmetric, mixPartner } from './images/mixup.js';
import { drawRandAugment } from './images/randaugment.js';
import { imageSize, type Dataset, type ImageStore } from './types.js';

/** Stream id for augmentation draws (deriveSeed(seed, epoch, index, AUG_STREAM)). */
export const AUG_STREAM = 1;

export interface Batch {
  /** count*C*H*W normalised floats (buffer may be longer when reused; read `count`). */
  images: Float32Array;
  labels: Int32Array;
  /** Samples in this batch. */
  count: number;
}

export interface TrainBatchSpec {
  seed: number;
  epoch: number;
  index: number;
  batchSize: number;
  /** Pad-crop-flip augmentation on (training) or plain normalisation. */
  augment: boolean;
  /**
   * Data-parallel runs: build only samples [offset, offset + count) of the batch (this rank's
   * shard), exactly as they are in the whole batch, into positions 0..count-1. The union of
   * the ranks' shards is the single-process batch. Absent: the whole batch.
   */
  shard?: { offset: number; count: number };
}

/**
 * The shard of a global batch of `batchSize` that rank `rank` of `size` takes: consecutive
 * samples in rank order, the first batchSize mod size ranks one more than the rest.
 */
export function rankShard(batchSize: number, rank: number, size: number): { offset: number; count: number } {
  const base = Math.floor(batchSize / size);
  const extra = batchSize % size;
  return { offset: rank * base + Math.min(rank, extra), count: base + (rank < extra ? 1 : 0) };
}

/** Training steps per epoch: the last partial batch is dropped (docs/method.md section 5: 50000/256 → 195). */
export function stepsPerEpoch(ds: Dataset, batchSize: number): number {
  checkBatchSize(batchSize);
  return Math.floor(ds.count / batchSize);
}

/** Buffers for one batch of `ds`, for reuse with makeTrainBatch / evalBatches. */
export function allocBatch(ds: Dataset, batchSize: number): Batch {
  checkBatchSize(batchSize);
  return {
    images: new Float32Array(batchSize * imageSize(ds)),
    labels: new Int32Array(batchSize),
    count: 0,
  };
}

// One-entry caches: the epoch order and normalisation table are pure functions of their keys,
// recomputing them per batch would only waste time (O(N) per batch for the permutation).
const orderCache = new WeakMap<Dataset, { seed: number; epoch: number; order: Int32Array }>();
const lutCache = new WeakMap<Dataset, { mean: number[]; std: number[]; lut: Float32Array }>();

/** Sample order of `epoch`: permutation(N, Rng(deriveSeed(seed, epoch))). */
export function epochOrder(ds: Dataset, seed: number, epoch: number): Int32Array {
  const hit = orderCache.get(ds);
  if (hit && hit.seed === seed && hit.epoch === epoch && hit.order.length === ds.count) {
    return hit.order;
  }
  const order = permutation(ds.count, new Rng(deriveSeed(seed, epoch)));
  orderCache.set(ds, { seed, epoch, order });
  return order;
}

function lutFor(ds: Dataset): Float32Array {
  const hit = lutCache.get(ds);
  // Compare by value: callers may replace mean/std (e.g. test split gets train statistics).
  if (hit && sameNumbers(hit.mean, ds.mean) && sameNumbers(hit.std, ds.std)) return hit.lut;
  const lut = normLut(ds);
  lutCache.set(ds, { mean: ds.mean.slice(), std: ds.std.slice(), lut });
  return lut;
}

/**
 * Builds training batch `spec.index` of `spec.epoch` into `out` (allocated if omitted; no
 * allocation per batch when given). Throws if the index is past stepsPerEpoch.
 */
export function makeTrainBatch(ds: Dataset, spec: TrainBatchSpec, out?: Batch): Batch {
  const { seed, epoch, index, batchSize } = spec;
  const steps = stepsPerEpoch(ds, batchSize);
  if (!Number.isInteger(index) || index < 0 || index >= steps) {
    throw new Error(
      `makeTrainBatch: batch index ${index} out of range [0, ${steps - 1}] ` +
        `(${ds.count} samples, batch ${batchSize}, last partial batch dropped)`,
    );
  }
  const first = spec.shard?.offset ?? 0;
  const count = spec.shard?.count ?? batchSize;
  if (spec.shard && !(Number.isInteger(first) && Number.isInteger(count) && first >= 0 && count >= 1 && first + count <= batchSize)) {
    throw new Error(`makeTrainBatch: shard ${JSON.stringify(spec.shard)} is not inside a batch of ${batchSize}`);
  }
  const b = out ?? allocBatch(ds, count);
  checkBuffers(b, ds, count);
  const order = epochOrder(ds, seed, epoch);
  const lut = lutFor(ds);
  const size = imageSize(ds);
  const rng = spec.augment ? new Rng(deriveSeed(seed, epoch, index, AUG_STREAM)) : undefined;
  const aug: AugParams = { ...IDENTITY_AUG };
  if (rng && ds.store) {
    imageFolderBatch(ds, ds.store, rng, order.subarray(index * batchSize, (index + 1) * batchSize), first, count, b);
    b.count = count;
    return b;
  }
  for (let j = 0; j < first + count; j++) {
    const n = order[index * batchSize + j];
    if (rng) {
      // Every sample's draws are made (they come from one stream), a shard keeps its own.
      aug.dy = rng.nextInt(2 * PAD + 1);
      aug.dx = rng.nextInt(2 * PAD + 1);
      aug.flip = rng.nextInt(2) === 1;
    }
    if (j < first) continue;
    augmentInto(ds, n, aug, lut, b.images, (j - first) * size);
    b.labels[j - first] = ds.labels[n];
  }
  b.count = count;
  return b;
}

/**
 * Evaluation batches in data-set order, normalised only, covering every sample (the last
 * batch may be smaller). Yielded arrays are exact-length views of one buffer pair (`out`, or
 * one allocated here) that is refilled per batch: consume each batch before advancing.
 */
export function* evalBatches(ds: Dataset, batchSize: number, out?: Batch): Generator<Batch> {
  const b = out ?? allocBatch(ds, batchSize);
  checkBuffers(b, ds, batchSize);
  const lut = lutFor(ds);
  const size = imageSize(ds);
  for (let start = 0; start < ds.count; start += batchSize) {
    const count = Math.min(batchSize, ds.count - start);
    for (let j = 0; j < count; j++) {
      augmentInto(ds, start + j, IDENTITY_AUG, lut, b.images, j * size);
      b.labels[j] = ds.labels[start + j];
    }
    b.count = count;
    // Exact-length views (no copy), so a smaller last batch has arrays of its own size.
    yield { images: b.images.subarray(0, count * size), labels: b.labels.subarray(0, count), count };
  }
}

/**
 * Images [start, start + count) of `ds`, normalised as training and evaluation feed them to
 * the model ((x/255 − mean[c]) / std[c] per channel, no augmentation), as one new
 * Float32Array of count·C·H·W values in the data set's CHW order.
 */
export function normalizeImages(ds: Dataset, start = 0, count = ds.count - start): Float32Array {
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > ds.count) {
    throw new RangeError(`normalizeImages: images [${start}, ${start + count}) are not inside the ${ds.count} images of ${ds.name}`);
  }
  const size = imageSize(ds);
  const out = new Float32Array(count * size);
  const lut = lutFor(ds);
  for (let j = 0; j < count; j++) augmentInto(ds, start + j, IDENTITY_AUG, lut, out, j * size);
  return out;
}

function checkBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`batch size must be a positive integer, got ${batchSize}`);
  }
}

function checkBuffers(b: Batch, ds: Dataset, batchSize: number): void {
  if (b.images.length < batchSize * imageSize(ds) || b.labels.length < batchSize) {
    throw new Error(
      `batch buffers too small: need ${batchSize * imageSize(ds)} floats and ${batchSize} ` +
        `labels, got ${b.images.length} and ${b.labels.length}`,
    );
  }
}

function sameNumbers(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const augmentPools = new WeakMap<ImageStore, AugmentPool>();

/**
 * Image-folder sets: Inception crop of each stored image, bicubic resize, flip, and mixup when
 * the store asks for it (docs/data.md). The draws are made in sample order on this thread: the
 * crops of samples [0, first + count) (of the whole batch with mixup, whose partners may lie in
 * another rank's shard), then λ and each sample's label draw. The pixels are computed by the
 * store's worker pool when it has more than one worker (the same floats either way).
 */
function imageFolderBatch(ds: Dataset, store: ImageStore, rng: Rng, batch: Int32Array, first: number, count: number, b: Batch): void {
  const alpha = store.mixup ?? 0;
  const drawn = alpha > 0 ? batch.length : first + count;
  const jobs: AugmentJob[] = [];
  for (let j = 0; j < drawn; j++) {
    const box = randomResizedCrop(rng, store.side, store.side);
    const flip = rng.nextInt(2) === 1;
    const ra = store.randAugment && store.randAugment.n > 0 ? drawRandAugment(rng, store.randAugment.n) : undefined;
    jobs.push({ index: batch[j], box, flip, ra });
  }
  const size = imageSize(ds);
  if (alpha <= 0) {
    const own = jobs.slice(first);
    own.forEach((job, i) => (b.labels[i] = ds.labels[job.index]));
    cropBatch(ds, store, own, b.images);
    return;
  }
  const lam = betaSymmetric(rng, alpha);
  const keep = Array.from({ length: batch.length }, () => rng.nextFloat() < lam);
  // Own samples and their partners, each computed once.
  const need = new Map<number, number>();
  for (let j = first; j < first + count; j++) {
    for (const p of [j, mixPartner(j, batch.length)]) if (!need.has(p)) need.set(p, need.size);
  }
  const positions = [...need.keys()];
  const crops = new Float32Array(positions.length * size);
  cropBatch(ds, store, positions.map((p) => jobs[p]), crops);
  for (let j = first; j < first + count; j++) {
    const p = mixPartner(j, batch.length);
    const a = need.get(j)! * size;
    const c = need.get(p)! * size;
    const o = (j - first) * size;
    for (let k = 0; k < size; k++) b.images[o + k] = lam * crops[a + k] + (1 - lam) * crops[c + k];
    b.labels[j - first] = ds.labels[keep[j] ? batch[j] : batch[p]];
  }
}

/** Crops of `jobs` into out[0...], by the store's worker pool when it has more than one worker. */
function cropBatch(ds: Dataset, store: ImageStore, jobs: AugmentJob[], out: Float32Array): void {
  const size = imageSize(ds);
  const workers = store.workers ?? 1;
  if (workers > 1 && store.pixels.buffer instanceof SharedArrayBuffer) {
    let pool = augmentPools.get(store);
    if (!pool || !pool.fits(jobs.length, ds.height)) {
      pool?.close();
      pool = new AugmentPool(store.pixels, store.side, jobs.length, ds.height, workers);
      augmentPools.set(store, pool);
    }
    pool.run(jobs, ds.mean, ds.std, out, 0, store.randAugment?.magnitude ?? 0);
    return;
  }
  const storeBytes = ds.channels * store.side * store.side;
  const magnitude = store.randAugment?.magnitude ?? 0;
  jobs.forEach((job, i) => {
    const ra = job.ra ? { ops: job.ra, magnitude } : undefined;
    cropResizeInto(store.pixels, job.index * storeBytes, store.side, job.box, ds.height, job.flip, ds.mean, ds.std, out, i * size, ra);
  });
}
