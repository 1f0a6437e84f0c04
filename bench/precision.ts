// float32 against bfloat16 mixed precision, and the float32 GEMM libraries against each other:
// base and GR training steps of one model, measured side by side in one run.
//
//   node dist/bench/precision.js [--quick] [--reps N] [--threads N]
//
// stdout: JSON lines —
//   {"kind":"machine", ...}
//   {"kind":"precision", model, batch, variants: {...}}   per configuration: medians, phases,
//                                                          the GEMM library's share of each step
//   {"kind":"summary", targets: [...]}                     the targets, measured
// stderr: commentary.
//
// Variants: "float32/openblas" (the float32 step as it was before oneDNN), "float32/onednn"
// (the default when oneDNN loads), "bfloat16" (bf16 GEMM inputs through oneDNN, or the
// emulation without it). Each variant has its own model (same seed, same batch); within one
// repetition every variant runs a base step (λ = 0) and a GR step (λ = r = 0.1), the starting
// variant rotating between repetitions, after one untimed round. A variant's GEMM library is
// selected with setGemm() right before its steps (the float32 GEMM is a process-wide choice).
//
// The GEMM share of a step is the time inside GEMM library calls (gemmClockMs(): oneDNN,
// OpenBLAS or the built-in kernel, summed over the step's calls) over the step's wall time; the
// rest is our own kernels (attention, LayerNorm, GELU, dropout, rounding to bf16, the flat
// optimizer/GR passes) and the binding.
import { backendInfo, gemmClockMs, setGemm, setThreads } from '../src/backend.js';
import { createModel, type StepResult, type VitModel } from '../src/model/vit-model.js';
import type { VitPreset } from '../src/model/presets.js';
import {
  backgroundBusy,
  cpuShare,
  cpuSnapshot,
  emit,
  emitMachine,
  machineInfo,
  median,
  note,
  parseArgs,
  randomBatch,
  summary,
  warnIfContended,
} from './util.js';

const LR = 1e-4;
const GR = 0.1;
const OPTIMIZER = { kind: 'adam', weightDecay: 0.05, clip: 2 } as const;
const TARGETS = { bf16OverF32: 1 / 3, f32NoSlower: 1.0, gemmShareBf16: 0.5, grOverBase: 2.0 };

type Gemm = 'onednn' | 'openblas' | 'builtin';
interface Variant {
  name: string;
  precision: 'float32' | 'bfloat16';
  gemm: Gemm;
}
type Phase = keyof StepResult['timings'];
const PHASES: readonly Phase[] = ['firstPass', 'normPerturb', 'secondPass', 'combineRestore', 'optimizer'];

interface Sample {
  ms: number;
  gemmMs: number;
  timings: StepResult['timings'];
}

function variantsHere(): Variant[] {
  const info = backendInfo();
  const f32: Gemm = info.onednnAvailable ? 'onednn' : info.blasAvailable ? 'openblas' : 'builtin';
  const out: Variant[] = [];
  if (info.blasAvailable) out.push({ name: 'float32/openblas', precision: 'float32', gemm: 'openblas' });
  if (info.onednnAvailable) out.push({ name: 'float32/onednn', precision: 'float32', gemm: 'onednn' });
  if (out.length === 0) out.push({ name: 'float32/builtin', precision: 'float32', gemm: 'builtin' });
  out.push({ name: 'bfloat16', precision: 'bfloat16', gemm: f32 });
  return out;
}

async function step(model: VitModel, v: Variant, batch: { images: Float32Array; labels: Int32Array }, gr: boolean, seed: number): Promise<Sample> {
  setGemm(v.gemm);
  const g0 = gemmClockMs();
  const t0 = performance.now();
  const res = await model.step(batch.images, batch.labels, { lr: LR, lambda: gr ? GR : 0, r: gr ? GR : 0, seed });
  const ms = performance.now() - t0;
  if (res.secondPass !== gr) throw new Error(`${v.name}: expected secondPass=${gr}`);
  return { ms, gemmMs: gemmClockMs() - g0, timings: res.timings };
}

interface VariantResult {
  base: ReturnType<typeof summary>;
  gr: ReturnType<typeof summary>;
  gemmShareBase: number;
  gemmShareGr: number;
  grOverBase: number;
  basePhasesMs: Record<Phase, number>;
  grPhasesMs: Record<Phase, number>;
  baseGemmMs: number;
}

