/**
 * A decode worker of pool.ts. Claims file indices from a shared counter (so any number of
 * workers fills the same slots: the output does not depend on the pool size), decodes each
 * into its slot of the shared output, marks it in `status` and wakes the main thread.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import type { DecodeSpec } from './decode.js';
import { CTRL, STATUS } from './pool-protocol.js';

interface Job {
  files: string[];
  spec: DecodeSpec;
  out: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
  status: SharedArrayBuffer;
  port: MessagePort;
}

const job = workerData as Job;
// sharp (a native module) is loaded here only, and a failure to load it is reported as such
// (index -1) instead of leaving the main thread waiting for files that are never decoded.
let decodeInto: typeof import('./decode.js').decodeInto;
try {
  const sharp = (await import('sharp')).default;
  // One libvips thread per worker: the pool size is the parallelism.
  sharp.concurrency(1);
  sharp.cache(false);
  decodeInto = (await import('./decode.js')).decodeInto;
} catch (e) {
  job.port.postMessage({ index: -1, message: `cannot load the image decoder (sharp): ${(e as Error).message}` });
  job.port.close();
  process.exit(1);
}
const ctrl = new Int32Array(job.ctrl);
const status = new Uint8Array(job.status);
const out = new Uint8Array(job.out);
const bytes = 3 * job.spec.crop * job.spec.crop;

for (;;) {
  if (Atomics.load(ctrl, CTRL.STOP) !== 0) break;
  const i = Atomics.add(ctrl, CTRL.NEXT, 1);
  if (i >= job.files.length) break;
  try {
    await decodeInto(job.files[i], job.spec, out, i * bytes);
    status[i] = STATUS.OK;
  } catch (e) {
    status[i] = STATUS.BAD;
    job.port.postMessage({ index: i, message: (e as Error).message });
  }
  Atomics.add(ctrl, CTRL.DONE, 1);
  Atomics.notify(ctrl, CTRL.DONE);
}
job.port.close();
