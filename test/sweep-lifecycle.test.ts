// Sweeps that survive each other and their own death (issue 23, items 10-11): one sweep per
// folder (sweep.lock), cells that stop with a checkpoint when their sweep is killed (the stdin
// lifeline), and a later sweep that waits for such a cell instead of failing it as "in use".
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeConfig } from '../src/config/index.js';
import { loadSweepFile } from '../src/sweep/config.js';
import { isAlive } from '../src/sweep/orphans.js';
import { readMetrics } from '../src/train/metrics.js';
import { CLI, cli, ensureCliBuilt } from './support/cli.js';

let tmp: string;
const spawned: ChildProcess[] = [];
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-sweep-life-'));
  ensureCliBuilt();
});
afterAll(() => {
  for (const c of spawned) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

/** A one-cell sweep of `steps` steps (4 per epoch, a checkpoint each epoch). */
function oneCell(name: string, steps: number): string {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(
    file,
    `outDir: ${join(tmp, name)}
base: { steps: ${steps}, batchSize: 16, syntheticTrain: 64, syntheticTest: 16, warmupEpochs: 0, patchSize: 8, logEvery: 1, gr: none }
`,
  );
  return file;
}

/** Resolves when `cond()` holds; polls a file system condition (no event exists for it), fails after `ms`. */
async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const hasStep = (runDir: string) => {
  try {
    return readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').includes('"type":"step"');
  } catch {
    return false;
  }
};

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('sweep lock', () => {
  it('refuses a second sweep on the same folder at once, naming the holder; takes over a dead holder\'s lock', async () => {
    const file = oneCell('lock', 2);
    const root = join(tmp, 'lock');
    mkdirSync(root, { recursive: true });
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'], { stdio: 'ignore' });
    spawned.push(holder);
    writeFileSync(join(root, 'sweep.lock'), JSON.stringify({ pid: holder.pid, hostname: hostname(), startedAt: 'then' }));
    const busy = await cli(['sweep', '--config', file]);
    expect(busy.code).toBe(2);
    expect(busy.err).toContain(`error: sweep folder ${root} is in use by process ${holder.pid} (started then)`);
    expect(existsSync(join(root, 'sweep-status.json'))).toBe(false); // nothing ran, nothing recorded
    holder.kill('SIGKILL');

    const dead = deadPid();
    writeFileSync(join(root, 'sweep.lock'), JSON.stringify({ pid: dead, hostname: hostname(), startedAt: 'then' }));
    const r = await cli(['sweep', '--config', file]);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`note: took over the sweep folder ${root}: its lock was held by process ${dead}, which is no longer running`);
    expect(existsSync(join(root, 'sweep.lock'))).toBe(false); // released at the end
  });
});

describe('orphans', () => {
  it('kill -9 of the sweep stops its running cell with a checkpoint (the lifeline)', async () => {
    const file = oneCell('killed', 100_000);
    const [cell] = loadSweepFile(file).cells;
    const sweep = spawn(process.execPath, [CLI, 'sweep', '--config', file, '--threads', '1'], { stdio: 'ignore' });
    spawned.push(sweep);
    await until('the cell\'s first step', () => hasStep(cell.runDir));
    const pid = Number(readFileSync(join(tmp, 'killed', '.sweep', `${cell.name}.pid`), 'utf8'));
    try {
      sweep.kill('SIGKILL');
      await until(`cell process ${pid} to exit`, () => !isAlive(pid), 30_000);
    } finally {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    const summary = JSON.parse(readFileSync(join(cell.runDir, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ status: 'interrupted', signal: 'SIGTERM' });
    expect(existsSync(join(cell.runDir, 'run.lock'))).toBe(false);
    expect(readFileSync(join(tmp, 'killed', '.sweep', `${cell.name}.stderr.log`), 'utf8')).toContain('its lifeline pipe closed');
  });

  it('a later sweep waits for a cell left running, then resumes it (no "in use by process N")', async () => {
    const file = oneCell('adopt', 60);
    const [cell] = loadSweepFile(file).cells;
    const cellDir = join(tmp, 'adopt', '.sweep');
    mkdirSync(cellDir, { recursive: true });
    const cellFile = join(cellDir, `${cell.name}.json`);
    writeFileSync(cellFile, serializeConfig(cell.config));
    // The orphan: a cell as a sweep starts it, whose sweep is gone (the test holds its lifeline).
    const orphan = spawn(process.execPath, [CLI, 'train', '--config', cellFile, '--out-dir', cell.runDir, '--threads', '1', '--json'], {
      stdio: ['pipe', 'ignore', 'ignore'],
      env: { ...process.env, GRWARM_LIFELINE: 'stdin' },
    });
    spawned.push(orphan);
    writeFileSync(join(cellDir, `${cell.name}.pid`), `${orphan.pid}\n`);
    writeFileSync(join(tmp, 'adopt', 'sweep.lock'), JSON.stringify({ pid: deadPid(), hostname: hostname(), startedAt: 'then' }));
    await until('the orphan\'s first step', () => hasStep(cell.runDir));
    // Paused, so that it is still running (and holding its run lock) whenever the sweep looks.
    process.kill(orphan.pid!, 'SIGSTOP');

    const sweep = spawn(process.execPath, [CLI, 'sweep', '--config', file, '--threads', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    spawned.push(sweep);
    let err = '';
    let out = '';
    sweep.stdout!.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => {
      sweep.stderr!.on('data', (d) => {
        err += d;
        // The sweep has seen the orphan: let it stop, as its real sweep's death would.
        if (err.includes('is stopping') && orphan.stdin!.writable) {
          orphan.stdin!.end();
          process.kill(orphan.pid!, 'SIGCONT');
        }
      });
      sweep.on('close', (c) => resolve(c));
    });
    expect(err).not.toContain('in use by process');
    expect(err).toContain(`cell ${cell.name}: process ${orphan.pid}, left running by a sweep that ended, is stopping`);
    expect(code).toBe(0);
    expect(out).toContain('sweep finished: 1/1 done, 0 failed');
    const steps = readMetrics(join(cell.runDir, 'metrics.jsonl')).filter((r) => r.type === 'step').map((r) => r.step);
    expect(steps).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(existsSync(join(cellDir, `${cell.name}.pid`))).toBe(false);
  }, 120_000);
});

describe('failing fast and resuming (issue 22)', () => {
  it('missing data fails the sweep once, before any cell, and --dry-run checks the same', async () => {
    const file = join(tmp, 'nodata.yaml');
    const root = join(tmp, 'nodata');
    writeFileSync(file, `outDir: ${root}\nbase: { dataset: cifar10, dataDir: ${join(tmp, 'no-cifar')}, epochs: 1 }\ngrid: { seed: [0, 1, 2] }\n`);
    for (const extra of [[], ['--dry-run']]) {
      const r = await cli(['sweep', '--config', file, ...extra]);
      expect(r.code).toBe(1);
      expect(r.err.match(/^error:/gm)).toHaveLength(1);
      expect(r.err).toMatch(/^error: the sweep needs data that is not there; no cell was started:\n {2}cifar10 \(dataDir .*no-cifar\), needed by 3 of the 3 cells: CIFAR-10: missing file/m);
      expect(r.err).not.toContain('FAILED');
      expect(r.out).not.toContain('report:');
      expect(existsSync(join(root, 'vit-micro_adam_lr0.001_wu5_gr_s0'))).toBe(false);
    }
  });

  it('prints a failing cell\'s error once per distinct error, with the count', async () => {
    const file = join(tmp, 'samefail.yaml');
    // batchSize 48 > the 32 training images: the same config error in every cell
    writeFileSync(file, `outDir: ${join(tmp, 'samefail')}\nbase: { steps: 2, batchSize: 48, syntheticTrain: 32, syntheticTest: 16, warmupEpochs: 0, gr: none }\ngrid: { seed: [0, 1, 2] }\n`);
    const r = await cli(['sweep', '--config', file, '--parallel', '1', '--threads', '1']);
    expect(r.code).toBe(1);
    const first = 'vit-micro_adam_lr0.001_wu0_none_s0';
    expect(r.err.match(/batchSize: got 48/g)).toHaveLength(2); // the first FAILED line and the summary line
    expect(r.err).toContain(`FAILED vit-micro_adam_lr0.001_wu0_none_s1: the same error as ${first}`);
    expect(r.err).toContain(`FAILED vit-micro_adam_lr0.001_wu0_none_s2: the same error as ${first}`);
    expect(r.err).toMatch(new RegExp(`^3 cells failed with: error: config: .*batchSize: got 48.* \\(first: ${first}\\)$`, 'm'));
    expect(r.out).toContain('sweep finished: 0/3 done, 3 failed');
    expect(r.out).not.toContain('report:');
  });

  it('the resume hint after a stop repeats every flag given, and running it finishes the sweep there', async () => {
    const file = oneCell('hint', 60);
    const outDir = join(tmp, 'hint-elsewhere');
    const [cell] = loadSweepFile(file, { outDir }).cells;
    const sweep = spawn(process.execPath, [CLI, 'sweep', '--config', file, '--out-dir', outDir, '--parallel', '1', '--threads', '1'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    spawned.push(sweep);
    let err = '';
    sweep.stderr!.on('data', (d) => (err += d));
    const closed = new Promise<number | null>((resolve) => sweep.on('close', resolve));
    await until('the cell\'s first step', () => hasStep(cell.runDir));
    // Pause the cell so it cannot finish its 60 steps before the stop reaches it; the sweep
    // passes SIGINT on in its signal handler, the one that prints "stopping the sweep".
    const cellPid = Number(readFileSync(join(outDir, '.sweep', `${cell.name}.pid`), 'utf8'));
    process.kill(cellPid, 'SIGSTOP');
    sweep.kill('SIGINT');
    await until('the sweep to pass the stop on', () => err.includes('SIGINT: stopping the sweep'));
    process.kill(cellPid, 'SIGCONT');
    expect(await closed).toBe(130);
    const hint = `grwarm-native sweep --config ${file} --out-dir ${outDir} --parallel 1 --threads 1`;
    expect(err).toContain(`run it again to resume: ${hint}\n`);
    const again = await cli(hint.split(' ').slice(1));
    expect(again.code).toBe(0);
    expect(again.out).toContain('0 new, 1 to resume');
    expect(existsSync(join(tmp, 'hint'))).toBe(false); // never the sweep file's own outDir
  });
});
