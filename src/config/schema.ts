/**
 * The run configuration: one flat, validated, fully-resolved object (`RunConfig`).
 *
 * - `RunConfigSchema` is the zod 4 schema (strict: unknown keys are errors). Every field has
 *   a default, so parsing `{}` gives the built-in default run. The schema is pure: the
 *   `outDir` default keeps its `<timestamp>` placeholder, which `resolveConfig` (load.ts)
 *   fills in at load time.
 * - `CONFIG_FIELDS` is the single table of fields → CLI flag, value kind, description and the
 *   "expected" text used in error messages. The CLI generates its options from it and the
 *   docs are generated from it, so they cannot drift apart.
 * - `ConfigError` carries every problem, one per line, as
 *   `config: [<source>: ]<field>: got <value as JSON>, expected <what is allowed>`.
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------
// Choices
// ---------------------------------------------------------------------------------------

export const MODELS = ['vit-micro', 'vit-ti', 'vit-s', 'vit-b', 'swin-micro', 'swin-t', 'swin-s', 'swin-b', 'swin-t-cifar',
  'cait-micro', 'cait-xxs12', 'cait-xxs24', 'cait-xs12', 'cait-s12', 'cait-xxs12-cifar', 'cait-xxs24-cifar', 'cait-xs12-cifar', 'cait-s12-cifar'] as const;
export const GELUS = ['tanh', 'erf'] as const;
export const DATASETS = ['synthetic', 'cifar10', 'cifar100', 'fashion-mnist', 'mnist', 'imagefolder', 'tinyimagenet', 'imagenet'] as const;
/** Data sets decoded from image files (src/data/images/): any --image-size, Inception-crop augmentation. */
export const IMAGE_FOLDER_DATASETS: readonly DatasetName[] = ['imagefolder', 'tinyimagenet', 'imagenet'];
export const OPTIMIZERS = ['adam', 'rmsprop', 'sgd'] as const;
/** Optimizer names accepted: adamw is another name of adam, which already decouples its weight decay (AdamW). */
export const OPTIMIZER_NAMES = [...OPTIMIZERS, 'adamw'] as const;
export const WD_MASKS = ['all', 'timm'] as const;
export const SCHEDULES = ['paper', 'warmup-cosine', 'constant'] as const;
export const GR_POLICIES = ['none', 'gr', 'sam', 'r-warmup', 'lambda-warmup', 'zero-warmup'] as const;
export const DEVICES = ['auto', 'cpu', 'cuda'] as const;
/** Model precisions: canonical names first, then the short names they also accept. */
export const PRECISIONS = ['float32', 'bfloat16', 'float64', 'bf16', 'fp32', 'fp64'] as const;
const PRECISION_CANONICAL = { float32: 'float32', bfloat16: 'bfloat16', float64: 'float64', bf16: 'bfloat16', fp32: 'float32', fp64: 'float64' } as const;
export const PERTURBATIONS = ['global', 'local'] as const;

export type ModelName = (typeof MODELS)[number];
export type GeluKind = (typeof GELUS)[number];
export type DatasetName = (typeof DATASETS)[number];
export type OptimizerName = (typeof OPTIMIZERS)[number];
export type WdMask = (typeof WD_MASKS)[number];
export type ScheduleName = (typeof SCHEDULES)[number];
export type GrPolicy = (typeof GR_POLICIES)[number];
export type Perturbation = (typeof PERTURBATIONS)[number];

/** Side of the (square) input images every data set is brought to. */
export const IMAGE_SIZE = 32;
/** Patch sizes that tile a 32×32 image exactly. */
export const PATCH_SIZES = [1, 2, 4, 8, 16, 32] as const;
/** Largest seed (seeds are unsigned 32-bit integers). */
export const MAX_SEED = 2 ** 32 - 1;
/**
 * Upper bounds of the size fields: far above any run this package is for, low enough that a
 * typo (an extra digit or three) is a clear config error instead of a failed allocation
 * (`Invalid typed array length`) after the data set was half built.
 */
export const MAX_IMAGES = 1_000_000;
export const MAX_BATCH = 65_536;
export const MAX_THREADS = 1024;
/** Placeholder in `outDir` replaced by a timestamp at load time (see `resolveOutDir`). */
export const TIMESTAMP_PLACEHOLDER = '<timestamp>';

/** Policies that take a second (perturbed) pass, i.e. everything but `none`. */
export function isGrPolicy(gr: GrPolicy): boolean {
  return gr !== 'none';
}

