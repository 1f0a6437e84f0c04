/**
 * How a sweep splits the machine's threads between its parallel runs, and the default
 * number of parallel runs.
 *
 * Measured on this project's 2-core machine (`grwarm-native sweep`, vit-micro, Fashion-MNIST
 * subset, the same 4 cells each way; see the README section "Reproducing the paper"): two
 * runs of 1 thread each finish the cells faster than one run of 2 threads at a time, because
 * the small models' kernels do not scale to two threads (short GEMMs, per-op synchronisation)
 * while two independent processes keep both cores busy. Larger models (vit-ti and up) have
 * GEMMs big enough to use the threads well, so they run one at a time with all threads.
 */
import type { ModelName } from '../config/index.js';

/** Models small enough that separate single-threaded runs beat one multi-threaded run. */
const SMALL_MODELS: ReadonlySet<string> = new Set<ModelName>(['vit-micro', 'swin-micro', 'cait-micro']);

/** Default number of parallel runs for these cells on `cores` threads. */
export function defaultParallel(cores: number, models: readonly string[]): number {
  if (cores <= 1) return 1;
  return models.length > 0 && models.every((m) => SMALL_MODELS.has(m)) ? cores : 1;
}

/** `parallel` runs (at most `cores`) and the threads each gets (at least 1). */
export function splitThreads(cores: number, parallel: number): { parallel: number; threadsPerRun: number } {
  const p = Math.max(1, parallel);
  return { parallel: p, threadsPerRun: Math.max(1, Math.floor(cores / p)) };
}
