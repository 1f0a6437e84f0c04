// The image-folder training augmentation: Inception-crop geometry against its definition,
// the bicubic crop-resize against libvips, flip, normalisation and determinism.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { makeTrainBatch, type Dataset } from '../src/data/index.js';
import { centreFallback, cropResizeInto, cubic, randomResizedCrop, RRC_RATIO, RRC_SCALE } from '../src/data/images/augment.js';
import { dataWaitText } from '../src/train/progress.js';
import { betaSymmetric, gammaSample } from '../src/data/images/mixup.js';
import { applyOp, drawRandAugment, RA_OPS } from '../src/data/images/randaugment.js';
import { Rng } from '../src/util/rng.js';
import { pattern } from './support/images.js';

describe('random-resized crop parameters', () => {
  it('every crop lies inside the image with area and aspect ratio in range (up to rounding)', () => {
    const rng = new Rng(3);
    for (const [h, w] of [[80, 80], [40, 90], [256, 256]]) {
      let fallbacks = 0;
      for (let i = 0; i < 500; i++) {
        const b = randomResizedCrop(rng, h, w);
        expect(b.top).toBeGreaterThanOrEqual(0);
        expect(b.left).toBeGreaterThanOrEqual(0);
        expect(b.top + b.height).toBeLessThanOrEqual(h);
        expect(b.left + b.width).toBeLessThanOrEqual(w);
        const fb = centreFallback(h, w);
        if (b.top === fb.top && b.left === fb.left && b.height === fb.height && b.width === fb.width) {
          fallbacks++;
          continue;
        }
        // w = round(√(A·r)), h = round(√(A/r)): area and ratio within rounding of the bounds.
        const area = b.width * b.height;
        expect(area).toBeGreaterThanOrEqual(RRC_SCALE[0] * h * w - (b.width + b.height));
        expect(area).toBeLessThanOrEqual(RRC_SCALE[1] * h * w);
        const r = b.width / b.height;
        expect(r).toBeGreaterThanOrEqual(((RRC_RATIO[0] * (b.height - 0.5)) - 0.5) / b.height);
        expect(r).toBeLessThanOrEqual(((RRC_RATIO[1] * (b.height + 0.5)) + 0.5) / b.height);
      }
      // Most draws fit at the first attempts; the fallback is rare but possible.
      expect(fallbacks).toBeLessThan(50);
    }
  });

  it('covers the area range: small and near-full crops both occur', () => {
    const rng = new Rng(11);
    const areas = Array.from({ length: 3000 }, () => {
      const b = randomResizedCrop(rng, 100, 100);
      return (b.width * b.height) / 10000;
    });
    expect(Math.min(...areas)).toBeLessThan(0.1);
    expect(Math.max(...areas)).toBeGreaterThan(0.9);
  });

  it('falls back to the centred whole image clamped to the ratio range', () => {
    expect(centreFallback(80, 80)).toEqual({ top: 0, left: 0, height: 80, width: 80 });
    expect(centreFallback(40, 100)).toEqual({ top: 0, left: Math.floor((100 - 53) / 2), height: 40, width: 53 });
    expect(centreFallback(100, 40)).toEqual({ top: Math.floor((100 - 53) / 2), left: 0, height: 53, width: 40 });
  });

  it('uses Keys\' cubic with a = -0.5', () => {
    expect(cubic(0)).toBe(1);
    expect(cubic(1)).toBeCloseTo(0, 12);
    expect(cubic(2)).toBe(0);
    expect(cubic(0.5)).toBeCloseTo(0.5625, 12);
    expect(cubic(1.5)).toBeCloseTo(-0.0625, 12);
  });
});

/** CHW uint8 of a w×h pattern image. */
function chw(w: number, h: number): Uint8Array {
  const hwc = pattern(w, h, 1, 2);
  const out = new Uint8Array(3 * w * h);
  for (let p = 0; p < w * h; p++) for (let c = 0; c < 3; c++) out[c * w * h + p] = hwc[p * 3 + c];
  return out;
}