// ---------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------

const num = () => z.number();
const int = () => z.number().int();
const unit = () => z.number().gte(0).lt(1); // 0 <= x < 1
/** `"500steps"`: a cadence counted in optimizer updates. */
export const STEPS_CADENCE_RE = /^[1-9]\d{0,14}\s*steps?$/;
/** A cadence: epochs (a number > 0; 0.25 = every quarter epoch) or `"<n>steps"`. */
const cadence = () => z.union([num().gt(0).lte(1e9), z.string().regex(STEPS_CADENCE_RE)]);

const fieldShape = {
  // model
  model: z.enum(MODELS).default('vit-micro'),
  dropout: unit().default(0),
  gelu: z.enum(GELUS).default('tanh'),
  patchSize: int()
    .refine((p) => p >= 1 && IMAGE_SIZE % p === 0)
    .default(4),

  // data
  dataset: z.enum(DATASETS).default('synthetic'),
  dataDir: z.string().min(1).optional(),
  syntheticTrain: int().gte(1).lte(MAX_IMAGES).default(10000),
  syntheticTest: int().gte(1).lte(MAX_IMAGES).default(2000),
  /** Absent → the whole split. A fixed random subset, the same for every run seed. */
  trainSubset: int().gte(1).lte(MAX_IMAGES).optional(),
  testSubset: int().gte(1).lte(MAX_IMAGES).optional(),
  augment: z.boolean().default(true),
  valFraction: unit().default(0),
  imageSize: int().gte(8).lte(1024).default(IMAGE_SIZE),
  evalCropPad: int().gte(0).lte(1024).optional(),
  dataWorkers: int().gte(1).lte(64).default(2),
  decodedCache: z.string().min(1).optional(),
  skipBadImages: z.boolean().default(false),
  mixup: num().gte(0).lte(100).default(0),
  randAugment: int().gte(0).lte(4).default(0),
  randAugmentMagnitude: int().gte(0).lte(30).default(9),

  // optimisation
  optimizer: z.enum(OPTIMIZER_NAMES).default('adam').transform((o): OptimizerName => (o === 'adamw' ? 'adam' : o)),
  lr: num().gt(0).default(1e-3),
  beta1: unit().default(0.9),
  beta2: unit().default(0.999),
  eps: num().gt(0).default(1e-8),
  /** Absent → resolved from the optimizer: 0.9 for sgd, 0 otherwise (see the transform). */
  momentum: unit().optional(),
  rmspropDecay: unit().default(0.9),
  centered: z.boolean().default(false),
  weightDecay: num().gte(0).default(0.05),
  wdMask: z.enum(WD_MASKS).default('all'),
  clip: num().gte(0).default(2.0),
  labelSmoothing: unit().default(0),
  schedule: z.enum(SCHEDULES).default('paper'),
  warmupEpochs: num().gte(0).default(1),
  /** Absent → from warmupEpochs. Set → the warmup in updates (overrides warmupEpochs). */
  warmupSteps: int().gte(0).optional(),
  epochs: int().gte(1).default(5),
  steps: int().gte(1).optional(),
  batchSize: int().gte(1).lte(MAX_BATCH).default(64),

  // gradient regularization
  gr: z.enum(GR_POLICIES).default('zero-warmup'),
  lambda: num().gte(0).default(0.1),
  r: num().gte(0).default(0.1),
  /** 0: the GR ramps count the optimizer step from 0 (the authors' code: r = λ = 0 at the first update); 1: from 1. */
  grStepOrigin: int().refine((v) => v === 0 || v === 1).default(0),
  perturbation: z.enum(PERTURBATIONS).default('global'),
  perturbationShards: int().gte(1).lte(MAX_BATCH).default(1),

  // run
  seed: int().gte(0).lte(MAX_SEED).default(0),
  threads: int().gte(0).lte(MAX_THREADS).default(0),
  device: z.enum(DEVICES).default('auto'),
  precision: z.enum(PRECISIONS).default('float32').transform((p) => PRECISION_CANONICAL[p]),
  outDir: z.string().min(1).default(`runs/${TIMESTAMP_PLACEHOLDER}`),
  checkpointEvery: cadence().default(1),
  keepLast: int().gte(1).default(2),
  evalEvery: cadence().default(1),
  logEvery: int().gte(1).default(20),
  /** Absent → no time-based checkpoints. */
  checkpointMinutes: num().gt(0).optional(),
  tensorboard: z.boolean().default(false),
};

