// Our CPU training step against PyTorch's on the same machine, in one run (issue 20's targets).
//
//   node dist/bench/vs-torch.js [--quick] [--reps N] [--threads N] [--only SUBSTRING]
//
// --only keeps the configurations whose "model/precision/bBATCH" contains SUBSTRING (e.g.
// "vit-ti/float32"): PyTorch's bf16 autocast is very slow on CPUs without AVX512-BF16.
//
// Configurations (fwd + bwd + clip + AdamW, dropout 0, 32 px, 10 classes): vit-ti float32 at
// batch 32 and 128, vit-ti bfloat16 at batch 128 (ours: --precision bf16; PyTorch: CPU autocast
// bf16), swin-t-cifar float32 and bfloat16 at batch 128 (PyTorch: torchvision's Swin of the same
// shape). PyTorch runs in a child process (/usr/bin/python3 scripts/torch_cpu_step.py, one step
// per request) with torch.set_num_threads = our thread count, so the two are interleaved step
// by step: every repetition runs our base step, PyTorch's step and our GR step (λ = r = 0.1),
// the order of ours and PyTorch's alternating. The machine may be shared, so medians.
//
// stdout: JSON lines {"kind":"machine"}, {"kind":"vs-torch", model, precision, batch, ours,
// torch, ratio, grOverBase, gemmShare, ...} per configuration, {"kind":"torch-skipped", why}
// when PyTorch is absent, and {"kind":"summary", targets}. stderr: commentary.
//
// ratio = PyTorch's median step / ours (> 1: we are faster); ratioOfMins the same for the
// fastest steps. cpuShare.others includes the PyTorch child process. gemmShare: the time inside GEMM
// library calls (gemmClockMs) over our base step's wall time.
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { gemmClockMs, setThreads } from '../src/backend.js';
import { createModel } from '../src/model/vit-model.js';
import { runModelConfig, type VitPreset } from '../src/model/presets.js';
import { backgroundBusy, cpuShare, cpuSnapshot, emit, emitMachine, machineInfo, median, note, packageRoot, parseArgs, randomBatch, summary } from './util.js';

const PYTHON = '/usr/bin/python3';
const TARGETS = { vsTorch: 1.3, gemmShareBf16: 0.6, grOverBase: 2.0 };

type Precision = 'float32' | 'bfloat16';
interface Config {
  model: VitPreset;
  precision: Precision;
  batch: number;
}

/** The CPU as lscpu names it, with the instruction sets that decide the bf16 GEMM path. */
function cpuName(): { model: string; cores: number; isa: string[] } {
  try {
    const out = execFileSync('lscpu', { encoding: 'utf8' });
    const field = (k: string) => out.match(new RegExp(`^${k}:\\s*(.*)$`, 'm'))?.[1].trim() ?? '';
    const flags = field('Flags').split(/\s+/);
    const isa = ['avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile'].filter((f) => flags.includes(f));
    return { model: field('Model name'), cores: Number(field('CPU\\(s\\)')) || 0, isa };
  } catch {
    return { model: machineInfo().cpu, cores: machineInfo().logicalCpus, isa: [] };
  }
}

/** The PyTorch side: one long-lived python process, one JSON request and reply per line. */
class Torch {
  private replies: { res: (line: string) => void; rej: (e: Error) => void }[] = [];
  private constructor(private proc: ChildProcessWithoutNullStreams) {
    createInterface({ input: proc.stdout }).on('line', (line) => this.replies.shift()?.res(line));
    proc.on('exit', (code) => {
      for (const r of this.replies.splice(0)) r.rej(new Error(`torch process exited (${code})`));
    });
  }

