/**
 * RandAugment (Cubuk et al. 2020) as torchvision's `RandAugment(num_ops, magnitude,
 * num_magnitude_bins=31)` applies it to the 8-bit crop (after the resize and flip, before
 * normalisation): each of `n` ops is drawn uniformly from the 14 below, signed ops get a random
 * sign, and the strength is the op's range at bin `magnitude` of 31. Geometric ops sample the
 * nearest pixel and fill with 0, as torchvision's defaults do.
 */
import type { Rng } from '../../util/rng.js';

export const RA_OPS = [
  'Identity', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate', 'Brightness',
  'Color', 'Contrast', 'Sharpness', 'Posterize', 'Solarize', 'AutoContrast', 'Equalize',
] as const;
export const RA_BINS = 31;
/** Most ops per image the job table of the augmentation pool has room for. */
export const RA_MAX_OPS = 4;

export interface RaOp {
  op: number;
  /** +1 or -1 (used by the signed ops). */
  sign: number;
}

const SIGNED = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9]);

/** The ops of one image: `n` uniform op indices, each with a random sign. */
export function drawRandAugment(rng: Rng, n: number): RaOp[] {
  const ops: RaOp[] = [];
  for (let i = 0; i < n; i++) {
    const op = rng.nextInt(RA_OPS.length);
    const sign = rng.nextFloat() < 0.5 ? -1 : 1;
    ops.push({ op, sign: SIGNED.has(op) ? sign : 1 });
  }
  return ops;
}

/** linspace(0, hi, 31)[m]. */
const lin = (hi: number, m: number): number => (hi * m) / (RA_BINS - 1);

const clamp8 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

let scratch = new Uint8Array(0);

/** Applies `ops` in order to the CHW uint8 image img (3×s×s) in place. */
export function applyRandAugment(img: Uint8Array, s: number, ops: readonly RaOp[], magnitude: number): void {
  for (const { op, sign } of ops) applyOp(img, s, op, sign, magnitude);
}

export function applyOp(img: Uint8Array, s: number, op: number, sign: number, m: number): void {
  const plane = s * s;
  switch (RA_OPS[op]) {
    case 'Identity':
      return;
    case 'ShearX': {
      const k = sign * lin(0.3, m);
      return warp(img, s, (x, y) => [x + k * y, y]);
    }
    case 'ShearY': {
      const k = sign * lin(0.3, m);
      return warp(img, s, (x, y) => [x, y + k * x]);
    }
    case 'TranslateX': {
      const t = sign * Math.trunc(lin((150 / 331) * s, m));
      return warp(img, s, (x, y) => [x - t, y]);
    }
    case 'TranslateY': {
      const t = sign * Math.trunc(lin((150 / 331) * s, m));
      return warp(img, s, (x, y) => [x, y - t]);
    }
    case 'Rotate': {
      // By the angle about the centre (its sign is drawn, so the direction convention is moot).
      const a = (sign * lin(30, m) * Math.PI) / 180;
      const c = (s - 1) / 2;
      const cos = Math.cos(a);
      const sin = Math.sin(a);
      return warp(img, s, (x, y) => [cos * (x - c) - sin * (y - c) + c, sin * (x - c) + cos * (y - c) + c]);
    }
    case 'Brightness': {
      const f = 1 + sign * lin(0.9, m);
      for (let i = 0; i < img.length; i++) img[i] = clamp8(img[i] * f);
      return;
    }
    case 'Color': {
      const f = 1 + sign * lin(0.9, m);
      for (let p = 0; p < plane; p++) {
        const g = gray(img, p, plane);
        for (let c = 0; c < 3; c++) img[c * plane + p] = clamp8(g + f * (img[c * plane + p] - g));
      }
      return;
    }
    case 'Contrast': {
      const f = 1 + sign * lin(0.9, m);
      let sum = 0;
      for (let p = 0; p < plane; p++) sum += gray(img, p, plane);
      const mean = sum / plane;
      for (let i = 0; i < img.length; i++) img[i] = clamp8(mean + f * (img[i] - mean));
      return;
    }
    case 'Sharpness': {
      const f = 1 + sign * lin(0.9, m);
      if (scratch.length < img.length) scratch = new Uint8Array(img.length);
      scratch.set(img.subarray(0, 3 * plane));
      // Blend with the 3x3 smoothing [[1,1,1],[1,5,1],[1,1,1]]/13; the border stays as it is.
      for (let c = 0; c < 3; c++) {
        for (let y = 1; y < s - 1; y++) {
          for (let x = 1; x < s - 1; x++) {
            const o = c * plane + y * s + x;
            let acc = 4 * scratch[o];
            for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) acc += scratch[o + dy * s + dx];
            const blur = Math.round(acc / 13);
            img[o] = clamp8(blur + f * (scratch[o] - blur));
          }
        }
      }
      return;
    }
    case 'Posterize': {
      const bits = 8 - Math.round(m / ((RA_BINS - 1) / 4));
      const mask = (0xff << (8 - bits)) & 0xff;
      for (let i = 0; i < img.length; i++) img[i] &= mask;
      return;
    }
    case 'Solarize': {
      const t = 255 - lin(255, m);
      for (let i = 0; i < img.length; i++) if (img[i] >= t) img[i] = 255 - img[i];
      return;
    }
    case 'AutoContrast':
      for (let c = 0; c < 3; c++) {
        const ch = img.subarray(c * plane, (c + 1) * plane);
        let lo = 255;
        let hi = 0;
        for (const v of ch) {
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        if (hi > lo) for (let i = 0; i < plane; i++) ch[i] = clamp8(((ch[i] - lo) * 255) / (hi - lo));
      }
      return;
    case 'Equalize':
      for (let c = 0; c < 3; c++) equalize(img.subarray(c * plane, (c + 1) * plane));
      return;
  }
}

function gray(img: Uint8Array, p: number, plane: number): number {
  return 0.299 * img[p] + 0.587 * img[plane + p] + 0.114 * img[2 * plane + p];
}

/** Output (x, y) takes input map(x, y), nearest pixel; outside the image: 0. */
function warp(img: Uint8Array, s: number, map: (x: number, y: number) => [number, number]): void {
  const plane = s * s;
  if (scratch.length < 3 * plane) scratch = new Uint8Array(3 * plane);
  scratch.set(img.subarray(0, 3 * plane));
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      const [sx, sy] = map(x, y);
      const ix = Math.round(sx);
      const iy = Math.round(sy);
      const inside = ix >= 0 && ix < s && iy >= 0 && iy < s;
      for (let c = 0; c < 3; c++) img[c * plane + y * s + x] = inside ? scratch[c * plane + iy * s + ix] : 0;
    }
  }
}

/** PIL's ImageOps.equalize on one channel. */
function equalize(ch: Uint8Array): void {
  const hist = new Int32Array(256);
  for (const v of ch) hist[v]++;
  let last = 255;
  while (last > 0 && hist[last] === 0) last--;
  const step = Math.floor((ch.length - hist[last]) / 255);
  if (step === 0) return;
  const lut = new Uint8Array(256);
  let n = Math.floor(step / 2);
  for (let i = 0; i < 256; i++) {
    lut[i] = Math.min(255, Math.floor(n / step));
    n += hist[i];
  }
  for (let i = 0; i < ch.length; i++) ch[i] = lut[ch[i]];
}
