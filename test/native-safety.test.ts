// Crash safety of the native binding (hardening items 1-4, 6, 7 and 10): each case runs in
// its own child process, because a failure here is a dead process, not a thrown error. The
// child scripts are plain Node (test/native-safety/*.cjs) and load the built addon directly.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createModel } from '../src/index.js';
import { randomBatch } from './support/batch.js';

const dir = join(import.meta.dirname, 'native-safety');

/** Runs a child script; `shellPrefix` (e.g. a ulimit) runs it through bash. */
function child(script: string, args: string[] = [], opts: { nodeFlags?: string[]; shellPrefix?: string } = {}) {
  const node = [...(opts.nodeFlags ?? []), join(dir, script), ...args];
  const r = opts.shellPrefix
    ? spawnSync('bash', ['-c', `${opts.shellPrefix}; exec "${process.execPath}" ${node.map((a) => `'${a}'`).join(' ')}`], {
        encoding: 'utf8',
        timeout: 120_000,
      })
    : spawnSync(process.execPath, node, { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, signal: r.signal, out: `${r.stdout}${r.stderr}` };
}

function expectOk(r: { status: number | null; signal: NodeJS.Signals | null; out: string }) {
  expect(r.signal, r.out).toBeNull();
  expect(r.status, r.out).toBe(0);
  expect(r.out).toMatch(/^ok/m);
}

describe('native binding: no crash under misuse (child processes)', () => {
  it('item 1: optimizer state read before configureOptimizer stays valid; a gone slot is a clear error', () => {
    expectOk(child('stale-optimizer-state.cjs'));
  });

  // 6 GiB of address space: Node itself needs ~2-3 GiB of reservations, so an 8 GiB batch
  // fails in the allocator (std::bad_alloc), the path a real out-of-memory takes.
  it.each(['first', 'after'])('item 2: a batch too large for memory (%s call) is refused and the model stays usable', (when) => {
    const r = child('huge-batch.cjs', [when, '8'], { shellPrefix: `ulimit -v ${6 * 1024 * 1024}` });
    expectOk(r);
    expect(r.out).toMatch(/out of memory: a batch of \d+ images needs 8\.\d\d GiB of activation memory on cpu/);
  });

  it('item 2: a batch larger than the machine is refused before anything is allocated', () => {
    const r = child('huge-batch.cjs', ['first', '100']);
    expectOk(r);
    expect(r.out).toMatch(/more than the [\d.]+ GiB this machine has/);
  });

  it('item 3: detaching and collecting the input arrays while a call runs', () => {
    expectOk(child('detach-inputs.cjs', [], { nodeFlags: ['--expose-gc'] }));
  });

  it('item 4: worker.terminate() while a step runs in the worker', () => {
    expectOk(child('worker-terminate.cjs'));
  });

  it('item 6: labels changed after the call is made do not reach the kernels', () => {
    expectOk(child('mutate-labels.cjs'));
  });

  it('item 7: setThreads reaches the kernels on the worker threads (threads counted)', () => {
    const r = child('threads.cjs');
    expectOk(r);
    expect(r.out).toContain('{"1":1,"2":2,"3":3,"4":4}');
  });

  it('item 10: every read and write while a call is in flight is refused with "busy"', () => {
    expectOk(child('busy-writes.cjs'));
  });
});

describe('host-copy protocol (VitModel)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'grwarm-hostcopy-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('optimizerState() returns copies that outlive a new optimizer', () => {
    const m = createModel('vit-micro', { seed: 1 });
    m.configureOptimizer({ kind: 'adam' });
    const st = m.optimizerState();
    m.configureOptimizer({ kind: 'sgd', momentum: 0.9 });
    st[1].data[0] = 3; // plain JS memory now
    expect(st[1].data[0]).toBe(3);
    expect(m.optimizerState().map((s) => s.name)).toEqual(['momentum_buffer']);
    expect(() => m.setOptimizerState('exp_avg', st[0].data)).toThrow(/this optimizer has "momentum_buffer"/);
  });

  it('params is a host copy: refreshed after a step, never written by accident', async () => {
    const m = createModel('vit-micro', { seed: 1 });
    m.configureOptimizer({ kind: 'adam' });
    const { images, labels } = randomBatch(m.config, 8, 2);
    const p0 = Float32Array.from(m.params);
    m.params[0] = 123; // changes the caller's own copy only
    expect(m.paramNorm()).toBeCloseTo(Math.sqrt(p0.reduce((s, v) => s + v * v, 0)), 3);
    await m.step(images, labels, { lr: 1e-2, lambda: 0, r: 0, seed: 1 });
    expect(m.params[0]).not.toBe(123); // the step changed the model: the copy was pulled again
    expect(m.params[m.numParams - 1]).not.toBe(p0[m.numParams - 1]); // head.bias (the head starts at 0)
  });

  it('loadSafetensors while a step is in flight is refused, and the step is not undone', async () => {
    const m = createModel('vit-micro', { seed: 1 });
    m.configureOptimizer({ kind: 'adam' });
    const path = join(tmp, 'w.safetensors');
    createModel('vit-micro', { seed: 9 }).saveSafetensors(path);
    const { images, labels } = randomBatch(m.config, 16, 2);
    const running = m.step(images, labels, { lr: 1e-3, lambda: 0.1, r: 0.1, seed: 1 });
    expect(m.busy).toBe(true);
    expect(() => m.loadSafetensors(path)).toThrow(/busy/);
    expect(() => m.setParams(new Float32Array(m.numParams))).toThrow(/busy/);
    await running;
    expect(m.busy).toBe(false);
    m.loadSafetensors(path); // idle again: accepted
    expect(m.paramNorm()).toBeCloseTo(createModel('vit-micro', { seed: 9 }).paramNorm(), 6);
  });
});
