// Small helpers of the training session (session.ts): texts and one optional record.
import { performance } from 'node:perf_hooks';
import type { RunConfig } from '../config/index.js';
import { readCheckpointMeta } from './checkpoint.js';
import { secondMomentStats, type SecondMomentRecord } from './metrics.js';
import type { StepMetrics } from './trainer.js';

export function describeDivergence(m: StepMetrics): string {
  const what = !Number.isFinite(m.loss)
    ? 'the loss'
    : m.loss2 !== null && !Number.isFinite(m.loss2)
      ? 'the loss of the perturbed (GR) pass'
      : 'the gradient';
  return `${what} is not finite (loss ${m.loss}, ||g1|| ${m.g1Norm}, ||g|| ${m.gradNorm})`;
}

/**
 * Adam's bias-corrected exp_avg_sq (or RMSProp's square_avg) summarised after update `step`;
 * undefined for SGD. Costs one host copy of the optimizer state and a pass over it (a few ms
 * for vit-micro; recorded as statMs).
 */
export function secondMomentRecord(
  model: { optimizerState(): { name: string; data: ArrayLike<number> }[] },
  cfg: RunConfig,
  step: number,
  epoch: number,
): SecondMomentRecord | undefined {
  if (cfg.optimizer === 'sgd') return undefined;
  const t0 = performance.now();
  const slot = cfg.optimizer === 'adam' ? 'exp_avg_sq' : 'square_avg';
  const buf = model.optimizerState().find((b) => b.name === slot);
  if (!buf) return undefined;
  const biasCorrected = cfg.optimizer === 'adam';
  const scale = biasCorrected ? 1 / (1 - cfg.beta2 ** step) : 1;
  const st = secondMomentStats(buf.data, scale);
  return { type: 'moment2', step, epoch, slot, biasCorrected, ...st, statMs: performance.now() - t0 };
}

/** A path quoted for a shell command line when it needs it. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The step recorded in a checkpoint's metadata, or undefined when it cannot be read. */
export function stepOfCheckpoint(path: string): number | undefined {
  try {
    return readCheckpointMeta(path).step;
  } catch {
    return undefined;
  }
}
