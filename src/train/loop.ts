/**
 * The training loop: epochs of `trainer.step`, batch preparation overlapped with the native
 * step, evaluation, metrics, checkpoints, resume, graceful stop and divergence handling.
 *
 * Determinism: batch k of epoch e is a pure function of (seed, e, k), dropout masks of update
 * t a pure function of (seed, t), and a checkpoint restores parameters, optimizer state, the
 * update count and the loop's bookkeeping (partial-epoch sums, best result). A run resumed
 * from any checkpoint therefore computes exactly what the uninterrupted run computes (same
 * seed and thread count), and its metrics lines are equal apart from the timing fields.
 *
 * Stopping: `stop.request(signal)` (the CLI calls it from its SIGINT/SIGTERM handler) lets
 * the step in flight finish (native work is never abandoned), then a checkpoint is written
 * and the run returns `{ status: 'interrupted' }`.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { backendInfo, setThreads } from '../backend.js';
import { serializeConfig, type RunConfig } from '../config/index.js';
import { allocBatch, makeTrainBatch, Prefetcher, type Batch } from '../data/index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { createModel } from '../model/vit-model.js';
import {
  restoreCheckpoint,
  saveCheckpoint,
  type CheckpointMeta,
  type LoadedCheckpoint,
  type TrainState,
} from './checkpoint.js';
import { CheckpointError, DivergedError } from './errors.js';
import { evaluateDataset } from './evaluate.js';
import {
  addToEpochSums,
  emptyEpochSums,
  epochRecord,
  MetricsLog,
  stepRecord,
  truncateMetrics,
  type EvalResult,
  type RunSummary,
  type StepRecord,
} from './metrics.js';
import { configHash, loadRunData, planRun } from './plan.js';
import { formatAccuracy, formatDuration, formatPercent, type Progress, type ProgressContext } from './progress.js';
import { appendRunLog, checkpointFileName, listCheckpoints, pruneCheckpoints, runPaths } from './run-dir.js';
import { Trainer, type StepMetrics } from './trainer.js';

export type StopSignalName = 'SIGINT' | 'SIGTERM';

/** Set by a signal handler; the loop stops after the step in flight. */
export class StopController {
  requested: StopSignalName | undefined;
  request(signal: StopSignalName): void {
    this.requested ??= signal;
  }
}

export interface TrainRunOptions {
  config: RunConfig;
  /** The run directory (created; for a resume, the one being continued). */
  runDir: string;
  /**
   * Checkpoint to continue from; its config must be `config` up to RESUME_OVERRIDABLE keys.
   * Its tensors are released (the map is cleared) once copied into the model.
   */
  resume?: LoadedCheckpoint;
  progress: Progress;
  stop?: StopController;
  /** Package version, for checkpoints and summary.json. */
  version: string;
  /** Called after every step's record is written (tests use it to request a stop). */
  onStep?: (rec: StepRecord) => void;
}

export type TrainRunResult =
  | { status: 'complete'; summary: RunSummary; finalLine: string }
  | { status: 'interrupted'; signal: StopSignalName; step: number; checkpoint: string | undefined }
  | { status: 'already-complete'; step: number };

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

function describeDivergence(m: StepMetrics): string {
  const what = !Number.isFinite(m.loss)
    ? 'the loss'
    : m.loss2 !== null && !Number.isFinite(m.loss2)
      ? 'the loss of the perturbed (GR) pass'
      : 'the gradient';
  return `${what} is not finite (loss ${m.loss}, ||g1|| ${m.g1Norm}, ||g|| ${m.gradNorm})`;
}

