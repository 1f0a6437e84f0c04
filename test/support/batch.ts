// Deterministic random inputs for tests (no dependence on Math.random).
import type { VitConfig } from '../../src/model/presets.js';
import type { VitModel } from '../../src/model/vit-model.js';

/** Small 32-bit LCG-based generator: reproducible test inputs. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

export function randomBatch(
  cfg: Pick<VitConfig, 'channels' | 'imageSize' | 'numClasses'>,
  n: number,
  seed: number,
): { images: Float32Array; labels: Int32Array } {
  const r = lcg(seed);
  const images = new Float32Array(n * cfg.channels * cfg.imageSize * cfg.imageSize);
  for (let i = 0; i < images.length; i++) images[i] = 2 * r() - 1;
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = Math.floor(r() * cfg.numClasses);
  return { images, labels };
}

/** Tiny ViT (16x16 images, 17 tokens) for gradient checks. */
export const TINY: VitConfig = {
  imageSize: 16,
  channels: 3,
  patchSize: 4,
  numClasses: 5,
  width: 16,
  depth: 2,
  heads: 2,
  mlpRatio: 2,
  dropout: 0.1,
  gelu: 'tanh',
};

/** Fills every parameter with small random values so no gradient is trivially zero (the head starts at 0). */
export function randomizeParams(model: VitModel, seed: number, scale = 0.3): void {
  const r = lcg(seed);
  model.editParams((params) => {
    for (let i = 0; i < params.length; i++) params[i] = scale * (2 * r() - 1) + (params[i] === 1 ? 1 : 0);
  });
}
