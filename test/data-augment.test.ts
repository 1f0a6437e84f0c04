import { describe, expect, it } from 'vitest';
import {
  augmentInto,
  IDENTITY_AUG,
  normLut,
  PAD,
  reflectIndex,
  reflectPad,
  type AugParams,
} from '../src/data/augment.js';
import {
  allocBatch,
  epochOrder,
  evalBatches,
  makeTrainBatch,
  stepsPerEpoch,
  type Batch,
} from '../src/data/batches.js';
import { Prefetcher } from '../src/data/prefetch.js';
import type { Dataset } from '../src/data/types.js';
import { Rng } from '../src/util/rng.js';

/** Random-noise images: every crop/flip of an image is then distinguishable from the others. */
function noiseDataset(count: number, c = 3, h = 8, w = 8, seed = 1): Dataset {
  const r = new Rng(seed);
  const images = new Uint8Array(count * c * h * w);
  for (let i = 0; i < images.length; i++) images[i] = r.nextInt(256);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) labels[i] = i % 10;
  return {
    name: 'noise', images, labels, count, channels: c, height: h, width: w, numClasses: 10,
    mean: [0.5, 0.4, 0.3].slice(0, c), std: [0.25, 0.2, 0.1].slice(0, c),
  };
}

const imageOf = (ds: Dataset, n: number): Uint8Array => {
  const s = ds.channels * ds.height * ds.width;
  return ds.images.subarray(n * s, (n + 1) * s);
};

/** Reference augmentation: explicit pad, crop, flip, then the normalisation formula. */
function reference(ds: Dataset, n: number, a: AugParams): Float32Array {
  const { channels: C, height: H, width: W } = ds;
  const padded = reflectPad(imageOf(ds, n), C, H, W, PAD);
  const pw = W + 2 * PAD;
  const out = new Float32Array(C * H * W);
  for (let c = 0; c < C; c++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const sx = a.flip ? W - 1 - x : x;
        const v = padded[(c * (H + 2 * PAD) + y + a.dy) * pw + sx + a.dx];
        out[(c * H + y) * W + x] = Math.fround((v / 255 - ds.mean[c]) / ds.std[c]);
      }
  return out;
}

function augmented(ds: Dataset, n: number, a: AugParams): Float32Array {
  const out = new Float32Array(ds.channels * ds.height * ds.width);
  augmentInto(ds, n, a, normLut(ds), out, 0);
  return out;
}

describe('reflect padding', () => {
  it("mirrors without repeating the edge (PyTorch/NumPy 'reflect')", () => {
    // 1×3×3 image 1..9, pad 2: row -1 is row 1, row -2 is row 2.
    const img = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const p = reflectPad(img, 1, 3, 3, 2);
    const row = (y: number): number[] => Array.from(p.subarray(y * 7, y * 7 + 7));
    expect(row(0)).toEqual([9, 8, 7, 8, 9, 8, 7]);
    expect(row(2)).toEqual([3, 2, 1, 2, 3, 2, 1]);
    expect(row(3)).toEqual([6, 5, 4, 5, 6, 5, 4]);
    expect(row(6)).toEqual([3, 2, 1, 2, 3, 2, 1]);
    expect([reflectIndex(-4, 32), reflectIndex(35, 32), reflectIndex(31, 32)]).toEqual([4, 27, 31]);
  });

  it('cropping the padded image at offset (4,4) gives back the original', () => {
    const ds = noiseDataset(2, 3, 32, 32);
    const padded = reflectPad(imageOf(ds, 1), 3, 32, 32, 4);
    const crop = new Uint8Array(3 * 32 * 32);
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 32; y++)
        for (let x = 0; x < 32; x++) crop[(c * 32 + y) * 32 + x] = padded[(c * 40 + y + 4) * 40 + x + 4];
    expect(crop).toEqual(imageOf(ds, 1));
  });
});

