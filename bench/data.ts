// Input pipeline of the image-folder data sets: decode (sharp, worker pool) and augment
// (Inception crop + bicubic resize + flip + normalise; worker pool above 1 worker) rates at 64 and 224 px for 1
// and 2 workers, and the data-wait share of a vit-ti training step at 64 px.
//
//   node dist/bench/data.js [--quick] [--threads N]
//
// stdout: JSON lines —
//   {"kind":"machine", ...}
//   {"kind":"decode", size, workers, images, imagesPerSec}      decode to the stored side (size + pad)
//   {"kind":"augment", size, batch, workers, imagesPerSec}      one training batch from the stored images
//   {"kind":"data-wait", model, size, batch, prepareMs, stepMs, waitShare}
// stderr: commentary.
//
// Method. The images are JPEGs written here (photo-like: smooth gradients plus noise, 500×375,
// ImageNet's typical size), so the numbers do not depend on a data set being present. Decoding
// happens once per run (or never, with the decoded cache); every step then builds its batch
// from the stored images on the main thread while the native step runs (src/train/loop.ts), so
// the step waits for data for max(0, prepare − step) of each step: waitShare =
// max(0, prepare − step) / max(prepare, step), measured by timing both separately.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { setThreads } from '../src/backend.js';
import { allocBatch, makeTrainBatch, type Dataset } from '../src/data/index.js';
import { defaultEvalCropPad, IMAGENET_MEAN, IMAGENET_STD } from '../src/data/images/index.js';
import { decodeFiles } from '../src/data/images/pool.js';
import { vitConfig } from '../src/model/presets.js';
import { createModel } from '../src/model/vit-model.js';
import { Trainer } from '../src/train/trainer.js';
import { backgroundBusy, emit, emitMachine, machineInfo, median, note, parseArgs, randomBatch } from './util.js';

const args = parseArgs();
if (args.threads !== undefined) setThreads(args.threads);
const COUNT = args.quick ? 32 : 160;

async function writeJpegs(dir: string, n: number): Promise<string[]> {
  const files: string[] = [];
  const [w, h] = [500, 375];
  for (let i = 0; i < n; i++) {
    const raw = Buffer.alloc(w * h * 3);
    let s = (i + 1) * 2654435761;
    for (let p = 0; p < w * h; p++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const x = p % w;
      const y = Math.floor(p / w);
      raw[p * 3] = (x * 255) / w + (s & 31);
      raw[p * 3 + 1] = (y * 255) / h + ((s >>> 5) & 31);
      raw[p * 3 + 2] = ((x + y + i * 13) & 255) ^ ((s >>> 10) & 15);
    }
    const f = join(dir, `img${i}.jpg`);
    await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toFile(f);
    files.push(f);
  }
  return files;
}

function storeDataset(pixels: Uint8Array, count: number, size: number, side: number, workers: number): Dataset {
  return {
    name: 'bench',
    images: new Uint8Array(count * 3 * size * size),
    labels: new Int32Array(count),
    count,
    channels: 3,
    height: size,
    width: size,
    numClasses: 200,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    store: { side, pixels, workers },
  };
}

async function main(): Promise<void> {
  emitMachine('data', args.quick, machineInfo(), await backgroundBusy());
  const dir = mkdtempSync(join(tmpdir(), 'grwarm-bench-data-'));
  try {
    mkdirSync(dir, { recursive: true });
    note(`writing ${COUNT} 500x375 JPEGs ...`);
    const files = await writeJpegs(dir, COUNT);
    const stores = new Map<number, Uint8Array>();
    for (const size of [64, 224]) {
      const side = size + defaultEvalCropPad(size);
      for (const workers of [1, 2]) {
        decodeFiles(files.slice(0, 4), { side, crop: side }, { workers, skipBad: false }); // warm: worker start, page cache
        const t0 = performance.now();
        const r = decodeFiles(files, { side, crop: side }, { workers, skipBad: false });
        const sec = (performance.now() - t0) / 1000;
        stores.set(size, r.pixels);
        emit({ kind: 'decode', size, side, workers, images: COUNT, imagesPerSec: COUNT / sec });
        note(`decode to ${side} px (${size} px training), ${workers} worker(s): ${(COUNT / sec).toFixed(0)} images/s`);
      }
      const batch = Math.min(64, COUNT);
      for (const workers of [1, 2]) {
        const ds = storeDataset(stores.get(size)!, COUNT, size, side, workers);
        const out = allocBatch(ds, batch);
        const times: number[] = [];
        for (let k = 0; k < (args.quick ? 3 : 8) + 1; k++) {
          const t0 = performance.now();
          makeTrainBatch(ds, { seed: 1, epoch: 0, index: k % Math.floor(COUNT / batch), batchSize: batch, augment: true }, out);
          if (k > 0) times.push(performance.now() - t0); // the first one starts the pool
        }
        const ms = median(times);
        emit({ kind: 'augment', size, batch, workers, msPerBatch: ms, imagesPerSec: (batch * 1000) / ms });
        note(`augment at ${size} px, ${workers} worker(s): ${((batch * 1000) / ms).toFixed(0)} images/s (${ms.toFixed(1)} ms per batch of ${batch})`);
      }
    }

    // vit-ti at 64 px (patch 8: 64 tokens + cls, as vit-ti on CIFAR at patch 4), batch 64.
    const size = 64;
    const batch = args.quick ? 16 : 64;
    const cfg = vitConfig('vit-ti', { imageSize: size, patchSize: 8, numClasses: 200, dropout: 0 });
    const model = createModel(cfg, { seed: 0 });
    const trainer = new Trainer(model, {
      optimizer: { kind: 'adam', weightDecay: 0.05, clip: 2 },
      schedule: { form: 'constant', lr0: 1e-4, warmupSteps: 0, totalSteps: 1_000_000 },
      gr: { policy: 'none', lambda0: 0, r0: 0, warmupSteps: 0 },
      seed: 1,
    });
    const side = size + defaultEvalCropPad(size);
    const ds = storeDataset(stores.get(size)!, COUNT, size, side, 2);
    const buf = allocBatch(ds, batch);
    const fixed = randomBatch(model.config, batch, 3);
    await trainer.step(fixed); // warm-up
    const stepMs: number[] = [];
    const prepMs: number[] = [];
    for (let k = 0; k < (args.quick ? 2 : 4); k++) {
      let t0 = performance.now();
      await trainer.step(fixed);
      stepMs.push(performance.now() - t0);
      t0 = performance.now();
      makeTrainBatch(ds, { seed: 2, epoch: 0, index: k % Math.floor(COUNT / batch), batchSize: batch, augment: true }, buf);
      prepMs.push(performance.now() - t0);
    }
    const step = median(stepMs);
    const prep = median(prepMs);
    const waitShare = Math.max(0, prep - step) / Math.max(prep, step);
    emit({ kind: 'data-wait', model: 'vit-ti', size, patch: 8, batch, prepareMs: prep, stepMs: step, prepareShare: prep / step, waitShare });
    note(
      `vit-ti at 64 px, batch ${batch}: step ${step.toFixed(0)} ms, batch preparation ${prep.toFixed(1)} ms ` +
        `(${((100 * prep) / step).toFixed(1)}% of the step, overlapped): data wait ${(100 * waitShare).toFixed(1)}% of the step`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
