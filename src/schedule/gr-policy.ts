// GR policies of docs/method.md section 3: per-step λ_t, r_t, α_t and whether the second
// (perturbed) pass runs. Pure functions of the update index t (t = 1 is the first update);
// the r-/lambda-warmup ramps count from t − 1 by default (GrConfig.stepOrigin).
import { checkStep, checkWarmupSteps, warmupFactor } from './lr.js';

export type GrPolicy = 'none' | 'gr' | 'sam' | 'r-warmup' | 'lambda-warmup' | 'zero-warmup';
export const GR_POLICIES: readonly GrPolicy[] = ['none', 'gr', 'sam', 'r-warmup', 'lambda-warmup', 'zero-warmup'];

export interface GrConfig {
  policy: GrPolicy;
  /** λ0, the GR strength after warmup. Under 'sam' it must equal r0 (SAM is λ = r). */
  lambda0: number;
  /** r0, the perturbation radius after warmup. */
  r0: number;
  /** Tw, the GR warmup length in steps (ignored by none/gr/sam). */
  warmupSteps: number;
  /**
   * Where the r-warmup and lambda-warmup ramps start counting (docs/method.md, section 3):
   * 0 (default, the authors' code) ramps `min(1, s/Tw)` with s = t − 1 the number of updates
   * already made, so λ and r are exactly 0 at the first update (a base step) and reach their
   * targets at t = Tw + 1; 1 ramps `min(1, t/Tw)`. zero-warmup is the same under both (its
   * second pass starts at t = Tw + 1 = the authors' s = Tw).
   */
  stepOrigin?: 0 | 1;
}

export interface GrStep {
  lambda: number;
  r: number;
  /** Mixing weight of g2 in g = (1 − α)·g1 + α·g2; 0 whenever there is no second pass. */
  alpha: number;
  /** Whether the perturbed second forward/backward pass runs this step. */
  secondPass: boolean;
}

/** Policies that would divide λ > 0 by r = 0 (α = λ/r undefined). */
const NEEDS_RADIUS: ReadonlySet<GrPolicy> = new Set(['gr', 'r-warmup', 'lambda-warmup', 'zero-warmup']);

/**
 * Reject a bad GR configuration before any work. Checks apply to every policy (even
 * 'none' ignores λ0/r0 but a NaN there is still a config bug worth reporting).
 */
export function validateGrConfig(c: GrConfig): void {
  if (!GR_POLICIES.includes(c.policy)) {
    throw new RangeError(`unknown GR policy ${JSON.stringify(c.policy)}; allowed: ${GR_POLICIES.join(', ')}`);
  }
  for (const field of ['lambda0', 'r0'] as const) {
    const v = c[field];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new RangeError(`${field} must be a finite number, got ${v}`);
    }
    if (v < 0) throw new RangeError(`${field} must be >= 0, got ${v}`);
  }
  if (c.stepOrigin !== undefined && c.stepOrigin !== 0 && c.stepOrigin !== 1) {
    throw new RangeError(`stepOrigin must be 0 or 1, got ${c.stepOrigin}`);
  }
  if (typeof c.warmupSteps !== 'number' || !Number.isFinite(c.warmupSteps)) {
    throw new RangeError(`warmupSteps must be a finite number, got ${c.warmupSteps}`);
  }
  checkWarmupSteps(c.warmupSteps);
  if (NEEDS_RADIUS.has(c.policy) && c.lambda0 > 0 && c.r0 === 0) {
    throw new RangeError(`policy ${c.policy} with lambda0 = ${c.lambda0} > 0 needs r0 > 0 (alpha = lambda/r), got r0 = 0`);
  }
  // SAM is defined as λ = r. Requiring the config to say so (rather than silently
  // ignoring λ0) catches a config that meant vanilla GR with α ≠ 1.
  if (c.policy === 'sam' && c.lambda0 !== c.r0) {
    throw new RangeError(`policy sam means lambda = r (alpha = 1): set lambda0 = r0, got lambda0 = ${c.lambda0}, r0 = ${c.r0}`);
  }
}

/** λ_t and r_t before the "no second pass" rule is applied. */
function rawLambdaR(t: number, c: GrConfig): { lambda: number; r: number } {
  // Origin 0: s = t − 1 updates made before this one; w(s) = min(1, s/Tw), 0 at the first update.
  const w = (c.stepOrigin ?? 0) === 1 || c.warmupSteps === 0 ? warmupFactor(t, c.warmupSteps) : Math.min(1, (t - 1) / c.warmupSteps);
  switch (c.policy) {
    case 'none':
      return { lambda: 0, r: 0 };
    case 'gr':
      return { lambda: c.lambda0, r: c.r0 };
    case 'sam':
      return { lambda: c.r0, r: c.r0 };
    case 'r-warmup':
      return { lambda: w * c.lambda0, r: w * c.r0 };
    case 'lambda-warmup':
      return { lambda: w * c.lambda0, r: c.r0 };
    case 'zero-warmup':
      return { lambda: t <= c.warmupSteps ? 0 : c.lambda0, r: c.r0 };
  }
}

/**
 * The GR settings of update t. When λ_t = 0 or r_t = 0 the step is exactly the base
 * optimizer step (g = g1): secondPass = false, alpha = 0.
 */
export function grAt(t: number, c: GrConfig): GrStep {
  validateGrConfig(c);
  checkStep(t);
  const { lambda, r } = rawLambdaR(t, c);
  if (lambda === 0 || r === 0) return { lambda, r, alpha: 0, secondPass: false };
  // r-warmup scales λ and r by the same w, so α is λ0/r0 by definition; computing
  // (w·λ0)/(w·r0) could differ from it in the last bit.
  const alpha = c.policy === 'r-warmup' ? c.lambda0 / c.r0 : lambda / r;
  return { lambda, r, alpha, secondPass: true };
}
