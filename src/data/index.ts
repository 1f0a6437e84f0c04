/** Data set entry point: name → train/test splits, plus the batch pipeline re-exports. */
import { loadCifar10, loadCifar100 } from './cifar.js';
import { defaultFashionMnistDir, loadMnistLike } from './idx.js';
import { makeSynthetic } from './synthetic.js';
import { loadImageDataset } from './images/index.js';
import type { DatasetSplits } from './types.js';

export type { Dataset, DatasetSplits } from './types.js';
export { imageSize } from './types.js';
export { loadCifar10, loadCifar100, type Cifar100Options } from './cifar.js';
export { loadIdxPair, loadMnistLike, defaultFashionMnistDir, type MnistKind } from './idx.js';
export { makeSynthetic, SYNTHETIC_CLASSES, type SyntheticOptions } from './synthetic.js';
export { fixedSubset, splitValidation } from './split.js';
export {
  allocBatch,
  epochOrder,
  evalBatches,
  makeTrainBatch,
  normalizeImages,
  stepsPerEpoch,
  type Batch,
  type TrainBatchSpec,
} from './batches.js';
export { Prefetcher } from './prefetch.js';
export { IDENTITY_AUG, PAD, augmentInto, normLut, type AugParams } from './augment.js';
export { channelStats } from './stats.js';
export { loadImageDataset, setImageLoadLog, defaultEvalCropPad, IMAGENET_MEAN, IMAGENET_STD, type ImageLoadOptions } from './images/index.js';

export const DATASET_NAMES = ['synthetic', 'cifar10', 'cifar100', 'fashion-mnist', 'mnist', 'imagefolder', 'tinyimagenet', 'imagenet'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

export interface LoadDatasetOptions {
  /** Folder with the data files (required for cifar10, cifar100, mnist). */
  dataDir?: string;
  /** Generation seed of the synthetic set (ignored by file-based sets). */
  seed: number;
  syntheticTrain?: number;
  syntheticTest?: number;
  /** Image-folder sets: model input side, evaluation-crop padding, decode workers, cache, bad files. */
  imageSize?: number;
  evalCropPad?: number;
  dataWorkers?: number;
  decodedCache?: string;
  skipBadImages?: boolean;
  /** Image-folder sets: mixup α of the training batches (0: off). */
  mixup?: number;
  /** Image-folder sets: RandAugment ops per image (0: off) and magnitude bin. */
  randAugment?: number;
  randAugmentMagnitude?: number;
  /** Image-folder sets: decode the test split only (the training split comes back empty). */
  testOnly?: boolean;
}

export function loadDataset(name: DatasetName, opts: LoadDatasetOptions): DatasetSplits {
  const needDir = (): string => {
    if (!opts.dataDir) throw new Error(`data set '${name}' needs a data directory (--data-dir)`);
    return opts.dataDir;
  };
  switch (name) {
    case 'synthetic':
      return makeSynthetic({ seed: opts.seed, trainCount: opts.syntheticTrain, testCount: opts.syntheticTest });
    case 'cifar10':
      return loadCifar10(needDir());
    case 'cifar100':
      return loadCifar100(needDir(), { label: 'fine' });
    case 'fashion-mnist':
      return loadMnistLike(opts.dataDir ?? defaultFashionMnistDir(), 'fashion-mnist');
    case 'mnist':
      return loadMnistLike(needDir(), 'mnist');
    case 'imagefolder':
    case 'tinyimagenet':
    case 'imagenet':
      return loadImageDataset(name, {
        dataDir: needDir(),
        imageSize: opts.imageSize ?? 32,
        evalCropPad: opts.evalCropPad,
        workers: opts.dataWorkers ?? 2,
        skipBadImages: opts.skipBadImages ?? false,
        cacheDir: opts.decodedCache,
        testOnly: opts.testOnly,
        mixup: opts.mixup,
        randAugment: opts.randAugment,
        randAugmentMagnitude: opts.randAugmentMagnitude,
      });
    default: {
      const bad: never = name;
      throw new Error(`unknown data set '${String(bad)}'; expected one of ${DATASET_NAMES.join(', ')}`);
    }
  }
}
