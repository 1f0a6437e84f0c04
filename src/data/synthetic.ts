/**
 * The built-in default data set: procedurally generated 3×32×32 images in 10 classes, fully
 * determined by the seed, so demos and tests need no files.
 *
 * Each class is a shape or texture (stripes in three orientations, checkerboard, disc, ring,
 * upright and diagonal crosses, two blobs, smooth ramp). Colours are drawn per image, not per
 * class, and position, size, period and phase are jittered, with pixel noise on top, so the
 * class is only recoverable from spatial structure: a linear/nearest-mean model on raw pixels does
 * poorly while a small ViT learns it. Shape centres stay within ±3.5 px of the image centre
 * and compact shapes within ~13 px of it, so a crop shifted by up to 4 px (reflect-pad 4 +
 * random crop) keeps the bulk of the shape; every class is closed under horizontal flip
 * (diagonal stripes come in both orientations), so the flip keeps the class too.
 *
 * Difficulty was tuned with a PyTorch stand-in of the tiny ViT (width 64, depth 4, patch 4,
 * AdamW 1e-3, batch 128, this augmentation, 2 CPU threads): compact filled shapes were the
 * slow classes to separate, hence spanning lines for the two crosses.
 */
import { deriveSeed, permutation, Rng } from '../util/rng.js';
import { channelStats } from './stats.js';
import type { Dataset, DatasetSplits } from './types.js';

export const SYNTHETIC_CLASSES = [
  'horizontal-stripes',
  'vertical-stripes',
  'diagonal-stripes',
  'checkerboard',
  'disc',
  'ring',
  'cross',
  'diagonal-cross',
  'two-blobs',
  'ramp',
] as const;

const SIDE = 32;
const PIX = SIDE * SIDE;
/** Peak-to-peak half range of the triangular pixel noise (std ≈ NOISE / √6 ≈ 13 levels). */
const NOISE = 32;
/** Minimum luma difference between foreground and background colours. */
const MIN_CONTRAST = 60;

export interface SyntheticOptions {
  seed: number;
  trainCount?: number;
  testCount?: number;
}

/** Fills `mask` (1024 values in [0,1], 1 = foreground) with a random instance of `cls`. */
function drawMask(cls: number, rng: Rng, mask: Float32Array): void {
  const u = (lo: number, hi: number): number => lo + (hi - lo) * rng.nextFloat();
  // Shape centre: jittered around the middle, far enough in that crops keep the shape.
  const cx = u(12.5, 19.5);
  const cy = u(12.5, 19.5);
  let f: (x: number, y: number) => number;
  switch (cls) {
    case 0:
    case 1:
    case 2: {
      const period = u(4, 9);
      const duty = u(0.35, 0.65);
      const phase = u(0, period);
      const sign = rng.nextInt(2) ? 1 : -1; // diagonal direction
      // Diagonal period is measured along x+y, so scale by √2 to keep stripe width similar.
      const p = cls === 2 ? period * Math.SQRT2 : period;
      f = (x, y) => {
        const t = cls === 0 ? y : cls === 1 ? x : x + sign * y;
        const q = (t + phase) / p;
        return q - Math.floor(q) < duty ? 1 : 0;
      };
      break;
    }
    case 3: {
      const cell = u(3, 7);
      const px = u(0, 2 * cell);
      const py = u(0, 2 * cell);
      f = (x, y) => (Math.floor((x + px) / cell) + Math.floor((y + py) / cell)) & 1;
      break;
    }
    case 4: {
      const r2 = u(6, 10) ** 2;
      f = (x, y) => ((x - cx) ** 2 + (y - cy) ** 2 <= r2 ? 1 : 0);
      break;
    }
    case 5: {
      const r = u(7, 11);
      const w = u(2, 3.5);
      f = (x, y) => (Math.abs(Math.hypot(x - cx, y - cy) - r) <= w / 2 ? 1 : 0);
      break;
    }
    case 6:
    case 7: {
      // Two thin lines crossing at the centre and spanning the whole image: upright '+'
      // (class 6) or diagonal '×' (class 7). Spanning lines keep them distinct from the
      // compact blobs (disc, two blobs) even at patch-4 resolution.
      const w = u(1, 2); // half-width (perpendicular distance)
      f = (x, y) => {
        const dx = x - cx;
        const dy = y - cy;
        if (cls === 6) return Math.abs(dx) <= w || Math.abs(dy) <= w ? 1 : 0;
        return Math.abs(dx - dy) <= w * Math.SQRT2 || Math.abs(dx + dy) <= w * Math.SQRT2 ? 1 : 0;
      };
      break;
    }
    case 8: {
      const ang = u(0, Math.PI);
      const d = u(5.5, 8);
      const ax = cx + d * Math.cos(ang);
      const ay = cy + d * Math.sin(ang);
      const bx = cx - d * Math.cos(ang);
      const by = cy - d * Math.sin(ang);
      const r2 = u(3.5, 5) ** 2;
      f = (x, y) =>
        (x - ax) ** 2 + (y - ay) ** 2 <= r2 || (x - bx) ** 2 + (y - by) ** 2 <= r2 ? 1 : 0;
      break;
    }
    default: {
      // Smooth linear ramp in a random direction: no edges at all.
      const ang = u(0, 2 * Math.PI);
      const ex = Math.cos(ang) / u(16, 32);
      const ey = Math.sin(ang) / u(16, 32);
      f = (x, y) => Math.min(1, Math.max(0, (x - cx) * ex + (y - cy) * ey + 0.5));
      break;
    }
  }
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) mask[y * SIDE + x] = f(x + 0.5, y + 0.5);
  }
}

