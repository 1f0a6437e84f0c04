// The prebuilt (run-time dispatched) binary against a -march=native build: the same vit-ti
// training step timed in two child processes, one per .node file, alternating, so both see
// the same machine state.
//
//   node dist/bench/dispatch.js [--native FILE] [--portable FILE] [--isa avx2,sse2]
//                               [--reps N] [--batch N] [--threads N]
//
// Defaults: --native build/Release/grwarm_native.node (npm run build:native),
//           --portable prebuilds/<platform>-<arch>/grwarm-native.node (npm run prebuilds).
// --isa adds rows for the portable binary forced to other ISA variants (GRWARM_ISA).
// The step: the fused GR step (two forward/backward passes, perturb/restore, Adam), vit-ti,
// batch 64 (--batch), one untimed warm-up step per child.
// stdout: JSON lines — {"kind":"machine"}, one {"kind":"dispatch"} per binary (median / min /
// max ms per step, cpuShare.others), {"kind":"summary"} (portable ÷ native, target ≤ 1.05).
// stderr: commentary.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuShare, cpuSnapshot, emit, loadAverage, note, packageRoot, randomBatch, summary } from './util.js';

interface ChildReady {
  type: 'ready';
  simd: string;
  blas: string;
  addon: string;
  threads: number;
}
interface ChildDone {
  type: 'done';
  ms: number;
  /** CPU time of the child during the step (all threads), microseconds. */
  cpuUs: number;
  loss: number;
}
interface ChildFailed {
  type: 'error';
  message: string;
}
type ChildMessage = ChildReady | ChildDone | ChildFailed;

const TARGET = 1.05;

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function child(): Promise<void> {
  const batch = Number(process.env.GRWARM_BENCH_BATCH ?? '64');
  const threads = process.env.GRWARM_BENCH_THREADS;
  const { backendInfo, setThreads } = await import('../src/backend.js');
  const { createModel } = await import('../src/model/vit-model.js');
  if (threads !== undefined && threads !== '') setThreads(Number(threads));
  const model = createModel('vit-ti', { seed: 0 });
  model.configureOptimizer({ kind: 'adam', weightDecay: 0.3, clip: 2.0 });
  const { images, labels } = randomBatch(model.config, batch, 1);
  const opts = (seed: number) => ({ lr: 1e-4, lambda: 0.1, r: 0.1, seed });
  await model.step(images, labels, opts(0)); // warm-up: arena, pages, threads
  const info = backendInfo();
  const send = (m: ChildMessage) => process.send!(m);
  send({ type: 'ready', simd: info.simd, blas: info.blas, addon: info.addon ?? '', threads: info.threads });
  let seed = 1;
  process.on('message', (m: string) => {
    if (m === 'exit') process.exit(0);
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    model.step(images, labels, opts(seed++)).then(
      (r) => {
        const c = process.cpuUsage(c0);
        send({ type: 'done', ms: Number(process.hrtime.bigint() - t0) / 1e6, cpuUs: c.user + c.system, loss: r.first.loss });
      },
      (err: Error) => send({ type: 'error', message: err.message }),
    );
  });
}

interface Runner {
  label: string;
  file: string;
  isa?: string;
  proc: ChildProcess;
  ready: ChildReady;
  ms: number[];
}

function next(proc: ChildProcess): Promise<ChildMessage> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`child exited with ${code}`));
    proc.once('exit', onExit);
    proc.once('message', (m: ChildMessage) => {
      proc.off('exit', onExit);
      resolve(m);
    });
  });
}

