/**
 * Augmentation and normalisation of single images (docs/method.md section 5): reflect-pad 4 pixels, random
 * H×W crop, random horizontal flip, then per-channel (x/255 - mean[c]) / std[c] to float32.
 *
 * The padded image is never materialised: output pixel (y, x) of a crop at offset (dy, dx) in
 * the padded frame reads source pixel (reflect(y + dy - pad), reflect(x' + dx - pad)), where
 * x' = W-1-x when flipped. Normalisation goes through a 256-entry table per channel, so each
 * output value costs one table load.
 */
import type { Dataset } from './types.js';

export const PAD = 4;

/** Reused column map for augmentInto (grown on demand), so no allocation per image. */
let colScratch = new Int32Array(32);

/** Per-channel lookup: lut[c*256 + v] = (v/255 - mean[c]) / std[c]. */
export function normLut(ds: Pick<Dataset, 'channels' | 'mean' | 'std'>): Float32Array {
  const lut = new Float32Array(ds.channels * 256);
  for (let c = 0; c < ds.channels; c++) {
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - ds.mean[c]) / ds.std[c];
  }
  return lut;
}

/** Index in [0, n) of padded coordinate i - pad under reflection ('reflect', edge not repeated). */
export function reflectIndex(i: number, n: number): number {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

/** Explicit reflect padding of one CHW uint8 image (reference for tests; training avoids it). */
export function reflectPad(img: Uint8Array, c: number, h: number, w: number, pad: number): Uint8Array {
  if (pad >= h || pad >= w) throw new Error(`reflectPad: pad ${pad} must be smaller than ${h}×${w}`);
  const ph = h + 2 * pad;
  const pw = w + 2 * pad;
  const out = new Uint8Array(c * ph * pw);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < ph; y++) {
      const sy = reflectIndex(y - pad, h);
      for (let x = 0; x < pw; x++) {
        out[(ch * ph + y) * pw + x] = img[(ch * h + sy) * w + reflectIndex(x - pad, w)];
      }
    }
  }
  return out;
}

/** Crop/flip parameters of one sample; dy, dx in [0, 2*PAD] (PAD, PAD = centre = no shift). */
export interface AugParams {
  dy: number;
  dx: number;
  flip: boolean;
}

export const IDENTITY_AUG: AugParams = { dy: PAD, dx: PAD, flip: false };

/**
 * Writes the augmented, normalised image `n` of `ds` to out[outOffset ...] (C*H*W floats).
 * With IDENTITY_AUG this is plain normalisation.
 */
export function augmentInto(
  ds: Dataset,
  n: number,
  aug: AugParams,
  lut: Float32Array,
  out: Float32Array,
  outOffset: number,
): void {
  const { channels: C, height: H, width: W } = ds;
  const src = ds.images;
  const srcBase = n * C * H * W;
  // Column map once per image (shared by all rows and channels).
  const cols = colScratch.length >= W ? colScratch : (colScratch = new Int32Array(W));
  for (let x = 0; x < W; x++) {
    const xs = aug.flip ? W - 1 - x : x;
    cols[x] = reflectIndex(xs + aug.dx - PAD, W);
  }
  let o = outOffset;
  for (let c = 0; c < C; c++) {
    const l = c * 256;
    for (let y = 0; y < H; y++) {
      const row = srcBase + (c * H + reflectIndex(y + aug.dy - PAD, H)) * W;
      for (let x = 0; x < W; x++) out[o++] = lut[l + src[row + cols[x]]];
    }
  }
}
