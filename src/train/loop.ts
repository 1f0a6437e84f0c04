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
 * the step in flight finish (native work is never abandoned), then a checkpoint and
 * summary.json ("status": "interrupted") are written and the run returns
 * `{ status: 'interrupted' }`.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { backendInfo, setThreads } from '../backend.js';
import { ConfigError, relabelIssues, serializeConfig, toFlagName, type RunConfig, type SourceMap } from '../config/index.js';
import { allocBatch, makeTrainBatch, Prefetcher, type Batch } from '../data/index.js';
import { rankShard } from '../data/batches.js';
import { autoThreads, type Distributed } from '../distributed/index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { createModel } from '../model/vit-model.js';
import {
  readCheckpointMeta,
  restoreCheckpoint,
  saveCheckpoint,
  type CheckpointMeta,
  type LoadedCheckpoint,
  type TrainState,
} from './checkpoint.js';
import { CheckpointError, DivergedError } from './errors.js';
import { EtaEstimator, evaluationsAfter } from './eta.js';
import { evaluateDataset } from './evaluate.js';
import {
  addToEpochSums,
  emptyEpochSums,
  epochRecord,
  MetricsLog,
  stepRecord,
  truncateMetrics,
  type EvalResult,
  secondMomentStats,
  type InterruptedSummary,
  type RunIdentity,
  type RunSummary,
  type SecondMomentRecord,
  type StepRecord,
} from './metrics.js';
import { configHash, loadRunData, planRun, type RunData, type RunPlan } from './plan.js';
import { describeSpan, formatAccuracy, formatDuration, formatPercent, type Progress, type ProgressContext } from './progress.js';
import {
  appendRunLog as appendRunLogToDir,
  checkpointFileName,
  listCheckpoints,
  pruneCheckpoints,
  readSummaryStatus,
  runPaths,
  supersedeAfter,
} from './run-dir.js';
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
  /** Where each config value came from, so data-dependent config errors name the right source. */
  sources?: SourceMap;
  /**
   * The data and plan of `config` from `prepareRun`, when the caller loaded them already (the
   * CLI does, before it creates the run directory, so a run whose data fail to load leaves
   * nothing behind). Loaded here when absent.
   */
  prepared?: PreparedRun;
  /** Receives notices about files moved aside (default: the progress display's notes). */
  notify?: (text: string) => void;
  /**
   * Data-parallel run (src/distributed/): this rank trains its shard of every global batch;
   * only rank 0 writes the run directory (`resume` is given to rank 0 alone; the others get
   * the model state from it).
   */
  dist?: Distributed;
}

export type TrainRunResult =
  | { status: 'complete'; summary: RunSummary; finalLine: string }
  | { status: 'interrupted'; signal: StopSignalName; step: number; checkpoint: string | undefined; summary: InterruptedSummary }
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

export interface PreparedRun {
  data: RunData;
  plan: RunPlan;
}

/**
 * The data and the plan of a run, every problem found before the first step: an empty split
 * is an error here, not after an epoch of training; a config value that does not fit the data
 * is reported with the source that set it (flag, config file, checkpoint).
 */
export function prepareRun(cfg: RunConfig, sources: SourceMap): PreparedRun {
  try {
    const data = loadRunData(cfg);
    for (const [split, ds] of [['training', data.train], ['validation', data.val], ['test', data.test]] as const) {
      if (ds !== null && ds.count === 0) {
        const why = split === 'training' && cfg.valFraction > 0 ? ` after holding out ${toFlagName('valFraction')} ${cfg.valFraction}` : '';
        throw new ConfigError([{ field: 'dataset', text: `data set ${cfg.dataset}: the ${split} split is empty${why}; expected at least one image` }]);
      }
    }
    return { data, plan: planRun(cfg, data.train) };
  } catch (err) {
    throw err instanceof ConfigError ? relabelIssues(err, sources) : err;
  }
}

export async function trainRun(o: TrainRunOptions): Promise<TrainRunResult> {
  try {
    return await trainRunInner(o);
  } catch (err) {
    // Every failure ends up in train.log too (a diverged run has logged its own line). On a
    // full disk this may fail as well: the message on stderr is then all there is.
    if (!(err instanceof DivergedError) && (o.dist?.isRoot ?? true)) appendRunLogToDir(o.runDir, `error: ${(err as Error)?.message ?? String(err)}`);
    throw err;
  }
}