/** Random foreground/background colours with at least MIN_CONTRAST luma difference. */
function drawColours(rng: Rng, fg: Float64Array, bg: Float64Array): void {
  const luma = (c: Float64Array): number => 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
  do {
    for (let c = 0; c < 3; c++) {
      fg[c] = rng.nextInt(256);
      bg[c] = rng.nextInt(256);
    }
  } while (Math.abs(luma(fg) - luma(bg)) < MIN_CONTRAST);
}

/** Generates one split; `stream` separates train (0) and test (1) randomness. */
function generate(seed: number, stream: number, count: number): { images: Uint8Array; labels: Int32Array } {
  const images = new Uint8Array(count * 3 * PIX);
  const labels = new Int32Array(count);
  // Exactly balanced classes (up to count % 10), in a seeded random order.
  const order = permutation(count, new Rng(deriveSeed(seed, stream, 0)));
  const mask = new Float32Array(PIX);
  const fg = new Float64Array(3);
  const bg = new Float64Array(3);
  const noiseScale = NOISE / 255;
  for (let i = 0; i < count; i++) {
    const cls = order[i] % SYNTHETIC_CLASSES.length;
    labels[i] = cls;
    // One independent stream per image: image i does not depend on how many came before.
    const rng = new Rng(deriveSeed(seed, stream, 1, i));
    drawMask(cls, rng, mask);
    drawColours(rng, fg, bg);
    // Pixel noise needs 1536 draws per channel and dominated generation time through the
    // full generator, so it comes from an inline xorshift32 seeded by this image's stream:
    // still a pure function of (seed, split, i), ~3× faster.
    let z = rng.nextU32() || 0x9e3779b9;
    for (let c = 0; c < 3; c++) {
      const base = (i * 3 + c) * PIX;
      const b = bg[c];
      const d = fg[c] - bg[c];
      for (let p = 0; p < PIX; p += 2) {
        z ^= z << 13;
        z ^= z >>> 17;
        z ^= z << 5;
        // One 32-bit draw gives two triangular noise samples (sum of two bytes).
        const r = z >>> 0;
        const n0 = ((r & 0xff) + ((r >>> 8) & 0xff) - 255) * noiseScale;
        const n1 = (((r >>> 16) & 0xff) + (r >>> 24) - 255) * noiseScale;
        // A Uint8Array store wraps and truncates, so clamp and round explicitly.
        const v0 = b + d * mask[p] + n0;
        const v1 = b + d * mask[p + 1] + n1;
        images[base + p] = v0 < 0 ? 0 : v0 > 255 ? 255 : v0 + 0.5;
        images[base + p + 1] = v1 < 0 ? 0 : v1 > 255 ? 255 : v1 + 0.5;
      }
    }
  }
  return { images, labels };
}

/** Deterministic synthetic train/test splits (defaults: 10000 / 2000 images). */
export function makeSynthetic(opts: SyntheticOptions): DatasetSplits {
  const trainCount = opts.trainCount ?? 10000;
  const testCount = opts.testCount ?? 2000;
  for (const [k, v] of [['trainCount', trainCount], ['testCount', testCount]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`makeSynthetic: ${k} must be a non-negative integer, got ${v}`);
  }
  const tr = generate(opts.seed, 0, trainCount);
  const te = generate(opts.seed, 1, testCount);
  const { mean, std } = channelStats(tr.images, trainCount, 3, PIX);
  const common = {
    name: 'synthetic',
    channels: 3,
    height: SIDE,
    width: SIDE,
    numClasses: SYNTHETIC_CLASSES.length,
  };
  return {
    train: { ...common, ...tr, count: trainCount, mean, std: std.slice() },
    test: { ...common, ...te, count: testCount, mean: mean.slice(), std: std.slice() },
  };
}
