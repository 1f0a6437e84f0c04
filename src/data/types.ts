/** Common in-memory form of every data set the trainer can use. */
export interface Dataset {
  name: string;
  /** N*C*H*W bytes, channel-planar (CHW per image), raw 0..255. */
  images: Uint8Array;
  /** N labels in [0, numClasses). */
  labels: Int32Array;
  count: number;
  channels: number;
  height: number;
  width: number;
  numClasses: number;
  /** Per channel, in [0,1] pixel units; used for normalisation (x/255 - mean) / std. */
  mean: number[];
  std: number[];
  /**
   * Image-folder sets (src/data/images/): every training image once more at a larger square
   * side (imageSize + evalCropPad), from which training takes Inception crops instead of the
   * pad-crop-flip of `images` (which then hold the evaluation centre crops).
   */
  store?: ImageStore;
  /** Bad image files skipped while loading (--skip-bad-images), when any were looked for. */
  skippedImages?: number;
}

export interface ImageStore {
  side: number;
  /** count·3·side·side bytes, CHW per image, in the order of `images` (shared memory: see workers). */
  pixels: Uint8Array;
  /** Threads computing the training crops (> 1: a worker pool, when `pixels` is shared memory). */
  workers?: number;
  /** mixup α of the training batches (0 or absent: off); see images/mixup.ts. */
  mixup?: number;
  /** RandAugment of the training crops: n ops per image at magnitude bin m of 31 (n = 0: off). */
  randAugment?: { n: number; magnitude: number };
}

export interface DatasetSplits {
  train: Dataset;
  test: Dataset;
}

/** Bytes per image. */
export function imageSize(ds: Pick<Dataset, 'channels' | 'height' | 'width'>): number {
  return ds.channels * ds.height * ds.width;
}
