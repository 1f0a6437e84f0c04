// Loads the compiled addon (prebuilds/ first, then build/Release) and types its surface.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the package root is: this file is dist/src/native.js or src/native.ts. */
function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${join('dist', 'src')}`) ? join(here, '..', '..') : join(here, '..');
}

export interface NativeTensorInfo {
  name: string;
  shape: number[];
  offset: number;
  size: number;
  decayInTimm: boolean;
}

export interface NativeVitConfig {
  imageSize?: number;
  channels?: number;
  patchSize?: number;
  numClasses?: number;
  width?: number;
  depth?: number;
  heads?: number;
  mlpHidden?: number;
  dropout?: number;
  gelu?: 'tanh' | 'erf';
}

export interface NativePass {
  loss: number;
  correct: number;
  count: number;
}

export interface NativeModelHandle {
  layout(): NativeTensorInfo[];
  params(): ArrayBuffer;
  grads(): ArrayBuffer;
  init(seed: number): void;
  paramNorm(): number;
  gradNorm(): number;
  forwardBackward(
    images: Float32Array,
    labels: Int32Array,
    seed: number,
    train: boolean,
    labelSmoothing: number,
  ): Promise<NativePass>;
  evaluate(
    images: Float32Array,
    labels: Int32Array | null,
    wantLogits: boolean,
    labelSmoothing: number,
  ): Promise<Partial<NativePass> & { count: number; logits?: Float32Array }>;
  configureOptimizer(cfg: NativeOptimizerConfig): void;
  optimizerSlots(): { name: string; buffer: ArrayBuffer }[];
  optimizerSteps(): number;
  setOptimizerSteps(steps: number): void;
  step(
    images: Float32Array,
    labels: Int32Array,
    opts: { lr: number; lambda: number; r: number; seed: number; train?: boolean; labelSmoothing?: number },
  ): Promise<NativeStepResult>;
  applyOptimizer(lr: number): Promise<NativeApplyResult>;
}

export interface NativeOptimizerConfig {
  kind: 'adam' | 'rmsprop' | 'sgd';
  beta1?: number;
  beta2?: number;
  eps?: number;
  rho?: number;
  momentum?: number;
  centered?: boolean;
  weightDecay?: number;
  wdMask?: 'all' | 'timm';
  clip?: number;
}

export interface NativeApplyResult {
  gradNorm: number;
  gradNormClipped: number;
  applied: boolean;
}

export interface NativeStepTimings {
  firstPass: number;
  normPerturb: number;
  secondPass: number;
  combineRestore: number;
  optimizer: number;
}

export interface NativeStepResult extends NativeApplyResult {
  first: NativePass;
  second: NativePass | null;
  secondPass: boolean;
  g1Norm: number;
  timings: NativeStepTimings;
}

export interface BackendInfo {
  backend: string;
  gemm: 'blas' | 'builtin';
  blas: string;
  blasAvailable: boolean;
  threads: number;
  hardwareThreads: number;
  simd: string;
  cuda: boolean;
  cudaReason: string;
}

export interface NativeAddon {
  NativeModel: new (
    config: NativeVitConfig,
    options: { precision: 'float32' | 'float64'; seed: number },
  ) => NativeModelHandle;
  backendInfo(): BackendInfo;
  setThreads(n: number): number;
  setGemm(kind: 'blas' | 'builtin'): void;
  sgemmBench(n: number, iters: number): number;
}

let cached: NativeAddon | undefined;

/**
 * OpenBLAS's worker threads spin for ~2^28 cycles after each GEMM before sleeping; between
 * GEMMs our OpenMP kernels then share the cores with spinning threads. 2^4 cycles makes them
 * sleep at once: measured 1873 vs 2176 ms per vit-ti batch-128 step on 2 cores. OpenBLAS reads
 * the variable when it is loaded, i.e. with the addon, so it is set just before. A value the
 * user set wins.
 */
function tuneBlasThreads(): void {
  process.env.OPENBLAS_THREAD_TIMEOUT ??= '4';
}

/** The addon, loaded once. Fails with a message that says how to build it. */
export function native(): NativeAddon {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const root = packageRoot();
  tuneBlasThreads();
  try {
    const load = require('node-gyp-build') as (dir: string) => NativeAddon;
    cached = load(root);
  } catch (err) {
    throw new Error(
      `grwarm-native: could not load the native addon from ${root} (${(err as Error).message}). ` +
        'Build it with `npm run build:native` (needs cmake, a C++17 compiler and, for speed, libopenblas-dev).',
    );
  }
  return cached;
}