describe('augmentInto', () => {
  const ds = noiseDataset(3, 3, 32, 32);

  it('normalises as (x/255 - mean[c]) / std[c] with the identity augmentation', () => {
    const out = augmented(ds, 2, IDENTITY_AUG);
    const img = imageOf(ds, 2);
    for (const i of [0, 5 * 32 + 7, 1024 + 33, 2 * 1024 + 1023]) {
      const c = Math.floor(i / 1024);
      expect(out[i]).toBeCloseTo((img[i] / 255 - ds.mean[c]) / ds.std[c], 6);
    }
    // Hand-computed: 0 → -mean/std, 255 → (1-mean)/std for channel 2 (mean .3, std .1).
    const lut = normLut(ds);
    expect(lut[2 * 256 + 0]).toBeCloseTo(-3, 6);
    expect(lut[2 * 256 + 255]).toBeCloseTo(7, 6);
  });

  it('flip-only equals the exactly mirrored image', () => {
    const plain = augmented(ds, 0, IDENTITY_AUG);
    const flipped = augmented(ds, 0, { dy: PAD, dx: PAD, flip: true });
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 32; y++)
        for (let x = 0; x < 32; x++) {
          expect(flipped[(c * 32 + y) * 32 + x]).toBe(plain[(c * 32 + y) * 32 + 31 - x]);
        }
  });

  it('matches explicit pad → crop → flip for every offset', () => {
    for (let dy = 0; dy <= 2 * PAD; dy++)
      for (let dx = 0; dx <= 2 * PAD; dx++)
        for (const flip of [false, true]) {
          const ok = equal(augmented(ds, 1, { dy, dx, flip }), reference(ds, 1, { dy, dx, flip }));
          expect(ok, `dy=${dy} dx=${dx} flip=${flip}`).toBe(true);
        }
  });
});

describe('training batches', () => {
  const ds = noiseDataset(103, 3, 8, 8);
  const size = 3 * 8 * 8;
  const spec = { seed: 5, epoch: 2, index: 1, batchSize: 16, augment: true };

  it('drops the last partial batch', () => {
    expect(stepsPerEpoch(ds, 16)).toBe(6);
    expect(stepsPerEpoch({ ...ds, count: 50000 }, 256)).toBe(195);
    expect(() => makeTrainBatch(ds, { ...spec, index: 6 })).toThrow(/batch index 6 out of range \[0, 5\]/);
  });

  it('has the right shape and reuses the given buffers', () => {
    const out = allocBatch(ds, 16);
    const b = makeTrainBatch(ds, spec, out);
    expect(b).toBe(out);
    expect(b.images.length).toBe(16 * size);
    expect(b.labels.length).toBe(16);
    expect(b.count).toBe(16);
  });

  it('is a pure function of (seed, epoch, index)', () => {
    const a = makeTrainBatch(ds, spec);
    // Build other batches in between: no hidden state may leak into the next call.
    makeTrainBatch(ds, { ...spec, epoch: 7, index: 3 });
    makeTrainBatch(ds, { ...spec, seed: 99 });
    const again = makeTrainBatch(ds, spec);
    expect(again.images).toEqual(a.images);
    expect(again.labels).toEqual(a.labels);
    for (const other of [{ index: 2 }, { epoch: 3 }, { seed: 6 }]) {
      expect(makeTrainBatch(ds, { ...spec, ...other }).images).not.toEqual(a.images);
    }
  });

  it('epoch order is a permutation and an epoch visits distinct samples', () => {
    const order = epochOrder(ds, 5, 2);
    expect(Array.from(order).sort((x, y) => x - y)).toEqual(Array.from({ length: 103 }, (_, i) => i));
    expect(Array.from(epochOrder(ds, 5, 3))).not.toEqual(Array.from(order));
    // Without augmentation, batch k holds exactly the normalised images order[16k .. 16k+15].
    const lut = normLut(ds);
    for (let k = 0; k < 6; k++) {
      const b = makeTrainBatch(ds, { ...spec, index: k, augment: false });
      for (let j = 0; j < 16; j++) {
        const n = order[k * 16 + j];
        expect(b.labels[j]).toBe(ds.labels[n]);
        const want = new Float32Array(size);
        augmentInto(ds, n, IDENTITY_AUG, lut, want, 0);
        expect(b.images.subarray(j * size, (j + 1) * size)).toEqual(want);
      }
    }
  });

  it('augments each sample with one of the pad/crop/flip variants of its own image, all used', () => {
    // 16×16 noise images: wide enough that no two of the 162 variants coincide (on 8×8 ones
    // reflection makes e.g. dx=0 equal to dx=1 flipped), so the match below is unique.
    const big = noiseDataset(103, 3, 16, 16);
    const bigSize = 3 * 16 * 16;
    const order = epochOrder(big, 5, 0);
    const seen = { dy: new Set<number>(), dx: new Set<number>(), flips: 0 };
    for (let k = 0; k < 6; k++) {
      const b = makeTrainBatch(big, { ...spec, epoch: 0, index: k });
      for (let j = 0; j < 16; j++) {
        const got = b.images.subarray(j * bigSize, (j + 1) * bigSize);
        const matches: AugParams[] = [];
        for (let dy = 0; dy <= 2 * PAD; dy++)
          for (let dx = 0; dx <= 2 * PAD; dx++)
            for (const flip of [false, true]) {
              if (equal(got, reference(big, order[k * 16 + j], { dy, dx, flip }))) {
                matches.push({ dy, dx, flip });
              }
            }
        expect(matches).toHaveLength(1);
        seen.dy.add(matches[0].dy);
        seen.dx.add(matches[0].dx);
        seen.flips += matches[0].flip ? 1 : 0;
      }
    }
    // 96 samples: each of 9 offsets is missed with probability (8/9)^96 ≈ 1e-5; the flip count
    // is Binomial(96, 1/2) with SD 4.9, so [30, 66] is > 3.6 SD wide on each side.
    expect(seen.dy.size).toBe(9);
    expect(seen.dx.size).toBe(9);
    expect(seen.flips).toBeGreaterThanOrEqual(30);
    expect(seen.flips).toBeLessThanOrEqual(66);
  });
});

