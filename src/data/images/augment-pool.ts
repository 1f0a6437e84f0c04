/**
 * Parallel training-batch augmentation: persistent worker threads run cropResizeInto for the
 * samples of a batch, while the main thread waits (Atomics.wait) — the batch is built while the
 * native step of the previous batch runs (loop.ts), so this only shortens that overlap.
 *
 * The crop boxes and flips are drawn on the main thread in sample order (batches.ts), and each
 * sample is computed by the same function wherever it runs, so the floats are identical to the
 * single-threaded ones whatever the number of workers.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CropBox } from './augment.js';
import { RA_MAX_OPS, type RaOp } from './randaugment.js';

/**
 * ctrl words: generation (bumped per batch), samples in the batch, workers finished with the
 * current generation, stop, output side, pool size. Worker w takes samples w, w + n, w + 2n, ...
 * (no claiming), and the main thread writes the next batch's jobs only after every worker has
 * finished the current one, so no worker can ever read a half-written batch.
 */
export const AUG = { GEN: 0, COUNT: 1, FINISHED: 2, STOP: 3, SIZE: 4, WORKERS: 5, SIZE_WORDS: 8 } as const;
/** Per sample in the job table: source index, top, left, height, width, flip, RandAugment op count, then (op, sign) pairs. */
export const JOB_WORDS = 7 + 2 * RA_MAX_OPS;

export interface AugmentJob {
  index: number;
  box: CropBox;
  flip: boolean;
  /** RandAugment ops (at most RA_MAX_OPS). */
  ra?: readonly RaOp[];
}

const STALL_MS = 60_000;

function scriptUrl(): URL {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return new URL('./augment-worker.js', import.meta.url);
  const built = here.replace(/([\\/])src([\\/]data[\\/]images[\\/])augment-pool\.ts$/, '$1dist$1src$2augment-worker.js');
  if (!existsSync(built)) throw new Error(`augment worker ${built} is missing: run \`npm run build:ts\``);
  return new URL(`file://${built}`);
}

export class AugmentPool {
  private readonly ctrl: Int32Array;
  private readonly jobs: Int32Array;
  private out: Float32Array;
  private readonly workers: Worker[] = [];
  private readonly params: Float64Array;

  constructor(store: Uint8Array, side: number, maxBatch: number, size: number, workers: number) {
    if (!(store.buffer instanceof SharedArrayBuffer)) throw new Error('AugmentPool: the stored images must be in shared memory');
    const ctrlBuf = new SharedArrayBuffer(AUG.SIZE_WORDS * 4);
    const jobBuf = new SharedArrayBuffer(maxBatch * JOB_WORDS * 4);
    const outBuf = new SharedArrayBuffer(maxBatch * 3 * size * size * 4);
    const paramBuf = new SharedArrayBuffer(7 * 8);
    this.ctrl = new Int32Array(ctrlBuf);
    this.jobs = new Int32Array(jobBuf);
    this.out = new Float32Array(outBuf);
    this.params = new Float64Array(paramBuf);
    this.ctrl[AUG.SIZE] = size;
    this.ctrl[AUG.WORKERS] = workers;
    const script = scriptUrl();
    for (let w = 0; w < workers; w++) {
      const worker = new Worker(script, {
        workerData: { rank: w, store: store.buffer, storeOffset: store.byteOffset, storeLength: store.length, side, ctrl: ctrlBuf, jobs: jobBuf, out: outBuf, params: paramBuf },
      });
      worker.unref(); // idle workers wait on the generation word; they never keep the process alive
      this.workers.push(worker);
    }
  }

  /** Whether batches of `k` images of side `size` fit this pool's buffers. */
  fits(k: number, size: number): boolean {
    return size === this.ctrl[AUG.SIZE] && k * JOB_WORDS <= this.jobs.length;
  }

  /** Samples of one batch into out[outOffset...], normalised with mean/std. */
  run(jobs: readonly AugmentJob[], mean: readonly number[], std: readonly number[], out: Float32Array, outOffset: number, raMagnitude = 0): void {
    const size = this.ctrl[AUG.SIZE];
    const k = jobs.length;
    if (k * JOB_WORDS > this.jobs.length) throw new Error(`AugmentPool: batch of ${k} is larger than the pool's ${this.jobs.length / JOB_WORDS}`);
    jobs.forEach((j, i) => {
      const ra = j.ra ?? [];
      if (ra.length > RA_MAX_OPS) throw new Error(`AugmentPool: at most ${RA_MAX_OPS} RandAugment ops, got ${ra.length}`);
      this.jobs.set([j.index, j.box.top, j.box.left, j.box.height, j.box.width, j.flip ? 1 : 0, ra.length, ...ra.flatMap((r) => [r.op, r.sign])], i * JOB_WORDS);
    });
    this.params.set([mean[0], mean[1], mean[2], std[0], std[1], std[2], raMagnitude]);
    Atomics.store(this.ctrl, AUG.COUNT, k);
    Atomics.store(this.ctrl, AUG.FINISHED, 0);
    Atomics.add(this.ctrl, AUG.GEN, 1);
    Atomics.notify(this.ctrl, AUG.GEN);
    const n = this.workers.length;
    const start = Date.now();
    for (;;) {
      const finished = Atomics.load(this.ctrl, AUG.FINISHED);
      if (finished >= n) break;
      if (Date.now() - start > STALL_MS) {
        throw new Error(`batch augmentation did not finish in ${STALL_MS / 1000} s (${finished} of ${n} workers done); an augment worker stopped`);
      }
      Atomics.wait(this.ctrl, AUG.FINISHED, finished, 1000);
    }
    const per = 3 * size * size;
    out.set(this.out.subarray(0, k * per), outOffset);
  }

  close(): void {
    Atomics.store(this.ctrl, AUG.STOP, 1);
    Atomics.add(this.ctrl, AUG.GEN, 1);
    Atomics.notify(this.ctrl, AUG.GEN);
    for (const w of this.workers) void w.terminate();
  }
}
