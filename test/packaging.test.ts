// Packaging: the addon loads and trains without OpenBLAS (opened with dlopen, never linked),
// the CPU kernels are dispatched per ISA (GRWARM_ISA), `info` names the .node file, the load
// error says what to run, and the package metadata is consistent. The packed-tarball test
// itself (npm pack + install with no compiler on PATH) is scripts/pack-test.sh, run by CI.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const BACKEND = join(ROOT, 'dist', 'src', 'backend.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** A child process with a clean environment for the variables under test. */
function run(args: string[], env: Record<string, string | undefined> = {}) {
  // GRWARM_ADDON passes through: `GRWARM_ADDON=prebuilds/.../grwarm-native.node vitest run test/packaging.test.ts` tests the portable binary.
  const base: Record<string, string | undefined> = { ...process.env, GRWARM_ISA: undefined, GRWARM_OPENBLAS: undefined, OPENBLAS_THREAD_TIMEOUT: undefined };
  const merged = Object.fromEntries(Object.entries({ ...base, ...env }).filter(([, v]) => v !== undefined)) as Record<string, string>;
  return spawnSync(process.execPath, args, { encoding: 'utf8', env: merged, timeout: 120_000 });
}

function infoJson(env: Record<string, string | undefined> = {}) {
  const r = run([CLI, 'info', '--json'], env);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { simd: string; blas: string; gemm: string; blasAvailable: boolean; addon: string; backends: { name: string; available: boolean; reason: string }[] };
}

/** Loads the addon through dist/src/backend.js and reports what the process has mapped. */
const PROBE = `
import { readFileSync } from 'node:fs';
const before = readFileSync('/proc/self/maps', 'utf8').includes('libopenblas');
const { backendInfo } = await import(${JSON.stringify(BACKEND)});
const info = backendInfo();
const maps = readFileSync('/proc/self/maps', 'utf8');
console.log(JSON.stringify({ before, after: maps.includes('libopenblas'), timeout: process.env.OPENBLAS_THREAD_TIMEOUT ?? null, gemm: info.gemm, blas: info.blas }));
`;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-pkg-'));
  const stale = !existsSync(CLI) || statSync(CLI).mtimeMs < newestMtime(join(ROOT, 'src'));
  if (stale) {
    try {
      execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'pipe' });
    } catch (err) {
      if (!existsSync(CLI)) throw err; // tsc still emits when another file has a type error
    }
  }
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TRAIN = ['train', '--model', 'vit-micro', '--synthetic-train', '128', '--synthetic-test', '32', '--batch-size', '32', '--steps', '2', '--warmup-epochs', '0', '--quiet'];

