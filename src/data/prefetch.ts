/**
 * Double buffering of training batches around an async native step.
 *
 * JS is single-threaded, so "prefetching" means: start the async step on batch k (the native
 * side reads buffer A off the main thread), then fill buffer B with batch k+1 synchronously
 * while that step runs, then await the step. Batch preparation then overlaps native compute:
 *
 *   const pf = new Prefetcher((step, out) => makeTrainBatch(ds, specOf(step), out),
 *                             () => allocBatch(ds, batchSize));
 *   let cur = pf.get(first);
 *   for (let s = first; s < last; s++) {
 *     const p = model.step(cur);        // native reads cur's buffers
 *     if (s + 1 < last) pf.prepare(s + 1); // fills the OTHER buffer meanwhile
 *     await p;
 *     if (s + 1 < last) cur = pf.get(s + 1); // already prepared: no work, no copy
 *   }
 *
 * Invariant: prepare() never writes into the buffer most recently returned by get(), which
 * the native step may still be reading. get() must only be called once the step using the
 * previous batch has finished.
 */
import { performance } from 'node:perf_hooks';

export class Prefetcher<T> {
  private readonly bufs: [T, T];
  /** Which buffer get() last returned (the one possibly in use). */
  private current = 0;
  /** Key filled into the other buffer by prepare(), or undefined. */
  private pendingKey: number | undefined;
  /** Milliseconds the latest fill took. */
  lastPrepareMs = 0;
  /** Total fill time and count, for a mean per batch. */
  totalPrepareMs = 0;
  prepared = 0;

  constructor(
    private readonly produce: (key: number, out: T) => void,
    alloc: () => T,
  ) {
    this.bufs = [alloc(), alloc()];
  }

  /** Fills the spare buffer with item `key` (call while the current one is in use). */
  prepare(key: number): void {
    this.fill(1 - this.current, key);
    this.pendingKey = key;
  }

  /**
   * Returns item `key`: the prepared buffer if prepare(key) was called, else fills the spare
   * buffer now. Either way the returned buffer becomes the current one.
   */
  get(key: number): T {
    const spare = 1 - this.current;
    if (this.pendingKey !== key) this.fill(spare, key);
    this.pendingKey = undefined;
    this.current = spare;
    return this.bufs[spare];
  }

  private fill(slot: number, key: number): void {
    const t0 = performance.now();
    this.produce(key, this.bufs[slot]);
    this.lastPrepareMs = performance.now() - t0;
    this.totalPrepareMs += this.lastPrepareMs;
    this.prepared++;
  }
}
