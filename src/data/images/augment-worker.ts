/**
 * An augment worker of augment-pool.ts: waits for a new batch (generation word), writes the
 * crop-resize-flip-normalise of its samples (rank, rank + n, ...) into their slots, and reports
 * that it finished.
 */
import { workerData } from 'node:worker_threads';
import { cropResizeInto } from './augment.js';
import { AUG, JOB_WORDS } from './augment-pool.js';

interface Init {
  rank: number;
  store: SharedArrayBuffer;
  storeOffset: number;
  storeLength: number;
  side: number;
  ctrl: SharedArrayBuffer;
  jobs: SharedArrayBuffer;
  out: SharedArrayBuffer;
  params: SharedArrayBuffer;
}

const init = workerData as Init;
const store = new Uint8Array(init.store, init.storeOffset, init.storeLength);
const ctrl = new Int32Array(init.ctrl);
const jobs = new Int32Array(init.jobs);
const out = new Float32Array(init.out);
const params = new Float64Array(init.params);
const side = init.side;
const storeBytes = 3 * side * side;
let gen = 0;

for (;;) {
  Atomics.wait(ctrl, AUG.GEN, gen);
  gen = Atomics.load(ctrl, AUG.GEN);
  if (Atomics.load(ctrl, AUG.STOP) !== 0) break;
  const count = ctrl[AUG.COUNT];
  const size = ctrl[AUG.SIZE];
  const n = ctrl[AUG.WORKERS];
  const mean = [params[0], params[1], params[2]];
  const std = [params[3], params[4], params[5]];
  for (let i = init.rank; i < count; i += n) {
    const o = i * JOB_WORDS;
    const box = { top: jobs[o + 1], left: jobs[o + 2], height: jobs[o + 3], width: jobs[o + 4] };
    const ops = Array.from({ length: jobs[o + 6] }, (_, k) => ({ op: jobs[o + 7 + 2 * k], sign: jobs[o + 8 + 2 * k] }));
    cropResizeInto(store, jobs[o] * storeBytes, side, box, size, jobs[o + 5] === 1, mean, std, out, i * 3 * size * size, { ops, magnitude: params[6] });
  }
  Atomics.add(ctrl, AUG.FINISHED, 1);
  Atomics.notify(ctrl, AUG.FINISHED);
}
