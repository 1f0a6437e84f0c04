// Performance kernels against their unfused twins. The GEMM epilogue: a linear layer whose
// output only joins the residual stream (ViT's attention projection and second MLP layer, no
// dropout) adds the residual inside oneDNN's matmul (a binary post-op) instead of writing the
// branch and adding it in its own pass. setGemmEpilogues(false) runs the unfused ops.
//
// Tolerances. Both forms compute x_res + (Σ_k x·w + b) in float32 in the same order of the
// two adds; they may differ only in the GEMM's summation order (oneDNN may pick another
// kernel or blocking for a primitive with a post-op). Reordering a float32 sum of K terms
// changes it by at most ~K·u·Σ|terms| (u = 2^-24 ≈ 6e-8); with K ≤ 64 here that is ≤ 4e-6
// of the term magnitudes, in the worst case, per GEMM. Through the two blocks' forward and
// backward (~10 GEMMs deep) relative errors of ~1e-6 are expected; we allow 1e-4 relative L2
// per tensor (the cancellation in small gradient tensors amplifies relative error).
// bf16: the float32 sums differ as above, and an element sitting within that distance of a
// bf16 rounding boundary rounds the other way in the next GEMM's input (a jump of 2^-8
// relative on one element, probability ~1e-6/2^-8 ≈ 3e-4 per element); a few such flips move
// a tensor's relative L2 by ≲ 2^-8·√(flips/size) ≈ 1e-3: we allow 2e-3.
import { afterEach, describe, expect, it } from 'vitest';
import { backendInfo, gemmEpilogueCalls, setGemmEpilogues } from '../src/backend.js';
import { createModel, type VitModel } from '../src/index.js';
import { randomBatch, randomizeParams, TINY } from './support/batch.js';

const cfg = { ...TINY, imageSize: 32, width: 32, heads: 4, numClasses: 10, dropout: 0, mlpRatio: 2 };
const onednn = backendInfo().onednnAvailable;
// bf16 GEMMs run through oneDNN only where it has a bf16 matmul (AVX512-BF16 / AMX); elsewhere
// they are emulated in float32 and the residual add keeps its own pass.
const bf16Fused = backendInfo().bf16Native;

function relL2(a: ArrayLike<number>, b: ArrayLike<number>, from: number, to: number): number {
  let num = 0;
  let den = 0;
  for (let i = from; i < to; i++) {
    num += (a[i] - b[i]) ** 2;
    den += a[i] ** 2;
  }
  return den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
}

async function pass(m: VitModel, fused: boolean, images: Float32Array, labels: Int32Array) {
  setGemmEpilogues(fused);
  const calls0 = gemmEpilogueCalls();
  const r = await m.forwardBackward(images, labels, { seed: 5 });
  const logits = await m.predict(images);
  return { loss: r.loss, grads: Float32Array.from(m.grads), logits, calls: gemmEpilogueCalls() - calls0 };
}

afterEach(() => {
  setGemmEpilogues(true);
});

describe.skipIf(!onednn)('GEMM residual epilogue (oneDNN binary post-op)', () => {
  for (const [precision, tol] of [['float32', 1e-4], ['bf16', 2e-3]] as const) {
    it(`${precision}: fused forward/backward equals the unfused ops within ${tol}`, async () => {
      const m = createModel(cfg, { seed: 3, precision });
      randomizeParams(m, 11, 0.2);
      const { images, labels } = randomBatch(cfg, 8, 9);
      const unfused = await pass(m, false, images, labels);
      const fused = await pass(m, true, images, labels);
      // The path under test ran: 2 fused GEMMs per block, in the forward of the pass and of predict().
      expect(unfused.calls).toBe(0);
      expect(fused.calls).toBe(precision === 'bf16' && !bf16Fused ? 0 : 2 * cfg.depth * 2);
      expect(Math.abs(fused.loss - unfused.loss) / unfused.loss).toBeLessThan(tol);
      expect(relL2(unfused.logits, fused.logits, 0, fused.logits.length)).toBeLessThan(tol);
      let offset = 0;
      for (const name of m.paramNames) {
        const size = m.shape(name).reduce((x, y) => x * y, 1);
        const e = relL2(unfused.grads, fused.grads, offset, offset + size);
        expect(e, `${name}: relative L2 ${e}`).toBeLessThan(tol);
        offset += size;
      }
    });
  }

  it('dropout on the branch keeps the unfused path (the mask applies before the add)', async () => {
    const m = createModel({ ...cfg, dropout: 0.1 }, { seed: 3, precision: 'float32' });
    const { images, labels } = randomBatch(cfg, 4, 9);
    const calls0 = gemmEpilogueCalls();
    await m.forwardBackward(images, labels, { seed: 5 });
    expect(gemmEpilogueCalls() - calls0).toBe(0);
  });
});