describe('crop and bicubic resize', () => {
  const side = 40;
  const src = chw(side, side);
  const ident = { mean: [0, 0, 0], std: [1 / 255, 1 / 255, 1 / 255] }; // output = pixel value

  it('matches libvips\' bicubic resize of the same crop (within resampling differences)', async () => {
    for (const [box, size] of [
      [{ top: 5, left: 3, height: 30, width: 24 }, 16],
      [{ top: 0, left: 0, height: 40, width: 40 }, 64],
    ] as const) {
      const out = new Float32Array(3 * size * size);
      cropResizeInto(src, 0, side, box, size, false, ident.mean, ident.std, out, 0);
      const ref = await sharp(pattern(side, side, 1, 2), { raw: { width: side, height: side, channels: 3 } })
        .extract({ left: box.left, top: box.top, width: box.width, height: box.height })
        .resize(size, size, { fit: 'fill', kernel: 'cubic' })
        .raw()
        .toBuffer();
      let diff = 0;
      for (let p = 0; p < size * size; p++) for (let c = 0; c < 3; c++) diff += Math.abs(out[c * size * size + p] - ref[p * 3 + c]);
      expect(diff / (3 * size * size)).toBeLessThan(2.5);
    }
  });

  it('is exact on a constant image and flips columns', () => {
    const flat = new Uint8Array(3 * side * side).fill(100);
    const out = new Float32Array(3 * 8 * 8);
    cropResizeInto(flat, 0, side, { top: 2, left: 7, height: 21, width: 13 }, 8, false, [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], out, 0);
    for (const v of out) expect(v).toBeCloseTo((100 / 255 - 0.5) / 0.25, 5);
    const a = new Float32Array(3 * 8 * 8);
    const b = new Float32Array(3 * 8 * 8);
    const box = { top: 4, left: 4, height: 30, width: 30 };
    cropResizeInto(src, 0, side, box, 8, false, ident.mean, ident.std, a, 0);
    cropResizeInto(src, 0, side, box, 8, true, ident.mean, ident.std, b, 0);
    for (let c = 0; c < 3; c++) for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
      expect(b[(c * 8 + y) * 8 + x]).toBe(a[(c * 8 + y) * 8 + 7 - x]);
    }
  });
});

describe('training batches from the stored images', () => {
  const count = 12;
  const side = 20;
  const size = 16;
  const store = new Uint8Array(count * 3 * side * side);
  for (let i = 0; i < store.length; i++) store[i] = (i * 37) % 251;
  const ds: Dataset = {
    name: 'imagefolder',
    images: new Uint8Array(count * 3 * size * size),
    labels: Int32Array.from({ length: count }, (_, i) => i % 3),
    count,
    channels: 3,
    height: size,
    width: size,
    numClasses: 3,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    store: { side, pixels: store },
  };

  it('are a pure function of (seed, epoch, index) and differ between indices and seeds', () => {
    const spec = { seed: 1, epoch: 2, index: 1, batchSize: 4, augment: true };
    const a = makeTrainBatch(ds, spec);
    const b = makeTrainBatch(ds, spec);
    expect(a.images).toEqual(b.images);
    expect(a.images.length).toBe(4 * 3 * size * size);
    expect(makeTrainBatch(ds, { ...spec, index: 2 }).images).not.toEqual(a.images);
    expect(makeTrainBatch(ds, { ...spec, seed: 2 }).images).not.toEqual(a.images);
  });

  it('without augmentation are the stored evaluation-style crops, normalised', () => {
    const plain = makeTrainBatch({ ...ds, images: new Uint8Array(ds.images.length).fill(51) }, { seed: 1, epoch: 0, index: 0, batchSize: 4, augment: false });
    expect(plain.images[0]).toBeCloseTo((0.2 - 0.485) / 0.229, 5);
  });
});

describe('data-wait share on the progress line', () => {
  it('is the batch-building time over the step time (an upper bound of the wait), absent without timings', () => {
    expect(dataWaitText({ dataMs: 3, stepMs: 100 })).toBe(' data wait ≤3.0%');
    expect(dataWaitText({ dataMs: 30, stepMs: 100 })).toBe(' data wait ≤30%');
    expect(dataWaitText({ dataMs: 300, stepMs: 100 })).toBe(' data wait ≤100%');
    expect(dataWaitText({ dataMs: 1, stepMs: 0 })).toBe('');
  });
});

describe('mixup', () => {
  it('samples Gamma and Beta(α, α) with the right moments', () => {
    const rng = new Rng(5);
    for (const shape of [0.4, 2.5]) {
      const xs = Array.from({ length: 20000 }, () => gammaSample(rng, shape));
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(Math.abs(m - shape)).toBeLessThan(0.05 * shape + 0.02); // mean = shape
    }
    for (const alpha of [0.2, 1]) {
      const xs = Array.from({ length: 20000 }, () => betaSymmetric(rng, alpha));
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      const v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length;
      expect(Math.abs(m - 0.5)).toBeLessThan(0.01);
      expect(Math.abs(v - 1 / (4 * (2 * alpha + 1)))).toBeLessThan(0.01); // Var = 1/(4(2α+1))
      expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...xs)).toBeLessThanOrEqual(1);
    }
  });

  const count = 16;
  const side = 12;
  const size = 8;
  const store = new Uint8Array(count * 3 * side * side);
  for (let i = 0; i < store.length; i++) store[i] = (i * 53) % 241;
  const base: Dataset = {
    name: 'imagefolder', images: new Uint8Array(count * 3 * size * size), labels: Int32Array.from({ length: count }, (_, i) => i),
    count, channels: 3, height: size, width: size, numClasses: count, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25],
    store: { side, pixels: store },
  };
  const mixed: Dataset = { ...base, store: { side, pixels: store, mixup: 0.4 } };
  const spec = { seed: 3, epoch: 0, index: 1, batchSize: 8, augment: true };
  const per = 3 * size * size;

  it('mixes each image with its partner B-1-j by one λ, and draws each label from the pair', () => {
    const plain = makeTrainBatch(base, spec);
    const mix = makeTrainBatch(mixed, spec);
    // Same crop draws come first, so mix[j] = λ·plain[j] + (1-λ)·plain[B-1-j] with one λ.
    let lam = NaN;
    for (let j = 0; j < 8; j++) {
      const p = 7 - j;
      for (let k = 0; k < per; k++) {
        const d = plain.images[j * per + k] - plain.images[p * per + k];
        if (Math.abs(d) < 0.5) continue;
        const l = (mix.images[j * per + k] - plain.images[p * per + k]) / d;
        if (Number.isNaN(lam)) lam = l;
        expect(l).toBeCloseTo(lam, 3);
      }
      expect([plain.labels[j], plain.labels[p]]).toContain(mix.labels[j]);
    }
    expect(lam).toBeGreaterThanOrEqual(0);
    expect(lam).toBeLessThanOrEqual(1);
  });

  it('a shard is its part of the whole mixed batch (partners in other shards included)', () => {
    const whole = makeTrainBatch(mixed, spec);
    const shard = makeTrainBatch(mixed, { ...spec, shard: { offset: 2, count: 3 } });
    expect(shard.images).toEqual(whole.images.subarray(2 * per, 5 * per));
    expect(Array.from(shard.labels)).toEqual(Array.from(whole.labels.subarray(2, 5)));
  });
});

