// The CUDA backend under CPU emulation (docs/cuda-emulation.md): every kernel of the plugin,
// compiled by g++ from the unmodified native/src/cuda sources, executed on an emulation of the
// CUDA execution model with a stand-in CUDA runtime and cuBLAS (build/Release/
// libgrwarm_cuda_emu.so, libgrwarm_cublas_emu.so; built wherever Boost.Context is installed).
//
// What runs, each in its own process (a device fault is sticky for the rest of a process):
// the op conformance suite in two lane schedules (forward and reverse; a missing barrier or a
// race between lanes shows up as a wrong result in one of them), CUDA-vs-CPU model parity
// (native tool: float32 and float64; library: every GR policy in float32 and bf16), the
// full-size plumbing check (ViT-B/16, 224 px, batch 256, edge blocks only), device memory
// limits, driver messages, and planted faults the emulator must catch. The kernels that must
// run are read from the sources, so a new kernel is required to run here as soon as it exists.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCliBuilt } from './support/cli.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'build', 'Release');
const PLUGIN = join(BIN, 'libgrwarm_cuda_emu.so');
const CUBLAS = join(BIN, 'libgrwarm_cublas_emu.so');
const FAULTS = join(BIN, 'grwarm_emu_faults');
const CHILD = join(ROOT, 'test', 'support', 'cuda-emu-child.mjs');
const CUDA_SRC = join(ROOT, 'native', 'src', 'cuda');
const BOOST_CONTEXT = ['/usr/include/boost/context/fiber.hpp', '/usr/local/include/boost/context/fiber.hpp'].some(existsSync);

