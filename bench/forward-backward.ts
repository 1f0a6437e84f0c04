// Forward+backward throughput of the native ViT against the BLAS's own sgemm roofline.
//
//   node dist/bench/forward-backward.js [--quick] [--reps N] [--threads N]
//
// stdout: JSON lines —
//   {"kind":"machine", ...}        thread count, BLAS name, SIMD level, CPU, load average,
//                                  backgroundCpuBusy (share of the CPUs other processes use)
//   {"kind":"sgemm", ...}          1024³ sgemm GFLOP/s through the addon's BLAS (and how measured)
//   {"kind":"sgemm-crosscheck",...} the same through bench/sgemm.cpp, when a compiler is there
//   {"kind":"forward-backward",...} per (model, batch): median ms/step, GFLOP/s, ratio to sgemm
//   {"kind":"summary", ...}        target: fwd+bwd GFLOP/s ÷ sgemm GFLOP/s ≥ 0.70 at batch 128
// Every timed record carries cpuShare.others: the share of the machine's CPU time that other
// processes took while it was measured (≈0 on a quiet machine; the load average also counts
// this process and lags, so it is kept only for reference).
// stderr: commentary.
import { setThreads } from '../src/backend.js';
import { createModel } from '../src/model/vit-model.js';
import type { VitPreset } from '../src/model/presets.js';
import {
  emitMachine,
  backgroundBusy,
  cpuShare,
  cpuSnapshot,
  emit,
  loadAverage,
  machineInfo,
  measureSgemm,
  note,
  parseArgs,
  randomBatch,
  summary,
  timeAsync,
  vitFlops,
  warnIfContended,
  type SgemmMethod,
  type SgemmResult,
} from './util.js';

/**
 * Where the sgemm reference comes from. 'auto' uses the addon's `sgemmBench(n, iters)` when the
 * loaded addon exports it and otherwise compiles and runs bench/sgemm.cpp; pin it with 'cpp'
 * or 'addon' here (the one line to change).
 */
const SGEMM_METHOD: SgemmMethod = 'auto';

const SGEMM_N = 1024;
const TARGET_RATIO = 0.7;