async function trainRunInner(o: TrainRunOptions): Promise<TrainRunResult> {
  const cfg = o.config;
  const { progress } = o;
  const notify = o.notify ?? ((text: string) => progress.note(text));
  const stop = o.stop ?? new StopController();
  const paths = runPaths(o.runDir);
  const sessionStart = performance.now();
  const dist = o.dist;
  // Only rank 0 writes the run directory (config, logs, metrics, checkpoints, summary).
  const root = dist?.isRoot ?? true;
  const appendRunLog: typeof appendRunLogToDir = (dir, text) => (root ? appendRunLogToDir(dir, text) : undefined);

  setThreads(dist && cfg.threads === 0 ? autoThreads() : cfg.threads);
  const threads = backendInfo().threads;
  const { data, plan } = o.prepared ?? prepareRun(cfg, o.sources ?? {});
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

  const model = createModel(plan.modelConfig, { seed: cfg.seed, device: cfg.device, precision: cfg.precision });
  const trainer = new Trainer(model, {
    ...plan.trainer,
    perturbation: cfg.perturbation,
    perturbationShards: cfg.perturbationShards,
  }); // configures the optimizer (zero state)
  let state: TrainState = { epochSums: emptyEpochSums(), best: null, elapsedSec: 0 };
  if (o.resume) {
    restoreCheckpoint(model, o.resume);
    o.resume.file.tensors.clear(); // copied into the model: let a big checkpoint's arrays go
    state = structuredClone(o.resume.meta.state);
    const aside = supersedeAfter(o.runDir, o.resume.meta.step, stepOfCheckpoint);
    if (aside) {
      const text =
        `resuming from step ${o.resume.meta.step} abandons what this run did after it: moved ${aside.moved.join(', ')} ` +
        `to ${aside.folder}`;
      notify(text);
      appendRunLog(o.runDir, text);
    }
    truncateMetrics(paths.metrics, o.resume.meta.step);
  } else if (root) {
    truncateMetrics(paths.metrics, 0); // a restart from step 0 in place: no lines of the old attempt
  }
  // The summary of an earlier, interrupted session describes a state this session leaves behind.
  if (root && readSummaryStatus(paths.summary) === 'interrupted') rmSync(paths.summary, { force: true });
  if (root) writeFileAtomic(paths.config, [Buffer.from(serializeConfig(cfg), 'utf8')]);
  if (dist) {
    // Every rank from rank 0's state (a resume is read by rank 0 alone), then one model.
    dist.syncModelFromRoot(model);
    state = dist.broadcastJson(root ? state : undefined);
    model.setCommunicator(dist.comm);
    dist.checkReplicas(model, model.optimizerSteps);
  }

  const startStep = model.optimizerSteps;
  const elapsed = () => state.elapsedSec + (performance.now() - sessionStart) / 1000;
  const identity = (): RunIdentity => ({
    configHash: hash,
    model: cfg.model,
    params: model.numParams,
    dataset: cfg.dataset,
    trainImages: data.train.count,
    valImages: data.val?.count ?? 0,
    testImages: data.test.count,
    runDir: o.runDir,
    ...(data.train.skippedImages !== undefined ? { skippedBadImages: data.train.skippedImages } : {}),
  });
  progress.start({
    ...identity(),
    batchSize: cfg.batchSize,
    stepsPerEpoch: spe,
    totalSteps: T,
    epochs: plan.epochs,
    warmupSteps: plan.warmupSteps,
    gr: cfg.gr,
    optimizer: cfg.optimizer,
    threads,
    precision: cfg.precision,
    startStep,
    resumedFrom: o.resume?.path,
  });
  appendRunLog(
    o.runDir,
    o.resume
      ? `resume from ${o.resume.path} at step ${startStep} of ${T} (${threads} threads)`
      : `start: ${T} steps, ${spe} per epoch, config hash ${hash} (${threads} threads)`,
  );
  if (data.train.skippedImages) appendRunLog(o.runDir, `skipped ${data.train.skippedImages} bad image files (--skip-bad-images)`);
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
    dist?.checkReplicas(model, s); // what rank 0 writes is every rank's model
    if (!root) {
      lastCheckpoint = { path, step: s };
      return path;
    }
    saveCheckpoint(path, model, metaNow());
    lastCheckpoint = { path, step: s };
    pruneCheckpoints(o.runDir, cfg.keepLast);
    appendRunLog(o.runDir, `checkpoint ${path} (${why})`);
    return path;
  };

  // GR steps (two passes) cost about twice a base step: the ETA prices each kind separately.
  const eta = new EtaEstimator({
    totalSteps: T,
    secondPassAt: (t) => trainer.plan(t).secondPass,
    evaluationsAfter: (step) => evaluationsAfter(step, T, spe, cfg.evalEvery),
  });
  const ctx = (): ProgressContext => ({
    totalSteps: T,
    epochs: plan.epochs,
    etaSec: s > startStep ? eta.remainingSec(s) : undefined,
  });

  const endOfEpoch = async (epoch: number, last: StepRecord): Promise<void> => {
    const final = s === T;
    const evalStart = performance.now();
    let test: EvalResult | null = null;
    let val: EvalResult | null = null;
    if (epoch % cfg.evalEvery === 0 || final) {
      test = dist ? await dist.evaluate(model, data.test) : await evaluateDataset(model, data.test);
      if (data.val) val = dist ? await dist.evaluate(model, data.val) : await evaluateDataset(model, data.val);
    }
    const evalSec = (performance.now() - evalStart) / 1000;
    if (test) eta.addEvaluation(evalSec);
    const rec = epochRecord({ epoch, step: s, last, sums: state.epochSums, test, val, evalSec, elapsedSec: elapsed() });
    if (root) metrics.append(rec);
    progress.epoch(rec, ctx());
    state.epochSums = emptyEpochSums();
    if (test) {
      lastTest = test;
      lastVal = val;
      if (state.best === null || test.error < state.best.testError) {
        state.best = { testError: test.error, testLoss: test.loss, epoch, step: s };
        if (root) saveCheckpoint(paths.best, model, metaNow());
        appendRunLog(o.runDir, `best test error ${formatPercent(test.error, 2)} at epoch ${epoch}: ${paths.best}`);
      }
    }
    if (epoch % cfg.checkpointEvery === 0 || final) writeStepCheckpoint(`end of epoch ${epoch}`);
  };

  const B = cfg.batchSize;
  // A rank builds its shard of each global batch (the same pure function of (seed, epoch, k)).
  const shard = dist ? rankShard(B, dist.rank, dist.size) : undefined;
  const fill = (step: number, out: Batch): void => {
    makeTrainBatch(
      data.train,
      { seed: cfg.seed, epoch: Math.floor(step / spe), index: step % spe, batchSize: B, augment: cfg.augment, shard },
      out,
    );
  };
  const batches = new Prefetcher<Batch>(fill, () => allocBatch(data.train, shard?.count ?? B));

  const metrics = root ? new MetricsLog(paths.metrics) : { append: (_: unknown) => undefined, close: () => undefined };
  // Every rank stops at the same step: a signal seen by any rank stops them all.
  const stopNow = (): boolean => {
    if (dist) {
      const agreed = dist.agreeStop(stop.requested);
      if (agreed !== undefined) stop.request(agreed);
    }
    return stop.requested !== undefined;
  };
  try {
    let cur = batches.get(s);
    let curDataMs = batches.lastPrepareMs;
    while (s < T && !stopNow()) {
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
      if (s % cfg.logEvery === 0) {
        const mom = secondMomentRecord(model, cfg, s, epoch);
        if (mom) metrics.append(mom);
      }
      addToEpochSums(state.epochSums, rec, B);
      eta.addStep(m.secondPass, performance.now() - t0);
      progress.step(rec, ctx());
      o.onStep?.(rec);
      if (dist && s % dist.checkEvery === 0) dist.checkReplicas(model, s);
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
    const best = state.best;
    const summary: InterruptedSummary = {
      status: 'interrupted',
      signal,
      step: s,
      epoch: s === 0 ? 0 : Math.ceil(s / spe),
      epochsCompleted: Math.floor(s / spe),
      steps: T,
      epochs: plan.epochs,
      stepsPerEpoch: spe,
      bestTestError: best?.testError ?? null,
      bestEpoch: best?.epoch ?? null,
      bestStep: best?.step ?? null,
      totalTimeSec: elapsed(),
      ...identity(),
      lastCheckpoint: checkpoint ?? null,
      bestCheckpoint: best !== null && existsSync(paths.best) ? paths.best : null,
      resumeCommand: `grwarm-native train --resume ${shellWord(o.runDir)}`,
      stoppedAt: new Date().toISOString(),
      version: o.version,
    };
    if (root) {
      try {
        writeFileAtomic(paths.summary, [Buffer.from(JSON.stringify(summary, null, 2) + '\n', 'utf8')]);
      } catch (err) {
        // The checkpoint is what a resume needs; a summary that cannot be written does not fail the stop.
        notify(`could not write ${paths.summary}: ${(err as Error)?.message ?? String(err)}`);
      }
    }
    progress.interrupted(summary);
    return { status: 'interrupted', signal, step: s, checkpoint, summary };
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
    ...identity(),
    lastCheckpoint: lc.path,
    bestCheckpoint: paths.best,
    finishedAt: new Date().toISOString(),
    version: o.version,
  };
  if (root) writeFileAtomic(paths.summary, [Buffer.from(JSON.stringify(summary, null, 2) + '\n', 'utf8')]);
  const span = describeSpan(T, spe);
  const finalLine =
    `done: test accuracy ${formatAccuracy(test.error)} (error ${formatPercent(test.error)}) after ${span}, ` +
    `${formatDuration(total)}; run dir ${o.runDir}`;
  appendRunLog(o.runDir, finalLine);
  return { status: 'complete', summary, finalLine };
}

/**
 * Adam's bias-corrected exp_avg_sq (or RMSProp's square_avg) summarised after update `step`;
 * undefined for SGD. Costs one host copy of the optimizer state and a pass over it (a few ms
 * for vit-micro; recorded as statMs).
 */
function secondMomentRecord(model: { optimizerState(): { name: string; data: ArrayLike<number> }[] }, cfg: RunConfig, step: number, epoch: number): SecondMomentRecord | undefined {
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
function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The step recorded in a checkpoint's metadata, or undefined when it cannot be read. */
function stepOfCheckpoint(path: string): number | undefined {
  try {
    return readCheckpointMeta(path).step;
  } catch {
    return undefined;
  }
}

/** The step checkpoint to show for a run directory (newest), if any. */
export function newestCheckpoint(runDir: string): string | undefined {
  return listCheckpoints(runDir).at(-1)?.path;
}
