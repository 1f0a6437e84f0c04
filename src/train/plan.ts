/**
 * From a RunConfig to what the loop runs: the data splits, the model shape, the Trainer's
 * config and the step counts (T, Tw). Problems that depend on the data (warmup longer than
 * the run, batch larger than the training set) are `ConfigError`s naming the flags.
 */
import { createHash } from 'node:crypto';
import {
  ConfigError,
  DATASETS,
  IMAGE_SIZE,
  formatValue,
  relabelIssues,
  serializeConfig,
  toFlagName,
  type ConfigIssue,
  type ConfigKey,
  type RunConfig,
  type SourceMap,
} from '../config/index.js';
import { fixedSubset, loadDataset, splitValidation, stepsPerEpoch, type Dataset } from '../data/index.js';
import { runModelConfig, type VitConfig } from '../model/presets.js';
import type { TrainerConfig } from './trainer.js';

export interface RunData {
  train: Dataset;
  /** Held-out part of the training set (valFraction > 0), else null. */
  val: Dataset | null;
  test: Dataset;
}

export interface RunPlan {
  modelConfig: VitConfig;
  trainer: TrainerConfig;
  stepsPerEpoch: number;
  /** T: the schedule horizon and the number of updates of the whole run. */
  totalSteps: number;
  /** Tw = warmupSteps, else round(warmupEpochs × stepsPerEpoch), at most T; for the learning rate and the GR policy. */
  warmupSteps: number;
  /** Epochs the run spans (the last one partial when `steps` is not a multiple). */
  epochs: number;
  /** Warnings about the plan (a warmup clipped to the run), for the caller to print. */
  notes: string[];
}

/** Config keys that may differ on `--resume`: they do not change the numbers of the run. */
export const RESUME_OVERRIDABLE: readonly ConfigKey[] = [
  'threads',
  'device', // checkpoints are interchangeable between backends (only summation order differs)
  'outDir',
  'dataDir',
  'checkpointEvery',
  'keepLast',
  'evalEvery',
  'logEvery',
  'checkpointMinutes',
  'tensorboard',
  'dataWorkers', // decoded bytes do not depend on the pool size
  'decodedCache',
];

/** Keys left out of the config hash: where/how the run is kept, not what it computes. */
const HASH_EXCLUDED: ReadonlySet<string> = new Set(RESUME_OVERRIDABLE);

/** 16 hex digits of SHA-256 over the config fields that determine the run's numbers. */
export function configHash(cfg: RunConfig): string {
  const rec: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(cfg)) {
    // Configs written before grStepOrigin existed counted from 1: they hash as grStepOrigin 1.
    if (k === 'grStepOrigin' && v === 1) continue;
    if (!HASH_EXCLUDED.has(k)) rec[k] = v;
  }
  return createHash('sha256')
    .update(serializeConfig(rec as RunConfig))
    .digest('hex')
    .slice(0, 16);
}

const issue = (key: ConfigKey, text: string) => ({ source: toFlagName(key), field: key, text: `${toFlagName(key)}: ${text}` });

const NEEDS_DIR = new Set(['cifar10', 'cifar100', 'mnist', 'imagefolder', 'tinyimagenet', 'imagenet']);

/**
 * Data settings that would otherwise be ignored without a word. `dataDir` with the synthetic
 * set (generated in memory, it reads no files) is a ConfigError naming where the value came
 * from; `--synthetic-train`/`--synthetic-test` given as flags with a data set read from files
 * give notes (returned, for the caller to print).
 */
export function checkDataSettings(cfg: RunConfig, sources: SourceMap): string[] {
  if (cfg.dataset === 'synthetic' && cfg.dataDir !== undefined) {
    const fileSets = DATASETS.filter((d) => d !== 'synthetic').join(', ');
    throw relabelIssues(
      new ConfigError([
        issue(
          'dataDir',
          `got ${formatValue(cfg.dataDir)}, but data set "synthetic" is generated in memory and reads no files; ` +
            `drop the data directory, or choose a data set read from files with --dataset (${fileSets})`,
        ),
      ]),
      sources,
    );
  }
  const notes: string[] = [];
  if (cfg.dataset !== 'synthetic') {
    for (const key of ['syntheticTrain', 'syntheticTest'] as const) {
      const flag = toFlagName(key);
      if (sources[key] === flag) notes.push(`${flag} applies to --dataset synthetic only; data set ${cfg.dataset} ignores it`);
    }
  }
  return notes;
}