describe('evaluation batches', () => {
  it('cover every sample in order, normalised, last batch smaller', () => {
    const ds = noiseDataset(23, 1, 8, 8);
    const batches: { labels: number[]; count: number; len: number; first: number }[] = [];
    const lut = normLut(ds);
    for (const b of evalBatches(ds, 10)) {
      batches.push({ labels: Array.from(b.labels), count: b.count, len: b.images.length, first: b.images[0] });
    }
    expect(batches.map((b) => b.count)).toEqual([10, 10, 3]);
    expect(batches.map((b) => b.len)).toEqual([640, 640, 192]);
    expect(batches.flatMap((b) => b.labels)).toEqual(Array.from(ds.labels));
    expect(batches[2].first).toBe(lut[ds.images[20 * 64]]);
  });
});

describe('Prefetcher', () => {
  const ds = noiseDataset(64, 3, 8, 8);
  const make = (): Prefetcher<Batch> =>
    new Prefetcher<Batch>(
      (step, out) => makeTrainBatch(ds, { seed: 1, epoch: 0, index: step, batchSize: 8, augment: true }, out),
      () => allocBatch(ds, 8),
    );

  it('double-buffers: prepare(k+1) fills the other buffer, get(k+1) returns it without work', async () => {
    const pf = make();
    let cur = pf.get(0);
    let timed = pf.lastPrepareMs; // every fill's time goes into the total, once
    const seenBuffers = new Set<Float32Array>();
    for (let k = 0; k < 7; k++) {
      seenBuffers.add(cur.images);
      const snapshot = cur.images.slice();
      // Stand-in for the async native step reading `cur`.
      const step = new Promise<void>((resolve) => setTimeout(resolve, 1));
      pf.prepare(k + 1);
      expect(cur.images).toEqual(snapshot); // the in-use buffer was not touched
      timed += pf.lastPrepareMs;
      await step;
      const before = pf.prepared;
      cur = pf.get(k + 1);
      expect(pf.prepared).toBe(before); // no second fill
      expect(cur.images).toEqual(makeTrainBatch(ds, { seed: 1, epoch: 0, index: k + 1, batchSize: 8, augment: true }).images);
    }
    expect(seenBuffers.size).toBe(2);
    expect(pf.prepared).toBe(8);
    expect(pf.totalPrepareMs).toBeCloseTo(timed, 9); // get() of a prepared key added no time
  });

  it('get() of an unprepared key fills it on demand', () => {
    const pf = make();
    pf.prepare(3);
    const b = pf.get(5);
    expect(b.images).toEqual(makeTrainBatch(ds, { seed: 1, epoch: 0, index: 5, batchSize: 8, augment: true }).images);
    expect(pf.prepared).toBe(2);
  });
});

function equal(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
