/**
 * The image-folder training augmentation (the authors' TinyImageNet pipeline, i.e.
 * torchvision's RandomResizedCrop + RandomHorizontalFlip + Normalize):
 *
 *   - Inception crop: up to 10 attempts of area ∈ U(0.08, 1)·(h·w) and log aspect ratio
 *     ∈ U(log 3/4, log 4/3); w = round(√(area·ratio)), h = round(√(area/ratio)); the first that
 *     fits is placed uniformly; else the centre crop of the image clamped to the ratio range;
 *   - bicubic resize of the crop to size×size (PIL's filter: Keys a = −0.5, widened by the
 *     scale when shrinking, so a downscale is antialiased);
 *   - horizontal flip with probability 1/2;
 *   - per-channel (x/255 − mean) / std.
 *
 * Everything is drawn from the batch's Rng in sample order, so a batch is a pure function of
 * (seed, epoch, index) and does not depend on who computes it.
 */
import type { Rng } from '../../util/rng.js';
import { applyRandAugment, type RaOp } from './randaugment.js';

export interface CropBox {
  /** Top, left, height, width in source pixels. */
  top: number;
  left: number;
  height: number;
  width: number;
}

export const RRC_SCALE: readonly [number, number] = [0.08, 1];
export const RRC_RATIO: readonly [number, number] = [3 / 4, 4 / 3];
export const RRC_ATTEMPTS = 10;

/** torchvision's RandomResizedCrop.get_params on an h×w image. */
export function randomResizedCrop(rng: Rng, h: number, w: number): CropBox {
  const area = h * w;
  const logLo = Math.log(RRC_RATIO[0]);
  const logHi = Math.log(RRC_RATIO[1]);
  for (let a = 0; a < RRC_ATTEMPTS; a++) {
    const target = area * (RRC_SCALE[0] + (RRC_SCALE[1] - RRC_SCALE[0]) * rng.nextFloat());
    const ratio = Math.exp(logLo + (logHi - logLo) * rng.nextFloat());
    const cw = Math.round(Math.sqrt(target * ratio));
    const ch = Math.round(Math.sqrt(target / ratio));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
      const top = rng.nextInt(h - ch + 1);
      const left = rng.nextInt(w - cw + 1);
      return { top, left, height: ch, width: cw };
    }
  }
  return centreFallback(h, w);
}

/** The crop when no attempt fits: the whole image, clamped to the aspect-ratio range, centred. */
export function centreFallback(h: number, w: number): CropBox {
  const inRatio = w / h;
  let cw = w;
  let ch = h;
  if (inRatio < RRC_RATIO[0]) ch = Math.round(w / RRC_RATIO[0]);
  else if (inRatio > RRC_RATIO[1]) cw = Math.round(h * RRC_RATIO[1]);
  return { top: Math.floor((h - ch) / 2), left: Math.floor((w - cw) / 2), height: ch, width: cw };
}

/** Keys' cubic kernel with a = −0.5 (PIL's and libvips' bicubic). */
export function cubic(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** Resampling taps of one axis: for output o, weights over source [first[o], first[o] + taps). */
interface Taps {
  first: Int32Array;
  weights: Float32Array;
  taps: number;
}

/** PIL's precompute_coeffs for `inLen` source pixels starting at `start` → `outLen`. */
export function resampleTaps(start: number, inLen: number, outLen: number, srcLimit: number): Taps {
  const scale = inLen / outLen;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outLen);
  const weights = new Float32Array(outLen * taps);
  for (let o = 0; o < outLen; o++) {
    const centre = start + (o + 0.5) * scale;
    let lo = Math.max(0, Math.floor(centre - support + 0.5));
    const hi = Math.min(srcLimit, Math.floor(centre + support + 0.5));
    if (hi - lo > taps) lo = hi - taps;
    first[o] = lo;
    let total = 0;
    for (let k = 0; k < hi - lo; k++) {
      const wgt = cubic((lo + k - centre + 0.5) / filterScale);
      weights[o * taps + k] = wgt;
      total += wgt;
    }
    if (total !== 0) for (let k = 0; k < hi - lo; k++) weights[o * taps + k] /= total;
  }
  return { first, weights, taps };
}