/** Every configuration key, in table order. */
export type ConfigKey = keyof typeof fieldShape;
export const CONFIG_KEYS = Object.keys(fieldShape) as ConfigKey[];
const KEY_SET: ReadonlySet<string> = new Set(CONFIG_KEYS);
export function isConfigKey(key: string): key is ConfigKey {
  return KEY_SET.has(key);
}

type Fields = z.output<z.ZodObject<typeof fieldShape>>;

/** Default momentum when none is given: SGD uses 0.9, RMSProp (and Adam, which ignores it) 0. */
export function defaultMomentum(optimizer: OptimizerName): number {
  return optimizer === 'sgd' ? 0.9 : 0;
}

/**
 * A cross-field rule: runs only when none of the fields it reads failed on its own (so a
 * bad `r` is reported once, by its own check, not again by the rule).
 */
function rule(fields: readonly ConfigKey[], check: (cfg: Fields, ctx: z.RefinementCtx<Fields>) => void) {
  return z.superRefine<Fields>(check, {
    when: (payload) =>
      typeof payload.value === 'object' &&
      payload.value !== null &&
      !payload.issues.some((issue) => fields.includes(issue.path?.[0] as ConfigKey)),
  });
}

const grRule = rule(['gr', 'lambda', 'r'], (cfg, ctx) => {
  if (!isGrPolicy(cfg.gr) || cfg.r !== 0) return;
  if (cfg.gr === 'sam') {
    ctx.addIssue({
      code: 'custom',
      path: ['r'],
      input: cfg.r,
      params: { configRule: true },
      message: 'got 0, expected a number > 0 under gr "sam" (with r = 0 SAM is just the base optimizer)',
    });
  } else if (cfg.lambda > 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['r'],
      input: cfg.r,
      params: { configRule: true },
      message:
        `got 0, expected a number > 0 because lambda = ${formatValue(cfg.lambda)} > 0 under gr ` +
        `${formatValue(cfg.gr)} (alpha = lambda / r); set lambda to 0 or gr to "none" to turn GR off`,
    });
  }
});

const shardsRule = rule(['perturbation', 'perturbationShards', 'batchSize'], (cfg, ctx) => {
  if (typeof cfg.perturbationShards !== 'number' || cfg.perturbationShards === 1) return;
  if (cfg.perturbation !== 'local') {
    ctx.addIssue({
      code: 'custom',
      path: ['perturbationShards'],
      input: cfg.perturbationShards,
      params: { configRule: true },
      message:
        `got ${cfg.perturbationShards}, but shards with their own perturbations are the local mode: ` +
        `add --perturbation local (perturbation is ${formatValue(cfg.perturbation)})`,
    });
  } else if (cfg.perturbationShards > cfg.batchSize) {
    ctx.addIssue({
      code: 'custom',
      path: ['perturbationShards'],
      input: cfg.perturbationShards,
      params: { configRule: true },
      message: `got ${cfg.perturbationShards}, expected at most batchSize = ${cfg.batchSize} (a shard holds at least one image)`,
    });
  }
});

const imageSizeRule = rule(['imageSize', 'patchSize', 'dataset', 'mixup', 'randAugment'], (cfg, ctx) => {
  if (typeof cfg.imageSize !== 'number') return;
  for (const key of ['mixup', 'randAugment'] as const) {
    if (cfg[key] > 0 && !IMAGE_FOLDER_DATASETS.includes(cfg.dataset)) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        input: cfg[key],
        params: { configRule: true },
        message: `got ${cfg[key]}, but ${key} is implemented for the image-folder data sets (${IMAGE_FOLDER_DATASETS.join(', ')}) only; data set is ${formatValue(cfg.dataset)}`,
      });
    }
  }
  const folder = IMAGE_FOLDER_DATASETS.includes(cfg.dataset);
  if (cfg.imageSize % cfg.patchSize !== 0 || (!folder && cfg.imageSize !== IMAGE_SIZE)) {
    ctx.addIssue({
      code: 'custom',
      path: ['imageSize'],
      input: cfg.imageSize,
      params: { configRule: true },
      message: folder
        ? `got ${cfg.imageSize}, expected a multiple of patchSize = ${cfg.patchSize}`
        : `got ${cfg.imageSize}, but data set ${formatValue(cfg.dataset)} has ${IMAGE_SIZE} px images; other sizes need an image-folder data set (${IMAGE_FOLDER_DATASETS.join(', ')})`,
    });
  }
});

