/**
 * Cadences of checkpoints and evaluations (`--checkpoint-every`, `--eval-every`): a number of
 * epochs (`2`), a fraction of an epoch (`0.25`) or a count of updates (`"500steps"`), turned
 * into one interval in updates. Events fall on multiples of that interval and always on the
 * run's last update, so a run resumed from any checkpoint sees the same events at the same
 * updates as the uninterrupted run.
 */
import { STEPS_CADENCE_RE } from '../config/schema.js';

export type Cadence = number | string;

/** The interval in updates of a cadence at `stepsPerEpoch` updates per epoch (at least 1). */
export function cadenceSteps(c: Cadence, stepsPerEpoch: number): number {
  if (typeof c === 'string') {
    if (!STEPS_CADENCE_RE.test(c)) throw new RangeError(`cadence: got ${JSON.stringify(c)}, expected "<n>steps"`);
    return Number.parseInt(c, 10);
  }
  if (!(c > 0)) throw new RangeError(`cadence: got ${c}, expected a number of epochs > 0`);
  return Math.max(1, Math.round(c * stepsPerEpoch));
}

/** Whether update `step` (1-based) of a `totalSteps`-update run is on the cadence of `every` updates. */
export function isDue(step: number, every: number, totalSteps: number): boolean {
  return step % every === 0 || step === totalSteps;
}

/** Events of a cadence after update `step` up to the end of the run. */
export function eventsAfter(step: number, every: number, totalSteps: number): number {
  if (step >= totalSteps) return 0;
  const onGrid = Math.floor(totalSteps / every) - Math.floor(step / every);
  return onGrid + (totalSteps % every === 0 ? 0 : 1);
}

/** `every 156 steps (1 epoch)`, for the start line and the log. */
export function describeCadence(every: number, stepsPerEpoch: number): string {
  const epochs = every / stepsPerEpoch;
  const e = Number.isInteger(epochs) ? `${epochs} epoch${epochs === 1 ? '' : 's'}` : `${epochs.toFixed(2)} epochs`;
  return `every ${every} step${every === 1 ? '' : 's'} (${e})`;
}