/** Loads the data set of the config, with the validation split held out. */
export function loadRunData(cfg: RunConfig, opts: { testOnly?: boolean } = {}): RunData {
  if (NEEDS_DIR.has(cfg.dataset) && cfg.dataDir === undefined) {
    throw new ConfigError([
      issue('dataDir', `missing, expected the directory holding the ${cfg.dataset} files (data set "${cfg.dataset}" is read from local files)`),
    ]);
  }
  const splits = loadDataset(cfg.dataset, {
    dataDir: cfg.dataDir,
    seed: cfg.seed,
    syntheticTrain: cfg.syntheticTrain,
    syntheticTest: cfg.syntheticTest,
    imageSize: cfg.imageSize,
    evalCropPad: cfg.evalCropPad,
    dataWorkers: cfg.dataWorkers,
    decodedCache: cfg.decodedCache,
    skipBadImages: cfg.skipBadImages,
    testOnly: opts.testOnly,
    mixup: cfg.mixup,
    randAugment: cfg.randAugment,
    randAugmentMagnitude: cfg.randAugmentMagnitude,
  });
  const side = cfg.imageSize ?? IMAGE_SIZE;
  if (splits.train.height !== side || splits.train.width !== side) {
    throw new Error(`data set ${cfg.dataset}: images are ${splits.train.height}x${splits.train.width}, expected ${side}x${side}`);
  }
  // Fixed subsets (the same images for every seed), before the validation split.
  for (const [key, split] of [['trainSubset', 'train'], ['testSubset', 'test']] as const) {
    const n = cfg[key];
    if (n === undefined) continue;
    if (n > splits[split].count) {
      throw new ConfigError([issue(key, `got ${n}, expected at most the ${splits[split].count} ${split === 'train' ? 'training' : 'test'} images of ${cfg.dataset}`)]);
    }
    splits[split] = fixedSubset(splits[split], n, split);
  }
  if (cfg.valFraction > 0) {
    const { train, val } = splitValidation(splits.train, cfg.valFraction, cfg.seed);
    if (val.count === 0) {
      throw new ConfigError([
        issue('valFraction', `got ${cfg.valFraction}, which holds out no image of the ${splits.train.count} training images`),
      ]);
    }
    return { train, val, test: splits.test };
  }
  return { train: splits.train, val: null, test: splits.test };
}

/** Model shape of the config on a data set (channels and classes come from the data). */
export function modelConfigFor(cfg: RunConfig, data: Pick<Dataset, 'channels' | 'numClasses' | 'height'>): VitConfig {
  return runModelConfig(
    cfg.model,
    { imageSize: data.height, channels: data.channels, numClasses: data.numClasses },
    { patchSize: cfg.patchSize, dropout: cfg.dropout, gelu: cfg.gelu },
  );
}

/** Largest values the native step accepts (the schema only bounds them from below). */
const NATIVE_LIMITS: [ConfigKey, number, string][] = [
  ['lr', 1e6, 'at most 1000000'],
  ['weightDecay', 1e6, 'at most 1000000'],
  ['lambda', 1e6, 'at most 1000000'],
  ['r', 1e6, 'at most 1000000'],
  ['eps', 1, 'at most 1'],
  ['clip', 1e30, 'at most 1e30'],
  ['beta1', 0.999999999, 'at most 0.999999999'],
  ['beta2', 0.999999999, 'at most 0.999999999'],
  ['momentum', 0.999999999, 'at most 0.999999999'],
  ['rmspropDecay', 0.999999999, 'at most 0.999999999'],
];

/** The step counts and the Trainer's config of a run on `train`. Throws ConfigError. */
export function planRun(cfg: RunConfig, train: Dataset): RunPlan {
  const problems: ConfigIssue[] = [];
  for (const [key, max, text] of NATIVE_LIMITS) {
    const v = cfg[key] as number;
    if (v > max) problems.push(issue(key, `got ${v}, expected ${text} (the largest value the native step accepts)`));
  }
  if (problems.length > 0) throw new ConfigError(problems);

  if (cfg.batchSize > train.count) {
    throw new ConfigError([
      issue('batchSize', `got ${cfg.batchSize}, expected at most the ${train.count} training images (the last partial batch is dropped)`),
    ]);
  }
  const spe = stepsPerEpoch(train, cfg.batchSize);
  const totalSteps = cfg.steps ?? cfg.epochs * spe;
  // The warmup: --warmup-steps, else --warmup-epochs in updates; longer than the run, it is
  // clipped to the run (the schedule then ends inside its warmup) with a note.
  const notes: string[] = [];
  const asked = cfg.warmupSteps ?? Math.round(cfg.warmupEpochs * spe);
  const warmupSteps = Math.min(asked, totalSteps);
  if (asked > totalSteps) {
    const horizon = cfg.steps !== undefined ? `--steps ${cfg.steps}` : `--epochs ${cfg.epochs}`;
    const given = cfg.warmupSteps !== undefined ? `--warmup-steps ${cfg.warmupSteps}` : `--warmup-epochs ${cfg.warmupEpochs} (${asked} steps at ${spe} steps per epoch)`;
    notes.push(`${given} is longer than the run's ${totalSteps} steps (${horizon}): the warmup is clipped to ${totalSteps} steps`);
  }
  const lambda0 = cfg.gr === 'none' ? 0 : cfg.gr === 'sam' ? cfg.r : cfg.lambda;
  const trainer: TrainerConfig = {
    optimizer: {
      kind: cfg.optimizer,
      beta1: cfg.beta1,
      beta2: cfg.beta2,
      eps: cfg.eps,
      rho: cfg.rmspropDecay,
      momentum: cfg.momentum,
      centered: cfg.centered,
      weightDecay: cfg.weightDecay,
      wdMask: cfg.wdMask,
      clip: cfg.clip,
    },
    schedule: { form: cfg.schedule, lr0: cfg.lr, warmupSteps, totalSteps },
    gr: { policy: cfg.gr, lambda0, r0: cfg.r, warmupSteps, stepOrigin: cfg.grStepOrigin === 0 ? 0 : 1 },
    seed: cfg.seed,
    labelSmoothing: cfg.labelSmoothing,
  };
  return {
    modelConfig: modelConfigFor(cfg, train),
    trainer,
    stepsPerEpoch: spe,
    totalSteps,
    warmupSteps,
    epochs: Math.ceil(totalSteps / spe),
    notes,
  };
}
