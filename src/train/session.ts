/**
 * TrainSession: one session of a training run, as an explicit state machine persisted in the
 * run directory (run-state.json, see run-state.ts):
 *
 *   open      check a resume (run identity, world size, config, metrics.jsonl) before anything
 *             is moved or rewritten; then restore the model, set the abandoned future aside,
 *             write config.json and the state (created / running)
 *   train     steps; evaluations and checkpoints on their cadences (epochs, fractions of an
 *             epoch or steps; `--checkpoint-minutes`); the last update's checkpoint moves the
 *             state to final-checkpoint
 *   summarise summary.json ("complete"), then the state summarised; a run found in
 *             final-checkpoint (killed before its summary) is evaluated and summarised here
 *   stop      on SIGINT/SIGTERM: a checkpoint and summary.json ("interrupted")
 *
 * Determinism: batch k of epoch e is a pure function of (seed, e, k) (data order and
 * augmentation), dropout masks of update t a pure function of (seed, t), and a checkpoint
 * (at any update, mid-epoch included) restores parameters, optimizer state, the update count
 * and the loop's bookkeeping (partial-epoch sums, best result). A run resumed from any
 * checkpoint computes exactly what the uninterrupted run computes (same seed and threads).
 *
 * Every write goes through a RunDirWriter, inactive on ranks other than 0.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { backendInfo, setThreads } from '../backend.js';
import type { RunConfig } from '../config/index.js';
import { allocBatch, makeTrainBatch, Prefetcher, type Batch } from '../data/index.js';
import { rankShard } from '../data/batches.js';
import { autoThreads, type Distributed } from '../distributed/index.js';
import { createModel, type VitModel } from '../model/vit-model.js';
import { cadenceSteps, describeCadence, eventsAfter, isDue } from './cadence.js';
import { restoreCheckpoint, type CheckpointMeta, type TrainState } from './checkpoint.js';
import { CheckpointError, DivergedError } from './errors.js';
import { EtaEstimator } from './eta.js';
import { evaluateDataset } from './evaluate.js';
import type { PreparedRun, StopController, StopSignalName, TrainRunOptions, TrainRunResult } from './loop.js';
import {
  addToEpochSums,
  emptyEpochSums,
  epochRecord,
  stepRecord,
  type EvalResult,
  type InterruptedSummary,
  type RunIdentity,
  type RunSummary,
  type StepRecord,
} from './metrics.js';
import { configHash, type RunData, type RunPlan } from './plan.js';
import { describeSpan, formatAccuracy, formatDuration, formatPercent, type Progress, type ProgressContext } from './progress.js';
import { checkMetricsReadable, checkResume } from './resume-check.js';
import { checkpointFileName, readSummaryStatus, supersedeAfter } from './run-dir.js';
import { newRunId, readRunState, type RunPhase } from './run-state.js';
import { RunDirWriter, type MetricsSink } from './run-writer.js';
import { RunSideLogs } from './side-logs.js';
import { describeDivergence, secondMomentRecord, shellWord, stepOfCheckpoint } from './session-util.js';
import { Trainer, type StepMetrics } from './trainer.js';

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

interface Evaluation {
  test: EvalResult;
  val: EvalResult | null;
  sec: number;
}

export class TrainSession {
  private readonly cfg: RunConfig;
  private readonly progress: Progress;
  private readonly notify: (text: string) => void;
  private readonly stop: StopController;
  private readonly dist: Distributed | undefined;
  private readonly writer: RunDirWriter;
  private readonly data: RunData;
  private readonly plan: RunPlan;
  private readonly spe: number;
  private readonly T: number;
  private readonly hash: string;
  /** Updates between evaluations and between checkpoints. */
  private readonly evalEvery: number;
  private readonly checkpointEvery: number;
  private readonly sessionStart = performance.now();
  private readonly model: VitModel;
  private readonly trainer: Trainer;
  private readonly logs: RunSideLogs;
  private state: TrainState = { epochSums: emptyEpochSums(), best: null, elapsedSec: 0 };
  private runId = '';
  private phase: RunPhase = 'created';
  /** Updates done. */
  private s = 0;
  private startStep = 0;
  private lastCheckpoint: { path: string; step: number } | undefined;
  private lastCheckpointAt = performance.now();
  private lastEval: Evaluation | null = null;
  private readonly eta: EtaEstimator;
  private metrics: MetricsSink = { append: () => undefined, close: () => undefined };

  constructor(private readonly o: TrainRunOptions & { prepared: PreparedRun }) {
    this.cfg = o.config;
    this.progress = o.progress;
    this.notify = o.notify ?? ((text: string) => this.progress.note(text));
    this.stop = o.stop!;
    this.dist = o.dist;
    this.writer = new RunDirWriter(o.runDir, o.dist?.isRoot ?? true);
    ({ data: this.data, plan: this.plan } = o.prepared);
    this.spe = this.plan.stepsPerEpoch;
    this.T = this.plan.totalSteps;
    this.hash = configHash(this.cfg);
    this.evalEvery = cadenceSteps(this.cfg.evalEvery, this.spe);
    this.checkpointEvery = cadenceSteps(this.cfg.checkpointEvery, this.spe);
    setThreads(this.dist && this.cfg.threads === 0 ? autoThreads() : this.cfg.threads);
    if (o.resume) this.checkResumable();
    this.model = createModel(this.plan.modelConfig, { seed: this.cfg.seed, device: this.cfg.device, precision: this.cfg.precision });
    this.trainer = new Trainer(this.model, {
      ...this.plan.trainer,
      perturbation: this.cfg.perturbation,
      perturbationShards: this.cfg.perturbationShards,
    }); // configures the optimizer (zero state)
    this.logs = new RunSideLogs(this.writer, this.cfg);
    // GR steps (two passes) cost about twice a base step: the ETA prices each kind separately.
    this.eta = new EtaEstimator({
      totalSteps: this.T,
      secondPassAt: (t) => this.trainer.plan(t).secondPass,
      evaluationsAfter: (step) => eventsAfter(step, this.evalEvery, this.T),
    });
  }

  async run(): Promise<TrainRunResult> {
    this.open();
    this.announce();
    if (this.startStep >= this.T) return this.summariseFinished();
    this.logs.open(this.startStep);
    try {
      await this.train();
    } finally {
      this.metrics.close();
      this.logs.close();
    }
    return this.s < this.T ? this.stopped() : this.complete();
  }

  // ---------------------------------------------------------------------------------------
  // open: checks first, then the changes to the run directory
  // ---------------------------------------------------------------------------------------

  /** Everything a resume checks before it changes anything (throws CheckpointError / Error with the reason). */
  private checkResumable(): void {
    const r = this.o.resume!;
    const m = r.meta;
    if (!sameJson(m.modelConfig, this.plan.modelConfig)) {
      throw new CheckpointError(r.path, `its model ${JSON.stringify(m.modelConfig)} differs from the one its config builds now ${JSON.stringify(this.plan.modelConfig)}`);
    }
    if (m.dataOrder.trainCount !== this.data.train.count || m.dataOrder.stepsPerEpoch !== this.spe) {
      throw new CheckpointError(
        r.path,
        `it was made with ${m.dataOrder.trainCount} training images (${m.dataOrder.stepsPerEpoch} steps per epoch), ` +
          `but the data set now has ${this.data.train.count} (${this.spe} steps per epoch); resume with the same data`,
      );
    }
    if (m.step > this.T) throw new CheckpointError(r.path, `step ${m.step} is past the run's ${this.T} steps`);
    checkResume(this.o.runDir, r.path, m, this.dist?.size ?? 1);
    checkMetricsReadable(this.o.runDir);
  }

  private open(): void {
    const { o, writer } = this;
    const paths = writer.paths;
    if (writer.active && !o.resume) checkMetricsReadable(o.runDir); // a restart in place reads it too
    const prior = writer.active ? readRunState(o.runDir) : undefined;
    if (o.resume) {
      restoreCheckpoint(this.model, o.resume);
      o.resume.file.tensors.clear(); // copied into the model: let a big checkpoint's arrays go
      this.state = structuredClone(o.resume.meta.state);
      const aside = supersedeAfter(o.runDir, o.resume.meta.step, stepOfCheckpoint);
      if (aside) {
        const text = `resuming from step ${o.resume.meta.step} abandons what this run did after it: moved ${aside.moved.join(', ')} to ${aside.folder}`;
        this.notify(text);
        writer.log(text);
      }
      writer.truncateMetrics(o.resume.meta.step);
      // The best model of the restored state (its file stays while a checkpoint refers to it).
      if (this.state.best) writer.relinkBest(this.state.best.step);
      this.lastCheckpoint = { path: o.resume.path, step: o.resume.meta.step };
    } else {
      writer.truncateMetrics(0); // a restart from step 0 in place: no lines of the old attempt
    }
    // The summary of an earlier, interrupted session describes a state this session leaves behind.
    if (writer.active && readSummaryStatus(paths.summary) === 'interrupted') writer.removeSummary();
    writer.config(this.cfg);
    this.runId = o.resume?.meta.runId ?? prior?.runId ?? newRunId();
    const dist = this.dist;
    if (dist) {
      // Every rank from rank 0's state (a resume is read by rank 0 alone), then one model.
      dist.syncModelFromRoot(this.model);
      this.state = dist.broadcastJson(writer.active ? this.state : undefined);
      this.model.setCommunicator(dist.comm);
      dist.checkReplicas(this.model, this.model.optimizerSteps);
    }
    this.s = this.startStep = this.model.optimizerSteps;
    this.phase = this.startStep >= this.T ? (prior?.phase === 'summarised' ? 'summarised' : 'final-checkpoint') : this.startStep > 0 ? 'running' : 'created';
    this.saveState();
  }

  private saveState(): void {
    const best = this.state.best;
    this.writer.state({
      phase: this.phase,
      runId: this.runId,
      configHash: this.hash,
      worldSize: this.dist?.size ?? 1,
      perturbation: this.cfg.perturbation,
      precision: this.cfg.precision,
      totalSteps: this.T,
      step: this.lastCheckpoint?.step ?? 0,
      lastCheckpoint: this.lastCheckpoint?.path ?? null,
      bestCheckpoint: best !== null && existsSync(this.writer.paths.best) ? this.writer.paths.best : null,
      updatedAt: new Date().toISOString(),
    });
  }

  private identity(): RunIdentity {
    return {
      configHash: this.hash,
      model: this.cfg.model,
      params: this.model.numParams,
      dataset: this.cfg.dataset,
      trainImages: this.data.train.count,
      valImages: this.data.val?.count ?? 0,
      testImages: this.data.test.count,
      runDir: this.o.runDir,
      ...(this.data.train.skippedImages !== undefined ? { skippedBadImages: this.data.train.skippedImages } : {}),
    };
  }

  private announce(): void {
    const { cfg, o, plan } = this;
    const threads = backendInfo().threads;
    this.progress.start({
      ...this.identity(),
      batchSize: cfg.batchSize,
      stepsPerEpoch: this.spe,
      totalSteps: this.T,
      epochs: plan.epochs,
      warmupSteps: plan.warmupSteps,
      gr: cfg.gr,
      optimizer: cfg.optimizer,
      threads,
      precision: cfg.precision,
      device: describeDevice(cfg.device, this.model.device.name),
      startStep: this.startStep,
      resumedFrom: o.resume?.path,
    });
    if (this.data.train.skippedImages) this.writer.log(`skipped ${this.data.train.skippedImages} bad image files (--skip-bad-images)`);
    for (const n of plan.notes) {
      this.notify(n);
      this.writer.log(`note: ${n}`);
    }
    this.writer.log(
      o.resume
        ? `resume from ${o.resume.path} at step ${this.startStep} of ${this.T} (${threads} threads)`
        : `start: ${this.T} steps, ${this.spe} per epoch, config hash ${this.hash}, run id ${this.runId} (${threads} threads); ` +
            `evaluation ${describeCadence(this.evalEvery, this.spe)}, checkpoints ${describeCadence(this.checkpointEvery, this.spe)}`,
    );
  }

  // ---------------------------------------------------------------------------------------
  // train
  // ---------------------------------------------------------------------------------------

  private elapsed(): number {
    return this.state.elapsedSec + (performance.now() - this.sessionStart) / 1000;
  }

  private ctx(): ProgressContext {
    return { totalSteps: this.T, epochs: this.plan.epochs, etaSec: this.s > this.startStep ? this.eta.remainingSec(this.s) : undefined };
  }

  /** Every rank stops at the same step: a signal seen by any rank stops them all. */
  private stopNow(): boolean {
    if (this.dist) {
      const agreed = this.dist.agreeStop(this.stop.requested);
      if (agreed !== undefined) this.stop.request(agreed);
    }
    return this.stop.requested !== undefined;
  }

  private async train(): Promise<void> {
    const { cfg, spe, T, dist } = this;
    const B = cfg.batchSize;
    // A rank builds its shard of each global batch (the same pure function of (seed, epoch, k)).
    const shard = dist ? rankShard(B, dist.rank, dist.size) : undefined;
    const fill = (step: number, out: Batch): void => {
      makeTrainBatch(this.data.train, { seed: cfg.seed, epoch: Math.floor(step / spe), index: step % spe, batchSize: B, augment: cfg.augment, shard }, out);
    };
    const batches = new Prefetcher<Batch>(fill, () => allocBatch(this.data.train, shard?.count ?? B));
    this.metrics = this.writer.metrics();
    let cur = batches.get(this.s);
    let curDataMs = batches.lastPrepareMs;
    while (this.s < T && !this.stopNow()) {
      const t0 = performance.now();
      const pending = this.trainer.step({ images: cur.images, labels: cur.labels });
      // Build the next batch into the other buffer while the native step runs.
      let nextDataMs = 0;
      if (this.s + 1 < T) {
        batches.prepare(this.s + 1);
        nextDataMs = batches.lastPrepareMs;
      }
      const m = await pending;
      this.checkFinite(m);
      await this.afterStep(m, curDataMs, performance.now() - t0, t0);
      if (this.s < T) {
        cur = batches.get(this.s);
        curDataMs = nextDataMs;
      }
    }
  }

  private checkFinite(m: StepMetrics): void {
    if (m.applied && Number.isFinite(m.loss) && (m.loss2 === null || Number.isFinite(m.loss2))) return;
    const epoch = Math.floor((m.t - 1) / this.spe) + 1;
    const lc = this.lastCheckpoint;
    const msg =
      `training diverged at step ${m.t} (epoch ${epoch}): ${describeDivergence(m)}; ` +
      (m.applied ? 'stopped before writing anything for this step. ' : 'the update was not applied. ') +
      (lc ? `The last good checkpoint is ${lc.path} (step ${lc.step}). ` : 'No checkpoint had been written yet. ') +
      'Try a lower --lr, gradient clipping (--clip) or a longer warmup (--warmup-epochs).';
    this.writer.log(msg);
    throw new DivergedError(msg, m.t, lc?.path);
  }

  /** The records, evaluation, epoch end and checkpoint of update `m.t`. */
  private async afterStep(m: StepMetrics, dataMs: number, stepMs: number, t0: number): Promise<void> {
    const { cfg, spe, T, dist, model } = this;
    this.s = m.t;
    const s = this.s;
    const epoch = Math.floor((s - 1) / spe) + 1;
    const rec = stepRecord(m, epoch, cfg.batchSize, dataMs, stepMs);
    this.metrics.append(rec);
    if (s % cfg.logEvery === 0) {
      const mom = secondMomentRecord(model, cfg, s, epoch);
      if (mom) this.metrics.append(mom);
    }
    addToEpochSums(this.state.epochSums, rec, cfg.batchSize);
    this.eta.addStep(m.secondPass, performance.now() - t0);
    this.progress.step(rec, this.ctx());
    this.logs.step(rec);
    this.o.onStep?.(rec);
    if (dist && s % dist.checkEvery === 0) dist.checkReplicas(model, s);

    const ev = isDue(s, this.evalEvery, T) ? await this.evaluate() : null;
    const epochEnd = s % spe === 0 || s === T;
    if (ev && !epochEnd) {
      const r = { type: 'eval' as const, step: s, epoch: s / spe, testLoss: ev.test.loss, testError: ev.test.error, valLoss: ev.val?.loss ?? null, valError: ev.val?.error ?? null, evalSec: ev.sec, elapsedSec: this.elapsed() };
      this.metrics.append(r);
      this.logs.evaluation(r);
      this.progress.evaluation(
        r,
        `step ${s}/${T} (epoch ${(s / spe).toFixed(2)}): ` +
          (ev.val ? `val error ${formatPercent(ev.val.error)}, ` : '') +
          `test loss ${ev.test.loss.toFixed(4)} error ${formatPercent(ev.test.error)}`,
      );
    }
    if (epochEnd) {
      const er = epochRecord({ epoch, step: s, last: rec, sums: this.state.epochSums, test: ev?.test ?? null, val: ev?.val ?? null, evalSec: ev?.sec ?? 0, elapsedSec: this.elapsed() });
      this.metrics.append(er);
      this.progress.epoch(er, this.ctx());
      this.logs.epoch(er);
      this.state.epochSums = emptyEpochSums();
    }
    if (ev) this.updateBest(ev, epoch);
    if (isDue(s, this.checkpointEvery, T)) this.writeCheckpoint(s === T ? 'end of the run' : epochEnd ? `end of epoch ${epoch}` : `step ${s} of epoch ${epoch}`);
    else if (this.minutesDue()) this.writeCheckpoint(`${cfg.checkpointMinutes} minutes since the last checkpoint`);
  }

  private async evaluate(): Promise<Evaluation> {
    const { dist, model, data } = this;
    const t0 = performance.now();
    const test = dist ? await dist.evaluate(model, data.test) : await evaluateDataset(model, data.test);
    const val = data.val ? (dist ? await dist.evaluate(model, data.val) : await evaluateDataset(model, data.val)) : null;
    const sec = (performance.now() - t0) / 1000;
    this.eta.addEvaluation(sec);
    this.lastEval = { test, val, sec };
    return this.lastEval;
  }

  /** The best model: lowest validation error when a validation split is held out, else lowest test error. */
  private updateBest(ev: Evaluation, epoch: number): void {
    const b = this.state.best;
    const better = b === null || (ev.val ? ev.val.error < (b.valError ?? Infinity) : ev.test.error < b.testError);
    if (!better) return;
    this.state.best = { testError: ev.test.error, testLoss: ev.test.loss, ...(ev.val ? { valError: ev.val.error } : {}), epoch, step: this.s };
    this.writer.best(this.model, this.metaNow());
    const what = ev.val ? `validation error ${formatPercent(ev.val.error, 2)}` : `test error ${formatPercent(ev.test.error, 2)}`;
    this.writer.log(`best ${what} at epoch ${epoch}: ${this.writer.paths.best} (step ${this.s})`);
  }

  /** Whether `--checkpoint-minutes` have passed since the last checkpoint (rank 0 decides for all). */
  private minutesDue(): boolean {
    const min = this.cfg.checkpointMinutes;
    if (min === undefined) return false;
    const due = performance.now() - this.lastCheckpointAt >= min * 60_000;
    return this.dist ? this.dist.broadcastJson(this.writer.active ? due : undefined) : due;
  }

  private metaNow(): CheckpointMeta {
    const { s, spe, cfg } = this;
    return {
      step: s,
      epoch: Math.floor(s / spe),
      epochStep: s % spe,
      dataOrder: { seed: cfg.seed, epoch: Math.floor(s / spe), index: s % spe, batchSize: cfg.batchSize, stepsPerEpoch: spe, trainCount: this.data.train.count },
      config: cfg,
      configHash: this.hash,
      modelConfig: this.plan.modelConfig,
      state: { ...this.state, epochSums: { ...this.state.epochSums }, elapsedSec: this.elapsed() },
      runId: this.runId,
      worldSize: this.dist?.size ?? 1,
      producer: `grwarm-native ${this.o.version}`,
      createdAt: new Date().toISOString(),
    };
  }

  private writeCheckpoint(why: string): string {
    const path = join(this.writer.paths.checkpoints, checkpointFileName(this.s));
    this.dist?.checkReplicas(this.model, this.s); // what rank 0 writes is every rank's model
    this.writer.checkpoint(path, this.model, this.metaNow(), this.cfg.keepLast);
    this.lastCheckpoint = { path, step: this.s };
    this.lastCheckpointAt = performance.now();
    this.writer.log(`checkpoint ${path} (${why})`);
    this.phase = this.s === this.T ? 'final-checkpoint' : 'running';
    this.saveState();
    return path;
  }

  // ---------------------------------------------------------------------------------------
  // stop and summarise
  // ---------------------------------------------------------------------------------------

  private stopped(): TrainRunResult {
    const { s, spe, T, writer } = this;
    const signal: StopSignalName = this.stop.requested ?? 'SIGINT';
    let checkpoint = this.lastCheckpoint?.path;
    if (s > this.startStep && this.lastCheckpoint?.step !== s) checkpoint = this.writeCheckpoint(`stopped by ${signal}`);
    writer.log(`stopped by ${signal} at step ${s} of ${T}`);
    const best = this.state.best;
    const summary: InterruptedSummary = {
      status: 'interrupted',
      signal,
      step: s,
      epoch: s === 0 ? 0 : Math.ceil(s / spe),
      epochsCompleted: Math.floor(s / spe),
      steps: T,
      epochs: this.plan.epochs,
      stepsPerEpoch: spe,
      bestTestError: best?.testError ?? null,
      bestEpoch: best?.epoch ?? null,
      bestStep: best?.step ?? null,
      totalTimeSec: this.elapsed(),
      ...this.identity(),
      lastCheckpoint: checkpoint ?? null,
      bestCheckpoint: best !== null && existsSync(writer.paths.best) ? writer.paths.best : null,
      resumeCommand: `grwarm-native train --resume ${shellWord(this.o.runDir)}`,
      stoppedAt: new Date().toISOString(),
      version: this.o.version,
    };
    try {
      writer.summary(summary);
    } catch (err) {
      // The checkpoint is what a resume needs; a summary that cannot be written does not fail the stop.
      this.notify(`could not write ${writer.paths.summary}: ${(err as Error)?.message ?? String(err)}`);
    }
    this.progress.interrupted(summary);
    return { status: 'interrupted', signal, step: s, checkpoint, summary };
  }

  private complete(): TrainRunResult {
    const ev = this.lastEval;
    if (ev === null || this.state.best === null || this.lastCheckpoint === undefined) throw new Error('internal: run ended without a final evaluation');
    return this.summarise(ev);
  }

  /**
   * A resume of a run whose last update is done: complete when summary.json says so (the state
   * becomes summarised if it was not yet); else the run was stopped between its final
   * checkpoint and its summary: the final model is evaluated again (the same numbers) and the
   * summary written.
   */
  private async summariseFinished(): Promise<TrainRunResult> {
    const { writer, dist } = this;
    let done = writer.active && readSummaryStatus(writer.paths.summary) === 'complete';
    if (dist) done = dist.broadcastJson(writer.active ? done : undefined);
    if (done) {
      if (this.phase !== 'summarised') {
        this.phase = 'summarised';
        this.saveState();
      }
      this.progress.note(`nothing to do: the run in ${this.o.runDir} is already complete (step ${this.startStep} of ${this.T})`);
      return { status: 'already-complete', step: this.startStep };
    }
    this.progress.note(`the run in ${this.o.runDir} finished its ${this.T} steps but has no summary.json: evaluating its final checkpoint to write it`);
    const ev = await this.evaluate();
    if (this.state.best === null) this.updateBest(ev, this.plan.epochs);
    return this.summarise(ev);
  }

  private summarise(ev: Evaluation): TrainRunResult {
    const { writer, T, spe } = this;
    const best = this.state.best!;
    const total = this.elapsed();
    const summary: RunSummary = {
      status: 'complete',
      finalTestError: ev.test.error,
      finalTestLoss: ev.test.loss,
      finalTestAccuracy: 1 - ev.test.error,
      bestTestError: best.testError,
      bestEpoch: best.epoch,
      bestStep: best.step,
      finalValError: ev.val ? ev.val.error : null,
      epochs: this.plan.epochs,
      steps: T,
      stepsPerEpoch: spe,
      totalTimeSec: total,
      ...this.identity(),
      lastCheckpoint: this.lastCheckpoint?.path ?? '', // known on rank 0, which alone writes it
      bestCheckpoint: writer.paths.best,
      finishedAt: new Date().toISOString(),
      version: this.o.version,
    };
    writer.summary(summary);
    this.phase = 'summarised';
    this.saveState();
    const finalLine =
      `done: test accuracy ${formatAccuracy(ev.test.error)} (error ${formatPercent(ev.test.error)}) after ${describeSpan(T, spe)}, ` +
      `${formatDuration(total)}; run dir ${this.o.runDir}`;
    writer.log(finalLine);
    return { status: 'complete', summary, finalLine };
  }
}

/** `cpu (auto: <why CUDA is not used>)`, `cuda (auto)`, `cpu (--device cpu)`: the start line's device. */
export function describeDevice(asked: string, chosen: string): string {
  if (asked !== 'auto') return `${chosen} (--device ${asked})`;
  if (chosen === 'cuda') return 'cuda (auto: CUDA available)';
  const why = backendInfo().cudaReason;
  return `${chosen} (auto: ${why ? `CUDA not used: ${why}` : 'no CUDA backend'})`;
}
