// Cost of one training step: base optimizer step, fused native GR step, TypeScript unfused GR
// step, and the zero-warmup warmup step, measured in one run with the variants interleaved.
//
//   node dist/bench/gr-step.js [--quick] [--reps N] [--threads N]
//
// stdout: JSON lines —
//   {"kind":"machine", ...}
//   {"kind":"gr-step", model, batch, ...}   per configuration: medians, ratios, fused phases
//   {"kind":"summary", targets: [...]}      the four targets with measured values and pass/fail
// Each record carries cpuShare.others (CPU share other processes took during the measurement).
// stderr: commentary.
//
// Method. All four variants run on ONE model (same parameter/activation buffers, same Adam
// state), in round-robin order within each repetition, and the starting variant rotates from
// one repetition to the next — so machine noise (other processes, frequency changes) and any
// "what ran just before" cache effect fall on every variant alike. One untimed round first
// (arena planning, page faults, thread-pool start, the unfused step's scratch buffers).
// Every variant uses a fresh dropout seed each step; the parameters drift a little as the
// steps apply (lr 1e-4), which does not change the amount of work.
import { setThreads } from '../src/backend.js';
import { createModel, type StepResult, type VitModel } from '../src/model/vit-model.js';
import type { VitPreset } from '../src/model/presets.js';
import { Trainer } from '../src/train/trainer.js';
import { unfusedStep } from '../src/train/unfused-gr-step.js';
import {
  emitMachine,
  backgroundBusy,
  cpuShare,
  cpuSnapshot,
  emit,
  loadAverage,
  machineInfo,
  median,
  note,
  parseArgs,
  randomBatch,
  summary,
  timeAsync,
  warnIfContended,
} from './util.js';

const LR = 1e-4;
const LAMBDA = 0.1;
const R = 0.1;
const OPTIMIZER = { kind: 'adam', weightDecay: 0.05, clip: 2 } as const;

type Variant = 'base' | 'fused' | 'unfused' | 'warmupStep';
const VARIANTS: readonly Variant[] = ['base', 'fused', 'unfused', 'warmupStep'];
type Phase = keyof StepResult['timings'];
const PHASES: readonly Phase[] = ['firstPass', 'normPerturb', 'secondPass', 'combineRestore', 'optimizer'];

const TARGETS = { grOverBase: 2.0, warmupOverBase: 1.02, bookkeeping: 0.01 };

interface Config {
  preset: VitPreset;
  batch: number;
  reps: number;
}

interface Sample {
  ms: number;
  timings: StepResult['timings'];
}

/**
 * One step of `variant`. `seed` is fresh per call.
 *
 * - base:       model.step with λ = 0 (the optimizer step alone, no second pass).
 * - fused:      model.step with λ = r = 0.1 (one native call: both passes, bookkeeping, update).
 * - unfused:    unfusedStep — the same GR step written in TypeScript over separate native calls.
 * - warmupStep: what a zero-warmup run does for t ≤ Tw, through the trainer's own call path:
 *               Trainer.step → grAt(t, zero-warmup) gives λ_t = 0 → model.step with λ = r = 0.
 *               That is the SAME native path as `base`; timing it separately, interleaved with
 *               base, checks that the policy and trainer bookkeeping add no measurable overhead
 *               (ratio warmupStep/base ≈ 1).
 */
async function runVariant(
  variant: Variant,
  model: VitModel,
  trainer: Trainer,
  batch: { images: Float32Array; labels: Int32Array },
  seed: number,
): Promise<Sample> {
  const { images, labels } = batch;
  switch (variant) {
    case 'base': {
      const { ms, result } = await timeAsync(() => model.step(images, labels, { lr: LR, lambda: 0, r: 0, seed }));
      if (result.secondPass) throw new Error('base step ran a second pass');
      return { ms, timings: result.timings };
    }
    case 'fused': {
      const { ms, result } = await timeAsync(() => model.step(images, labels, { lr: LR, lambda: LAMBDA, r: R, seed }));
      if (!result.secondPass) throw new Error('fused GR step did not run its second pass');
      return { ms, timings: result.timings };
    }
    case 'unfused': {
      const { ms, result } = await timeAsync(() => unfusedStep(model, images, labels, { lr: LR, lambda: LAMBDA, r: R, seed }));
      if (!result.secondPass) throw new Error('unfused GR step did not run its second pass');
      return { ms, timings: result.timings };
    }
    case 'warmupStep': {
      const { ms, result } = await timeAsync(() => trainer.step(batch));
      if (result.secondPass || result.lambda !== 0) throw new Error(`zero-warmup step t=${result.t} was not a base step`);
      return { ms, timings: result.timings };
    }
  }
}

