// `report` over hostile folders (issue 23, items 12-16): a symlinked run counted once, malformed
// runs skipped with one warning each and a count, FIFOs and device files never opened for a
// blocking read, and output folders that cannot be created failing at once (not spinning).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport } from '../src/report/index.js';
import { CLI, cli, ensureCliBuilt } from './support/cli.js';

let tmp: string;
let runs: string;
const common = ['--synthetic-train', '32', '--synthetic-test', '16', '--batch-size', '16', '--steps', '2', '--warmup-epochs', '0', '--patch-size', '8', '--threads', '1', '--quiet'];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-report-load-'));
  runs = join(tmp, 'runs');
  for (const seed of [0, 1]) {
    const r = await cli(['train', ...common, '--seed', String(seed), '--out-dir', join(runs, `run-s${seed}`)]);
    if (r.code !== 0) throw new Error(r.err);
  }
  ensureCliBuilt();
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of run-s0 under `name` inside a fresh root next to the two good runs. */
function rootWith(name: string, edit: (dir: string) => void): string {
  const root = join(tmp, name);
  cpSync(runs, root, { recursive: true });
  const dir = join(root, 'bad');
  cpSync(join(runs, 'run-s0'), dir, { recursive: true });
  edit(dir);
  return root;
}

describe('report loading', () => {
  it('counts a run reached through a symbolic link once', () => {
    const root = join(tmp, 'linked');
    cpSync(runs, root, { recursive: true });
    symlinkSync('run-s1', join(root, 'latest')); // sorts before run-s1: the real path must still win
    const rep = buildReport(root);
    expect(rep.runs.map((r) => r.name)).toEqual(['run-s0', 'run-s1']);
    expect(rep.agg.settings[0].finalError.n).toBe(2);
    expect(rep.skipped).toHaveLength(1);
    expect(rep.skipped[0].why).toContain('same run directory as');
  });

  it.each([
    ['empty object', '{}', /empty/],
    ['null', 'null', /expected an object .*got null/],
    ['mistyped', JSON.stringify({ gr: 5, seed: 'x' }), /config\.json: .*gr/],
  ])('skips a run whose config.json is %s, with one warning and a count', async (_what, text, why) => {
    const root = rootWith(`cfg-${_what.replace(' ', '-')}`, (d) => writeFileSync(join(d, 'config.json'), text));
    const rep = buildReport(root);
    expect(rep.runs).toHaveLength(2);
    expect(rep.skipped).toHaveLength(1);
    expect(rep.skipped[0].why).toMatch(why);
    const r = await cli(['report', root, '--quiet']);
    expect(r.code).toBe(0);
    expect(r.err.match(/^warning: skipped .*bad: /gm)).toHaveLength(1);
    expect(r.err).toContain('warning: 1 run directory skipped');
    expect(r.out).toContain('report of 2 runs written');
  });

  it('skips a run whose summary.json has a non-numeric finalTestError', () => {
    const root = rootWith('summary-str', (d) => {
      const s = JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8'));
      writeFileSync(join(d, 'summary.json'), JSON.stringify({ ...s, finalTestError: 'n/a' }));
    });
    const rep = buildReport(root);
    expect(rep.runs).toHaveLength(2);
    expect(rep.skipped[0].why).toContain('finalTestError is "n/a", expected a number');
  });

  it('never blocks on a FIFO metrics.jsonl or a /dev/zero summary.json (run in a child with a timeout)', () => {
    const fifo = rootWith('fifo', (d) => {
      rmSync(join(d, 'metrics.jsonl'));
      const mk = spawnSync('mkfifo', [join(d, 'metrics.jsonl')]);
      expect(mk.status).toBe(0);
    });
    const zero = rootWith('zero', (d) => {
      rmSync(join(d, 'summary.json'));
      symlinkSync('/dev/zero', join(d, 'summary.json'));
    });
    for (const root of [fifo, zero]) {
      const r = spawnSync(process.execPath, [CLI, 'report', root, '--quiet'], { encoding: 'utf8', timeout: 30_000 });
      expect(r.signal).toBeNull(); // not killed by the timeout
      expect(r.status).toBe(0);
      expect(r.stderr).toMatch(/warning: skipped .*bad: cannot read .*: not a regular file \(a (FIFO|character device)\)/);
    }
  });
});

describe('output folders that cannot be created fail at once (exit 2), not spin', () => {
  it.each([
    ['report --out', () => ['report', runs, '--out', '/proc/x/report']],
    ['theory --out', () => ['theory', '--samples', '10', '--out', '/proc/x/t']],
    ['sweep --out-dir', () => {
      const f = join(tmp, 'proc-sweep.yaml');
      mkdirSync(tmp, { recursive: true });
      writeFileSync(f, 'outDir: x\nbase: { steps: 1, syntheticTrain: 16, syntheticTest: 16, batchSize: 16, warmupEpochs: 0 }\n');
      return ['sweep', '--config', f, '--out-dir', '/proc/x'];
    }],
  ])('%s /proc/x', (_what, args) => {
    const r = spawnSync(process.execPath, [CLI, ...args()], { encoding: 'utf8', timeout: 30_000 });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/error: --out(-dir)? \/proc\/x.*: cannot create directory \/proc\/x: no such file or directory/);
  });
});
