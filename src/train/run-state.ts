/**
 * run-state.json: where a run stands in its lifecycle, persisted (atomically) in the run
 * directory at every transition, so that `--resume` knows what is left to do after an
 * interruption at any point:
 *
 *   created ──first checkpoint──▶ running ──final checkpoint──▶ final-checkpoint ──summary.json──▶ summarised
 *
 * - created: config.json written, no checkpoint yet (a resume restarts from step 0);
 * - running: at least one step checkpoint (a resume continues from the newest);
 * - final-checkpoint: the checkpoint of the last update is written but summary.json is not
 *   (a resume evaluates that checkpoint and writes the summary);
 * - summarised: summary.json ("status": "complete") written; a resume has nothing to do.
 *
 * It also holds the run's identity (a random run id, also written into every checkpoint),
 * the process count and the settings a resume must keep (perturbation mode, precision, config
 * hash), checked before a resume moves or rewrites anything (resume-check.ts).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const RUN_STATE_FILE = 'run-state.json';
export const RUN_PHASES = ['created', 'running', 'final-checkpoint', 'summarised'] as const;
export type RunPhase = (typeof RUN_PHASES)[number];

export interface RunState {
  phase: RunPhase;
  runId: string;
  configHash: string;
  worldSize: number;
  perturbation: string;
  precision: string;
  totalSteps: number;
  /** Update count of the newest checkpoint (0 before the first). */
  step: number;
  lastCheckpoint: string | null;
  bestCheckpoint: string | null;
  updatedAt: string;
}

/** A new run id: 16 hex digits. */
export function newRunId(): string {
  return randomBytes(8).toString('hex');
}

export function runStatePath(dir: string): string {
  return join(dir, RUN_STATE_FILE);
}

/**
 * The run-state.json of `dir`; undefined when there is none (a run directory of an older
 * version). One that cannot be read or parsed is an Error naming the file: a resume must not
 * guess.
 */
export function readRunState(dir: string): RunState | undefined {
  const path = runStatePath(dir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message}); remove it to resume from the newest checkpoint`);
  }
  const o = v as Partial<RunState> | null;
  const ok =
    typeof o === 'object' &&
    o !== null &&
    RUN_PHASES.includes(o.phase as RunPhase) &&
    typeof o.runId === 'string' &&
    Number.isSafeInteger(o.worldSize) &&
    Number.isSafeInteger(o.step);
  if (!ok) throw new Error(`${path}: not a run state (expected "phase", "runId", "worldSize", "step"); remove it to resume from the newest checkpoint`);
  return o as RunState;
}