/**
 * The run configuration schema. Input: any subset of the fields (strict: unknown keys are
 * errors). Output: every field resolved (`momentum` from the optimizer when absent).
 * `dataDir` and `steps` stay optional. `outDir` may still hold `<timestamp>`.
 */
export const RunConfigSchema = z
  .strictObject(fieldShape)
  .check(grRule, shardsRule, imageSizeRule)
  .transform((cfg) => ({ ...cfg, momentum: cfg.momentum ?? defaultMomentum(cfg.optimizer) }));

/** A fully-resolved run configuration. */
export type RunConfig = z.output<typeof RunConfigSchema>;
/** What a preset, config file or override layer may hold (every field optional). */
export type RunConfigInput = z.input<typeof RunConfigSchema>;

// ---------------------------------------------------------------------------------------
// The field table (CLI flags, docs, error texts)
// ---------------------------------------------------------------------------------------

export type FieldGroup = 'model' | 'data' | 'optimisation' | 'gr' | 'run';
export type FieldKind = 'enum' | 'number' | 'integer' | 'boolean' | 'string';

export interface FieldSpec {
  key: ConfigKey;
  /** Long CLI flag, `--batch-size` for `batchSize` (commander camel-cases it back to the key). */
  flag: string;
  group: FieldGroup;
  kind: FieldKind;
  /** Allowed values of an enum (or the allowed patch sizes). */
  choices?: readonly (string | number)[];
  /** Placeholder for the flag's argument, e.g. `<n>`; absent for booleans. */
  valueName?: string;
  /**
   * Booleans: the CLI should offer `--no-<flag>` too (for fields that default to true a
   * plain `--flag` does nothing).
   */
  negatable?: boolean;
  /** Default as shown in help and docs. */
  defaultText: string;
  /** One line for `--help` and the docs. */
  description: string;
  /** What is allowed, as used in `expected …` in error messages. */
  expected: string;
}

