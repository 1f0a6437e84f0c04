// Limits the process cannot get past fail once, with the reason (issue 23 items 17 and 18):
// a thread count that cannot be started, and a library variable naming the wrong library.
// Each case runs in a child process: both are process-wide, decided when the addon loads.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ensureCliBuilt, ROOT } from './support/cli.js';

let tmp: string;
beforeAll(() => {
  ensureCliBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-limits-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A child with the variables under test (and none inherited that would change the outcome). */
function run(file: string, args: string[], env: Record<string, string> = {}) {
  const base = { ...process.env };
  for (const k of ['GRWARM_ADDON', 'GRWARM_ONEDNN', 'GRWARM_OPENBLAS', 'GRWARM_CUBLAS', 'GRWARM_GEMM']) delete base[k];
  // The timeout only bounds a hang (the defect: a spin until killed); a hang shows as status null.
  return spawnSync(file, args, { encoding: 'utf8', env: { ...base, ...env }, timeout: 120_000 });
}

const SMALL = ['--synthetic-train', '32', '--synthetic-test', '16', '--batch-size', '8', '--steps', '2', '--warmup-epochs', '0.25', '--quiet'];
const BACKEND = join(ROOT, 'dist', 'src', 'backend.js');

describe('a thread count that cannot be started fails once with the reason (item 17)', () => {
  // 1024 threads with 8 MiB stacks need 8 GiB of address space: more than a 4 GB `ulimit -v`.
  // It used to report "out of memory allocating 208074 parameters" and then spin (OpenBLAS
  // workers retrying their buffers) until killed.
  const limited = (cmd: string) => run('bash', ['-c', `ulimit -s 8192 && ulimit -v 4000000 && exec ${cmd}`]);

  it('train --threads 1024 under ulimit -v 4000000: one error naming the limit, exit non-zero', () => {
    const out = join(tmp, 'threads');
    const r = limited(`"${process.execPath}" "${CLI}" train ${SMALL.join(' ')} --threads 1024 --out-dir "${out}"`);
    expect(r.signal, r.stderr).toBeNull(); // it exited by itself
    expect(r.status).not.toBe(0);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /^error: threads: cannot run 1024 threads here: starting thread \d+ failed \(Resource temporarily unavailable\); each thread reserves 8 MiB of stack and the address space is limited to 3906 MiB \(ulimit -v\); use fewer threads/,
    );
  });

  it('setThreads refuses and keeps the count it had; a count that fits is set', () => {
    const script = `
      const { setThreads, backendInfo } = await import(${JSON.stringify(BACKEND)});
      setThreads(3);
      let error = null;
      try { setThreads(1024); } catch (e) { error = e.message; }
      const kept = backendInfo().threads;
      console.log(JSON.stringify({ error, kept, four: setThreads(4) }));`;
    const r = limited(`"${process.execPath}" --input-type=module -e '${script.replace(/'/g, "'\\''")}'`);
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { error: string | null; kept: number; four: number };
    expect(res.error).toMatch(/^threads: cannot run 1024 threads here: /);
    expect([res.kept, res.four]).toEqual([3, 4]);
  });
});

describe('a library variable naming another library is refused by identity (item 18)', () => {
  /** `info --json` in a child with `env`. */
  function info(env: Record<string, string>) {
    const r = run(process.execPath, [CLI, 'info', '--json'], env);
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { blas: string; onednn: string };
  }

  it('GRWARM_ONEDNN=libz.so.1 is "not oneDNN", not "oneDNN of unknown version"', () => {
    const i = info({ GRWARM_ONEDNN: 'libz.so.1', GRWARM_OPENBLAS: 'off' });
    expect(i.onednn).toBe('GRWARM_ONEDNN=libz.so.1 not usable: libz.so.1 is not oneDNN (it has no dnnl_version)');
  });

  it('GRWARM_OPENBLAS=libz.so.1 is "not OpenBLAS"', () => {
    const i = info({ GRWARM_OPENBLAS: 'libz.so.1', GRWARM_ONEDNN: 'off' });
    expect(i.blas).toContain('GRWARM_OPENBLAS=libz.so.1 not found: libz.so.1 is not OpenBLAS (it has no openblas_get_config)');
  });

  it('GRWARM_ADDON: a text file named .so is refused as not an ELF shared object, never run', () => {
    const fake = join(tmp, 'fake.so');
    const marker = join(tmp, 'ran');
    writeFileSync(fake, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x'); console.log('EXECUTED');\n`);
    const r = run(process.execPath, [CLI, 'info'], { GRWARM_ADDON: fake });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`could not load ${fake} (GRWARM_ADDON) (${fake} is not an ELF shared object (a Node addon is one))`);
    expect(r.stdout + r.stderr).not.toContain('EXECUTED');
    expect(existsSync(marker)).toBe(false);
  });

  it('GRWARM_ADDON: a shared object that is no Node addon is named as such', () => {
    const lib = ['/lib/x86_64-linux-gnu/libz.so.1', '/usr/lib/x86_64-linux-gnu/libz.so.1', '/lib64/libz.so.1', '/usr/lib64/libz.so.1'].find(existsSync);
    expect(lib, 'libz.so.1 not found in the usual places').toBeDefined();
    const r = run(process.execPath, [CLI, 'info'], { GRWARM_ADDON: lib! });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${lib} is a shared object but not a Node addon (it registers no module)`);
    expect(r.stderr).not.toContain('Invalid or unexpected token');
  });
});
