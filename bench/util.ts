// Shared helpers of the benchmarks: argument parsing, timing, statistics, JSON-line output,
// machine description and the analytic FLOP count of a ViT forward/backward pass.
//
// Output convention of every bench: one JSON object per line on stdout (machine-readable,
// `jq`-friendly), human commentary on stderr.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendInfo, sgemmGflops, type BackendInfo } from '../src/backend.js';
import { native } from '../src/native.js';
import type { VitConfig } from '../src/model/presets.js';

// ---- arguments -------------------------------------------------------------------------------

export interface BenchArgs {
  /** Smoke run: fewer repetitions / configurations. */
  quick: boolean;
  /** Override of the repetition count (--reps N); undefined = the bench's default. */
  reps?: number;
  /** Threads for the native kernels and the BLAS (--threads N); undefined = leave as is. */
  threads?: number;
}

export function parseArgs(argv: readonly string[] = process.argv.slice(2)): BenchArgs {
  const out: BenchArgs = { quick: false };
  const int = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < 0) throw new Error(`${flag}: expected an integer >= 0, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') out.quick = true;
    else if (a === '--reps') out.reps = Math.max(1, int(a, argv[++i]));
    else if (a === '--threads') out.threads = int(a, argv[++i]);
    else if (a === '--help' || a === '-h') {
      process.stderr.write('options: --quick (smoke run), --reps N (timed repetitions), --threads N (0 = all)\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${JSON.stringify(a)} (try --help)`);
  }
  return out;
}

// ---- output ----------------------------------------------------------------------------------

/** Rounds numbers for output (keeps the JSON readable; 4 significant digits is plenty here). */
function roundDeep(v: unknown): unknown {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || Number.isInteger(v)) return v;
    return Number(v.toPrecision(4));
  }
  if (Array.isArray(v)) return v.map(roundDeep);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, roundDeep(x)]));
  }
  return v;
}