  static async start(threads: number): Promise<Torch | string> {
    if (!existsSync(PYTHON)) return `${PYTHON} not found`;
    const probe = spawn(PYTHON, ['-c', 'import torch, torchvision'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    probe.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((res) => probe.on('close', res));
    if (code !== 0) return `PyTorch/torchvision not importable by ${PYTHON}: ${err.trim().split('\n').pop()}`;
    const proc = spawn(PYTHON, [join(packageRoot(), 'scripts', 'torch_cpu_step.py'), String(threads)], { stdio: ['pipe', 'pipe', 'pipe'] });
    proc.stderr.on('data', (d: Buffer) => process.stderr.write(`[torch] ${d.toString()}`));
    return new Torch(proc);
  }

  async request(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    const reply = new Promise<string>((res, rej) => this.replies.push({ res, rej }));
    this.proc.stdin.write(`${JSON.stringify(req)}\n`);
    const out = JSON.parse(await reply) as Record<string, unknown>;
    if (out.error) throw new Error(`torch: ${String(out.error)}`);
    return out;
  }

  stop(): void {
    this.proc.stdin.end(`${JSON.stringify({ cmd: 'quit' })}\n`);
  }
}

function modelConfig(model: VitPreset) {
  const swin = model.startsWith('swin');
  return runModelConfig(model, { imageSize: 32, channels: 3, numClasses: 10 }, { patchSize: swin ? 2 : 4, dropout: 0, gelu: swin ? 'erf' : 'tanh' });
}

async function benchConfig(c: Config, reps: number, torch: Torch | null): Promise<Record<string, unknown>> {
  const cfg = modelConfig(c.model);
  const model = createModel(cfg, { seed: 0, precision: c.precision });
  model.configureOptimizer({ kind: 'adam', weightDecay: 0.05, clip: 2 });
  const batch = randomBatch(cfg, c.batch, 7);
  let seed = 100;
  const ours = async (gr: boolean) => {
    const g0 = gemmClockMs();
    const t0 = performance.now();
    const res = await model.step(batch.images, batch.labels, { lr: 1e-4, lambda: gr ? 0.1 : 0, r: gr ? 0.1 : 0, seed: seed++ });
    const ms = performance.now() - t0;
    return { ms, gemmMs: gemmClockMs() - g0, timings: res.timings };
  };
  let torchInfo: Record<string, unknown> | null = null;
  let torchError: string | null = null;
  if (torch) {
    try {
      torchInfo = await torch.request({ cmd: 'setup', model: c.model, batch: c.batch, precision: c.precision });
    } catch (e) {
      torchError = (e as Error).message; // e.g. torch 1.13's CPU autocast on torchvision's Swin
      note(`${c.model} ${c.precision}: PyTorch failed (${torchError}); ours only`);
    }
  }
  await ours(false); // untimed: buffers and GEMM primitives
  await ours(true);
  const base: Awaited<ReturnType<typeof ours>>[] = [];
  const gr: number[] = [];
  const pt: number[] = [];
  const c0 = cpuSnapshot();
  for (let rep = 0; rep < reps; rep++) {
    const torchStep = async () => {
      if (torch && torchInfo) pt.push(Number((await torch.request({ cmd: 'step' })).ms));
    };
    if (rep % 2 === 1) await torchStep();
    base.push(await ours(false));
    if (rep % 2 === 0) await torchStep();
    gr.push((await ours(true)).ms);
  }
  const baseMs = summary(base.map((s) => s.ms));
  const grMs = summary(gr);
  const phases = Object.fromEntries(Object.keys(base[0].timings).map((k) => [k, median(base.map((s) => s.timings[k as keyof typeof s.timings]))]));
  const torchMs = pt.length ? summary(pt) : null;
  const rec = {
    kind: 'vs-torch',
    model: c.model,
    precision: c.precision,
    batch: c.batch,
    reps,
    ours: baseMs,
    oursGr: grMs,
    grOverBase: grMs.median / baseMs.median,
    gemmShare: median(base.map((s) => s.gemmMs / s.ms)),
    basePhasesMs: phases,
    torch: torchMs,
    torchInfo,
    torchError,
    ratio: torchMs ? torchMs.median / baseMs.median : null,
    // the fastest step of each: less sensitive to other processes' load bursts on a shared machine
    ratioOfMins: torchMs ? torchMs.min / baseMs.min : null,
    cpuShare: cpuShare(c0, cpuSnapshot()),
  };
  emit(rec);
  note(
    `${c.model} ${c.precision} b${c.batch}: ours ${baseMs.median.toFixed(0)} ms (GEMM ${(100 * rec.gemmShare).toFixed(0)}%, GR/base ${rec.grOverBase.toFixed(2)})` +
      (torchMs ? `, PyTorch ${torchMs.median.toFixed(0)} ms, ratio ${rec.ratio!.toFixed(2)}x (of the fastest steps ${rec.ratioOfMins!.toFixed(2)}x)` : ', PyTorch skipped'),
  );
  return rec;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const at = argv.indexOf('--only');
  const only = at >= 0 ? argv.splice(at, 2)[1] ?? '' : '';
  const args = parseArgs(argv);
  const threads = setThreads(args.threads ?? 0);
  const reps = args.reps ?? (args.quick ? 2 : 5);
  const cpu = cpuName();
  emitMachine('vs-torch', args.quick, machineInfo(), await backgroundBusy());
  emit({ kind: 'cpu', lscpu: cpu.model, cpus: cpu.cores, isa: cpu.isa, threads });
  note(`CPU: ${cpu.model} (${cpu.cores} CPUs, ${cpu.isa.join(' ') || 'no AVX2'}), ${threads} threads`);
  const started = await Torch.start(threads);
  const torch = typeof started === 'string' ? null : started;
  if (typeof started === 'string') {
    emit({ kind: 'torch-skipped', why: started });
    note(`PyTorch comparison skipped: ${started}`);
  }
  const configs: Config[] = args.quick
    ? [{ model: 'vit-micro', precision: 'float32', batch: 16 }, { model: 'vit-micro', precision: 'bfloat16', batch: 16 }]
    : [
        { model: 'vit-ti', precision: 'float32', batch: 32 },
        { model: 'vit-ti', precision: 'float32', batch: 128 },
        { model: 'vit-ti', precision: 'bfloat16', batch: 128 },
        { model: 'swin-t-cifar', precision: 'float32', batch: 128 },
        { model: 'swin-t-cifar', precision: 'bfloat16', batch: 128 },
      ];
  const results: Record<string, unknown>[] = [];
  try {
    for (const c of configs.filter((x) => `${x.model}/${x.precision}/b${x.batch}`.includes(only))) results.push(await benchConfig(c, reps, c.model === 'vit-micro' ? null : torch));
  } finally {
    torch?.stop();
  }
  const find = (m: string, p: Precision, b: number) => results.find((r) => r.model === m && r.precision === p && r.batch === b);
  const targets: Record<string, unknown>[] = [];
  const vsTorch = (name: string, r: Record<string, unknown> | undefined) => {
    if (r?.ratio != null) targets.push({ name, target: `>= ${TARGETS.vsTorch}`, value: r.ratio, pass: (r.ratio as number) >= TARGETS.vsTorch });
  };
  vsTorch('vit-ti bf16 b128: PyTorch autocast step / ours', find('vit-ti', 'bfloat16', 128));
  vsTorch('vit-ti float32 b32: PyTorch step / ours', find('vit-ti', 'float32', 32));
  vsTorch('vit-ti float32 b128: PyTorch step / ours', find('vit-ti', 'float32', 128));
  vsTorch('swin-t-cifar float32 b128: torchvision step / ours', find('swin-t-cifar', 'float32', 128));
  vsTorch('swin-t-cifar bf16 b128: torchvision autocast step / ours', find('swin-t-cifar', 'bfloat16', 128));
  const bf = find('vit-ti', 'bfloat16', 128);
  if (bf) targets.push({ name: 'GEMM library share of the vit-ti bf16 b128 step', target: `>= ${TARGETS.gemmShareBf16}`, value: bf.gemmShare, pass: (bf.gemmShare as number) >= TARGETS.gemmShareBf16 });
  for (const r of results.filter((x) => x.model !== 'swin-t-cifar')) {
    targets.push({ name: `GR step / base step, ${r.model} ${r.precision} b${r.batch}`, target: `<= ${TARGETS.grOverBase}`, value: r.grOverBase, pass: (r.grOverBase as number) <= TARGETS.grOverBase });
  }
  emit({ kind: 'summary', bench: 'vs-torch', quick: args.quick, cpu: cpu.model, threads, targets });
}

main().catch((err: unknown) => {
  note(`vs-torch bench failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
