// The run lifecycle (issue 23, items 4-8): run-state.json, a summary lost after the final
// checkpoint, resume checks made before anything in the run directory changes (run
// identity, world size under --perturbation local, precision/config, metrics.jsonl), and a
// best checkpoint that survives a resume from an older checkpoint.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../src/io/safetensors.js';
import { readCheckpointMeta } from '../src/train/checkpoint.js';
import { readRunState } from '../src/train/run-state.js';
import { cli } from './support/cli.js';

const SMALL = ['--synthetic-train', '32', '--synthetic-test', '16', '--batch-size', '8', '--warmup-epochs', '0.25', '--threads', '1', '--quiet'];

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-life-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ck = (d: string, s: number) => join(d, 'checkpoints', `step-${String(s).padStart(7, '0')}.safetensors`);
const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

/** Every file under `dir` with its contents, to show that a refused resume changed nothing. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name !== 'train.log') out[p] = readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return out;
}

/** Rewrites a checkpoint's string metadata (tensors unchanged). */
function editMetadata(path: string, edit: (m: Record<string, string>) => void): void {
  const f = readSafetensors(path);
  edit(f.metadata);
  const tensors: TensorToWrite[] = [...f.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: t.data }));
  writeSafetensors(path, tensors, f.metadata);
}

describe('run-state.json', () => {
  it('goes created -> running -> final-checkpoint -> summarised and names the run id every checkpoint carries', async () => {
    const d = join(tmp, 'states');
    const phases: string[] = [];
    const r = await cli(['train', ...SMALL, '--steps', '8', '--out-dir', d], () => phases.push(readRunState(d)!.phase));
    expect(r.code, r.err).toBe(0);
    // Seen after each step's record: created until the first checkpoint (end of epoch 1, step 4).
    expect(phases).toEqual(['created', 'created', 'created', 'created', 'running', 'running', 'running', 'running']);
    const st = readRunState(d)!;
    expect(st).toMatchObject({ phase: 'summarised', worldSize: 1, perturbation: 'global', precision: 'float32', totalSteps: 8, step: 8 });
    expect(st.runId).toMatch(/^[0-9a-f]{16}$/);
    expect(readCheckpointMeta(ck(d, 8))).toMatchObject({ runId: st.runId, worldSize: 1 });
  });
});

describe('a run stopped between its final checkpoint and summary.json (item 4)', () => {
  it('--resume evaluates the final checkpoint, writes the summary and exits 0', async () => {
    const ref = join(tmp, 'ref4');
    expect((await cli(['train', ...SMALL, '--steps', '8', '--out-dir', ref])).code).toBe(0);

    // summary.json cannot be written (a directory appears in its place during the last step):
    // the run fails right after its final checkpoint, as a kill at that point would leave it.
    const d = join(tmp, 'nosummary');
    const failed = await cli(['train', ...SMALL, '--steps', '8', '--out-dir', d], (rec) => {
      if (rec.step === 8) mkdirSync(join(d, 'summary.json'));
    });
    expect(failed.code).toBe(1);
    expect(existsSync(ck(d, 8))).toBe(true);
    expect(readRunState(d)!.phase).toBe('final-checkpoint');
    rmSync(join(d, 'summary.json'), { recursive: true });

    const r = await cli(['train', '--resume', d, '--quiet']);
    expect(r.code, r.err).toBe(0);
    const s = json(join(d, 'summary.json'));
    const want = json(join(ref, 'summary.json'));
    expect(s.status).toBe('complete');
    for (const k of ['finalTestError', 'finalTestLoss', 'bestTestError', 'bestStep', 'steps']) expect(s[k], k).toBe(want[k]);
    expect(readRunState(d)!.phase).toBe('summarised');

    // Now there is nothing left to do.
    const again = await cli(['train', '--resume', d]);
    expect(again.code).toBe(0);
    expect(again.out).toContain('nothing to do');
  });
});