/** One JSON object as one stdout line. */
export function emit(record: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(roundDeep(record))}\n`);
}

/** Human commentary (stderr, so stdout stays pure JSON lines). */
export function note(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

// ---- statistics and timing ---------------------------------------------------------------------

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median plus spread, for the JSON records. */
export function summary(xs: readonly number[]): { median: number; min: number; max: number; n: number } {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

/** Wall-clock milliseconds of one awaited call, plus its result. */
export async function timeAsync<T>(fn: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const t0 = performance.now();
  const result = await fn();
  return { ms: performance.now() - t0, result };
}

// ---- machine ---------------------------------------------------------------------------------

export function loadAverage(): number[] {
  return loadavg().map((x) => Number(x.toFixed(2)));
}

// ---- contention: how much CPU other processes took while we measured --------------------------

interface CpuSnapshot {
  /** Jiffies summed over all CPUs from /proc/stat: busy and total (busy + idle + iowait). */
  busy: number;
  total: number;
  /** This process's CPU time (all threads), microseconds. */
  selfUs: number;
}

function procStat(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number); // user nice system idle iowait irq softirq steal ...
    const idle = f[3] + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined; // not Linux
  }
}

export function cpuSnapshot(): CpuSnapshot | undefined {
  const s = procStat();
  if (!s) return undefined;
  const u = process.cpuUsage();
  return { ...s, selfUs: u.user + u.system };
}

/** Jiffies per second of /proc/stat (USER_HZ; 100 on every mainstream Linux build). */
const USER_HZ = 100;

/**
 * CPU use between two snapshots as fractions of the machine's capacity (all CPUs × wall time):
 * `others` is everything that was not this process — the contention the measurement suffered
 * (0 on a quiet machine; 0.5 on 2 CPUs means another process kept one core busy throughout).
 */
export function cpuShare(a: CpuSnapshot | undefined, b: CpuSnapshot | undefined): { self: number; others: number } | null {
  if (!a || !b || b.total <= a.total) return null;
  const capacity = (b.total - a.total) / USER_HZ; // CPU-seconds available
  const busy = (b.busy - a.busy) / USER_HZ;
  const self = (b.selfUs - a.selfUs) / 1e6;
  const clamp = (x: number): number => Math.min(1, Math.max(0, x));
  return { self: clamp(self / capacity), others: clamp((busy - self) / capacity) };
}

/** Share of the CPUs other processes use over `ms` while this process sleeps (null off Linux). */
export async function backgroundBusy(ms = 1000): Promise<number | null> {
  const a = cpuSnapshot();
  await new Promise((r) => setTimeout(r, ms));
  return cpuShare(a, cpuSnapshot())?.others ?? null;
}

/**
 * Warns (stderr) when other processes kept the CPUs busy: with 2 OpenBLAS/OpenMP threads on 2
 * cores, any competing process stalls the threads at every barrier, and timings inflate by
 * factors, not percents. The JSON records carry `othersCpuShare` (and the load average, which
 * also counts this process and lags by a minute) so such runs can be discounted.
 */
export function warnIfContended(what: string, othersShare: number | null | undefined): void {
  if (othersShare != null && othersShare > 0.1) {
    note(
      `WARNING (${what}): other processes used ${(100 * othersShare).toFixed(0)}% of the CPUs; ` +
        'timings are inflated and noisy (compare the min columns, or rerun on a quiet machine).',
    );
  }
}

export interface MachineInfo {
  cpu: string;
  logicalCpus: number;
  node: string;
  backend: BackendInfo;
  loadavg: number[];
}

export function machineInfo(): MachineInfo {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    logicalCpus: cpus().length,
    node: process.version,
    backend: backendInfo(),
    loadavg: loadAverage(),
  };
}

/** Package root (this file is dist/bench/util.js or bench/util.ts). */
export function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(join('dist', 'bench')) ? join(here, '..', '..') : join(here, '..');
}

// ---- deterministic inputs ------------------------------------------------------------------------

/** A reproducible random batch (images uniform in [-1, 1), labels uniform over the classes). */
export function randomBatch(cfg: VitConfig, n: number, seed: number): { images: Float32Array; labels: Int32Array } {
  let s = seed >>> 0 || 1;
  const r = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const images = new Float32Array(n * cfg.channels * cfg.imageSize * cfg.imageSize);
  for (let i = 0; i < images.length; i++) images[i] = 2 * r() - 1;
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = Math.floor(r() * cfg.numClasses);
  return { images, labels };
}

// ---- FLOP count ----------------------------------------------------------------------------------

export interface VitFlops {
  /** Per image. */
  forward: number;
  backward: number;
  total: number;
  /** Share of `total` in the attention matmuls (QK^T, PV) rather than Linear layers. */
  attentionShare: number;
}

/**
 * Analytic FLOPs of one training forward+backward pass, per image (multiply-add = 2 FLOPs;
 * element-wise ops, softmax, LayerNorm, GELU, dropout, bias adds and the loss are ignored).
 *
 *   P  = (imageSize/patchSize)²      patches,   T = P + 1 tokens (class token)
 *   K  = channels·patchSize²         patch length,   D = width,   M = MLP hidden,
 *   H  = heads,  hd = D/H,  C = classes,  L = depth
 *
 * Every Linear y = x·Wᵀ (+b) over `rows` rows costs 2·rows·in·out forward and 2× that backward
 * (dX = dY·W and dW = dYᵀ·X), except the patch embedding, whose input is the image (no dX):
 *
 *   patch embedding   fwd 2·P·K·D                bwd 2·P·K·D          (dW only)
 *   per block (×L):   qkv   2·T·D·3D   proj 2·T·D·D   fc1 2·T·D·M   fc2 2·T·M·D
 *                     → fwd 2·T·(4D² + 2DM),      bwd 2 × fwd
 *   attention (×L):   QKᵀ and P·V, each 2·H·T²·hd → fwd 2·2·H·T²·hd = 4·T²·D,  bwd 2 × fwd
 *   head:             only the class token reaches it: fwd 2·1·D·C, bwd 2 × fwd
 *
 *   forward  = 2PKD + L·(2T(4D² + 2DM) + 4HT²·hd) + 2DC
 *   backward = 2PKD + 2·L·(2T(4D² + 2DM) + 4HT²·hd) + 4DC
 *
 * vit-ti (D=192, M=768, H=3, L=12, T=65, K=48): forward ≈ 0.730 GFLOP, backward ≈ 1.459 GFLOP,
 * ≈ 2.19 GFLOP per image per forward+backward.
 */
export function vitFlops(cfg: VitConfig): VitFlops {
  const side = cfg.imageSize / cfg.patchSize;
  const P = side * side;
  const T = P + 1;
  const K = cfg.channels * cfg.patchSize * cfg.patchSize;
  const D = cfg.width;
  const M = Math.round(cfg.width * cfg.mlpRatio);
  const H = cfg.heads;
  const hd = D / H;
  const C = cfg.numClasses;
  const L = cfg.depth;

  const patch = 2 * P * K * D;
  const blockLinear = 2 * T * (D * 3 * D + D * D + D * M + M * D);
  const blockAttention = 2 * 2 * H * T * T * hd;
  const head = 2 * 1 * D * C;

  const forward = patch + L * (blockLinear + blockAttention) + head;
  const backward = patch + 2 * L * (blockLinear + blockAttention) + 2 * head;
  const total = forward + backward;
  return { forward, backward, total, attentionShare: (3 * L * blockAttention) / total };
}

// ---- sgemm reference ---------------------------------------------------------------------------

export interface SgemmResult {
  /** How the number was obtained ('addon': native sgemmBench; 'cpp': bench/sgemm.cpp). */
  method: 'addon' | 'cpp';
  n: number;
  threads: number;
  iters: number;
  msMedian: number;
  /** GFLOP/s at the median time. */
  gflops: number;
  /** GFLOP/s of the fastest sample (the least-disturbed one on a busy machine). */
  gflopsBest: number;
  /** Extra facts (library path, whether it is the addon's library, OpenBLAS config...). */
  detail: Record<string, unknown>;
}

/** 'auto' = the addon's sgemmBench when the loaded addon has it, else the compiled C++ program (bench/sgemm.cpp). */
export type SgemmMethod = 'auto' | 'addon' | 'cpp';

/**
 * The addon's `sgemmBench(n, iters)` (exposed as `sgemmGflops` in src/backend.ts): C = A·B with
 * n×n row-major float matrices through the models' own GEMM path (cpu::gemm → cblas_sgemm, the
 * addon's thread setting), one untimed warm-up call, then `iters` timed calls; it returns the
 * mean GFLOP/s of those. For a median we call it `samples` times with iters = 1.
 */
function addonHasSgemmBench(): boolean {
  return typeof (native() as unknown as { sgemmBench?: unknown }).sgemmBench === 'function';
}

function sgemmViaAddon(n: number, samples: number): SgemmResult {
  if (!addonHasSgemmBench()) throw new Error('the loaded addon has no sgemmBench() (rebuild it: npm run build:native)');
  const rates: number[] = [];
  for (let i = 0; i < samples; i++) rates.push(sgemmGflops(n, 1));
  const gflops = median(rates);
  const info = backendInfo();
  return {
    method: 'addon',
    n,
    threads: info.threads,
    iters: samples,
    msMedian: (2 * n * n * n) / (gflops * 1e6),
    gflops,
    gflopsBest: Math.max(...rates),
    detail: {
      call: `sgemmGflops(${n}, 1) x ${samples}, median`,
      gflopsMin: Math.min(...rates),
      blas: info.blas,
      gemm: info.gemm,
    },
  };
}

/** The libopenblas that a binary resolves at load time (via ldd), as a real path. */
function resolvedBlas(binary: string): string | undefined {
  try {
    const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
    const line = out.split('\n').find((l) => /lib(open)?blas/.test(l));
    const m = line && /=>\s*(\S+)/.exec(line);
    return m ? realpathSync(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Compiles bench/sgemm.cpp (`c++ -O2 ... -lopenblas`) into a temporary directory and runs it
 * with the addon's thread count. Throws with a readable reason when there is no compiler or
 * no OpenBLAS development files.
 */
function sgemmViaCpp(n: number, iters: number): SgemmResult {
  const root = packageRoot();
  const src = join(root, 'bench', 'sgemm.cpp');
  if (!existsSync(src)) throw new Error(`${src} not found`);
  const exe = join(mkdtempSync(join(tmpdir(), 'grwarm-sgemm-')), 'sgemm');
  const incs = ['/usr/include/x86_64-linux-gnu', '/usr/include/openblas', '/usr/include/aarch64-linux-gnu']
    .filter((d) => existsSync(join(d, 'cblas.h')))
    .map((d) => `-I${d}`);
  const cmd = ['-O2', ...incs, src, '-o', exe, '-lopenblas'];
  try {
    execFileSync('c++', cmd, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`could not compile bench/sgemm.cpp (c++ ${cmd.join(' ')}): ${e.stderr?.toString().trim() || e.message}`);
  }
  const threads = backendInfo().threads;
  const out = execFileSync(exe, [String(n), String(iters), String(threads)], { encoding: 'utf8' });
  const r = JSON.parse(out) as { ms: number[]; threads: number; config: string; corename: string };
  const m = median(r.ms);
  // Same BLAS as the addon? Compare the shared libraries both resolve to.
  const addonPath = join(root, 'build', 'Release', 'grwarm_native.node');
  const exeBlas = resolvedBlas(exe);
  const addonBlas = existsSync(addonPath) ? resolvedBlas(addonPath) : undefined;
  return {
    method: 'cpp',
    n,
    threads: r.threads,
    iters,
    msMedian: m,
    gflops: (2 * n * n * n) / (m * 1e6),
    gflopsBest: (2 * n * n * n) / (Math.min(...r.ms) * 1e6),
    detail: {
      compile: `c++ ${cmd.join(' ')}`,
      openblasConfig: r.config,
      openblasCore: r.corename,
      library: exeBlas,
      addonLibrary: addonBlas,
      sameLibraryAsAddon: exeBlas !== undefined && exeBlas === addonBlas,
    },
  };
}

/** n×n×n sgemm GFLOP/s through the BLAS the addon uses (see SgemmMethod for the source). */
export function measureSgemm(n: number, iters: number, method: SgemmMethod = 'auto'): SgemmResult {
  if (method === 'addon' || (method === 'auto' && addonHasSgemmBench())) return sgemmViaAddon(n, iters);
  return sgemmViaCpp(n, iters);
}

/** The first JSON line of every bench: what ran where, and how busy the machine was. */
export function emitMachine(bench: string, quick: boolean, machine: MachineInfo, idleBusy: number | null): void {
  emit({
    kind: 'machine',
    bench,
    quick,
    threads: machine.backend.threads,
    hardwareThreads: machine.backend.hardwareThreads,
    blas: machine.backend.blas,
    gemm: machine.backend.gemm,
    simd: machine.backend.simd,
    cpu: machine.cpu,
    logicalCpus: machine.logicalCpus,
    node: machine.node,
    loadavg: machine.loadavg,
    backgroundCpuBusy: idleBusy,
  });
  warnIfContended('before the bench, 1 s idle sample', idleBusy);
}