async function benchConfig(preset: VitPreset, batchSize: number, reps: number): Promise<Record<string, VariantResult>> {
  const variants = variantsHere();
  const models = variants.map((v) => {
    const m = createModel(preset, { seed: 0, precision: v.precision });
    m.configureOptimizer(OPTIMIZER);
    return m;
  });
  const batch = randomBatch(models[0].config, batchSize, 7);
  let seed = 100;
  for (let i = 0; i < variants.length; i++) {
    await step(models[i], variants[i], batch, false, seed++);
    await step(models[i], variants[i], batch, true, seed++);
  }
  const samples = variants.map(() => ({ base: [] as Sample[], gr: [] as Sample[] }));
  const cpu0 = cpuSnapshot();
  for (let rep = 0; rep < reps; rep++) {
    for (let k = 0; k < variants.length; k++) {
      const i = (rep + k) % variants.length;
      samples[i].base.push(await step(models[i], variants[i], batch, false, seed++));
      samples[i].gr.push(await step(models[i], variants[i], batch, true, seed++));
    }
  }
  const cpu = cpuShare(cpu0, cpuSnapshot());
  warnIfContended(`${preset} b${batchSize}`, cpu?.others);
  const phases = (xs: Sample[]) => Object.fromEntries(PHASES.map((p) => [p, median(xs.map((s) => s.timings[p]))])) as Record<Phase, number>;
  const out: Record<string, VariantResult> = {};
  variants.forEach((v, i) => {
    const { base, gr } = samples[i];
    out[v.name] = {
      base: summary(base.map((s) => s.ms)),
      gr: summary(gr.map((s) => s.ms)),
      gemmShareBase: median(base.map((s) => s.gemmMs / s.ms)),
      gemmShareGr: median(gr.map((s) => s.gemmMs / s.ms)),
      grOverBase: median(gr.map((s) => s.ms)) / median(base.map((s) => s.ms)),
      basePhasesMs: phases(base),
      grPhasesMs: phases(gr),
      baseGemmMs: median(base.map((s) => s.gemmMs)),
    };
  });
  emit({ kind: 'precision', model: preset, batch: batchSize, reps, variants: out, cpuShare: cpu });
  for (const [name, r] of Object.entries(out)) {
    note(
      `${preset} b${batchSize} ${name.padEnd(16)} base ${r.base.median.toFixed(0)} ms (GEMM ${(100 * r.gemmShareBase).toFixed(0)}%), ` +
        `GR ${r.gr.median.toFixed(0)} ms (GEMM ${(100 * r.gemmShareGr).toFixed(0)}%), GR/base ${r.grOverBase.toFixed(2)}`,
    );
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs();
  if (args.threads !== undefined) setThreads(args.threads);
  const machine = machineInfo();
  const idleBusy = await backgroundBusy(1000);
  emitMachine('precision', args.quick, machine, idleBusy);
  note(`float32 GEMM ${machine.backend.blas}; bf16 GEMM ${machine.backend.bf16Gemm}; threads ${machine.backend.threads}`);
  const configs: [VitPreset, number, number][] = args.quick
    ? [['vit-micro', 64, args.reps ?? 3]]
    : [['vit-ti', 128, args.reps ?? 5], ['vit-ti', 32, args.reps ?? 7]];
  const results: [string, Record<string, VariantResult>][] = [];
  for (const [preset, b, reps] of configs) results.push([`${preset}/b${b}`, await benchConfig(preset, b, reps)]);

  const main = results[0];
  const r = main[1];
  const f32Default = r['float32/onednn'] ?? r['float32/openblas'] ?? r['float32/builtin'];
  const f32Before = r['float32/openblas'] ?? f32Default;
  const bf16 = r.bfloat16;
  const ratio = bf16.base.median / f32Default.base.median;
  emit({
    kind: 'summary',
    bench: 'precision',
    quick: args.quick,
    config: main[0],
    targets: [
      { name: 'bf16 base step / float32 base step (AMX machines)', target: `<= ${TARGETS.bf16OverF32.toFixed(3)}`, value: ratio, pass: ratio <= TARGETS.bf16OverF32 },
      {
        name: 'float32 step (default GEMM) / float32 step with OpenBLAS (no slower than before)',
        target: `<= ${TARGETS.f32NoSlower}`,
        value: f32Default.base.median / f32Before.base.median,
        pass: f32Default.base.median <= f32Before.base.median * TARGETS.f32NoSlower,
      },
      { name: 'GEMM library share of the bf16 base step', target: `>= ${TARGETS.gemmShareBf16}`, value: bf16.gemmShareBase, pass: bf16.gemmShareBase >= TARGETS.gemmShareBf16 },
      ...Object.entries(r).map(([name, v]) => ({
        name: `GR step / base step, ${name}`,
        target: `<= ${TARGETS.grOverBase}`,
        value: v.grOverBase,
        pass: v.grOverBase <= TARGETS.grOverBase,
      })),
    ],
  });
}

main().catch((err: unknown) => {
  note(`precision bench failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
