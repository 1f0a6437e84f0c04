/**
 * What a resume must check before it moves or rewrites anything in a run directory: that the
 * checkpoint belongs to the run kept there (run id, config hash, precision), that the process
 * count keeps the numbers (world size under `--perturbation local`), and that metrics.jsonl
 * can be read to the end (a bad line found later would leave the directory half-moved).
 */
import { existsSync } from 'node:fs';
import { resolveConfig, type ConfigKey, type RunConfig } from '../config/index.js';
import type { CheckpointMeta } from './checkpoint.js';
import { CheckpointError } from './errors.js';
import { readMetrics } from './metrics.js';
import { configHash, RESUME_OVERRIDABLE } from './plan.js';
import { runPaths } from './run-dir.js';
import { readRunState } from './run-state.js';

/**
 * Throws a CheckpointError naming `ckptPath` and the reason when resuming `runDir` from that
 * checkpoint would mix two runs or change the run's numbers. `worldSize` is the number of
 * processes of the resuming run.
 */
export function checkResume(runDir: string | undefined, ckptPath: string, meta: CheckpointMeta, worldSize: number): void {
  const cfg = meta.config;
  const written = meta.worldSize ?? 1;
  if (cfg.perturbation === 'local' && written !== worldSize) {
    throw new CheckpointError(
      ckptPath,
      `it was written by a run of ${written} process${written === 1 ? '' : 'es'} with --perturbation local ` +
        `(one perturbation per process), and resuming it with ${worldSize} would change the numbers; ` +
        `resume with ${written === 1 ? 'one process (no --distributed)' : `mpirun -np ${written}`}`,
    );
  }
  if (runDir === undefined) return;
  const state = readRunState(runDir);
  if (state && meta.runId !== undefined && state.runId !== meta.runId) {
    throw new CheckpointError(
      ckptPath,
      `it belongs to run ${meta.runId}, but ${runDir} holds run ${state.runId}${describeDiff(state, cfg)}; ` +
        'resume a run from its own checkpoints (or give --out-dir to continue that run in a new directory)',
    );
  }
  const cfgPath = runPaths(runDir).config;
  if (existsSync(cfgPath)) {
    let stored: RunConfig;
    try {
      stored = resolveConfig({ configFile: cfgPath });
    } catch (err) {
      throw new CheckpointError(ckptPath, `the run's ${cfgPath} cannot be read to compare: ${(err as Error).message}`);
    }
    const diff = configDiff(stored, cfg);
    if (diff.length > 0 || (meta.configHash !== '' && configHash(stored) !== meta.configHash)) {
      throw new CheckpointError(
        ckptPath,
        `its config differs from the run's ${cfgPath} (${diff.join(', ') || 'config hash'}): it is another run's checkpoint; ` +
          'nothing was changed',
      );
    }
  } else if (state && (state.precision !== cfg.precision || state.perturbation !== cfg.perturbation)) {
    throw new CheckpointError(ckptPath, `it does not belong to the run in ${runDir}${describeDiff(state, cfg)}`);
  }
}

function describeDiff(state: { precision: string; perturbation: string }, cfg: RunConfig): string {
  const parts: string[] = [];
  if (state.precision !== cfg.precision) parts.push(`precision ${cfg.precision} vs the run's ${state.precision}`);
  if (state.perturbation !== cfg.perturbation) parts.push(`perturbation ${cfg.perturbation} vs the run's ${state.perturbation}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** `precision "bfloat16" (the run: "float32")` for each key that changes the numbers. */
function configDiff(stored: RunConfig, cfg: RunConfig): string[] {
  const out: string[] = [];
  for (const k of Object.keys({ ...stored, ...cfg }) as ConfigKey[]) {
    if (RESUME_OVERRIDABLE.includes(k)) continue;
    const a = JSON.stringify(cfg[k]);
    const b = JSON.stringify(stored[k]);
    if (a !== b) out.push(`${k} ${a ?? '(unset)'} in the checkpoint, ${b ?? '(unset)'} in config.json`);
  }
  return out;
}

/** Reads metrics.jsonl to the end (throws `<file>:<line>: <problem>` on a bad line). */
export function checkMetricsReadable(runDir: string): void {
  readMetrics(runPaths(runDir).metrics);
}