/** `batchSize` → `--batch-size`. */
export function toFlagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** `--batch-size` (or `batch-size`) → `batchSize`. Inverse of `toFlagName`. */
export function fromFlagName(flag: string): string {
  return flag.replace(/^--(no-)?/, '').replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

const oneOf = (choices: readonly string[]) => 'one of ' + choices.map((c) => JSON.stringify(c)).join(', ');
const UNIT = 'a number >= 0 and < 1';
const POS = 'a number > 0';
const NONNEG = 'a number >= 0';
const intAtLeast = (n: number) => `an integer >= ${n}`;
const intFromTo = (lo: number, hi: number) => `an integer from ${lo} to ${hi}`;
const BOOL = 'true or false';
const CADENCE = 'a number of epochs > 0 (0.25 = every quarter epoch) or "<n>steps" (e.g. "500steps")';
const NONEMPTY = 'a non-empty string';

type Row = Omit<FieldSpec, 'key' | 'flag' | 'defaultText'> & { defaultText?: string };

const rows: { [K in ConfigKey]: Row } = {
  model: { group: 'model', kind: 'enum', choices: MODELS, valueName: '<name>', expected: oneOf(MODELS),
    description: 'model: vit-micro (tiny, for tests and quick runs), vit-ti, vit-s, vit-b; swin-micro, swin-t, swin-s, swin-b, swin-t-cifar (docs/method.md section 4.7); cait-micro, cait-xxs12, cait-xxs24, cait-xs12, cait-s12 and their -cifar variants (section 4.9)' },
  dropout: { group: 'model', kind: 'number', valueName: '<p>', expected: UNIT,
    description: 'dropout rate (position embedding, attention, MLP); 0 turns it off' },
  gelu: { group: 'model', kind: 'enum', choices: GELUS, valueName: '<kind>', expected: oneOf(GELUS),
    description: 'GELU form: tanh approximation (the paper\'s code) or exact erf (timm)' },
  patchSize: { group: 'model', kind: 'integer', choices: PATCH_SIZES, valueName: '<n>',
    expected: `a divisor of the image size ${IMAGE_SIZE}: one of ${PATCH_SIZES.join(', ')}`,
    description: `patch side in pixels; must divide the image size ${IMAGE_SIZE}` },

  dataset: { group: 'data', kind: 'enum', choices: DATASETS, valueName: '<name>', expected: oneOf(DATASETS),
    description: 'data set; synthetic needs no files' },
  dataDir: { group: 'data', kind: 'string', valueName: '<dir>', expected: NONEMPTY, defaultText: '(none)',
    description: 'directory holding the data set files' },
  syntheticTrain: { group: 'data', kind: 'integer', valueName: '<n>', expected: intFromTo(1, MAX_IMAGES),
    description: 'number of synthetic training images' },
  syntheticTest: { group: 'data', kind: 'integer', valueName: '<n>', expected: intFromTo(1, MAX_IMAGES),
    description: 'number of synthetic test images' },
  trainSubset: { group: 'data', kind: 'integer', valueName: '<n>', expected: intFromTo(1, MAX_IMAGES), defaultText: '(all)',
    description: 'train on a fixed random subset of n training images (the same subset for every seed)' },
  testSubset: { group: 'data', kind: 'integer', valueName: '<n>', expected: intFromTo(1, MAX_IMAGES), defaultText: '(all)',
    description: 'evaluate on a fixed random subset of n test images (the same subset for every seed)' },
  augment: { group: 'data', kind: 'boolean', negatable: true, expected: BOOL,
    description: 'training augmentation: reflect-pad 4, random 32x32 crop, horizontal flip' },
  valFraction: { group: 'data', kind: 'number', valueName: '<f>', expected: UNIT,
    description: 'fraction of the training set held out for validation' },
  imageSize: { group: 'data', kind: 'integer', valueName: '<px>', expected: 'an integer from 8 to 1024, a multiple of the patch size',
    description: `model input side in pixels; image-folder data sets are brought to it, the others are ${IMAGE_SIZE} px` },
  evalCropPad: { group: 'data', kind: 'integer', valueName: '<px>', expected: intFromTo(0, 1024), defaultText: 'size/4 up to 64 px, then 32',
    description: 'image-folder sets: evaluation centre crop of side size/(size+pad)*min(h,w); training crops come from images stored at size+pad' },
  dataWorkers: { group: 'data', kind: 'integer', valueName: '<n>', expected: intFromTo(1, 64),
    description: 'image-folder sets: worker threads decoding images (results do not depend on it)' },
  decodedCache: { group: 'data', kind: 'string', valueName: '<dir>', expected: NONEMPTY, defaultText: '(none)',
    description: 'image-folder sets: keep decoded images in this folder and reuse them in later runs (rebuilt when files or settings change)' },
  mixup: { group: 'data', kind: 'number', valueName: '<alpha>', expected: 'a number from 0 to 100',
    description: 'image-folder sets: mixup with lambda ~ Beta(alpha, alpha), labels drawn with probability lambda (same expected loss as soft targets); 0 = off' },
  randAugment: { group: 'data', kind: 'integer', valueName: '<n>', expected: intFromTo(0, 4),
    description: 'image-folder sets: RandAugment with n ops per training image (torchvision\'s 14 ops, 31 magnitude bins); 0 = off' },
  randAugmentMagnitude: { group: 'data', kind: 'integer', valueName: '<m>', expected: intFromTo(0, 30),
    description: 'RandAugment magnitude bin, 0 to 30 (9 in the authors\' code)' },
  skipBadImages: { group: 'data', kind: 'boolean', expected: BOOL,
    description: 'image-folder sets: skip and count unreadable, corrupt or non-image files (and empty class folders) instead of stopping' },

  optimizer: { group: 'optimisation', kind: 'enum', choices: OPTIMIZER_NAMES, valueName: '<name>', expected: oneOf(OPTIMIZER_NAMES),
    description: 'base optimizer (decoupled weight decay for all three; adamw is another name of adam, recorded as adam)' },
  lr: { group: 'optimisation', kind: 'number', valueName: '<x>', expected: POS,
    description: 'base (peak) learning rate' },
  beta1: { group: 'optimisation', kind: 'number', valueName: '<x>', expected: UNIT,
    description: 'Adam first-moment decay' },
  beta2: { group: 'optimisation', kind: 'number', valueName: '<x>', expected: UNIT,
    description: 'Adam second-moment decay' },
  eps: { group: 'optimisation', kind: 'number', valueName: '<x>', expected: POS,
    description: 'epsilon added after the square root (Adam, RMSProp)' },
  momentum: { group: 'optimisation', kind: 'number', valueName: '<x>', expected: UNIT,
    defaultText: '0.9 for sgd, 0 for rmsprop', description: 'momentum (SGD, RMSProp); unused by Adam' },
  rmspropDecay: { group: 'optimisation', kind: 'number', valueName: '<x>', expected: UNIT,
    description: 'RMSProp squared-gradient decay' },
  centered: { group: 'optimisation', kind: 'boolean', expected: BOOL,
    description: 'centered RMSProp' },
  weightDecay: { group: 'optimisation', kind: 'number', valueName: '<x>', expected: NONNEG,
    description: 'decoupled weight decay, scaled by the scheduled learning rate' },
  wdMask: { group: 'optimisation', kind: 'enum', choices: WD_MASKS, valueName: '<mask>', expected: oneOf(WD_MASKS),
    description: 'all: decay every parameter (paper\'s code); timm: skip biases, LayerNorm, cls token, pos embed' },
  clip: { group: 'optimisation', kind: 'number', valueName: '<x>', expected: NONNEG,
    description: 'global-norm gradient clipping of the combined gradient; 0 turns it off' },
  labelSmoothing: { group: 'optimisation', kind: 'number', valueName: '<x>', expected: UNIT,
    description: 'label smoothing' },
  schedule: { group: 'optimisation', kind: 'enum', choices: SCHEDULES, valueName: '<name>', expected: oneOf(SCHEDULES),
    description: 'learning-rate schedule: paper (warmup x cosine over the whole run), warmup-cosine, constant' },
  warmupEpochs: { group: 'optimisation', kind: 'number', valueName: '<n>', expected: NONNEG,
    description: 'warmup length in epochs (learning rate and GR warmup)' },
  warmupSteps: { group: 'optimisation', kind: 'integer', valueName: '<n>', expected: intAtLeast(0), defaultText: '(from warmup-epochs)',
    description: 'warmup length in optimizer steps; overrides --warmup-epochs when set' },
  epochs: { group: 'optimisation', kind: 'integer', valueName: '<n>', expected: intAtLeast(1),
    description: 'number of training epochs' },
  steps: { group: 'optimisation', kind: 'integer', valueName: '<n>', expected: intAtLeast(1), defaultText: '(from epochs)',
    description: 'total number of optimizer steps; overrides epochs when set' },
  batchSize: { group: 'optimisation', kind: 'integer', valueName: '<n>', expected: intFromTo(1, MAX_BATCH),
    description: 'mini-batch size' },

  gr: { group: 'gr', kind: 'enum', choices: GR_POLICIES, valueName: '<policy>', expected: oneOf(GR_POLICIES),
    description: 'gradient regularization policy' },
  lambda: { group: 'gr', kind: 'number', valueName: '<x>', expected: NONNEG,
    description: 'GR strength lambda (alpha = lambda / r; ignored by sam, where alpha = 1)' },
  r: { group: 'gr', kind: 'number', valueName: '<x>', expected: NONNEG,
    description: 'GR / SAM perturbation radius r' },
  grStepOrigin: { group: 'gr', kind: 'integer', choices: [0, 1], valueName: '<0|1>', expected: 'one of 0, 1',
    description: 'step origin of the r-/lambda-warmup ramps min(1, s/Tw): 0 = s counts updates from 0 (the authors\' code: 0 at the first update), 1 = from 1' },
  perturbation: { group: 'gr', kind: 'enum', choices: PERTURBATIONS, valueName: '<mode>', expected: oneOf(PERTURBATIONS),
    description: 'global: one perturbation from the whole (global) batch; local: one per rank/shard (the paper\'s JAX code, SAM m-sharpness)' },
  perturbationShards: { group: 'gr', kind: 'integer', valueName: '<k>', expected: intFromTo(1, MAX_BATCH),
    description: 'local mode: split each process\'s batch into k shards, each with its own perturbation' },

  seed: { group: 'run', kind: 'integer', valueName: '<n>', expected: intFromTo(0, MAX_SEED),
    description: 'random seed (init, data order, augmentation, dropout)' },
  threads: { group: 'run', kind: 'integer', valueName: '<n>', expected: intFromTo(0, MAX_THREADS),
    description: 'CPU threads for the native code; 0 = auto' },
  device: { group: 'run', kind: 'enum', choices: DEVICES, valueName: '<device>', expected: oneOf(DEVICES),
    description: 'where the model runs: cuda, cpu, or auto (cuda when available here, else cpu); see `grwarm-native info`' },
  precision: { group: 'run', kind: 'enum', choices: PRECISIONS, valueName: '<precision>', expected: oneOf(PRECISIONS),
    description: 'float32; bfloat16 (bf16): mixed precision, bf16 GEMM inputs with float32 master weights, optimizer state and reductions (CPU; fastest with oneDNN on AMX/AVX512-BF16 CPUs, see `grwarm-native info`); float64: for checks. Checkpoints of float32 and bfloat16 runs are the same float32 safetensors' },
  outDir: { group: 'run', kind: 'string', valueName: '<dir>', expected: NONEMPTY,
    description: `run directory; ${TIMESTAMP_PLACEHOLDER} is replaced by the start time` },
  checkpointEvery: { group: 'run', kind: 'number', valueName: '<n>', expected: CADENCE,
    description: 'checkpoint cadence: epochs (2), a fraction of an epoch (0.25) or steps (500steps); always at the end' },
  keepLast: { group: 'run', kind: 'integer', valueName: '<n>', expected: intAtLeast(1),
    description: 'number of most recent checkpoints kept' },
  evalEvery: { group: 'run', kind: 'number', valueName: '<n>', expected: CADENCE,
    description: 'evaluation cadence (test and validation sets): epochs (2), a fraction of an epoch (0.25) or steps (500steps); always at the end' },
  logEvery: { group: 'run', kind: 'integer', valueName: '<n>', expected: intAtLeast(1),
    description: 'steps between progress lines' },
  checkpointMinutes: { group: 'run', kind: 'number', valueName: '<min>', expected: POS, defaultText: '(off)',
    description: 'also write a checkpoint when this many minutes passed since the last one' },
  tensorboard: { group: 'run', kind: 'boolean', expected: BOOL,
    description: 'write TensorBoard event files to <run dir>/tensorboard/ (losses, accuracies, lr, lambda, r, |g1|, step time)' },
};

const DEFAULTS_FOR_DOCS: Record<string, unknown> = RunConfigSchema.parse({});

/** The field table, keyed by config key (iteration order = table order). */
export const CONFIG_FIELDS: { readonly [K in ConfigKey]: Readonly<FieldSpec> } = Object.freeze(
  Object.fromEntries(
    CONFIG_KEYS.map((key) => {
      const row = rows[key];
      const spec: FieldSpec = {
        key,
        flag: toFlagName(key),
        ...row,
        defaultText: row.defaultText ?? formatValue(DEFAULTS_FOR_DOCS[key]),
      };
      return [key, Object.freeze(spec)];
    }),
  ) as { [K in ConfigKey]: FieldSpec },
);

/** The field table as a list, in table order. */
export const CONFIG_FIELD_LIST: readonly Readonly<FieldSpec>[] = CONFIG_KEYS.map((k) => CONFIG_FIELDS[k]);

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/** One problem. `text` is the line without the `config: ` prefix. */
export interface ConfigIssue {
  /** Where the value came from: a file path, `--flag`, `preset "name"`; absent if unknown. */
  source?: string;
  /** The config key (or `preset`), when the problem concerns one. */
  field?: string;
  text: string;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map((i) => `config: ${i.text}`).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** A value as JSON for messages (NaN, ±Infinity, undefined, bigint spelled out; long values cut). */
export function formatValue(value: unknown): string {
  let s: string;
  if (value === undefined) s = 'undefined';
  else if (typeof value === 'number' && !Number.isFinite(value)) s = String(value);
  else if (typeof value === 'bigint') s = `${value}n`;
  else if (typeof value === 'function' || typeof value === 'symbol') s = String(value);
  else {
    try {
      s = JSON.stringify(value) ?? String(value);
    } catch {
      // Cyclic or too deep to stringify (String() of a deep array would overflow the stack too).
      s = Array.isArray(value) ? '[...]' : typeof value === 'object' ? '{...}' : String(value);
    }
  }
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}

/** Levenshtein distance. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** Common other names for fields, matched after normalisation (lower case, no `-`/`_`). */
const ALIASES: Record<string, ConfigKey> = {
  learningrate: 'lr',
  baselr: 'lr',
  wd: 'weightDecay',
  bs: 'batchSize',
  batch: 'batchSize',
  gradclip: 'clip',
  clipnorm: 'clip',
  maxgradnorm: 'clip',
  gradientclip: 'clip',
  numepochs: 'epochs',
  warmup: 'warmupEpochs',
  keepcheckpoints: 'keepLast',
  totalsteps: 'steps',
  maxsteps: 'steps',
  rho: 'r',
  radius: 'r',
  alpha: 'lambda',
  policy: 'gr',
  grpolicy: 'gr',
  arch: 'model',
  architecture: 'model',
  droprate: 'dropout',
  smoothing: 'labelSmoothing',
  data: 'dataset',
  datapath: 'dataDir',
  datadirectory: 'dataDir',
  output: 'outDir',
  outputdir: 'outDir',
  out: 'outDir',
  opt: 'optimizer',
  optim: 'optimizer',
  optimiser: 'optimizer',
  mask: 'wdMask',
  patch: 'patchSize',
  activation: 'gelu',
  epsilon: 'eps',
  lrschedule: 'schedule',
  scheduler: 'schedule',
  numthreads: 'threads',
  workers: 'threads',
};

const normalise = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');

/** The closest name in `candidates` (aliases first, then edit distance), or undefined. */
export function suggest(name: string, candidates: readonly string[]): string | undefined {
  const n = normalise(name.replace(/^--/, ''));
  const alias = ALIASES[n];
  if (alias && candidates.includes(alias)) return alias;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(n, normalise(c));
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  const limit = Math.max(1, Math.floor(n.length / 3));
  return bestD <= limit ? best : undefined;
}

/** `config: <source>: unknown key "x" (did you mean "y"?)` as an issue. */
export function unknownKeyIssue(key: string, source?: string): ConfigIssue {
  const hint = suggest(key, CONFIG_KEYS);
  const where = source ? `${source}: ` : '';
  return {
    source,
    field: key,
    text: `${where}unknown key ${JSON.stringify(key)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}`,
  };
}

/** `<source>: <field>` or the like, for the start of an issue line. */
export function fieldLabel(field: string, source?: string): string {
  if (!source) return field;
  if (source.startsWith('--')) return source; // a flag names the field already
  return `${source}: ${field}`;
}

/** Where each key's value came from (file path, `--flag`, `preset "x"`). */
export type SourceMap = Partial<Record<string, string>>;

/**
 * Checks made after loading (against the data set) label their issues with the field's
 * flag; this puts the real source in, so a value from a config file is reported as
 * `run.yaml: batchSize: got ...`, not as a flag the user never gave. Defaults keep the flag
 * (that is how the user would change them).
 */
export function relabelIssues(err: ConfigError, sources: SourceMap): ConfigError {
  let changed = false;
  const issues = err.issues.map((i) => {
    if (i.field === undefined || !isConfigKey(i.field)) return i;
    const flag = toFlagName(i.field);
    const real = sources[i.field];
    if (i.source !== flag || real === undefined || real === flag || !i.text.startsWith(`${flag}:`)) return i;
    changed = true;
    return { ...i, source: real, text: fieldLabel(i.field, real) + i.text.slice(flag.length) };
  });
  return changed ? new ConfigError(issues) : err;
}

/**
 * Turn zod issues into config issues (one per field; each with the field's `expected`
 * text from the table, or the custom text of a cross-field rule).
 */
export function issuesFromZod(error: z.ZodError, input: unknown, sources: SourceMap = {}): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const seenFields = new Set<string>();
  const obj = typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : {};
  for (const issue of error.issues) {
    const head = issue.path[0];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push(unknownKeyIssue(key, sources[key]));
      continue;
    }
    if (head === undefined) {
      out.push({ text: `got ${formatValue(input)}, expected an object mapping option names to values` });
      continue;
    }
    const field = String(head);
    const source = sources[field];
    const label = fieldLabel(field, source);
    if (issue.code === 'custom' && issue.params?.configRule === true) {
      out.push({ source, field, text: `${label}: ${issue.message}` });
      continue;
    }
    if (seenFields.has(field)) continue; // one line per field (zod may report int and range)
    seenFields.add(field);
    const expected = isConfigKey(field) ? CONFIG_FIELDS[field].expected : issue.message;
    out.push({ source, field, text: `${label}: got ${formatValue(obj[field])}, expected ${expected}` });
  }
  return out;
}

/**
 * Validate one (merged) object against the schema; throws `ConfigError` listing every
 * problem. `sources` names where each key's value came from, for the messages.
 */
export function validateConfig(input: unknown, sources: SourceMap = {}): RunConfig {
  const result = RunConfigSchema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(issuesFromZod(result.error, input, sources));
}
