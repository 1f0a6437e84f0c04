// Process-wide backend settings: threads, GEMM implementation, and what is in use.
import { native, type BackendInfo } from './native.js';

export type { BackendInfo };

/** BLAS in use, threads, SIMD level, CUDA availability (and why not). */
export function backendInfo(): BackendInfo {
  return native().backendInfo();
}

/**
 * Threads for the OpenMP kernels and the BLAS (the same number for both: they never run
 * nested, so at most `n` threads compute at once). 0 means all hardware threads.
 */
export function setThreads(n: number): number {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`threads: expected an integer >= 0, got ${n}`);
  return native().setThreads(n);
}

/** Switches GEMM between the BLAS and the portable built-in kernel (for comparisons). */
export function setGemm(kind: 'blas' | 'builtin'): void {
  native().setGemm(kind);
}

/**
 * GFLOP/s of an n×n×n float32 GEMM through the GEMM the models use (synchronous; blocks the
 * event loop for its duration — a benchmark helper).
 */
export function sgemmGflops(n = 1024, iters = 10): number {
  return native().sgemmBench(n, iters);
}
