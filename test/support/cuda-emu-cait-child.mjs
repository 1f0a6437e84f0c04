// Child process of test/cuda-emu-cait.test.ts: cait-micro (drop path on) on the CUDA plugin under
// emulation against the CPU backend, in float32, float64 and bf16: a forward/backward at a batch
// smaller than an earlier one (buffers planned for the larger), then one GR step with Adam.
// Prints one JSON object per precision: relative L2 distances of the gradients and parameters.
import { createModel, vitConfig } from '../../dist/src/index.js';

function lcg(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}
function rel(a, b) {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += a[i] ** 2;
  }
  return Math.sqrt(num / den);
}
const cfg = vitConfig('cait-micro', { dropPath: 0.3 });
const r = lcg(5);
const B = 6;
const images = Float32Array.from({ length: B * 3 * 32 * 32 }, () => 2 * r() - 1);
const labels = Int32Array.from({ length: B }, (_, i) => i % 10);
for (const precision of ['float32', 'float64', 'bfloat16']) {
  const got = {};
  for (const device of ['cpu', 'cuda']) {
    const m = createModel(cfg, { precision, seed: 3, device });
    const p = lcg(9);
    m.editParams((v) => { for (let i = 0; i < v.length; i++) v[i] += 0.2 * (p() - 0.5); });
    await m.forwardBackward(images.subarray(0, 3 * 3 * 32 * 32), labels.subarray(0, 3), { seed: 2, train: true });
    const fb = await m.forwardBackward(images, labels, { seed: 1, train: true });
    const grads = Float64Array.from(m.grads);
    m.configureOptimizer({ kind: 'adam', weightDecay: 0.05, clip: 1 });
    await m.step(images, labels, { lr: 1e-3, lambda: 0.1, r: 0.05, seed: 9 });
    got[device] = { loss: fb.loss, grads, stepGrads: Float64Array.from(m.grads), params: Float64Array.from(m.params) };
  }
  process.stdout.write(JSON.stringify({
    precision,
    loss: Math.abs(got.cpu.loss - got.cuda.loss) / Math.abs(got.cpu.loss),
    grads: rel(got.cpu.grads, got.cuda.grads),
    stepGrads: rel(got.cpu.stepGrads, got.cuda.stepGrads),
    params: rel(got.cpu.params, got.cuda.params),
  }) + '\n');
}