describe('resume checks before anything changes', () => {
  it('a --perturbation local checkpoint resumed with another process count is refused (item 5)', async () => {
    const d = join(tmp, 'local');
    const args = [...SMALL, '--perturbation', 'local', '--perturbation-shards', '2', '--gr', 'gr', '--steps', '8', '--out-dir', d];
    expect((await cli(['train', ...args], (rec, stop) => rec.step === 5 && stop.request('SIGINT'))).code).toBe(130);
    expect(readCheckpointMeta(ck(d, 5)).worldSize).toBe(1);
    // As written by rank 0 of `mpirun -np 2`:
    editMetadata(ck(d, 5), (m) => (m.world_size = '2'));
    const before = snapshot(d);
    const r = await cli(['train', '--resume', d]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(
      `${ck(d, 5)}: it was written by a run of 2 processes with --perturbation local (one perturbation per process), ` +
        'and resuming it with 1 would change the numbers; resume with mpirun -np 2',
    );
    expect(snapshot(d)).toEqual(before);
  });

  it('a metrics.jsonl line that is not a record refuses the resume with file:line, before moving anything (item 7)', async () => {
    const d = join(tmp, 'badline');
    expect((await cli(['train', ...SMALL, '--steps', '8', '--keep-last', '3', '--out-dir', d])).code).toBe(0);
    const m = join(d, 'metrics.jsonl');
    const lines = readFileSync(m, 'utf8').split('\n');
    lines.splice(2, 0, 'null');
    writeFileSync(m, lines.join('\n'));
    const before = snapshot(d);
    const r = await cli(['train', '--resume', ck(d, 4)]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(`${m}:3: got null, expected a JSON object (a metrics record)`);
    expect(r.err).not.toContain('Cannot read properties');
    expect(snapshot(d)).toEqual(before); // the final checkpoint and summary.json stayed where they were
  });

  it("another run's checkpoint placed in a run folder is refused; config.json is not rewritten (item 8)", async () => {
    const a = join(tmp, 'run-a');
    const b = join(tmp, 'run-b');
    expect((await cli(['train', ...SMALL, '--steps', '4', '--out-dir', a])).code).toBe(0);
    expect((await cli(['train', ...SMALL, '--steps', '8', '--precision', 'bfloat16', '--out-dir', b])).code).toBe(0);
    copyFileSync(ck(b, 8), ck(a, 8));
    const before = snapshot(a);
    const r = await cli(['train', '--resume', a]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${ck(a, 8)}: it belongs to run ${readRunState(b)!.runId}, but ${a} holds run ${readRunState(a)!.runId}`);
    expect(r.err).toContain('precision bfloat16 vs the run\'s float32');
    expect(snapshot(a)).toEqual(before);

    // A run directory of an older version (no run-state.json): config.json tells.
    rmSync(join(a, 'run-state.json'));
    const before2 = snapshot(a);
    const r2 = await cli(['train', '--resume', a]);
    expect(r2.code).toBe(2);
    expect(r2.err).toContain(`its config differs from the run's ${join(a, 'config.json')} (`);
    expect(r2.err).toContain('precision "bfloat16" in the checkpoint, "float32" in config.json');
    expect(r2.err).toContain("it is another run's checkpoint; nothing was changed");
    expect(snapshot(a)).toEqual(before2);
  });
});

describe('the best checkpoint survives a resume from an older checkpoint (item 6)', () => {
  it('best.safetensors is the model the restored best result names, with another --eval-every too', async () => {
    const d = join(tmp, 'best');
    expect((await cli(['train', ...SMALL, '--lr', '3e-3', '--steps', '12', '--keep-last', '3', '--out-dir', d])).code).toBe(0);
    const straight = json(join(d, 'summary.json'));
    // The scenario: the run's best is later than the checkpoint resumed from.
    expect(straight.bestStep).toBeGreaterThan(4);

    const stopped = await cli(['train', '--resume', ck(d, 4), '--eval-every', '10', '--quiet'], (rec, stop) => rec.step === 5 && stop.request('SIGINT'));
    expect(stopped.code).toBe(130);
    const s = json(join(d, 'summary.json'));
    expect(s.bestStep).toBe(4);
    expect(s.bestCheckpoint).toBe(join(d, 'best.safetensors'));
    expect(readCheckpointMeta(s.bestCheckpoint).step).toBe(4);

    const done = await cli(['train', '--resume', d, '--eval-every', '10', '--quiet']);
    expect(done.code, done.err).toBe(0);
    const f = json(join(d, 'summary.json'));
    expect(existsSync(f.bestCheckpoint)).toBe(true);
    expect(readCheckpointMeta(f.bestCheckpoint).step).toBe(f.bestStep);
    expect(readRunState(d)!.bestCheckpoint).toBe(join(d, 'best.safetensors'));
  });
});
