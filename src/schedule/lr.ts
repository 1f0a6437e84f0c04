// Learning-rate schedules of docs/method.md section 3. Pure functions of the update index t
// (t = 1 is the first update, as in the paper's Algorithm 1; the authors' JAX code
// counts from 0, we follow the paper's text).

export type LrForm = 'paper' | 'warmup-cosine' | 'constant';
export const LR_FORMS: readonly LrForm[] = ['paper', 'warmup-cosine', 'constant'];

export interface LrSchedule {
  form: LrForm;
  /** Peak learning rate η0. */
  lr0: number;
  /** Warmup steps Tw, 0 ≤ Tw ≤ T (0 = no warmup). */
  warmupSteps: number;
  /** Schedule horizon T (total number of updates). */
  totalSteps: number;
}

/** Throw unless `t` is an integer ≥ 1 (the step index every schedule takes). */
export function checkStep(t: number, field = 't'): void {
  if (!Number.isSafeInteger(t) || t < 1) {
    throw new RangeError(`${field} must be an integer >= 1 (steps count from 1), got ${t}`);
  }
}

/** Throw unless `v` is an integer ≥ 0. */
export function checkWarmupSteps(v: number, field = 'warmupSteps'): void {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`${field} must be an integer >= 0, got ${v}`);
  }
}

/**
 * Warmup factor w(t) = min(1, t/Tw); Tw = 0 means no warmup (w = 1). At t = Tw it is
 * exactly 1 (x/x is exact in IEEE arithmetic), so warmed-up values hit their targets exactly.
 */
export function warmupFactor(t: number, warmupSteps: number): number {
  checkStep(t);
  checkWarmupSteps(warmupSteps);
  if (warmupSteps === 0 || t >= warmupSteps) return 1;
  return t / warmupSteps;
}

/** Reject a bad schedule before any training work, naming the field and the value. */
export function validateLrSchedule(s: LrSchedule): void {
  if (!LR_FORMS.includes(s.form)) {
    throw new RangeError(`lr form must be one of ${LR_FORMS.join(', ')}; got ${JSON.stringify(s.form)}`);
  }
  if (typeof s.lr0 !== 'number' || !Number.isFinite(s.lr0) || s.lr0 < 0) {
    throw new RangeError(`lr0 must be a finite number >= 0, got ${s.lr0}`);
  }
  if (!Number.isSafeInteger(s.totalSteps) || s.totalSteps < 1) {
    throw new RangeError(`totalSteps must be an integer >= 1, got ${s.totalSteps}`);
  }
  checkWarmupSteps(s.warmupSteps);
  if (s.warmupSteps > s.totalSteps) {
    throw new RangeError(`warmupSteps (${s.warmupSteps}) must not exceed totalSteps (${s.totalSteps})`);
  }
}

/** ½(1 + cos(π·x)) for x in [0, 1]; x is formed as a ratio first so x = 1 gives cos(π) = −1 exactly. */
function halfCosine(x: number): number {
  return 0.5 * (1 + Math.cos(Math.PI * x));
}

/**
 * η(t) for 1 ≤ t ≤ T. Past the horizon (t > T) it throws instead of clamping or
 * continuing the cosine: the trainer never runs past T, so such a call is a bug
 * (e.g. resuming with a shorter totalSteps) and should be loud.
 */
export function learningRate(t: number, s: LrSchedule): number {
  validateLrSchedule(s);
  checkStep(t);
  if (t > s.totalSteps) {
    throw new RangeError(`t = ${t} is past the schedule horizon totalSteps = ${s.totalSteps}`);
  }
  const { lr0, warmupSteps: tw, totalSteps: T } = s;
  switch (s.form) {
    case 'paper':
      // Cosine over the whole run, warmup included (the authors' code).
      return lr0 * warmupFactor(t, tw) * halfCosine(t / T);
    case 'warmup-cosine':
      // Linear ramp to lr0 at t = Tw, then cosine over the remaining T − Tw steps.
      if (t <= tw) return lr0 * (t / tw); // t/Tw first: exactly lr0 at t = Tw
      return lr0 * halfCosine((t - tw) / (T - tw));
    case 'constant':
      return lr0 * warmupFactor(t, tw);
  }
}
