// Training-step throughput of the model families: swin-t at 32 px (the CIFAR variant: patch 2,
// window 4) and cait-xxs12 at 32 px (patch 4: 64 patch tokens) beside vit-ti, batch 128,
// float32 and bfloat16, with GFLOP/s; and, when python3
// with PyTorch and torchvision is installed, the same Swin architecture in torchvision timed in
// the same run (forward + backward + Adam step), reported as a ratio.
//
//   node dist/bench/families.js [--quick] [--reps N] [--threads N]
//
// stdout: JSON lines {"kind":"machine"}, {"kind":"family-step", model, precision, batch,
// msMedian, imagesPerSec, gflops}, {"kind":"torch-step", ...} or {"kind":"torch-skipped", why},
// {"kind":"ratio", ...}. stderr: commentary.
import { spawnSync } from 'node:child_process';
import { setThreads } from '../src/backend.js';
import { createModel } from '../src/model/vit-model.js';
import { runModelConfig, type VitConfig, type VitPreset } from '../src/model/presets.js';
import { cpuShare, cpuSnapshot, emit, emitMachine, machineInfo, backgroundBusy, note, parseArgs, randomBatch, summary, vitFlops } from './util.js';

/**
 * Forward FLOPs of one image through a Swin (Linear: 2·rows·in·out; window attention: QKᵀ and
 * P·V, 2·2·L·N·C per block for L tokens, windows of N tokens and C channels); a training step
 * is forward + 2 × forward for the backward (the patch embedding has no dX: counted as 2×).
 */
export function swinFlops(c: VitConfig): number {
  let side = c.imageSize / c.patchSize;
  let C = c.embedDim!;
  const K = c.channels * c.patchSize * c.patchSize;
  let f = 2 * side * side * K * C;
  c.depths!.forEach((depth, s) => {
    if (s > 0) {
      f += 2 * (side / 2) * (side / 2) * 4 * C * (2 * C); // patch merging reduction
      side /= 2;
      C *= 2;
    }
    const L = side * side, M = Math.round(C * c.mlpRatio), win = Math.min(c.window!, side), N = win * win;
    f += depth * (2 * L * (3 * C * C + C * C + 2 * C * M) + 4 * L * N * C);
  });
  return f + 2 * C * c.numClasses;
}

/**
 * Forward FLOPs of one image through a CaiT: P patch tokens, width D, MLP M, H heads. A
 * self-attention block: its Linear layers 2·P·(4D² + 2DM), QKᵀ and A·V 4·P²·D, the two head
 * mixings 4·H²·P²; a class-attention block: q 2D², k and v 4·(P+1)·D², the attention of one
 * query 4·(P+1)·D, proj and MLP 2D² + 4DM.
 */
export function caitFlops(c: VitConfig): number {
  const P = (c.imageSize / c.patchSize) ** 2, D = c.width, M = Math.round(D * c.mlpRatio), H = c.heads;
  const K = c.channels * c.patchSize * c.patchSize;
  const sa = 2 * P * (4 * D * D + 2 * D * M) + 4 * P * P * D + 4 * H * H * P * P;
  const ca = 2 * D * D + 4 * (P + 1) * D * D + 4 * (P + 1) * D + 2 * D * D + 4 * D * M;
  return 2 * P * K * D + c.depth * sa + (c.classDepth ?? 2) * ca + 2 * D * c.numClasses;
}

function config(model: VitPreset): VitConfig {
  return runModelConfig(model, { imageSize: 32, channels: 3, numClasses: 10 }, {
    patchSize: model.startsWith('swin') ? 2 : 4, dropout: 0, gelu: model.startsWith('vit') ? 'tanh' : 'erf',
  });
}

async function timeSteps(cfg: VitConfig, precision: 'float32' | 'bfloat16', batch: number, reps: number): Promise<number[]> {
  const model = createModel(cfg, { precision, seed: 1 });
  model.configureOptimizer({ kind: 'adam', weightDecay: 0.05, clip: 2 });
  const { images, labels } = randomBatch(cfg, batch, 3);
  const step = () => model.step(images, labels, { lr: 1e-3, lambda: 0, r: 0, seed: 7 });
  await step(); // warm-up: buffers and GEMM primitives
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await step();
    ms.push(performance.now() - t0);
  }
  return ms;
}

const TORCH_SCRIPT = `
import sys, time, torch
from torchvision.models.swin_transformer import SwinTransformer
torch.set_num_threads(int(sys.argv[1])); reps = int(sys.argv[2]); batch = int(sys.argv[3])
m = SwinTransformer(patch_size=[2, 2], embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=[4, 4], num_classes=10, stochastic_depth_prob=0.0)
opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.05)
x = torch.randn(batch, 3, 32, 32); y = torch.randint(0, 10, (batch,))
def step():
    opt.zero_grad(); loss = torch.nn.functional.cross_entropy(m(x), y); loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 2.0); opt.step()
step(); ts = []
for _ in range(reps):
    t0 = time.perf_counter(); step(); ts.append((time.perf_counter() - t0) * 1000)
print(",".join(str(t) for t in ts))
`;

async function main(): Promise<void> {
  const args = parseArgs();
  const threads = setThreads(args.threads ?? 0);
  const reps = args.reps ?? (args.quick ? 2 : 5);
  const batch = args.quick ? 16 : 128;
  emitMachine('families', args.quick, machineInfo(), await backgroundBusy());
  const results = new Map<string, number>();
  for (const model of ['vit-ti', 'swin-t', 'cait-xxs12'] as VitPreset[]) {
    const cfg = config(model);
    const flops = 3 * (model.startsWith('swin') ? swinFlops(cfg) : model.startsWith('cait') ? caitFlops(cfg) : vitFlops(cfg).forward);
    for (const precision of ['float32', 'bfloat16'] as const) {
      const c0 = cpuSnapshot();
      const ms = summary(await timeSteps(cfg, precision, batch, reps));
      results.set(`${model}/${precision}`, ms.median);
      emit({ kind: 'family-step', model, precision, batch, threads, msMedian: ms.median, msMin: ms.min,
        imagesPerSec: (1000 * batch) / ms.median, gflops: (flops * batch) / ms.median / 1e6,
        gflopPerImage: flops / 1e9, cpuShare: cpuShare(c0, cpuSnapshot()) });
      note(`${model} ${precision}: ${ms.median.toFixed(1)} ms/step at batch ${batch}`);
    }
  }
  const py = spawnSync('/usr/bin/python3', ['-c', TORCH_SCRIPT, String(threads), String(reps), String(batch)], { encoding: 'utf8', timeout: 600_000 });
  if (py.status !== 0) {
    emit({ kind: 'torch-skipped', why: (py.stderr || py.error?.message || 'python3 failed').trim().split('\n').pop() });
    return;
  }
  const torch = summary(py.stdout.trim().split(',').map(Number));
  emit({ kind: 'torch-step', model: 'torchvision SwinTransformer (swin-t shape, 32 px, patch 2, window 4)', batch, threads, msMedian: torch.median });
  emit({ kind: 'ratio', what: 'torchvision ms/step ÷ grwarm-native swin-t float32 ms/step (> 1: grwarm-native faster)',
    ratio: torch.median / results.get('swin-t/float32')! });
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