function phaseMedians(samples: readonly Sample[]): Record<Phase, number> {
  const out = {} as Record<Phase, number>;
  for (const p of PHASES) out[p] = median(samples.map((s) => s.timings[p]));
  return out;
}

interface ConfigResult {
  model: VitPreset;
  batch: number;
  grOverBase: number;
  fusedOverUnfused: number;
  warmupOverBase: number;
  bookkeepingShare: number;
}

async function benchConfig(cfg: Config): Promise<ConfigResult> {
  const model = createModel(cfg.preset, { seed: 0 });
  // The trainer configures the optimizer (Adam, wd 0.05, clip 2) on the shared model. Its GR
  // policy is zero-warmup with a warmup longer than this bench, so every trainer step is t ≤ Tw.
  const trainer = new Trainer(model, {
    optimizer: OPTIMIZER,
    schedule: { form: 'constant', lr0: LR, warmupSteps: 0, totalSteps: 1_000_000 },
    gr: { policy: 'zero-warmup', lambda0: LAMBDA, r0: R, warmupSteps: 1_000_000 },
    seed: 1,
  });
  const batch = randomBatch(model.config, cfg.batch, 7);
  const loadBefore = loadAverage();
  const t0 = performance.now();

  let seed = 1000;
  for (const v of VARIANTS) await runVariant(v, model, trainer, batch, seed++); // warm-up round

  const samples: Record<Variant, Sample[]> = { base: [], fused: [], unfused: [], warmupStep: [] };
  const cpu0 = cpuSnapshot();
  for (let rep = 0; rep < cfg.reps; rep++) {
    for (let k = 0; k < VARIANTS.length; k++) {
      const v = VARIANTS[(rep + k) % VARIANTS.length]; // rotate the starting variant
      samples[v].push(await runVariant(v, model, trainer, batch, seed++));
    }
  }

  const cpu = cpuShare(cpu0, cpuSnapshot());
  warnIfContended(`${cfg.preset} b${cfg.batch}`, cpu?.others);

  const ms = Object.fromEntries(VARIANTS.map((v) => [v, summary(samples[v].map((s) => s.ms))])) as Record<
    Variant,
    ReturnType<typeof summary>
  >;
  const med = (v: Variant): number => ms[v].median;
  // Bookkeeping share of each fused step: (norm + perturb) + (combine + restore) over that
  // step's wall-clock time as seen from JS (includes the N-API call); median over steps.
  const bookkeepingShare = median(
    samples.fused.map((s) => (s.timings.normPerturb + s.timings.combineRestore) / s.ms),
  );
  // Paired ratios: within one repetition the variants run back to back, so they share the
  // machine's state; the median over repetitions of the per-repetition ratio is less sensitive
  // to slow drifts in background load than the ratio of the medians. Ratios of the minima are
  // the least-disturbed estimate on a contended machine. The targets use the ratio of medians.
  const paired = (a: Variant, b: Variant): number => median(samples[a].map((s, i) => s.ms / samples[b][i].ms));
  const ofMin = (a: Variant, b: Variant): number => ms[a].min / ms[b].min;
  const r: ConfigResult = {
    model: cfg.preset,
    batch: cfg.batch,
    grOverBase: med('fused') / med('base'),
    fusedOverUnfused: med('fused') / med('unfused'),
    warmupOverBase: med('warmupStep') / med('base'),
    bookkeepingShare,
  };
  emit({
    kind: 'gr-step',
    model: cfg.preset,
    batch: cfg.batch,
    params: model.numParams,
    reps: cfg.reps,
    warmupRounds: 1,
    lambda: LAMBDA,
    r: R,
    msPerStep: ms,
    ratios: {
      fusedGrOverBase: r.grOverBase,
      unfusedGrOverBase: med('unfused') / med('base'),
      fusedOverUnfused: r.fusedOverUnfused,
      warmupStepOverBase: r.warmupOverBase,
    },
    pairedRatios: {
      fusedGrOverBase: paired('fused', 'base'),
      fusedOverUnfused: paired('fused', 'unfused'),
      warmupStepOverBase: paired('warmupStep', 'base'),
    },
    ratiosOfMin: {
      fusedGrOverBase: ofMin('fused', 'base'),
      fusedOverUnfused: ofMin('fused', 'unfused'),
      warmupStepOverBase: ofMin('warmupStep', 'base'),
    },
    fusedPhasesMs: phaseMedians(samples.fused),
    unfusedPhasesMs: phaseMedians(samples.unfused),
    basePhasesMs: phaseMedians(samples.base),
    bookkeepingMs: median(samples.fused.map((s) => s.timings.normPerturb + s.timings.combineRestore)),
    bookkeepingShare,
    wallSeconds: (performance.now() - t0) / 1000,
    cpuShare: cpu,
    loadavg: { before: loadBefore, after: loadAverage() },
  });
  note(
    `${cfg.preset} b${cfg.batch} (${cfg.reps} reps): base ${med('base').toFixed(1)} ms, fused ${med('fused').toFixed(1)}, ` +
      `unfused ${med('unfused').toFixed(1)}, warmup ${med('warmupStep').toFixed(1)} | GR/base ${r.grOverBase.toFixed(3)}, ` +
      `fused/unfused ${r.fusedOverUnfused.toFixed(3)}, warmup/base ${r.warmupOverBase.toFixed(3)}, ` +
      `bookkeeping ${(100 * bookkeepingShare).toFixed(2)}%`,
  );
  return r;
}

