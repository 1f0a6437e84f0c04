/**
 * mixup (Zhang et al. 2018) for a loss that takes hard labels: the images of a batch are mixed
 * pairwise, x_j = λ·x_j + (1 − λ)·x_{B−1−j} with one λ ~ Beta(α, α) per batch (timm's "batch"
 * mode with the flipped batch as partner), and each sample's label is drawn: y_j with
 * probability λ, else y_{B−1−j}. Cross-entropy is linear in the target, so the expected loss
 * over that draw is exactly mixup's soft-target loss λ·CE(y_j) + (1 − λ)·CE(y_{B−1−j}) (label
 * smoothing applies on top as usual); the gradient is an unbiased estimate of mixup's, with a
 * little more noise. The native loss takes class indices only, hence the draw.
 */
import type { Rng } from '../../util/rng.js';

/** Gamma(shape, 1) by Marsaglia and Tsang (shape < 1 through the U^(1/shape) boost). */
export function gammaSample(rng: Rng, shape: number): number {
  if (shape < 1) return gammaSample(rng, shape + 1) * Math.pow(1 - rng.nextFloat(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.nextFloat();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** Beta(α, α). */
export function betaSymmetric(rng: Rng, alpha: number): number {
  const x = gammaSample(rng, alpha);
  const y = gammaSample(rng, alpha);
  return x + y > 0 ? x / (x + y) : 0.5;
}

/** The partner of sample j in a batch of B. */
export const mixPartner = (j: number, batch: number): number => batch - 1 - j;