async function start(label: string, file: string, isa: string | undefined, batch: number, threads?: string): Promise<Runner> {
  const script = fileURLToPath(import.meta.url);
  const env: NodeJS.ProcessEnv = { ...process.env, GRWARM_ADDON: file, GRWARM_BENCH_BATCH: String(batch) };
  if (isa) env.GRWARM_ISA = isa;
  else delete env.GRWARM_ISA;
  if (threads !== undefined) env.GRWARM_BENCH_THREADS = threads;
  const proc = fork(script, ['--child'], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const m = await next(proc);
  if (m.type !== 'ready') throw new Error(`${label}: ${m.type === 'error' ? m.message : 'unexpected message'}`);
  note(`${label}: ${file}${isa ? ` (GRWARM_ISA=${isa})` : ''}: simd ${m.simd}; ${m.blas}`);
  return { label, file, isa, proc, ready: m, ms: [] };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--child')) return child();
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stderr.write('options: --native FILE --portable FILE --isa avx2,sse2 --reps N --batch N --threads N\n');
    return;
  }
  const root = packageRoot();
  const nativeFile = option(argv, '--native') ?? join(root, 'build', 'Release', 'grwarm_native.node');
  const portableFile = option(argv, '--portable') ?? join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'grwarm-native.node');
  const reps = Number(option(argv, '--reps') ?? '9');
  const batch = Number(option(argv, '--batch') ?? '64');
  const threads = option(argv, '--threads');
  const extra = (option(argv, '--isa') ?? '').split(',').filter(Boolean);
  for (const f of [nativeFile, portableFile]) if (!existsSync(f)) throw new Error(`${f}: no such file (build it first)`);

  emit({ kind: 'machine', bench: 'dispatch', cpu: cpus()[0]?.model ?? 'unknown', logicalCpus: cpus().length, node: process.version, loadavg: loadAverage(), model: 'vit-ti', batch, reps, step: 'fused GR step (lambda 0.1, r 0.1, adam)' });
  const runners: Runner[] = [];
  try {
    runners.push(await start('native', nativeFile, undefined, batch, threads));
    runners.push(await start('portable', portableFile, undefined, batch, threads));
    for (const isa of extra) runners.push(await start(`portable-${isa}`, portableFile, isa, batch, threads));
    const c0 = cpuSnapshot();
    let childUs = 0; // the children's CPU time is ours too, not contention
    for (let rep = 0; rep < reps; rep++) {
      // Alternate the order every repetition, so neither binary always runs first.
      const order = rep % 2 === 0 ? runners : [...runners].reverse();
      for (const r of order) {
        r.proc.send('run');
        const m = await next(r.proc);
        if (m.type !== 'done') throw new Error(`${r.label}: ${m.type === 'error' ? m.message : 'unexpected message'}`);
        r.ms.push(m.ms);
        childUs += m.cpuUs;
      }
    }
    const c1 = cpuSnapshot();
    const cpu = cpuShare(c0, c1 && { ...c1, selfUs: c1.selfUs + childUs });
    for (const r of runners) {
      const s = summary(r.ms);
      emit({ kind: 'dispatch', label: r.label, addon: r.file, isa: r.isa ?? null, simd: r.ready.simd, blas: r.ready.blas, threads: r.ready.threads, msPerStep: s, imagesPerSec: (batch * 1000) / s.median });
      note(`${r.label.padEnd(16)} ${s.median.toFixed(1)} ms/step median (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)})  simd ${r.ready.simd}`);
    }
    const [nat, port] = runners;
    const ratio = summary(port!.ms).median / summary(nat!.ms).median;
    const ratioMin = summary(port!.ms).min / summary(nat!.ms).min;
    emit({ kind: 'summary', portableOverNative: ratio, portableOverNativeMin: ratioMin, target: TARGET, pass: ratio <= TARGET, cpuShare: cpu, loadavg: loadAverage() });
    note(`portable / native: ${ratio.toFixed(3)} (medians), ${ratioMin.toFixed(3)} (minima); target <= ${TARGET}; other processes used ${cpu ? (100 * cpu.others).toFixed(0) : '?'}% of the CPUs`);
  } finally {
    for (const r of runners) r.proc.send('exit');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`dispatch bench: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
