// The native op conformance suite and the end-to-end parity check (native/tests/), run through
// their executables, which the native build puts next to the addon (build/Release, with
// GRWARM_TESTS=ON). Each writes a JSON report; the tests require every case to pass and every
// Backend op to be covered. The CUDA block runs where the CUDA backend can run and says why
// not elsewhere (exit code 3 of the executables: "backend unavailable", with its reason).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'build', 'Release');
const CONFORMANCE = join(BIN, 'grwarm_conformance');
const PARITY = join(BIN, 'grwarm_parity');
const EXIT_UNAVAILABLE = 3;

/**
 * Every operation of grwarm::Backend<T> (native/src/core/backend.h). The suite must exercise
 * each; the list itself is checked against backend.h, so a new op fails here until it is
 * added to the list and to the suite.
 */
const BACKEND_OPS = [
  'synchronize', 'mark', 'elapsed_ms', 'memory_limit_bytes',
  'alloc_bytes', 'free_bytes', 'upload', 'download', 'copy', 'fill',
  'gemm', 'broadcast_rows', 'col_sum',
  'patchify', 'embed_fwd', 'embed_bwd',
  'layernorm_fwd', 'layernorm_bwd', 'gelu_fwd', 'gelu_bwd', 'residual_fwd', 'dropout_bwd',
  'attention_fwd', 'attention_bwd',
  'gather_cls', 'scatter_cls', 'softmax_xent', 'loss_stats',
  'sum_squares', 'gr_perturb', 'gr_combine', 'optim_update',
  'linear_fwd', 'linear_fwd_bf16', 'bf16', 'round_bf16', 'gemm_bf16',
  'layernorm_fwd_bf16', 'gelu_fwd_bf16', 'col_sum_round_bf16', 'gelu_bwd_bf16',
  'gather_rows', 'mean_tokens_fwd', 'mean_tokens_bwd', 'attention_bias_fwd', 'attention_bias_bwd',
  'drop_path_fwd', 'drop_path_bwd',
  'linear_residual_fwd', 'linear_residual_fwd_bf16',
  'talking_heads_fwd', 'talking_heads_bwd', 'class_attention_fwd', 'class_attention_bwd',
  'layer_scale_fwd', 'layer_scale_bwd',
];

interface Case {
  op: string;
  ops: string[];
  precision: string;
  shape: string;
  output: string;
  pass: boolean;
  skipped: boolean;
  note: string;
}
interface Report {
  tool: string;
  passed: number;
  failed: number;
  skipped: number;
  precisions?: string[];
  cases: Case[];
}

const work = mkdtempSync(join(tmpdir(), 'grwarm-conformance-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(bin: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): SpawnSyncReturns<string> {
  if (!existsSync(bin)) {
    throw new Error(`${bin} not found: build the native tests (npm run build:native, GRWARM_TESTS=ON)`);
  }
  return spawnSync(bin, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: env ?? process.env });
}

/** Runs a tool with --json and returns its report; a failure shows the tool's own rows. */
function runReport(bin: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): { res: SpawnSyncReturns<string>; report: Report } {
  const json = join(work, `${bin.split('/').pop()}-${args.join('_').replace(/[^\w.-]/g, '')}.json`);
  const res = run(bin, [...args, '--json', json], timeoutMs, env);
  const failedRows = res.stdout.split('\n').filter((l) => l.startsWith('FAIL')).join('\n');
  expect(res.status, `${bin} ${args.join(' ')} exited ${res.status}\n${failedRows}\n${res.stderr}`).toBe(0);
  return { res, report: JSON.parse(readFileSync(json, 'utf8')) as Report };
}

function expectAllPassed(report: Report): void {
  const bad = report.cases.filter((c) => !c.pass && !c.skipped);
  expect(bad.map((c) => `${c.precision} ${c.op} ${c.output} [${c.shape}]: ${c.note}`)).toEqual([]);
  expect(report.failed).toBe(0);
  expect(report.passed).toBeGreaterThan(0);
}

function coveredOps(report: Report): Set<string> {
  return new Set(report.cases.filter((c) => !c.skipped).flatMap((c) => c.ops));
}

