// Data parallelism on one machine: 1 process x 2 threads against 2 MPI ranks x 1 thread
// (the same global batch), for vit-ti and vit-s, base step and GR step (global perturbation).
//
//   node dist/bench/distributed.js [--reps N] [--batch B] [--models vit-ti,vit-s]
//
// The script runs the 1-process measurement itself, then starts
//   mpirun --allow-run-as-root --oversubscribe -np 2 node dist/bench/distributed.js --worker ...
// for the 2-rank one (rank 0 reports). stdout: JSON lines
//   {"kind":"distributed", model, step, mode, ranks, threads, batch, stepMs, commMs, computeMs,
//    commBytes, reps}                            medians over the timed steps
//   {"kind":"distributed-summary", model, step, speedup, commShare}
// stderr: commentary. Needs mpirun and a build with libgrwarm_mpi.so.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setThreads } from '../src/backend.js';
import { openDistributed, type Distributed } from '../src/distributed/index.js';
import { createModel } from '../src/model/vit-model.js';
import type { VitPreset } from '../src/model/presets.js';
import { median, randomBatch } from './util.js';

interface Opts {
  reps: number;
  batch: number;
  models: VitPreset[];
  worker: boolean;
}

function parse(argv: string[]): Opts {
  const o: Opts = { reps: 5, batch: 32, models: ['vit-ti', 'vit-s'], worker: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--worker') o.worker = true;
    else if (a === '--reps') o.reps = Number(argv[++i]);
    else if (a === '--batch') o.batch = Number(argv[++i]);
    else if (a === '--models') o.models = argv[++i].split(',') as VitPreset[];
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

interface Row {
  kind: 'distributed';
  model: VitPreset;
  step: 'base' | 'gr';
  mode: string;
  ranks: number;
  threads: number;
  batch: number;
  stepMs: number;
  commMs: number;
  computeMs: number;
  commBytes: number;
  reps: number;
}

async function measure(opts: Opts, dist: Distributed | undefined, threads: number): Promise<Row[]> {
  setThreads(threads);
  const rows: Row[] = [];
  const ranks = dist?.size ?? 1;
  for (const name of opts.models) {
    const model = createModel(name, { seed: 0 });
    model.configureOptimizer({ kind: 'adam', weightDecay: 0.05, clip: 2 });
    if (dist) model.setCommunicator(dist.comm);
    const local = dist ? Math.floor(opts.batch / ranks) : opts.batch;
    const { images, labels } = randomBatch(model.config, local, 1 + (dist?.rank ?? 0));
    for (const step of ['base', 'gr'] as const) {
      const o = { lr: 1e-4, lambda: step === 'gr' ? 0.1 : 0, r: step === 'gr' ? 0.1 : 0, seed: 0 };
      const ms: number[] = [];
      const comm: number[] = [];
      let bytes = 0;
      for (let k = 0; k <= opts.reps; k++) {
        dist?.comm.barrier();
        const t0 = performance.now();
        const r = await model.step(images, labels, { ...o, seed: k });
        const t = performance.now() - t0;
        if (k === 0) continue; // warmup: buffers, page faults, thread start
        ms.push(t);
        comm.push(r.commMs ?? 0);
        bytes = r.commBytes ?? 0;
      }
      const stepMs = median(ms);
      const commMs = median(comm);
      rows.push({
        kind: 'distributed',
        model: name,
        step,
        mode: dist ? `${ranks} ranks x ${threads} thread` : `1 process x ${threads} threads`,
        ranks,
        threads,
        batch: opts.batch,
        stepMs,
        commMs,
        computeMs: stepMs - commMs,
        commBytes: bytes,
        reps: opts.reps,
      });
    }
  }
  return rows;
}

async function main(): Promise<void> {
  const opts = parse(process.argv.slice(2));
  if (opts.worker) {
    const dist = openDistributed({ timeoutSec: 600 });
    const rows = await measure(opts, dist, 1);
    if (dist.isRoot) for (const r of rows) process.stdout.write(JSON.stringify(r) + '\n');
    dist.finalize();
    return;
  }
  process.stderr.write(`1 process x 2 threads, global batch ${opts.batch}, ${opts.reps} timed steps each...\n`);
  const one = await measure(opts, undefined, 2);
  for (const r of one) process.stdout.write(JSON.stringify(r) + '\n');
  process.stderr.write('2 ranks x 1 thread (mpirun)...\n');
  const me = fileURLToPath(import.meta.url);
  const args = ['--allow-run-as-root', '--oversubscribe', '-np', '2', process.execPath, me, '--worker', '--reps', String(opts.reps), '--batch', String(opts.batch), '--models', opts.models.join(',')];
  const res = spawnSync('mpirun', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (res.status !== 0) throw new Error(`mpirun failed (${res.error?.message ?? `exit ${res.status}`})`);
  const two = res.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Row);
  for (const r of two) process.stdout.write(JSON.stringify(r) + '\n');
  for (const a of one) {
    const b = two.find((x) => x.model === a.model && x.step === a.step);
    if (!b) continue;
    process.stdout.write(
      JSON.stringify({
        kind: 'distributed-summary',
        model: a.model,
        step: a.step,
        speedup: a.stepMs / b.stepMs,
        commShare: b.commMs / b.stepMs,
        commMBPerStep: b.commBytes / 2 ** 20,
      }) + '\n',
    );
  }
}

main().catch((err) => {
  process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exit(1);
});