describe('RandAugment ops (torchvision semantics, 31 bins)', () => {
  const s = 16;
  const img = () => {
    const a = new Uint8Array(3 * s * s);
    for (let i = 0; i < a.length; i++) a[i] = 20 + ((i * 7) % 200);
    return a;
  };
  const op = (name: string) => RA_OPS.indexOf(name as (typeof RA_OPS)[number]);
  const run = (name: string, sign: number, m: number, a = img()) => {
    applyOp(a, s, op(name), sign, m);
    return a;
  };

  it('identity-like at magnitude 0 for the geometric and blending ops', () => {
    for (const name of ['Identity', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate', 'Brightness', 'Color', 'Contrast', 'Sharpness']) {
      expect(run(name, 1, 0)).toEqual(img());
    }
  });

  it('posterize keeps 7 bits and solarize inverts from 178.5 up at magnitude 9', () => {
    for (const v of run('Posterize', 1, 9)) expect(v % 2).toBe(0);
    const before = img();
    const after = run('Solarize', 1, 9);
    before.forEach((v, i) => expect(after[i]).toBe(v >= 178.5 ? 255 - v : v));
  });

  it('brightness scales by 1 ± 0.27 at magnitude 9; autocontrast stretches each channel to 0..255', () => {
    const before = img();
    const up = run('Brightness', 1, 9);
    before.forEach((v, i) => expect(up[i]).toBe(Math.min(255, Math.round(v * 1.27))));
    const ac = run('AutoContrast', 1, 9);
    for (let c = 0; c < 3; c++) {
      const ch = ac.subarray(c * s * s, (c + 1) * s * s);
      expect([Math.min(...ch), Math.max(...ch)]).toEqual([0, 255]);
    }
    const eq = run('Equalize', 1, 9);
    expect(Math.max(...eq)).toBeGreaterThan(240);
  });

  it('translate shifts by trunc(150/331·side·m/30) with zero fill; rotate turns a point about the centre', () => {
    const t = Math.trunc((150 / 331) * s * 9 / 30); // 2 at 16 px
    const before = img();
    const moved = run('TranslateX', 1, 9);
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) expect(moved[y * s + x]).toBe(x - t >= 0 ? before[y * s + x - t] : 0);
    }
    const dot = new Uint8Array(3 * s * s);
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) dot[(3 + dy) * s + 12 + dx] = 255; // 3x3 around (12, 3)
    applyOp(dot, s, op('Rotate'), 1, 30); // 30 degrees
    const c = (s - 1) / 2;
    const a = Math.PI / 6;
    // The output pixels whose source is the block lie around the inverse map of its centre.
    const x = Math.cos(a) * (12 - c) + Math.sin(a) * (3 - c) + c;
    const y = -Math.sin(a) * (12 - c) + Math.cos(a) * (3 - c) + c;
    let sx = 0;
    let sy = 0;
    let n = 0;
    for (let i = 0; i < s * s; i++) if (dot[i] === 255) [sx, sy, n] = [sx + (i % s), sy + Math.floor(i / s), n + 1];
    expect(n).toBeGreaterThan(4);
    expect(Math.hypot(sx / n - x, sy / n - y)).toBeLessThan(1);
  });

  it('draws every op, signs only for the signed ones', () => {
    const rng = new Rng(9);
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) {
      for (const o of drawRandAugment(rng, 2)) {
        seen.add(o.op);
        if (['Identity', 'Posterize', 'Solarize', 'AutoContrast', 'Equalize'].includes(RA_OPS[o.op])) expect(o.sign).toBe(1);
      }
    }
    expect(seen.size).toBe(14);
  });
});