let rowScratch = new Float32Array(0);
let byteScratch = new Uint8Array(0);

/** RandAugment ops of one image and their magnitude bin (randaugment.ts). */
export interface RaSpec {
  ops: readonly RaOp[];
  magnitude: number;
}

/**
 * Crops `box` of the CHW uint8 image at src[srcOffset...] (side×side), resizes it bicubically
 * to size×size, flips it when asked, normalises with `lut`-style mean/std and writes the floats
 * to out[outOffset...]. Separable: rows first (into a float scratch), then columns; values are
 * clamped to [0, 255] before normalisation, as an 8-bit resize would.
 */
export function cropResizeInto(
  src: Uint8Array,
  srcOffset: number,
  side: number,
  box: CropBox,
  size: number,
  flip: boolean,
  mean: readonly number[],
  std: readonly number[],
  out: Float32Array,
  outOffset: number,
  ra?: RaSpec,
): void {
  // With RandAugment the resized crop is rounded to 8 bits first (its ops work on such
  // images, as torchvision's do on PIL images), then augmented, then normalised.
  const bytes = ra && ra.ops.length > 0 ? (byteScratch.length >= 3 * size * size ? byteScratch : (byteScratch = new Uint8Array(3 * size * size))) : undefined;
  const tx = resampleTaps(box.left, box.width, size, side);
  const ty = resampleTaps(box.top, box.height, size, side);
  const rows = box.height + 4 * Math.ceil(Math.max(box.height / size, 1)) + 2;
  // Horizontal pass over the source rows the vertical taps can reach.
  const y0 = Math.max(0, ty.first[0]);
  const y1 = Math.min(side, ty.first[size - 1] + ty.taps);
  const need = (y1 - y0) * size;
  if (rowScratch.length < need) rowScratch = new Float32Array(Math.max(need, rows * size));
  const tmp = rowScratch;
  const plane = side * side;
  for (let c = 0; c < 3; c++) {
    const base = srcOffset + c * plane;
    for (let y = y0; y < y1; y++) {
      const row = base + y * side;
      const t = (y - y0) * size;
      for (let x = 0; x < size; x++) {
        const f = tx.first[x];
        const w = x * tx.taps;
        let acc = 0;
        const n = Math.min(tx.taps, side - f);
        for (let k = 0; k < n; k++) acc += tx.weights[w + k] * src[row + f + k];
        tmp[t + (flip ? size - 1 - x : x)] = acc;
      }
    }
    const scale = 1 / (255 * std[c]);
    const shift = mean[c] / std[c];
    const ob = outOffset + c * size * size;
    for (let y = 0; y < size; y++) {
      const f = ty.first[y];
      const w = y * ty.taps;
      const n = Math.min(ty.taps, side - f);
      for (let x = 0; x < size; x++) {
        let acc = 0;
        for (let k = 0; k < n; k++) acc += ty.weights[w + k] * tmp[(f + k - y0) * size + x];
        const v = acc < 0 ? 0 : acc > 255 ? 255 : acc;
        if (bytes) bytes[c * size * size + y * size + x] = Math.round(v);
        else out[ob + y * size + x] = v * scale - shift;
      }
    }
  }
  if (bytes && ra) {
    applyRandAugment(bytes, size, ra.ops, ra.magnitude);
    for (let c = 0; c < 3; c++) {
      const scale = 1 / (255 * std[c]);
      const shift = mean[c] / std[c];
      const ob = outOffset + c * size * size;
      for (let i = 0; i < size * size; i++) out[ob + i] = bytes[c * size * size + i] * scale - shift;
    }
  }
}