const work = mkdtempSync(join(tmpdir(), 'grwarm-cuda-emu-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The __global__ functions of the plugin's sources: every one must run under emulation. */
function sourceKernels(): string[] {
  const names = new Set<string>();
  for (const f of readdirSync(CUDA_SRC).filter((n) => /\.cuh?$/.test(n))) {
    const src = readFileSync(join(CUDA_SRC, f), 'utf8');
    for (const m of src.matchAll(/__global__\s+void\s+(\w+)\s*\(/g)) names.add(m[1]);
  }
  return [...names].sort();
}

interface EmuStats { launches: number; blocks: number; threads: number; blas_calls: number; kernels: string[] }
const totals = { launches: 0, blas: 0, cases: 0, kernels: new Set<string>() };
let statsCount = 0;

/** Runs a command with the emulated plugin selected; returns its result and the emulator's statistics. */
function emu(cmd: string, args: string[], env: Record<string, string>, timeoutMs: number): { res: SpawnSyncReturns<string>; stats: EmuStats | null } {
  const statsPath = join(work, `stats-${statsCount++}.json`);
  const res = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
    // OMP_WAIT_POLICY: the CPU backend's idle OpenMP threads would spin against the emulator.
    env: { ...process.env, OMP_WAIT_POLICY: 'passive', GRWARM_CUDA_PLUGIN: PLUGIN, GRWARM_CUBLAS: CUBLAS, GRWARM_EMU_STATS: statsPath, ...env },
  });
  const stats = existsSync(statsPath) ? (JSON.parse(readFileSync(statsPath, 'utf8')) as EmuStats) : null;
  if (stats) {
    totals.launches += stats.launches;
    totals.blas += stats.blas_calls;
    for (const k of stats.kernels) totals.kernels.add(k);
  }
  return { res, stats };
}

interface Case { op: string; ops: string[]; precision: string; output: string; shape: string; pass: boolean; skipped: boolean; note: string }
interface Report { passed: number; failed: number; skipped: number; precisions?: string[]; cases: Case[] }

function nativeReport(tool: string, args: string[], env: Record<string, string>, timeoutMs: number): { report: Report; stats: EmuStats } {
  const json = join(work, `${tool}-${statsCount}.json`);
  const { res, stats } = emu(join(BIN, tool), [...args, '--json', json], env, timeoutMs);
  const failed = (res.stdout ?? '').split('\n').filter((l) => l.startsWith('FAIL')).join('\n');
  expect(res.status, `${tool} ${args.join(' ')} exited ${res.status} ${res.signal ?? ''}\n${failed}\n${res.stderr}`).toBe(0);
  const report = JSON.parse(readFileSync(json, 'utf8')) as Report;
  const bad = report.cases.filter((c) => !c.pass && !c.skipped);
  expect(bad.map((c) => `${c.precision} ${c.op} ${c.output} [${c.shape}]: ${c.note}`)).toEqual([]);
  expect(report.failed).toBe(0);
  expect(report.skipped).toBe(0);
  totals.cases += report.passed;
  return { report, stats: stats! };
}

function childLines(mode: string, env: Record<string, string>, timeoutMs: number): Record<string, unknown>[] {
  const { res } = emu(process.execPath, [CHILD, ...mode.split(' ')], env, timeoutMs);
  expect(res.status, `child ${mode} exited ${res.status} ${res.signal ?? ''}\n${res.stderr}`).toBe(0);
  return res.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

const built = existsSync(PLUGIN) && existsSync(CUBLAS);
if (!built && !BOOST_CONTEXT) console.log('CUDA under emulation skipped: Boost.Context is not installed (Debian: libboost-context-dev)');

describe.skipIf(!built && !BOOST_CONTEXT)('CUDA under emulation', () => {
  beforeAll(() => {
    expect(built, `Boost.Context is installed but ${PLUGIN} was not built (cmake/cuda_emu.cmake)`).toBe(true);
    ensureCliBuilt();
  });

  afterAll(() => {
    const k = sourceKernels();
    const ran = k.filter((n) => totals.kernels.has(n)).length;
    console.log(`CUDA under emulation: ${ran} of ${k.length} kernels executed, ${totals.launches} launches, ` +
      `${totals.blas} cuBLAS calls, ${totals.cases} op and parity cases passed`);
  });

  for (const schedule of ['forward', 'reverse']) {
    it(`conformance: every op, float32 + float64 + bf16, lanes in ${schedule} order`, () => {
      const { report, stats } = nativeReport('grwarm_conformance', ['--backend', 'cuda', '--precision', 'all'],
        { GRWARM_EMU_SCHEDULE: schedule }, 120_000);
      expect(report.precisions).toEqual(['float32', 'float64']);
      expect(report.cases.some((c) => c.op === 'gemm_bf16' && c.precision === 'float32' && !c.note.startsWith('refused'))).toBe(true);
      expect(stats.launches).toBeGreaterThan(500);
    }, 180_000);
  }

  it('model parity with the CPU backend: evaluate, forward/backward, base/SAM/GR steps, every optimizer, float32 and float64', () => {
    const { report } = nativeReport('grwarm_parity', ['--backend', 'cuda', '--against', 'cpu', '--precision', 'all', '--configs', 'micro,micro-erf'],
      { GRWARM_EMU_SCHEDULE: 'random:7' }, 240_000);
    const ops = new Set(report.cases.map((c) => c.op));
    for (const op of ['evaluate', 'forward_backward', 'step:base', 'step:sam', 'step:gr', 'apply_optimizer:adam', 'apply_optimizer:sgd'])
      expect(ops.has(op), op).toBe(true);
  }, 300_000);

  it('every GR policy, one step on CUDA against the CPU backend, float32 and bf16', () => {
    const rows = childLines('policies', {}, 240_000);
    expect(rows).toHaveLength(12);
    for (const r of rows) {
      const tol = r.precision === 'bf16' ? 2 ** -8 : 1e-4; // summation order (float32); + bf16 rounding flips
      const sp = r.secondPass as boolean[];
      expect(sp[0], `${r.precision} ${r.policy}`).toBe(sp[1]);
      for (const k of ['loss', 'g1', 'grads', 'update']) expect(r[k] as number, `${r.precision} ${r.policy} ${k}`).toBeLessThan(tol);
      totals.cases++;
    }
  }, 300_000);

  it('full-size plumbing: ViT-B/16, 224 px, batch 256, one GR step and an evaluation (edge blocks, cuBLAS argument checks)', () => {
    for (const precision of ['float32', 'bf16']) {
      const rows = childLines(`plumbing ${precision}`, { GRWARM_EMU_EDGE_BLOCKS: '1', GRWARM_EMU_BLAS: 'check' }, 120_000);
      expect(rows).toEqual([expect.objectContaining({ precision, ok: true })]);
    }
  }, 300_000);

  it('a batch beyond the free device memory fails before the step, naming what it needs and what is left; the model stays usable', () => {
    // 1300 MiB device: 300 MiB context, 768 MiB kept back by the backend, the rest for the model.
    const [r] = childLines('oom', { GRWARM_EMU_DEVICE_MEMORY: String(1300 * 2 ** 20) }, 60_000);
    expect(r.error).toMatch(/^out of memory: a batch of 4096 images needs [\d.]+ GiB of activation memory on cuda .*more than the [\d.]+ GiB left on the cuda device; use a smaller batch/);
    expect(r.intact).toBe(true);
    expect(Number.isFinite(r.smallStepLoss as number)).toBe(true);
  }, 90_000);

  it('a device fault inside the plugin reaches JavaScript as an exception, and stays (sticky)', () => {
    const [r] = childLines('fault', { GRWARM_EMU_FAULT_LAUNCH: '20' }, 60_000);
    const errors = r.errors as string[];
    expect(errors[0]).toMatch(/^cuda \w[\w ]*: an illegal memory access was encountered \(emulator: kernel \w+.* planted fault/);
    expect(errors[1]).toMatch(/an illegal memory access was encountered/);
  }, 90_000);

  it('CUDA availability tells a missing driver from an old one', () => {
    const [none] = childLines('info', { GRWARM_EMU_DRIVER: 'none' }, 60_000);
    expect(none.available).toBe(false);
    expect(none.reason).toBe('no NVIDIA driver found (libcuda.so.1 cannot be loaded): install the NVIDIA driver (for CUDA 13.0: version 580 or newer)');
    const [old] = childLines('info', { GRWARM_EMU_DRIVER: 'old' }, 60_000);
    expect(old.reason).toBe('NVIDIA driver too old: found a driver for CUDA 12.4, this plugin needs CUDA 13.0 (driver 580 or newer)');
    const [ok] = childLines('info', {}, 60_000);
    expect(ok.available).toBe(true);
    expect(ok.detail).toMatch(/^CPU emulation of CUDA \(sm_90, 80 GiB\), cuBLAS 0\.0\.0 from .*libgrwarm_cublas_emu\.so$/);
  }, 90_000);

  it('every __global__ function of native/src/cuda ran', () => {
    const missing = sourceKernels().filter((k) => !totals.kernels.has(k));
    expect(sourceKernels().length).toBeGreaterThan(20);
    expect(missing, 'kernels that no test executed under emulation').toEqual([]);
  });
});

describe.skipIf(!built && !BOOST_CONTEXT)('the emulator catches planted faults (native/emu/faults)', () => {
  function fault(name: string, env: Record<string, string> = {}): string {
    const { res } = emu(FAULTS, [name], env, 60_000);
    expect(res.status, `${name}: exit ${res.status} ${res.signal ?? ''}\n${res.stderr}`).toBe(0);
    return res.stdout;
  }

  it('a full-mask shuffle after some lanes returned', () => {
    expect(fault('shuffle-after-return')).toMatch(/cudaErrorLaunchFailure.*kernel shuffle_after_return_kernel \(faults\.cu:\d+\), block \(0,0,0\), thread \(0,0,0\): warp shuffle with mask 0xffffffff waits for lane 16, which has exited/);
  });
  it('__syncthreads in both arms of a branch', () => {
    expect(fault('divergent-barrier')).toMatch(/kernel divergent_barrier_kernel .*__syncthreads reached from divergent code/);
  });
  it('a deadlock between a shuffle and a barrier', () => {
    expect(fault('deadlock')).toMatch(/kernel deadlock_kernel .*deadlock: no thread can proceed \(16 threads at a warp shuffle.*16 threads at a barrier/);
  });
  it('a shuffle naming a lane the block does not have', () => {
    expect(fault('absent-lane')).toMatch(/thread \(32,0,0\): warp shuffle with mask 0xffffffff names lane 16, which does not exist \(the block has 48 threads\)/);
  });
  it('launch limits: 2048 threads per block, grid y of 70000, 64 KiB of static shared memory', () => {
    const t = fault('too-many-threads');
    expect(t).toMatch(/launch: cudaErrorInvalidConfiguration.*kernel fill_kernel.*2048 threads/);
    expect(t).toMatch(/next launch: cudaSuccess/); // not sticky
    expect(fault('grid-y')).toMatch(/launch: cudaErrorInvalidConfiguration.*grid \(1,70000,1\)/);
    expect(fault('big-shared')).toMatch(/static shared memory of 65536 bytes exceeds the 48 KiB limit/);
  });
  it('a write one element past a buffer: illegal address naming kernel, block and thread; sticky', () => {
    const t = fault('write-past-end');
    expect(t).toMatch(/synchronize: cudaErrorIllegalAddress.*kernel write_past_end_kernel \(faults\.cu:\d+\), block \(3,0,0\), thread \(232,0,0\): write to address 0x[0-9a-f]+, byte offset 4000 of a 4000-byte device allocation \(past its end\)/);
    expect(t).toMatch(/sticky: cudaErrorIllegalAddress/);
  });
  it('a GEMM without the row-major operand swap', () => {
    const t = fault('gemm-no-swap');
    expect(t).toContain('unswapped: CUBLAS_STATUS_INVALID_VALUE');
    expect(t).toContain('swapped: CUBLAS_STATUS_SUCCESS');
  });
  it('a reduction missing a barrier gives a wrong result under one of the lane orders', () => {
    const parse = (s: string) => s.match(/expected (\S+), with barrier (\S+), without (\S+)/)!.slice(1);
    const fwd = parse(fault('missing-barrier', { GRWARM_EMU_SCHEDULE: 'forward' }));
    const rev = parse(fault('missing-barrier', { GRWARM_EMU_SCHEDULE: 'reverse' }));
    for (const r of [fwd, rev]) expect(r[1]).toBe(r[0]);
    expect(fwd[2] !== fwd[0] || rev[2] !== rev[0]).toBe(true);
  });
  it('(not a fault) warp votes, __syncwarp and atomics give their values', () => {
    expect(fault('warp-ops')).toContain('ballot 0x55555555, all 1, atomic sum 2016');
  });
  it('uninitialised device memory reads as NaN; stream work waits for a synchronisation', () => {
    expect(fault('uninitialised')).toMatch(/read of unwritten memory: -?nan/);
    const t = fault('no-stream-sync');
    expect(t).toMatch(/before synchronize: -?nan/);
    expect(t).toContain('after synchronize: 1');
  });
});
