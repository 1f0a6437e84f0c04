// Process-wide backend settings: threads, GEMM implementation, and what is in use.
import { addonSource, native, type BackendInfo, type BackendStatus, type Device } from './native.js';

export type { BackendInfo, BackendStatus, Device };

/**
 * BLAS in use, threads, SIMD level, CUDA availability (and why not), and which .node file
 * was loaded (`addon`: its path and whether it is a local build or the prebuilt binary).
 */
export function backendInfo(): BackendInfo {
  return { ...native().backendInfo(), addon: addonSource().description };
}

/**
 * Threads for the OpenMP kernels and the BLAS (the same number for both: they never run
 * nested, so at most `n` threads compute at once). 0 means all hardware threads.
 */
export function setThreads(n: number): number {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`threads: expected an integer >= 0, got ${n}`);
  return native().setThreads(n);
}

/**
 * Chooses the float32 GEMM of the CPU backend: oneDNN, OpenBLAS or the portable built-in
 * kernel (for comparisons; `GRWARM_GEMM` sets the start value). 'blas' is an old name of
 * 'openblas'. Throws when the library is not loaded.
 */
export function setGemm(kind: 'onednn' | 'openblas' | 'blas' | 'builtin'): void {
  native().setGemm(kind);
}

/**
 * Turns the GEMM epilogues of the CPU backend on (default) or off: the residual add fused into
 * oneDNN's matmul, or run as its own pass (`GRWARM_EPILOGUES=0` sets the start value). For
 * tests and benchmarks; both compute the same sums. Returns the previous setting.
 */
export function setGemmEpilogues(on: boolean): boolean {
  return native().setGemmEpilogues(on);
}

/** GEMMs run with a fused residual epilogue since the addon loaded (tests check the path runs). */
export function gemmEpilogueCalls(): number {
  return native().gemmEpilogueCalls();
}

/** Milliseconds spent inside GEMM library calls since the addon loaded (for benchmarks). */
export function gemmClockMs(): number {
  return native().gemmClockMs();
}

/**
 * GFLOP/s of an n×n×n float32 GEMM through the GEMM the models use (synchronous; blocks the
 * event loop for its duration — a benchmark helper).
 */
export function sgemmGflops(n = 1024, iters = 10): number {
  return native().sgemmBench(n, iters);
}

/**
 * The backend a model made with `device` would run on, or an Error saying why that device
 * cannot be used here (no plugin built, no driver, no cuBLAS, ...).
 */
export function resolveDevice(device: Device): BackendStatus {
  const info = backendInfo();
  const name = device === 'auto' ? info.backend : device;
  const st = info.backends.find((b) => b.name === name);
  if (!st) throw new RangeError(`device: got "${device}", expected one of "auto", ${info.backends.map((b) => `"${b.name}"`).join(', ')}`);
  if (!st.available) throw new Error(`device "${name}" is not available: ${st.reason}`);
  return st;
}
