/**
 * Named run presets. A preset is a partial config layered over the schema defaults (and
 * under a config file and the CLI flags, see `resolveConfig`).
 */
import { ConfigError, suggest, type RunConfigInput } from './schema.js';

export interface Preset {
  name: string;
  /** One line for `--help` / `presets` listings. */
  description: string;
  values: Readonly<RunConfigInput>;
}

/**
 * The paper's recipe (docs/method.md section 5; Zhao, Zhang, Hu, ICML 2024): 300 epochs of batch 256 with a
 * 40-epoch warmup, Adam at 1e-3 on the `paper` schedule (warmup × cosine over the whole
 * run), clipping at global norm 2.0, zero-warmup GR with r = 0.1 and alpha = lambda/r = 1.
 */
const paperRecipe = {
  // ViT-Ti to keep a CPU/GPU run affordable; the paper also trains ViT-S and ViT-B, which are
  // a `--model vit-s` / `--model vit-b` away.
  model: 'vit-ti',
  dropout: 0.1,
  gelu: 'tanh',
  patchSize: 4,
  augment: true,
  epochs: 300,
  batchSize: 256,
  warmupEpochs: 40,
  optimizer: 'adam',
  lr: 1e-3,
  schedule: 'paper',
  clip: 2.0,
  // Table 3 of the paper says 0.03; the authors' code uses 0.3 (on all parameters).
  weightDecay: 0.3,
  wdMask: 'all',
  labelSmoothing: 0,
  gr: 'zero-warmup',
  r: 0.1,
  lambda: 0.1, // alpha = lambda / r = 1
} as const satisfies RunConfigInput;

export const PRESETS: Readonly<Record<string, Preset>> = Object.freeze({
  'paper-cifar10': {
    name: 'paper-cifar10',
    description: "the paper's CIFAR-10 recipe: ViT-Ti, 300 epochs, batch 256, 40 warmup epochs, Adam 1e-3, zero-warmup GR (r = 0.1, alpha = 1)",
    values: Object.freeze({ ...paperRecipe, dataset: 'cifar10' }),
  },
  'paper-cifar100': {
    name: 'paper-cifar100',
    description: "the paper's CIFAR-100 recipe: as paper-cifar10 on CIFAR-100",
    values: Object.freeze({ ...paperRecipe, dataset: 'cifar100' }),
  },
  quick: {
    name: 'quick',
    description: 'the built-in defaults: vit-micro on synthetic data for 5 epochs (a smoke run in minutes on a CPU)',
    values: Object.freeze({}),
  },
} satisfies Record<string, Preset>);

export const PRESET_NAMES: readonly string[] = Object.keys(PRESETS);

/** Preset names with their one-line descriptions. */
export function listPresets(): { name: string; description: string }[] {
  return PRESET_NAMES.map((name) => ({ name, description: PRESETS[name].description }));
}

/** The preset's values; unknown name → `ConfigError` listing the known presets. */
export function getPreset(name: string): Readonly<RunConfigInput> {
  if (Object.prototype.hasOwnProperty.call(PRESETS, name)) return PRESETS[name].values;
  const hint = suggest(name, PRESET_NAMES);
  throw new ConfigError([
    {
      source: '--preset',
      field: 'preset',
      text:
        `preset: got ${JSON.stringify(name)}, expected one of ${PRESET_NAMES.map((n) => JSON.stringify(n)).join(', ')}` +
        (hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''),
    },
  ]);
}