/** `virtual <type> name(` declarations of backend.h, less the informational ones. */
function backendHeaderOps(): string[] {
  const src = readFileSync(join(ROOT, 'native', 'src', 'core', 'backend.h'), 'utf8');
  const names = [...src.matchAll(/virtual\s+[^;{()]*?\b(\w+)\s*\(/g)].map((m) => m[1]);
  return names.filter((n) => !['Backend', 'Bf16Ops', 'name', 'describe', 'caps'].includes(n));
}

/** Whether the CUDA backend can run here, and if not the executable's reason. */
function probeCuda(): { available: boolean; reason: string } {
  if (!existsSync(CONFORMANCE)) return { available: false, reason: `${CONFORMANCE} not built` };
  const res = spawnSync(CONFORMANCE, ['--backend', 'cuda', '--probe'], { encoding: 'utf8', timeout: 60_000 });
  if (res.status === 0) return { available: true, reason: '' };
  const line = res.stdout.split('\n').find((l) => l.includes('unavailable')) ?? res.stderr.trim();
  return { available: false, reason: line || `probe exited ${res.status}` };
}

describe('native conformance (CPU backend)', () => {
  it('the op list matches the virtual methods of backend.h', () => {
    expect([...backendHeaderOps()].sort()).toEqual([...BACKEND_OPS].sort());
  });

  it('every op matches its host reference in float32 and float64, deterministically', () => {
    const { report } = runReport(CONFORMANCE, ['--backend', 'cpu', '--precision', 'all'], 120_000);
    expectAllPassed(report);
    expect(report.skipped).toBe(0);
    expect(report.precisions).toEqual(['float32', 'float64']);
    const covered = coveredOps(report);
    expect(BACKEND_OPS.filter((op) => !covered.has(op))).toEqual([]);
    // Both precisions cover every op.
    for (const prec of ['float32', 'float64']) {
      const ops = new Set(report.cases.filter((c) => c.precision === prec).flatMap((c) => c.ops));
      expect(BACKEND_OPS.filter((op) => !ops.has(op)), prec).toEqual([]);
    }
  }, 180_000);

  it('parity self-check: CPU against CPU gives identical bits', () => {
    const { report } = runReport(PARITY, ['--backend', 'cpu', '--against', 'cpu', '--configs', 'micro,micro-erf'], 240_000);
    expectAllPassed(report);
    const ops = new Set(report.cases.map((c) => c.op));
    for (const op of ['evaluate', 'forward_backward', 'step:base', 'step:sam', 'step:gr', 'apply_optimizer:adam',
      'apply_optimizer:rmsprop', 'apply_optimizer:sgd']) {
      expect(ops.has(op), op).toBe(true);
    }
  }, 300_000);

  it('an unknown backend is reported as unavailable (exit 3)', () => {
    const res = run(CONFORMANCE, ['--backend', 'no-such-backend'], 60_000);
    expect(res.status).toBe(EXIT_UNAVAILABLE);
    expect(res.stdout).toContain('no-such-backend backend unavailable');
  });
});

const cuda = probeCuda();
// Without a usable GPU, the same checks run on the CUDA plugin under CPU emulation when it is
// built (docs/cuda-emulation.md; test/cuda-emu.test.ts runs much more on it), parity on the
// micro config only.
const EMU = { GRWARM_CUDA_PLUGIN: join(BIN, 'libgrwarm_cuda_emu.so'), GRWARM_CUBLAS: join(BIN, 'libgrwarm_cublas_emu.so') };
const emulated = !cuda.available && existsSync(EMU.GRWARM_CUDA_PLUGIN);
const cudaEnv = emulated ? { ...process.env, ...EMU, OMP_WAIT_POLICY: 'passive' } : undefined;
if (!cuda.available) {
  console.log(`CUDA conformance on a GPU skipped: ${cuda.reason}` +
    (emulated ? '; running it on the CUDA plugin under CPU emulation' : ''));
}

describe.skipIf(!cuda.available && !emulated)(`native conformance (CUDA backend${emulated ? ', under CPU emulation' : ''})`, () => {
  it('every op matches its host reference', () => {
    const { report } = runReport(CONFORMANCE, ['--backend', 'cuda', '--precision', 'all'], 300_000, cudaEnv);
    expectAllPassed(report);
    const covered = coveredOps(report);
    expect(BACKEND_OPS.filter((op) => !covered.has(op))).toEqual([]);
  }, 300_000);

  it('the CUDA model matches the CPU model end to end', () => {
    const { report } = runReport(PARITY, ['--backend', 'cuda', '--against', 'cpu', ...(emulated ? ['--configs', 'micro'] : [])], 600_000, cudaEnv);
    expectAllPassed(report);
  }, 600_000);
});