async function main(): Promise<void> {
  const args = parseArgs();
  if (args.threads !== undefined) setThreads(args.threads);
  const machine = machineInfo();
  const idleBusy = await backgroundBusy(1000); // share of the CPUs others use while we sleep
  emitMachine('gr-step', args.quick, machine, idleBusy);
  note(`threads ${machine.backend.threads}, ${machine.backend.blas}; load average ${machine.loadavg.join(' ')}`);

  // Repetitions: enough for a stable median, few enough that the full run stays under ~8 min
  // on 2 cores (vit-ti b128 is the expensive one: ~6 forward/backward passes per round).
  // --quick skips vit-ti b128 altogether (its targets then read null).
  const configs: Config[] = args.quick
    ? [
        { preset: 'vit-ti', batch: 32, reps: args.reps ?? 2 },
        { preset: 'vit-micro', batch: 8, reps: args.reps ?? 5 },
        { preset: 'vit-micro', batch: 128, reps: args.reps ?? 3 },
      ]
    : [
        { preset: 'vit-ti', batch: 32, reps: args.reps ?? 7 },
        { preset: 'vit-ti', batch: 128, reps: args.reps ?? 5 },
        { preset: 'vit-micro', batch: 8, reps: args.reps ?? 31 },
        { preset: 'vit-micro', batch: 128, reps: args.reps ?? 11 },
      ];
  if (args.quick) note('--quick: vit-ti b128 skipped, few repetitions (smoke run; numbers are indicative only)');

  const results: ConfigResult[] = [];
  for (const c of configs) results.push(await benchConfig(c));

  const fmt = (r: ConfigResult, value: number): { config: string; value: number } => ({
    config: `${r.model}/b${r.batch}`,
    value,
  });
  const tiB128 = results.find((r) => r.model === 'vit-ti' && r.batch === 128);
  const perConfig = (name: string, target: string, pick: (r: ConfigResult) => number, ok: (x: number) => boolean) => {
    const values = results.map((r) => ({ ...fmt(r, pick(r)), pass: ok(pick(r)) }));
    return { name, target, values, pass: values.every((v) => v.pass) };
  };
  emit({
    kind: 'summary',
    bench: 'gr-step',
    quick: args.quick,
    targets: [
      perConfig('fused GR step / base step', `<= ${TARGETS.grOverBase}`, (r) => r.grOverBase, (x) => x <= TARGETS.grOverBase),
      perConfig('fused / unfused GR step (fused never slower)', '<= 1', (r) => r.fusedOverUnfused, (x) => x <= 1),
      perConfig(
        'zero-warmup warmup step / base step',
        `<= ${TARGETS.warmupOverBase}`,
        (r) => r.warmupOverBase,
        (x) => x <= TARGETS.warmupOverBase,
      ),
      {
        name: 'bookkeeping (normPerturb + combineRestore) / fused step, vit-ti b128',
        target: `<= ${TARGETS.bookkeeping}`,
        values: tiB128 ? [fmt(tiB128, tiB128.bookkeepingShare)] : [],
        pass: tiB128 ? tiB128.bookkeepingShare <= TARGETS.bookkeeping : null,
      },
    ],
    loadavg: loadAverage(),
  });
}

main().catch((err: unknown) => {
  note(`gr-step bench failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
