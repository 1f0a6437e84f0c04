// Loads the compiled addon and types its surface. Which .node file: $GRWARM_ADDON when set,
// else what node-gyp-build picks: a local build (build/Release, from `npm run build:native` or
// `npx grwarm-native build-native`) before the prebuilt binary in prebuilds/<platform>-<arch>/.
import { closeSync, existsSync, openSync, readdirSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
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

/** A flat buffer of a model, for readBuffer / writeBuffer / generation. */
export type NativeBufferKind = 'params' | 'grads' | 'optimizer';

/** A device a model can run on; `auto` picks the first available accelerator, else the CPU. */
export type Device = 'auto' | 'cpu' | 'cuda';

export interface NativeModelHandle {
  layout(): NativeTensorInfo[];
  /** Where the model runs: backend name ("cpu", "cuda") and a one-line description. */
  device(): { name: string; detail: string };
  /** Copies a flat buffer (params, grads, optimizer slot `slot`) into `out` (synchronous). */
  readBuffer(which: NativeBufferKind, slot: number, out: Float32Array | Float64Array): void;
  /** Replaces a flat buffer with a copy of `src` (synchronous; refused while a call runs). */
  writeBuffer(which: NativeBufferKind, slot: number, src: Float32Array | Float64Array): void;
  /** Changes whenever the model changes that buffer (host copies use it to know they are stale). */
  generation(which: NativeBufferKind): number;
  /** True while an async call (step, forwardBackward, ...) is in flight. */
  busy(): boolean;
  /** Bytes of activation memory a batch of `batch` images needs. */
  activationBytes(batch: number): number;
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
  optimizerSlotNames(): string[];
  optimizerSteps(): number;
  setOptimizerSteps(steps: number): void;
  step(
    images: Float32Array,
    labels: Int32Array,
    opts: {
      lr: number;
      lambda: number;
      r: number;
      seed: number;
      train?: boolean;
      labelSmoothing?: number;
      /** How the GR perturbation is shared: one global one (default) or one per shard/rank. */
      perturbation?: 'global' | 'local';
      /** Local mode: perturbation shards of this process's batch (default 1). */
      shards?: number;
    },
  ): Promise<NativeStepResult>;
  applyOptimizer(lr: number): Promise<NativeApplyResult>;
  /** Data-parallel steps over the communicator's ranks (null: a single process). */
  setCommunicator(comm: NativeCommunicatorHandle | null): void;
}

/**
 * This process's place in a data-parallel job (MPI, through libgrwarm_mpi.so). Every method
 * is a collective: all ranks call it in the same order. Synchronous; never while a step runs.
 */
export interface NativeCommunicatorHandle {
  rank(): number;
  size(): number;
  describe(): string;
  /** Element-wise sum over ranks, in place. */
  allreduceScalars(values: Float64Array): void;
  /** Rank `root`'s bytes to every rank, in place (same length everywhere). */
  broadcast(bytes: Uint8Array, root: number): void;
  barrier(): void;
  /** Hashes `values` and compares with rank 0's hash; lists the ranks that differ. */
  checkReplicas(values: Float32Array | Float64Array): { hash: string; rootHash: string; mismatched: number[] };
  /** Leaves the job cleanly (MPI_Finalize). */
  finalize(): void;
  /** Ends every rank of the job at once (MPI_Abort). */
  abort(code: number): never;
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
  /** Data-parallel steps: milliseconds in gradient all-reduces (0 in one process). */
  commMs?: number;
  /** Bytes this rank sent for gradient all-reduces (ring model; 0 in one process). */
  commBytes?: number;
}

/** One backend of this build and whether it can run here. */
export interface BackendStatus {
  name: string;
  available: boolean;
  /** Why not, when unavailable (no plugin built, no driver, no cuBLAS, ...). */
  reason: string;
  /** What it runs on, when available. */
  detail: string;
  /** "built in", or the plugin file it came from. */
  origin: string;
  float64: boolean;
  /** Supports precision 'bfloat16' (bf16 GEMMs, float32 master weights). */
  bf16: boolean;
}

export interface BackendInfo {
  /** The backend `device: 'auto'` picks. */
  backend: string;
  backends: BackendStatus[];
  /** The float32 GEMM library of the CPU backend. */
  gemm: 'onednn' | 'openblas' | 'builtin';
  /** That GEMM in one line: library, version, implementation/ISA, and why it was chosen. */
  blas: string;
  blasAvailable: boolean;
  /** OpenBLAS: version and file, or why it did not load. */
  openblas: string;
  /** oneDNN: version and file, or why it did not load. */
  onednn: string;
  onednnAvailable: boolean;
  /** The bf16 GEMM: oneDNN and the implementation it picks (e.g. brg:avx512_core_amx_bf16), or the emulation and why. */
  bf16Gemm: string;
  /** bf16 GEMMs run on bf16 hardware instructions (AMX or AVX512-BF16) through oneDNN. */
  bf16Native: boolean;
  threads: number;
  hardwareThreads: number;
  simd: string;
  /** The model families of the native core (family.h), e.g. ['vit']. */
  families: string[];
  cuda: boolean;
  cudaReason: string;
  /** The .node file in use and why that one (added by backendInfo() in backend.ts). */
  addon?: string;
}

export interface NativeAddon {
  NativeModel: new (
    config: NativeVitConfig,
    options: { precision: 'float32' | 'float64' | 'bfloat16'; seed: number; device?: Device },
  ) => NativeModelHandle;
  /** Joins the MPI job this process was launched in; fails clearly without MPI support. */
  NativeCommunicator: new (timeoutSec: number) => NativeCommunicatorHandle;
  backendInfo(): BackendInfo;
  /** The parameter count of a model config, from its family's layout (nothing allocated). */
  paramCount(config: NativeVitConfig): number;
  setThreads(n: number): number;
  /** How many distinct CPU threads ran kernel work since the last call (then resets). */
  threadCensus(): number;
  setGemm(kind: 'onednn' | 'openblas' | 'blas' | 'builtin'): void;
  /** Milliseconds spent inside GEMM calls since the addon loaded (all models). */
  gemmClockMs(): number;
  setGemmEpilogues(on: boolean): boolean;
  gemmEpilogueCalls(): number;
  sgemmBench(n: number, iters: number): number;
}

let cached: NativeAddon | undefined;
let cachedSource: AddonSource | undefined;

/** Where the loaded addon came from. */
export interface AddonSource {
  /** Absolute path of the .node file. */
  path: string;
  /** 'GRWARM_ADDON' (the variable named it), 'local build' (build/) or 'prebuild' (prebuilds/). */
  kind: 'GRWARM_ADDON' | 'local build' | 'prebuild';
  /** One line for `info`: the path relative to the package, and what else was there. */
  description: string;
}

/** The command that builds the addon from source in an installed package (see build-native). */
export const BUILD_NATIVE_COMMAND = 'npx grwarm-native build-native';

/**
 * OpenBLAS's worker threads spin for ~2^28 cycles after each GEMM before sleeping; between
 * GEMMs our OpenMP kernels then share the cores with spinning threads. 2^4 cycles makes them
 * sleep at once: measured 1873 vs 2176 ms per vit-ti batch-128 step on 2 cores. OpenBLAS reads
 * the variable when it is opened, which the addon does with dlopen while it initialises, i.e.
 * during the require() below, so it is set just before. A value the user set wins.
 */
function tuneBlasThreads(): void {
  process.env.OPENBLAS_THREAD_TIMEOUT ??= '4';
}

/** Which .node file to load (throws node-gyp-build's "No native build was found ..." if none). */
function resolveAddon(root: string, require: NodeJS.Require): AddonSource {
  const override = process.env.GRWARM_ADDON;
  if (override) {
    const path = resolve(override);
    if (!existsSync(path)) throw new Error(`GRWARM_ADDON=${override}: no such file`);
    return { path, kind: 'GRWARM_ADDON', description: `${path} (GRWARM_ADDON)` };
  }
  const ngb = require('node-gyp-build') as { resolve?: (dir: string) => string };
  if (typeof ngb.resolve !== 'function') throw new Error('node-gyp-build has no resolve(): cannot locate the addon');
  const path = resolve(ngb.resolve(root));
  const rel = relative(root, path);
  if (rel.startsWith(`build${sep}`)) {
    // node-gyp-build prefers a local build over the prebuilt binary; say so when both exist.
    const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    let prebuilt: string | undefined;
    try {
      prebuilt = readdirSync(dir).find((f) => f.endsWith('.node'));
    } catch {
      prebuilt = undefined;
    }
    const also = prebuilt ? `; preferred over the prebuilt ${relative(root, join(dir, prebuilt))}` : '';
    return { path, kind: 'local build', description: `${path} (local build${also})` };
  }
  return { path, kind: 'prebuild', description: `${path} (prebuilt binary)` };
}

/**
 * Refuses a file that is not a shared object of this platform before anything loads it (on
 * Linux: an ELF file of type ET_DYN). A text file named .so is refused as such, never run.
 */
function checkSharedObject(path: string): void {
  if (process.platform !== 'linux') return;
  const head = Buffer.alloc(18);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const elf = n === head.length && head.readUInt32BE(0) === 0x7f454c46;
  if (!elf) throw new Error(`${path} is not an ELF shared object (a Node addon is one)`);
  const type = head[5] === 2 ? head.readUInt16BE(16) : head.readUInt16LE(16); // EI_DATA: 1 little-, 2 big-endian
  if (type !== 3) throw new Error(`${path} is an ELF file but not a shared object (e_type ${type}, expected 3, ET_DYN)`);
}

/**
 * Loads a .node file as a native addon whatever its name (require() would run a file that
 * does not end in .node as JavaScript) and checks that it is this package's addon.
 */
function loadAddon(path: string): NativeAddon {
  checkSharedObject(path);
  const module = { exports: {} as Record<string, unknown> };
  try {
    process.dlopen(module, path);
  } catch (err) {
    const msg = (err as Error).message;
    if (/did not self-register/.test(msg)) throw new Error(`${path} is a shared object but not a Node addon (it registers no module)`);
    throw err;
  }
  if (typeof module.exports.NativeModel !== 'function' || typeof module.exports.backendInfo !== 'function') {
    throw new Error(`${path} is a Node addon but not grwarm-native's (it exports no NativeModel/backendInfo)`);
  }
  return module.exports as unknown as NativeAddon;
}

/** One line: collapses the newlines and indentation of node-gyp-build / dlopen messages. */
function oneLine(msg: string): string {
  return msg.replace(/\s+/g, ' ').trim();
}

/** The addon, loaded once. Fails with a message that says how to build it. */
export function native(): NativeAddon {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const root = packageRoot();
  tuneBlasThreads();
  let source: AddonSource | undefined;
  try {
    source = resolveAddon(root, require);
    cached = loadAddon(source.path);
    cachedSource = source;
  } catch (err) {
    const what = source ? `could not load ${source.description}` : 'no native addon for this platform';
    throw new Error(
      `grwarm-native: ${what} (${oneLine((err as Error).message)}). ` +
        `Build it from source with \`${BUILD_NATIVE_COMMAND}\` (needs cmake, make and a C++17 compiler; ` +
        'OpenBLAS, e.g. Debian libopenblas0, is optional and makes it faster).',
    );
  }
  return cached;
}

/** Which .node file native() loaded (loads it if needed). */
export function addonSource(): AddonSource {
  native();
  return cachedSource!;
}