describe('OpenBLAS is optional (dlopen at run time)', () => {
  it('without it the CLI trains with the built-in GEMM and info says why', () => {
    const env = { GRWARM_OPENBLAS: '/nonexistent/libopenblas.so.0', GRWARM_ONEDNN: 'off' };
    const info = infoJson(env);
    expect(info.gemm).toBe('builtin');
    expect(info.blasAvailable).toBe(false);
    expect(info.blas).toMatch(/^builtin \(GRWARM_OPENBLAS=\/nonexistent\/libopenblas\.so\.0 not found: .*No such file.*; oneDNN disabled by GRWARM_ONEDNN=off\)$/);
    const out = join(tmp, 'no-blas');
    const r = run([CLI, ...TRAIN, '--out-dir', out], env);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(join(out, 'summary.json'))).toBe(true);
  });

  it('the addon itself does not pull OpenBLAS in: nothing is mapped when the dlopen fails', () => {
    const r = run(['--input-type=module', '-e', PROBE], { GRWARM_OPENBLAS: '/nonexistent/libopenblas.so.0', GRWARM_ONEDNN: 'off' });
    expect(r.status, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(p).toMatchObject({ before: false, after: false, gemm: 'builtin' });
  });

  it('when OpenBLAS is there it is opened while the addon loads, after OPENBLAS_THREAD_TIMEOUT is set', () => {
    const r = run(['--input-type=module', '-e', PROBE], { GRWARM_ONEDNN: 'off' });
    expect(r.status, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout);
    if (!p.after) {
      // No OpenBLAS on this machine: the default search must say so.
      expect(p.blas).toMatch(/^builtin \(libopenblas\.so\.0 not found: /);
      return;
    }
    expect(p).toMatchObject({ before: false, after: true, timeout: '4', gemm: 'openblas' });
    expect(p.blas).toMatch(/OpenBLAS .*\(libopenblas\.so/);
  });

  it('GRWARM_OPENBLAS=off disables it', () => {
    const info = infoJson({ GRWARM_OPENBLAS: 'off', GRWARM_ONEDNN: 'off' });
    expect(info.gemm).toBe('builtin');
    expect(info.blas).toBe('builtin (OpenBLAS disabled by GRWARM_OPENBLAS=off; oneDNN disabled by GRWARM_ONEDNN=off)');
  });
});

describe('oneDNN is optional (dlopen at run time)', () => {
  it('without it: float32 through OpenBLAS or the built-in GEMM, bf16 emulated, and --precision bf16 still trains', () => {
    const env = { GRWARM_ONEDNN: '/nonexistent/libdnnl.so.2' };
    const info = infoJson(env) as ReturnType<typeof infoJson> & { onednn: string; onednnAvailable: boolean; bf16Gemm: string };
    expect(info.onednnAvailable).toBe(false);
    expect(info.onednn).toMatch(/^GRWARM_ONEDNN=\/nonexistent\/libdnnl\.so\.2 not usable: .*No such file/);
    expect(info.gemm).not.toBe('onednn');
    expect(info.bf16Gemm).toMatch(/^emulated: inputs rounded to bf16, float32 GEMM \(GRWARM_ONEDNN=.* not usable: .*; slow\)$/);
    const out = join(tmp, 'no-onednn-bf16');
    const r = run([CLI, ...TRAIN, '--precision', 'bf16', '--out-dir', out], env);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).precision).toBe('bfloat16');
  });

  it('with it (libdnnl-dev installed): the float32 default is oneDNN and info names its implementation', () => {
    const info = infoJson() as ReturnType<typeof infoJson> & { onednn: string; onednnAvailable: boolean; bf16Gemm: string };
    if (!info.onednnAvailable) {
      expect(info.onednn).toMatch(/^(libdnnl\.so\.2 not usable: |oneDNN disabled by GRWARM_ONEDNN=)/); // says why
      return;
    }
    expect(info.gemm).toBe('onednn');
    expect(info.blas).toMatch(/^oneDNN 2\.\d+\.\d+ \(libdnnl\.so\.2\), \S+/);
    expect(info.bf16Gemm).toMatch(/^oneDNN 2\.\d+\.\d+ \(libdnnl\.so\.2\), \S+|^emulated: /);
    // GRWARM_GEMM chooses the float32 GEMM; an unavailable or unknown choice is reported, not fatal
    expect(infoJson({ GRWARM_GEMM: 'openblas' }).gemm).toBe(info.blasAvailable ? 'openblas' : 'onednn');
    const bad = infoJson({ GRWARM_GEMM: 'mkl' });
    expect(bad.gemm).toBe('onednn');
    expect(bad.blas).toContain('GRWARM_GEMM=mkl ignored: expected onednn, openblas or builtin');
  });
});

