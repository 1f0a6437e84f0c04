/**
 * Decodes a list of image files with a pool of worker threads, synchronously from the
 * caller's point of view: the data loaders are synchronous (they run before the run directory
 * exists), so the main thread blocks in Atomics.wait while the workers decode, and reads the
 * workers' bad-file reports with receiveMessageOnPort (no event loop turn needed).
 *
 * Output slot i holds file i, whatever the number of workers, so the result is the same for
 * any pool size. A bad file is an Error naming it (the workers are stopped), or, with
 * `skipBad`, is marked and reported back; nothing else is retried.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { DecodeSpec } from './decode.js';
import { CTRL, STATUS } from './pool-protocol.js';

export interface DecodeResult {
  /** files.length · 3·crop·crop bytes (slots of bad files are zero). */
  pixels: Uint8Array;
  /** Per file: true when it decoded. */
  ok: Uint8Array;
  /** Bad files with the reason, in file order. */
  bad: { index: number; file: string; message: string }[];
}

export interface DecodeOptions {
  workers: number;
  skipBad: boolean;
  /** Called about once a second with (files done, total). */
  onProgress?: (done: number, total: number) => void;
}

/** A worker that reports nothing for this long is taken as hung (a decode takes milliseconds). */
const STALL_MS = 120_000;

/**
 * The compiled worker script. Under the test runner this module is the TypeScript source, and
 * a worker thread cannot load .ts: the worker then comes from dist/ (tests build it first).
 */
export function workerScript(): URL {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return new URL('./decode-worker.js', import.meta.url);
  const built = here.replace(/([\\/])src([\\/]data[\\/]images[\\/])pool\.ts$/, '$1dist$1src$2decode-worker.js');
  if (!existsSync(built)) throw new Error(`decode worker ${built} is missing: run \`npm run build:ts\``);
  return new URL(`file://${built}`);
}

export function decodeFiles(files: string[], spec: DecodeSpec, opts: DecodeOptions): DecodeResult {
  const n = files.length;
  const bytes = 3 * spec.crop * spec.crop;
  const out = new SharedArrayBuffer(n * bytes);
  const ctrlBuf = new SharedArrayBuffer(CTRL.SIZE * 4);
  const statusBuf = new SharedArrayBuffer(Math.max(1, n));
  const ctrl = new Int32Array(ctrlBuf);
  const status = new Uint8Array(statusBuf);
  const bad: { index: number; file: string; message: string }[] = [];
  if (n === 0) return { pixels: new Uint8Array(out), ok: new Uint8Array(0), bad };

  const count = Math.max(1, Math.min(opts.workers, n));
  const ports: MessagePort[] = [];
  const workers: Worker[] = [];
  const script = workerScript();
  for (let w = 0; w < count; w++) {
    const { port1, port2 } = new MessageChannel();
    ports.push(port1);
    workers.push(
      new Worker(script, {
        workerData: { files, spec, out, ctrl: ctrlBuf, status: statusBuf, port: port2 },
        transferList: [port2],
      }),
    );
  }
  const stopAll = (): void => {
    Atomics.store(ctrl, CTRL.STOP, 1);
    for (const w of workers) void w.terminate();
  };
  try {
    let lastDone = 0;
    let lastChange = Date.now();
    let lastReport = Date.now();
    for (;;) {
      const done = Atomics.load(ctrl, CTRL.DONE);
      for (const p of ports) {
        for (let m = receiveMessageOnPort(p); m !== undefined; m = receiveMessageOnPort(p)) {
          const { index, message } = m.message as { index: number; message: string };
          if (index < 0) throw new Error(message);
          bad.push({ index, file: files[index], message });
        }
      }
      if (bad.length > 0 && !opts.skipBad) {
        bad.sort((a, b) => a.index - b.index);
        throw new Error(`${bad[0].message} (pass --skip-bad-images to skip and count such files)`);
      }
      if (done >= n) break;
      const now = Date.now();
      if (done !== lastDone) {
        lastDone = done;
        lastChange = now;
      } else if (now - lastChange > STALL_MS) {
        throw new Error(`image decoding made no progress for ${STALL_MS / 1000} s (${done} of ${n} files done); a decode worker stopped`);
      }
      if (opts.onProgress && now - lastReport >= 1000) {
        lastReport = now;
        opts.onProgress(done, n);
      }
      Atomics.wait(ctrl, CTRL.DONE, done, 250);
    }
    opts.onProgress?.(n, n);
  } finally {
    stopAll();
    for (const p of ports) p.close();
  }
  const ok = new Uint8Array(n);
  for (let i = 0; i < n; i++) ok[i] = status[i] === STATUS.OK ? 1 : 0;
  bad.sort((a, b) => a.index - b.index);
  return { pixels: new Uint8Array(out), ok, bad };
}