async function main(): Promise<void> {
  const args = parseArgs();
  if (args.threads !== undefined) setThreads(args.threads);
  const machine = machineInfo();
  const idleBusy = await backgroundBusy(1000); // share of the CPUs others use while we sleep
  emitMachine('forward-backward', args.quick, machine, idleBusy);
  note(
    `threads ${machine.backend.threads}, ${machine.backend.blas}, simd ${machine.backend.simd}; ` +
      `load average ${machine.loadavg.join(' ')} on ${machine.logicalCpus} CPUs`,
  );

  // (a) the roofline: a plain n×n×n sgemm through the same OpenBLAS.
  let sgemm: SgemmResult | undefined;
  try {
    const c0 = cpuSnapshot();
    sgemm = measureSgemm(SGEMM_N, args.quick ? 5 : 20, SGEMM_METHOD);
    const cpu = cpuShare(c0, cpuSnapshot());
    warnIfContended('sgemm', cpu?.others);
    emit({ kind: 'sgemm', ...sgemm, cpuShare: cpu, loadavg: loadAverage() });
    note(
      `sgemm ${SGEMM_N}³ via ${sgemm.method === 'cpp' ? 'bench/sgemm.cpp (compiled now)' : 'addon sgemmBench'}: ` +
        `${sgemm.msMedian.toFixed(2)} ms, ${sgemm.gflops.toFixed(1)} GFLOP/s`,
    );
  } catch (err) {
    emit({ kind: 'sgemm', skipped: true, reason: (err as Error).message });
    note(`sgemm reference skipped: ${(err as Error).message}`);
  }
  // Cross-check with the other source when the addon's helper was used: the standalone
  // program links the system libopenblas directly (and says whether it is the addon's library).
  if (sgemm?.method === 'addon') {
    try {
      const cross = measureSgemm(SGEMM_N, args.quick ? 5 : 20, 'cpp');
      emit({ kind: 'sgemm-crosscheck', ...cross, loadavg: loadAverage() });
      note(`  cross-check via bench/sgemm.cpp: ${cross.gflops.toFixed(1)} GFLOP/s`);
    } catch (err) {
      note(`  (no cross-check: ${(err as Error).message})`);
    }
  }

  // (b) forward+backward, train mode (preset dropout 0.1), vit-ti at batch 32 and 128.
  const runs: { preset: VitPreset; batch: number; reps: number }[] = [
    { preset: 'vit-ti', batch: 32, reps: args.reps ?? (args.quick ? 3 : 9) },
    { preset: 'vit-ti', batch: 128, reps: args.reps ?? (args.quick ? 2 : 7) },
  ];
  const ratios: Record<string, number> = {};
  const bestRatios: Record<string, number> = {};
  for (const { preset, batch, reps } of runs) {
    const model = createModel(preset, { seed: 0 });
    const { images, labels } = randomBatch(model.config, batch, 1);
    const flops = vitFlops(model.config);
    const stepFlops = flops.total * batch;
    const loadBefore = loadAverage();
    await model.forwardBackward(images, labels, { seed: 0, train: true }); // warm-up (arena, pages, threads)
    const ms: number[] = [];
    const cpu0 = cpuSnapshot();
    for (let i = 0; i < reps; i++) {
      const { ms: t } = await timeAsync(() => model.forwardBackward(images, labels, { seed: i + 1, train: true }));
      ms.push(t);
    }
    const cpu = cpuShare(cpu0, cpuSnapshot());
    warnIfContended(`${preset} b${batch}`, cpu?.others);
    const s = summary(ms);
    const gflops = stepFlops / (s.median * 1e6);
    const ratio = sgemm ? gflops / sgemm.gflops : null;
    if (ratio !== null) ratios[`${preset}/b${batch}`] = ratio;
    // Best-sample rates: on a contended machine the fastest step and the fastest sgemm are the
    // least-disturbed measurements, so their ratio is the better estimate of the kernel quality.
    const gflopsBest = stepFlops / (s.min * 1e6);
    const ratioBest = sgemm ? gflopsBest / sgemm.gflopsBest : null;
    if (ratioBest !== null) bestRatios[`${preset}/b${batch}`] = ratioBest;
    emit({
      kind: 'forward-backward',
      model: preset,
      batch,
      train: true,
      dropout: model.config.dropout,
      params: model.numParams,
      warmup: 1,
      reps,
      msPerStep: s,
      gflopPerImage: flops.total / 1e9,
      gflopPerStep: stepFlops / 1e9,
      attentionFlopShare: flops.attentionShare,
      gflops,
      imagesPerSec: (batch * 1000) / s.median,
      ratioToSgemm: ratio,
      gflopsBest,
      ratioToSgemmBest: ratioBest,
      cpuShare: cpu,
      loadavg: { before: loadBefore, after: loadAverage() },
    });
    note(
      `${preset} b${batch}: ${s.median.toFixed(1)} ms/step (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)}, n=${s.n}), ` +
        `${gflops.toFixed(1)} GFLOP/s${ratio !== null ? `, ${(100 * ratio).toFixed(0)}% of sgemm` : ''}`,
    );
  }

  const at128 = ratios['vit-ti/b128'];
  emit({
    kind: 'summary',
    bench: 'forward-backward',
    sgemmMethod: sgemm?.method ?? null,
    sgemmGflops: sgemm?.gflops ?? null,
    targets: [
      {
        name: 'fwd+bwd GFLOP/s ÷ sgemm GFLOP/s at vit-ti batch 128',
        target: `>= ${TARGET_RATIO}`,
        value: at128 ?? null,
        pass: at128 === undefined ? null : at128 >= TARGET_RATIO,
        valueBestSamples: bestRatios['vit-ti/b128'] ?? null,
      },
    ],
    loadavg: loadAverage(),
  });
}

main().catch((err: unknown) => {
  note(`forward-backward bench failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
