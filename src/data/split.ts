/** Deterministic train/validation split of a training set. */
import { deriveSeed, permutation, Rng } from '../util/rng.js';
import { imageSize, type Dataset } from './types.js';

/** Stream id so the split's randomness is independent of batch order / augmentation. */
const SPLIT_STREAM = 0x5eed;

function subset(ds: Dataset, idx: Int32Array, name: string): Dataset {
  const size = imageSize(ds);
  const images = new Uint8Array(idx.length * size);
  const labels = new Int32Array(idx.length);
  idx.forEach((n, i) => {
    images.set(ds.images.subarray(n * size, (n + 1) * size), i * size);
    labels[i] = ds.labels[n];
  });
  // Keep the full training set's normalisation statistics for both parts.
  const out: Dataset = { ...ds, name, images, labels, count: idx.length, mean: ds.mean.slice(), std: ds.std.slice() };
  if (ds.store) out.store = subsetStore(ds.store, idx);
  return out;
}

function subsetStore(store: NonNullable<Dataset['store']>, idx: Int32Array): NonNullable<Dataset['store']> {
  const size = 3 * store.side * store.side;
  // Shared memory, so the subset can still use the augmentation worker pool.
  const pixels = new Uint8Array(new SharedArrayBuffer(idx.length * size));
  idx.forEach((n, i) => pixels.set(store.pixels.subarray(n * size, (n + 1) * size), i * size));
  return { side: store.side, pixels, workers: store.workers, mixup: store.mixup, randAugment: store.randAugment };
}

/**
 * Holds out round(fraction * N) random samples of `train` as validation. Pure function of
 * (train, fraction, seed); both parts keep the original relative order of their samples.
 */
export function splitValidation(
  train: Dataset,
  fraction: number,
  seed: number,
): { train: Dataset; val: Dataset } {
  if (!(fraction >= 0 && fraction < 1)) {
    throw new Error(`splitValidation: fraction must be in [0, 1), got ${fraction}`);
  }
  const nVal = Math.round(fraction * train.count);
  const perm = permutation(train.count, new Rng(deriveSeed(seed, SPLIT_STREAM)));
  const valIdx = perm.slice(0, nVal).sort();
  const trainIdx = perm.slice(nVal).sort();
  return { train: subset(train, trainIdx, train.name), val: subset(train, valIdx, `${train.name}-val`) };
}

/** Stream ids of the fixed subsets (independent of the run seed, so every seed sees the same images). */
const TRAIN_SUBSET_STREAM = 0x5b5e7;
const TEST_SUBSET_STREAM = 0x7e575b;

/**
 * A fixed random subset of `n` images of `ds` (`which` picks the stream: the training and the
 * test subset are drawn independently). A pure function of (ds, n, which) — not of the run
 * seed — so runs with different seeds train and test on the same images. The images keep their
 * original relative order, and the full set's normalisation statistics. `n >= ds.count`
 * returns `ds` itself.
 */
export function fixedSubset(ds: Dataset, n: number, which: 'train' | 'test'): Dataset {
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`fixedSubset: n must be an integer >= 1, got ${n}`);
  if (n >= ds.count) return ds;
  const stream = which === 'train' ? TRAIN_SUBSET_STREAM : TEST_SUBSET_STREAM;
  const perm = permutation(ds.count, new Rng(deriveSeed(0, stream)));
  return subset(ds, perm.slice(0, n).sort(), ds.name);
}
