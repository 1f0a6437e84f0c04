// Ties the learning-rate schedule, the GR policy and the step together: the training loop
// only calls `trainer.step(batch)`. Update t (counted from 1, docs/method.md section 3) is the model's
// optimizer step count + 1, so a model restored from a checkpoint resumes the schedules.
import type { OptimizerConfig, StepResult, VitModel } from '../model/vit-model.js';
import { grAt, learningRate, validateGrConfig, validateLrSchedule } from '../schedule/index.js';
import type { GrConfig, LrSchedule } from '../schedule/index.js';
import { deriveSeed } from '../util/rng.js';
import { unfusedStep } from './unfused-gr-step.js';

export interface TrainerConfig {
  optimizer: OptimizerConfig;
  schedule: LrSchedule;
  gr: GrConfig;
  /** Base seed of the per-step dropout seeds. */
  seed: number;
  labelSmoothing?: number;
  /** false runs the TypeScript unfused GR step (same numbers, slower); default true. */
  fused?: boolean;
  /**
   * How the GR perturbation is shared (default 'global'); 'local' with `perturbationShards`
   * k > 1 perturbs each of k shards of the batch separately (README, "Data-parallel training").
   */
  perturbation?: 'global' | 'local';
  perturbationShards?: number;
}

export interface StepMetrics {
  /** Index of this update (first update is 1). */
  t: number;
  lr: number;
  lambda: number;
  r: number;
  alpha: number;
  secondPass: boolean;
  loss: number;
  acc: number;
  /** Loss/accuracy of the perturbed (second) pass on GR steps, else null. */
  loss2: number | null;
  acc2: number | null;
  g1Norm: number;
  gradNorm: number;
  gradNormClipped: number;
  /** false when the gradient was not finite: nothing was updated. */
  applied: boolean;
  timings: StepResult['timings'];
}

/** Dropout seeds of update t: a pure function of (seed, t), the same on resume. */
export const DROPOUT_STREAM = 7;

export class Trainer {
  readonly model: VitModel;
  readonly config: TrainerConfig;

  constructor(model: VitModel, config: TrainerConfig) {
    validateLrSchedule(config.schedule);
    validateGrConfig(config.gr);
    const ls = config.labelSmoothing ?? 0;
    if (!(ls >= 0 && ls < 1)) throw new RangeError(`labelSmoothing: got ${ls}, expected a number in [0, 1)`);
    this.model = model;
    this.config = config;
    model.configureOptimizer(config.optimizer);
  }

  /** Index of the next update (1-based). */
  get t(): number {
    return this.model.optimizerSteps + 1;
  }

  /** Learning rate and GR parameters that update t will use. */
  plan(t: number = this.t): { lr: number; lambda: number; r: number; alpha: number; secondPass: boolean } {
    const lr = learningRate(t, this.config.schedule);
    const g = grAt(t, this.config.gr);
    return { lr, ...g };
  }

  async step(batch: { images: Float32Array; labels: Int32Array }): Promise<StepMetrics> {
    const t = this.t;
    const p = this.plan(t);
    const opts = {
      lr: p.lr,
      lambda: p.secondPass ? p.lambda : 0,
      r: p.secondPass ? p.r : 0,
      seed: deriveSeed(this.config.seed, t, DROPOUT_STREAM),
      train: true,
      labelSmoothing: this.config.labelSmoothing ?? 0,
      // Only sent when set, so a plain single-process step is exactly the original call.
      ...(this.config.perturbation !== undefined ? { perturbation: this.config.perturbation } : {}),
      ...(this.config.perturbationShards !== undefined ? { shards: this.config.perturbationShards } : {}),
    };
    const local = opts.perturbation === 'local' && (opts.shards ?? 1) > 1;
    if (this.config.fused === false && local) {
      throw new RangeError('perturbation shards need the fused step (fused: true)');
    }
    const res =
      this.config.fused === false
        ? await unfusedStep(this.model, batch.images, batch.labels, opts)
        : await this.model.step(batch.images, batch.labels, opts);
    const n = res.first.count;
    return {
      t,
      lr: p.lr,
      lambda: opts.lambda,
      r: opts.r,
      alpha: p.secondPass ? p.alpha : 0,
      secondPass: res.secondPass,
      loss: res.first.loss,
      acc: res.first.correct / n,
      loss2: res.second ? res.second.loss : null,
      acc2: res.second ? res.second.correct / n : null,
      g1Norm: res.g1Norm,
      gradNorm: res.gradNorm,
      gradNormClipped: res.gradNormClipped,
      applied: res.applied,
      timings: res.timings,
    };
  }
}
