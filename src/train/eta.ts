/**
 * The ETA of a training run. A GR step runs two forward/backward passes, a base step (no GR,
 * or a warmup step of zero-warmup) one, so a GR step costs about twice as much: the estimate
 * keeps the mean wall time per step of each kind (base, GR) measured in this session and
 * multiplies each by the number of steps of that kind still to run (which steps take the
 * second pass is known in advance from the GR policy). Until a kind has been measured, its
 * cost is taken from the other kind with GR = GR_COST_RATIO × base. The end-of-epoch
 * evaluations still to come are added at their measured mean time.
 */

/** Assumed cost of a GR step relative to a base step, until both kinds have been measured. */
export const GR_COST_RATIO = 2;

/** A run of consecutive updates [from, to] (1-based, inclusive) that all do or all do not take the second pass. */
interface Segment {
  from: number;
  to: number;
  gr: boolean;
}

export interface EtaOptions {
  /** T: the run's last update. */
  totalSteps: number;
  /** Whether update t (1-based) takes the GR second pass. */
  secondPassAt: (t: number) => boolean;
  /** Evaluations at the ends of epochs after update `step` (not counting one at `step` itself). */
  evaluationsAfter?: (step: number) => number;
}

export class EtaEstimator {
  private readonly segments: Segment[] = [];
  private readonly evaluationsAfter: (step: number) => number;
  private baseMs = 0;
  private baseCount = 0;
  private grMs = 0;
  private grCount = 0;
  private evalSec = 0;
  private evalCount = 0;

  constructor(o: EtaOptions) {
    // One pass over the run (cheap: the policy is a closed form), kept as a few segments.
    for (let t = 1; t <= o.totalSteps; t++) {
      const gr = o.secondPassAt(t);
      const last = this.segments.at(-1);
      if (last && last.gr === gr) last.to = t;
      else this.segments.push({ from: t, to: t, gr });
    }
    this.evaluationsAfter = o.evaluationsAfter ?? (() => 0);
  }

  /** Records the wall time of one step (everything the loop spent on it but evaluation). */
  addStep(secondPass: boolean, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    if (secondPass) {
      this.grMs += ms;
      this.grCount++;
    } else {
      this.baseMs += ms;
      this.baseCount++;
    }
  }

  /** Records the seconds one end-of-epoch evaluation took. */
  addEvaluation(sec: number): void {
    if (!Number.isFinite(sec) || sec < 0) return;
    this.evalSec += sec;
    this.evalCount++;
  }

  /** Base and GR steps among updates step+1 .. T. */
  remainingSteps(step: number): { base: number; gr: number } {
    let base = 0;
    let gr = 0;
    for (const s of this.segments) {
      const n = s.to - Math.max(s.from, step + 1) + 1;
      if (n <= 0) continue;
      if (s.gr) gr += n;
      else base += n;
    }
    return { base, gr };
  }

  /** Mean milliseconds per base and per GR step; undefined until any step was measured. */
  stepCosts(): { baseMs: number; grMs: number } | undefined {
    const base = this.baseCount > 0 ? this.baseMs / this.baseCount : undefined;
    const gr = this.grCount > 0 ? this.grMs / this.grCount : undefined;
    if (base === undefined && gr === undefined) return undefined;
    return { baseMs: base ?? gr! / GR_COST_RATIO, grMs: gr ?? base! * GR_COST_RATIO };
  }

  /** Seconds to the end of the run after update `step`; undefined until a step was measured. */
  remainingSec(step: number): number | undefined {
    const cost = this.stepCosts();
    if (cost === undefined) return undefined;
    const left = this.remainingSteps(step);
    const evals = this.evalCount > 0 ? (this.evalSec / this.evalCount) * this.evaluationsAfter(step) : 0;
    return (left.base * cost.baseMs + left.gr * cost.grMs) / 1000 + evals;
  }
}

/**
 * Evaluations at epoch ends after update `step`: epoch e (1-based) ends at update
 * min(e·spe, T) and evaluates when e is a multiple of evalEvery or it is the last epoch.
 */
export function evaluationsAfter(step: number, totalSteps: number, stepsPerEpoch: number, evalEvery: number): number {
  const epochs = Math.ceil(totalSteps / stepsPerEpoch);
  let n = 0;
  for (let e = Math.floor(step / stepsPerEpoch) + 1; e <= epochs; e++) {
    const end = Math.min(e * stepsPerEpoch, totalSteps);
    if (end > step && (e % evalEvery === 0 || e === epochs)) n++;
  }
  return n;
}
