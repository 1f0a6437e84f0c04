// Child process of test/cuda-emu.test.ts: runs the library (dist/) on the CUDA plugin under
// emulation, which the parent selects with GRWARM_CUDA_PLUGIN and GRWARM_CUBLAS. In a child so
// that the emulator's process-wide state (sticky device errors, GRWARM_EMU_* settings) stays
// out of the test runner. Prints one JSON object per line.
//   node cuda-emu-child.mjs policies   one step of every GR policy, CUDA against CPU, float32 and bf16
//   node cuda-emu-child.mjs plumbing <precision>   ViT-B/16, 224 px, batch 256: one GR step and an
//                                      evaluation (one precision per process: models are not freed)
//   node cuda-emu-child.mjs oom        a batch that does not fit fails before the step, model intact
//   node cuda-emu-child.mjs fault      a device fault during a step: an exception, sticky
//   node cuda-emu-child.mjs info       what backendInfo() says about CUDA
import { backendInfo, createModel, grAt } from '../../dist/src/index.js';

const mode = process.argv[2];
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

function lcg(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}
function batch(cfg, n, seed) {
  const r = lcg(seed);
  const images = new Float32Array(n * cfg.channels * cfg.imageSize * cfg.imageSize);
  for (let i = 0; i < images.length; i++) images[i] = 2 * r() - 1;
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = Math.floor(r() * cfg.numClasses);
  return { images, labels };
}
function randomize(model, seed, scale) {
  const r = lcg(seed);
  model.editParams((p) => {
    for (let i = 0; i < p.length; i++) p[i] = scale * (2 * r() - 1);
  });
}
/** Relative L2 distance of b from a. */
function rel(a, b) {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += a[i] ** 2;
  }
  return Math.sqrt(num / (den || 1));
}

const SMALL = { imageSize: 16, channels: 3, patchSize: 4, numClasses: 5, width: 32, depth: 2, heads: 4, mlpRatio: 2, dropout: 0.1, gelu: 'tanh' };

if (mode === 'policies') {
  const { images, labels } = batch(SMALL, 12, 6);
  for (const precision of ['float32', 'bf16']) {
    for (const policy of ['none', 'gr', 'sam', 'r-warmup', 'lambda-warmup', 'zero-warmup']) {
      const gr = grAt(6, { policy, lambda0: policy === 'sam' ? 0.05 : 0.1, r0: 0.05, warmupSteps: 10 });
      const opts = { lr: 1e-2, lambda: gr.lambda, r: gr.r, seed: 11 };
      const models = ['cpu', 'cuda'].map((device) => createModel(SMALL, { seed: 3, precision, device }));
      randomize(models[0], 21, 0.2);
      models[1].setParams(models[0].params);
      const before = Float32Array.from(models[0].params);
      const res = [];
      for (const m of models) {
        m.configureOptimizer({ kind: 'sgd', momentum: 0.9, weightDecay: 0.05, clip: 2 });
        res.push(await m.step(images, labels, opts));
      }
      const upd = models.map((m) => m.params.map((v, i) => v - before[i]));
      out({
        precision,
        policy,
        device: models[1].device?.name,
        secondPass: [res[0].secondPass, res[1].secondPass],
        loss: rel([res[0].first.loss], [res[1].first.loss]),
        g1: rel([res[0].g1Norm], [res[1].g1Norm]),
        grads: rel(models[0].grads, models[1].grads),
        update: rel(upd[0], upd[1]),
      });
    }
  }
} else if (mode === 'plumbing') {
  // ViT-B/16 at 224 px: only the first and last block of each launch run (GRWARM_EMU_EDGE_BLOCKS)
  // and cuBLAS checks its arguments without computing (GRWARM_EMU_BLAS=check): the numbers are
  // meaningless, the launch shapes, index widths and operand bounds are what is checked.
  const VITB16 = { imageSize: 224, channels: 3, patchSize: 16, numClasses: 1000, width: 768, depth: 12, heads: 12, mlpRatio: 4, dropout: 0.1, gelu: 'tanh' };
  const B = 256;
  const { images, labels } = batch(VITB16, B, 5);
  {
    const precision = process.argv[3] ?? 'float32';
    const m = createModel(VITB16, { seed: 1, precision, device: 'cuda' });
    m.configureOptimizer({ kind: 'adam', clip: 2 });
    const t0 = Date.now();
    await m.step(images, labels, { lr: 1e-3, lambda: 0.1, r: 0.1, seed: 1 });
    await m.evaluate(images, labels);
    out({ precision, ok: true, ms: Date.now() - t0 });
  }
} else if (mode === 'oom') {
  // GRWARM_EMU_DEVICE_MEMORY makes the emulated device small: batch 8 fits, batch 4096 does not.
  const m = createModel(SMALL, { seed: 3, precision: 'float32', device: 'cuda' });
  m.configureOptimizer({ kind: 'sgd' });
  const small = batch(SMALL, 8, 1);
  const big = batch(SMALL, 4096, 2);
  const before = Float32Array.from(m.params);
  let error = '';
  try {
    await m.step(big.images, big.labels, { lr: 0.1, lambda: 0, r: 0, seed: 1 });
  } catch (e) {
    error = String(e.message ?? e);
  }
  const intact = m.params.every((v, i) => Object.is(v, before[i]));
  const after = await m.step(small.images, small.labels, { lr: 0.1, lambda: 0, r: 0, seed: 1 });
  out({ error, intact, smallStepLoss: after.first.loss });
} else if (mode === 'fault') {
  // GRWARM_EMU_FAULT_LAUNCH makes one kernel launch of the step fault: the error must reach
  // JavaScript as an exception, later calls must fail too (sticky), and the process lives on.
  const m = createModel(SMALL, { seed: 3, precision: 'float32', device: 'cuda' });
  m.configureOptimizer({ kind: 'sgd' });
  const { images, labels } = batch(SMALL, 4, 1);
  const errors = [];
  for (let i = 0; i < 2; i++) {
    try {
      await m.step(images, labels, { lr: 0.1, lambda: 0, r: 0, seed: 1 });
      errors.push('');
    } catch (e) {
      errors.push(String(e.message ?? e));
    }
  }
  out({ errors });
} else if (mode === 'info') {
  const cuda = backendInfo().backends.find((b) => b.name === 'cuda');
  out({ available: cuda?.available ?? false, reason: cuda?.reason ?? '', detail: cuda?.detail ?? '' });
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