export async function trainRun(o: TrainRunOptions): Promise<TrainRunResult> {
  const cfg = o.config;
  const { progress } = o;
  const stop = o.stop ?? new StopController();
  const paths = runPaths(o.runDir);
  const sessionStart = performance.now();

  setThreads(cfg.threads);
  const threads = backendInfo().threads;
  const data = loadRunData(cfg);
  const plan = planRun(cfg, data.train);
  const { stepsPerEpoch: spe, totalSteps: T } = plan;
  const hash = configHash(cfg);

  if (o.resume) {
    const m = o.resume.meta;
    const where = o.resume.path;
    if (!sameJson(m.modelConfig, plan.modelConfig)) {
      throw new CheckpointError(where, `its model ${JSON.stringify(m.modelConfig)} differs from the one its config builds now ${JSON.stringify(plan.modelConfig)}`);
    }
    if (m.dataOrder.trainCount !== data.train.count || m.dataOrder.stepsPerEpoch !== spe) {
      throw new CheckpointError(
        where,
        `it was made with ${m.dataOrder.trainCount} training images (${m.dataOrder.stepsPerEpoch} steps per epoch), ` +
          `but the data set now has ${data.train.count} (${spe} steps per epoch); resume with the same data`,
      );
    }
    if (m.step > T) throw new CheckpointError(where, `step ${m.step} is past the run's ${T} steps`);
  }

  const model = createModel(plan.modelConfig, { seed: cfg.seed });
  const trainer = new Trainer(model, plan.trainer); // configures the optimizer (zero state)
  let state: TrainState = { epochSums: emptyEpochSums(), best: null, elapsedSec: 0 };
  if (o.resume) {
    restoreCheckpoint(model, o.resume);
    o.resume.file.tensors.clear(); // copied into the model: let a big checkpoint's arrays go
    state = structuredClone(o.resume.meta.state);
    truncateMetrics(paths.metrics, o.resume.meta.step);
  }
  writeFileAtomic(paths.config, [Buffer.from(serializeConfig(cfg), 'utf8')]);

  const startStep = model.optimizerSteps;
  const elapsed = () => state.elapsedSec + (performance.now() - sessionStart) / 1000;
  progress.start({
    runDir: o.runDir,
    model: cfg.model,
    params: model.numParams,
    dataset: cfg.dataset,
    trainImages: data.train.count,
    valImages: data.val?.count ?? 0,
    testImages: data.test.count,
    batchSize: cfg.batchSize,
    stepsPerEpoch: spe,
    totalSteps: T,
    epochs: plan.epochs,
    warmupSteps: plan.warmupSteps,
    gr: cfg.gr,
    optimizer: cfg.optimizer,
    threads,
    startStep,
    resumedFrom: o.resume?.path,
  });
  appendRunLog(
    o.runDir,
    o.resume
      ? `resume from ${o.resume.path} at step ${startStep} of ${T} (${threads} threads)`
      : `start: ${T} steps, ${spe} per epoch, config hash ${hash} (${threads} threads)`,
  );
  if (startStep >= T) {
    progress.note(`nothing to do: the run in ${o.runDir} is already complete (step ${startStep} of ${T})`);
    return { status: 'already-complete', step: startStep };
  }

  let s = startStep;
  let lastCheckpoint: { path: string; step: number } | undefined = o.resume
    ? { path: o.resume.path, step: startStep }
    : undefined;
  let lastTest: EvalResult | null = null;
  let lastVal: EvalResult | null = null;

  const metaNow = (): CheckpointMeta => ({
    step: s,
    epoch: Math.floor(s / spe),
    epochStep: s % spe,
    dataOrder: {
      seed: cfg.seed,
      epoch: Math.floor(s / spe),
      index: s % spe,
      batchSize: cfg.batchSize,
      stepsPerEpoch: spe,
      trainCount: data.train.count,
    },
    config: cfg,
    configHash: hash,
    modelConfig: plan.modelConfig,
    state: { ...state, epochSums: { ...state.epochSums }, elapsedSec: elapsed() },
    producer: `grwarm-native ${o.version}`,
    createdAt: new Date().toISOString(),
  });
  const writeStepCheckpoint = (why: string): string => {
    const path = join(paths.checkpoints, checkpointFileName(s));
    saveCheckpoint(path, model, metaNow());
    lastCheckpoint = { path, step: s };
    pruneCheckpoints(o.runDir, cfg.keepLast);
    appendRunLog(o.runDir, `checkpoint ${path} (${why})`);
    return path;
  };

  const loopStart = performance.now();
  const ctx = (): ProgressContext => ({
    totalSteps: T,
    epochs: plan.epochs,
    etaSec: s > startStep ? ((performance.now() - loopStart) / 1000 / (s - startStep)) * (T - s) : undefined,
  });

  const endOfEpoch = async (epoch: number, last: StepRecord): Promise<void> => {
    const final = s === T;
    const evalStart = performance.now();
    let test: EvalResult | null = null;
    let val: EvalResult | null = null;
    if (epoch % cfg.evalEvery === 0 || final) {
      test = await evaluateDataset(model, data.test);
      if (data.val) val = await evaluateDataset(model, data.val);
    }
    const evalSec = (performance.now() - evalStart) / 1000;
    const rec = epochRecord({ epoch, step: s, last, sums: state.epochSums, test, val, evalSec, elapsedSec: elapsed() });
    metrics.append(rec);
    progress.epoch(rec, ctx());
    state.epochSums = emptyEpochSums();
    if (test) {
      lastTest = test;
      lastVal = val;
      if (state.best === null || test.error < state.best.testError) {
        state.best = { testError: test.error, testLoss: test.loss, epoch, step: s };
        saveCheckpoint(paths.best, model, metaNow());
        appendRunLog(o.runDir, `best test error ${formatPercent(test.error, 2)} at epoch ${epoch}: ${paths.best}`);
      }
    }
    if (epoch % cfg.checkpointEvery === 0 || final) writeStepCheckpoint(`end of epoch ${epoch}`);
  };

  const B = cfg.batchSize;
  const fill = (step: number, out: Batch): void => {
    makeTrainBatch(
      data.train,
      { seed: cfg.seed, epoch: Math.floor(step / spe), index: step % spe, batchSize: B, augment: cfg.augment },
      out,
    );
  };
  const batches = new Prefetcher<Batch>(fill, () => allocBatch(data.train, B));

  const metrics = new MetricsLog(paths.metrics);
  try {
    let cur = batches.get(s);
    let curDataMs = batches.lastPrepareMs;
    while (s < T && stop.requested === undefined) {
      const t0 = performance.now();
      const pending = trainer.step({ images: cur.images, labels: cur.labels });
      // Build the next batch into the other buffer while the native step runs.
      let nextDataMs = 0;
      if (s + 1 < T) {
        batches.prepare(s + 1);
        nextDataMs = batches.lastPrepareMs;
      }
      const m = await pending;
      const stepMs = performance.now() - t0;
      const epoch = Math.floor((m.t - 1) / spe) + 1;
      if (!m.applied || !Number.isFinite(m.loss) || (m.loss2 !== null && !Number.isFinite(m.loss2))) {
        const lc = lastCheckpoint as { path: string; step: number } | undefined;
        const msg =
          `training diverged at step ${m.t} (epoch ${epoch}): ${describeDivergence(m)}; ` +
          (m.applied ? 'stopped before writing anything for this step. ' : 'the update was not applied. ') +
          (lc
            ? `The last good checkpoint is ${lc.path} (step ${lc.step}). `
            : 'No checkpoint had been written yet. ') +
          'Try a lower --lr, gradient clipping (--clip) or a longer warmup (--warmup-epochs).';
        appendRunLog(o.runDir, msg);
        throw new DivergedError(msg, m.t, lc?.path);
      }
      s = m.t;
      const rec = stepRecord(m, epoch, B, curDataMs, stepMs);
      metrics.append(rec);
      addToEpochSums(state.epochSums, rec, B);
      progress.step(rec, ctx());
      o.onStep?.(rec);
      if (s % spe === 0 || s === T) await endOfEpoch(epoch, rec);
      if (s < T) {
        cur = batches.get(s);
        curDataMs = nextDataMs;
      }
    }
  } finally {
    metrics.close();
  }

  if (s < T) {
    const signal = stop.requested ?? 'SIGINT';
    const lc = lastCheckpoint as { path: string; step: number } | undefined;
    let checkpoint = lc?.path;
    if (s > startStep && lc?.step !== s) checkpoint = writeStepCheckpoint(`stopped by ${signal}`);
    appendRunLog(o.runDir, `stopped by ${signal} at step ${s} of ${T}`);
    progress.clear();
    return { status: 'interrupted', signal, step: s, checkpoint };
  }

  const test = lastTest as EvalResult | null;
  const best = state.best;
  const lc = lastCheckpoint as { path: string; step: number } | undefined;
  if (test === null || best === null || lc === undefined) throw new Error('internal: run ended without a final evaluation');
  const val = lastVal as EvalResult | null;
  const total = elapsed();
  const summary: RunSummary = {
    status: 'complete',
    finalTestError: test.error,
    finalTestLoss: test.loss,
    finalTestAccuracy: 1 - test.error,
    bestTestError: best.testError,
    bestEpoch: best.epoch,
    bestStep: best.step,
    finalValError: val ? val.error : null,
    epochs: plan.epochs,
    steps: T,
    stepsPerEpoch: spe,
    totalTimeSec: total,
    configHash: hash,
    model: cfg.model,
    params: model.numParams,
    dataset: cfg.dataset,
    trainImages: data.train.count,
    valImages: data.val?.count ?? 0,
    testImages: data.test.count,
    runDir: o.runDir,
    lastCheckpoint: lc.path,
    bestCheckpoint: paths.best,
    finishedAt: new Date().toISOString(),
    version: o.version,
  };
  writeFileAtomic(paths.summary, [Buffer.from(JSON.stringify(summary, null, 2) + '\n', 'utf8')]);
  const span = T % spe === 0 ? `${plan.epochs} epoch${plan.epochs === 1 ? '' : 's'}` : `${T} steps (${(T / spe).toFixed(2)} epochs)`;
  const finalLine =
    `done: test accuracy ${formatAccuracy(test.error)} (error ${formatPercent(test.error)}) after ${span}, ` +
    `${formatDuration(total)}; run dir ${o.runDir}`;
  appendRunLog(o.runDir, finalLine);
  return { status: 'complete', summary, finalLine };
}

/** The step checkpoint to show for a run directory (newest), if any. */
export function newestCheckpoint(runDir: string): string | undefined {
  return listCheckpoints(runDir).at(-1)?.path;
}
