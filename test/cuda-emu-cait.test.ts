// The CaiT family on the CUDA plugin under CPU emulation (docs/cuda-emulation.md) against the
// CPU backend: cait-micro with drop path, float32, float64 and bf16, a batch smaller than the
// planned buffers, then a GR step (the kernels themselves are checked op by op by the
// conformance suite; this checks the family's use of them on a device backend).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ensureCliBuilt } from './support/cli.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'build', 'Release');
const PLUGIN = join(BIN, 'libgrwarm_cuda_emu.so');
const CUBLAS = join(BIN, 'libgrwarm_cublas_emu.so');

describe.skipIf(!existsSync(PLUGIN) || !existsSync(CUBLAS))('cait on CUDA under emulation', () => {
  ensureCliBuilt();
  it('cait-micro: gradients and a GR step match the CPU backend (float32, float64, bf16)', () => {
    const res = spawnSync(process.execPath, [join(ROOT, 'test', 'support', 'cuda-emu-cait-child.mjs')], {
      encoding: 'utf8', timeout: 240_000,
      env: { ...process.env, OMP_WAIT_POLICY: 'passive', GRWARM_CUDA_PLUGIN: PLUGIN, GRWARM_CUBLAS: CUBLAS },
    });
    expect(res.status, res.stderr).toBe(0);
    const rows = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>);
    expect(rows.map((r) => r.precision)).toEqual(['float32', 'float64', 'bfloat16']);
    for (const r of rows) {
      // summation orders differ (float32: ~1e-7 per op); bf16 rounds the GEMM inputs the same way
      // on both, so its differences are float32-sized too, except where a rounding flips
      const tol = r.precision === 'float64' ? 1e-12 : r.precision === 'bfloat16' ? 2 ** -8 : 1e-5;
      for (const k of ['loss', 'grads', 'stepGrads', 'params']) expect(r[k] as number, `${r.precision} ${k}`).toBeLessThan(tol);
    }
  }, 300_000);
});