describe('CPU dispatch (GRWARM_ISA)', () => {
  it('backendInfo().simd names the chosen kernels and how they were chosen', () => {
    const info = infoJson();
    expect(info.simd).toMatch(/^(sse2|sse4|avx2|avx512|native|generic) \((dispatched|built with .+); GRWARM_ISA unset\)$/);
  });

  it('an unknown ISA is refused with the list of variants, and training fails with that reason', () => {
    const info = infoJson({ GRWARM_ISA: 'avx1024' });
    expect(info.simd).toMatch(/^none: GRWARM_ISA=avx1024: this build has no such kernels \(it has: .+\)/);
    const cpu = info.backends.find((b) => b.name === 'cpu')!;
    expect(cpu.available).toBe(false);
    const r = run([CLI, ...TRAIN, '--device', 'cpu', '--out-dir', join(tmp, 'bad-isa')], { GRWARM_ISA: 'avx1024' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('GRWARM_ISA=avx1024');
  });

  it('every variant of this binary that the CPU runs trains, deterministically', () => {
    const has = /it has: ([^;]+);/.exec(infoJson({ GRWARM_ISA: 'avx1024' }).simd)![1]!.split(', ');
    const losses: Record<string, number> = {};
    for (const isa of has) {
      const info = infoJson({ GRWARM_ISA: isa });
      if (info.simd.startsWith('none:')) {
        expect(info.simd).toContain('this CPU does not support'); // refused, with the reason
        continue;
      }
      expect(info.simd.startsWith(`${isa} (`)).toBe(true);
      const script = `
        const { createModel } = await import(${JSON.stringify(join(ROOT, 'dist', 'src', 'model', 'vit-model.js'))});
        const m = createModel('vit-micro', { seed: 3 });
        const n = 8, images = new Float32Array(n * 3 * 32 * 32).map((_, i) => Math.sin(i * 0.37));
        const labels = Int32Array.from({ length: n }, (_, i) => i % 10);
        const out = [];
        for (let k = 0; k < 2; k++) { m.init(3); out.push((await m.forwardBackward(images, labels, { seed: 5, train: true })).loss); }
        const ref = createModel('vit-micro', { seed: 3, precision: 'float64' }); // an independent reference
        out.push((await ref.forwardBackward(images, labels, { seed: 5, train: true })).loss);
        console.log(JSON.stringify(out));`;
      const r = run(['--input-type=module', '-e', script], { GRWARM_ISA: isa });
      expect(r.status, r.stderr).toBe(0);
      const [a, b, ref] = JSON.parse(r.stdout) as number[];
      expect(a).toBe(b); // same seed, same ISA, same threads: same bits
      losses[isa] = a!;
      // Each variant against float64 (not only against the other variants: a binary with one
      // variant would compare a value with itself).
      expect(Math.abs(a! - ref!) / Math.abs(ref!), `${isa}: float32 ${a} vs float64 ${ref}`).toBeLessThan(1e-5);
    }
    const values = Object.values(losses);
    expect(values.length).toBeGreaterThan(0);
    for (const v of values) expect(Math.abs(v - values[0]!) / Math.abs(values[0]!)).toBeLessThan(1e-5);
  });
});

describe('which binary, and what to do when there is none', () => {
  it('info names the .node file it loaded', () => {
    const info = infoJson();
    expect(info.addon).toMatch(/grwarm[-_]native\.node \((local build|prebuilt binary|GRWARM_ADDON)/);
  });

  it('GRWARM_ADDON loads a given file', () => {
    const file = infoJson().addon.replace(/ \(.*$/, '');
    expect(infoJson({ GRWARM_ADDON: file }).addon).toBe(`${file} (GRWARM_ADDON)`);
  });

  it('no loadable binary: one line that says to run `npx grwarm-native build-native`', () => {
    const r = run([CLI, 'info'], { GRWARM_ADDON: join(tmp, 'missing.node') });
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('Build it from source with `npx grwarm-native build-native`');
  });

  it('build-native is a CLI command', () => {
    const r = run([CLI, 'build-native', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--portable');
  });
});

describe('package metadata', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

  it('cmake-js and node-addon-api are regular dependencies; no install scripts', () => {
    expect(Object.keys(pkg.dependencies)).toEqual(expect.arrayContaining(['cmake-js', 'node-addon-api', 'node-gyp-build']));
    for (const s of ['preinstall', 'install', 'postinstall']) expect(pkg.scripts[s]).toBeUndefined();
  });

  it('ships LICENSE, the method document, the CMake includes, and the sources its source maps point to', () => {
    expect(pkg.files).toEqual(expect.arrayContaining(['LICENSE', 'docs/method.md', 'cmake', 'prebuilds']));
    const tsconfig = readFileSync(join(ROOT, 'tsconfig.json'), 'utf8');
    if (/"sourceMap":\s*true/.test(tsconfig)) expect(pkg.files).toContain('src');
  });

  it('prebuilds build in their own folder', () => {
    expect(pkg.scripts.prebuilds).toContain('--cwd build-prebuild');
    const ignore = readFileSync(join(ROOT, '.gitignore'), 'utf8').split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['*.tgz', 'build-prebuild/']));
  });
});
