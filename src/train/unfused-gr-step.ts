// The GR step as a user of a plain autograd library would write it: separate native
// forward/backward calls, and the norm, perturbation, combination and restore done in
// TypeScript over host copies of the flat buffers (read back, changed, written again). It is the baseline of bench/gr-step and the
// reference the fused native step is tested against (they agree to the bit: same formulas,
// evaluated in double and rounded once, see native/include/grwarm/optim.h).
import type { FloatArray, StepOptions, StepResult, VitModel } from '../model/vit-model.js';
import { sumSquares } from './sum-squares.js';

/** Scratch buffers reused across steps of one model (no per-step allocation). */
const scratch = new WeakMap<VitModel, { g1: FloatArray; saved: FloatArray; work: FloatArray }>();

function buffers(model: VitModel): { g1: FloatArray; saved: FloatArray; work: FloatArray } {
  let b = scratch.get(model);
  if (!b) {
    const Ctor = model.precision === 'float64' ? Float64Array : Float32Array;
    b = { g1: new Ctor(model.numParams), saved: new Ctor(model.numParams), work: new Ctor(model.numParams) };
    scratch.set(model, b);
  }
  return b;
}

export async function unfusedStep(
  model: VitModel,
  images: Float32Array,
  labels: Int32Array,
  opts: StepOptions,
): Promise<StepResult> {
  const pass = { seed: opts.seed, train: opts.train ?? true, labelSmoothing: opts.labelSmoothing ?? 0 };
  const secondPass = opts.lambda > 0 && opts.r > 0;
  let t = performance.now();
  const timings = { firstPass: 0, normPerturb: 0, secondPass: 0, combineRestore: 0, optimizer: 0 };
  const first = await model.forwardBackward(images, labels, pass);
  timings.firstPass = performance.now() - t;
  if (!secondPass) {
    t = performance.now();
    const upd = await model.applyOptimizer(opts.lr);
    timings.optimizer = performance.now() - t;
    return { first, second: null, secondPass, g1Norm: upd.gradNorm, ...upd, timings };
  }
  const { g1, saved, work } = buffers(model);
  const n = model.numParams;

  t = performance.now();
  g1.set(model.grads);
  const g1Norm = Math.sqrt(sumSquares(g1));
  const scale = opts.r / (g1Norm + 1e-12);
  saved.set(model.params);
  for (let i = 0; i < n; i++) work[i] = saved[i] + scale * g1[i]; // rounds like T(double)
  model.setParams(work);
  timings.normPerturb = performance.now() - t;

  t = performance.now();
  const second = await model.forwardBackward(images, labels, pass); // same seed: same masks
  timings.secondPass = performance.now() - t;

  t = performance.now();
  const alpha = opts.lambda / opts.r;
  const c1 = 1 - alpha;
  const g2 = model.grads;
  for (let i = 0; i < n; i++) work[i] = c1 * g1[i] + alpha * g2[i];
  model.setGrads(work);
  model.setParams(saved); // restore by copy, never by subtraction
  timings.combineRestore = performance.now() - t;

  t = performance.now();
  const upd = await model.applyOptimizer(opts.lr);
  timings.optimizer = performance.now() - t;
  return { first, second, secondPass, g1Norm, ...upd, timings };
}
