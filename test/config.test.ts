import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CONFIG_FIELDS,
  CONFIG_FIELD_LIST,
  CONFIG_KEYS,
  ConfigError,
  PRESET_NAMES,
  RunConfigSchema,
  coerceFlagValue,
  formatValue,
  fromFlagName,
  relabelIssues,
  resolveConfigWithSources,
  getPreset,
  listPresets,
  resolveConfig,
  resolveOutDir,
  serializeConfig,
  toFlagName,
  validateConfig,
  type RunConfig,
} from '../src/config/index.js';

const NOW = new Date(Date.UTC(2025, 0, 31, 12, 34, 56, 789));
const STAMP = '2025-01-31T12-34-56Z';

const dir = mkdtempSync(join(tmpdir(), 'grwarm-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
function writeTemp(ext: string, text: string): string {
  const p = join(dir, `cfg${fileNo++}${ext}`);
  writeFileSync(p, text);
  return p;
}

/** The ConfigError message thrown by `fn` (fails the test if nothing or something else is thrown). */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

const DEFAULTS: RunConfig = {
  model: 'vit-micro',
  dropout: 0,
  gelu: 'tanh',
  patchSize: 4,
  dataset: 'synthetic',
  syntheticTrain: 10000,
  syntheticTest: 2000,
  augment: true,
  valFraction: 0,
  imageSize: 32,
  dataWorkers: 2,
  skipBadImages: false,
  mixup: 0,
  randAugment: 0,
  randAugmentMagnitude: 9,
  optimizer: 'adam',
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  momentum: 0,
  rmspropDecay: 0.9,
  centered: false,
  weightDecay: 0.05,
  wdMask: 'all',
  clip: 2.0,
  labelSmoothing: 0,
  schedule: 'paper',
  warmupEpochs: 1,
  epochs: 5,
  batchSize: 64,
  gr: 'zero-warmup',
  lambda: 0.1,
  r: 0.1,
  grStepOrigin: 0,
  perturbation: 'global',
  perturbationShards: 1,
  seed: 0,
  threads: 0,
  device: 'auto',
  precision: 'float32',
  outDir: `runs/${STAMP}`,
  checkpointEvery: 1,
  keepLast: 2,
  evalEvery: 1,
  logEvery: 20,
  tensorboard: false,
};

describe('defaults', () => {
  it('{} resolves to the built-in default run', () => {
    const cfg = resolveConfig({ overrides: {}, now: NOW });
    expect(cfg).toStrictEqual(DEFAULTS);
    expect('steps' in cfg).toBe(false);
    expect('dataDir' in cfg).toBe(false);
  });

  it('the schema itself is pure: outDir keeps its placeholder', () => {
    expect(RunConfigSchema.parse({}).outDir).toBe('runs/<timestamp>');
    expect(validateConfig({})).toEqual({ ...DEFAULTS, outDir: 'runs/<timestamp>' });
  });

  it('outDir placeholder is filled at load time, anywhere in the path', () => {
    expect(resolveOutDir('out/<timestamp>-vit', NOW)).toBe(`out/${STAMP}-vit`);
    expect(resolveOutDir('fixed/dir', NOW)).toBe('fixed/dir');
    expect(resolveConfig({ overrides: { outDir: 'x/<timestamp>' }, now: NOW }).outDir).toBe(`x/${STAMP}`);
    const a = resolveConfig({ overrides: {} }).outDir;
    expect(a).toMatch(/^runs\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$/);
  });

  it('momentum defaults per optimizer, an explicit value wins', () => {
    expect(resolveConfig({ overrides: { optimizer: 'sgd' } }).momentum).toBe(0.9);
    expect(resolveConfig({ overrides: { optimizer: 'rmsprop' } }).momentum).toBe(0);
    expect(resolveConfig({ overrides: { optimizer: 'adam' } }).momentum).toBe(0);
    expect(resolveConfig({ overrides: { optimizer: 'sgd', momentum: 0 } }).momentum).toBe(0);
    expect(resolveConfig({ overrides: { optimizer: 'rmsprop', momentum: 0.5 } }).momentum).toBe(0.5);
  });
});

describe('presets', () => {
  it('lists every preset with a one-line description', () => {
    const list = listPresets();
    expect(list.map((p) => p.name)).toEqual(['paper-cifar10', 'paper-cifar100', 'quick']);
    for (const p of list) {
      expect(p.description.length).toBeGreaterThan(10);
      expect(p.description).not.toContain('\n');
    }
  });

  it.each(PRESET_NAMES)('preset %s validates', (name) => {
    const cfg = resolveConfig({ preset: name, overrides: {}, now: NOW });
    expect(RunConfigSchema.safeParse(cfg).success).toBe(true);
    for (const [k, v] of Object.entries(getPreset(name))) expect(cfg[k as keyof RunConfig]).toEqual(v);
  });

  it('paper-cifar10 is the paper recipe', () => {
    const cfg = resolveConfig({ preset: 'paper-cifar10', overrides: {}, now: NOW });
    expect(cfg).toMatchObject({
      model: 'vit-ti',
      dataset: 'cifar10',
      epochs: 300,
      batchSize: 256,
      warmupEpochs: 40,
      lr: 1e-3,
      schedule: 'paper',
      clip: 2.0,
      weightDecay: 0.3,
      wdMask: 'all',
      dropout: 0.1,
      gelu: 'tanh',
      optimizer: 'adam',
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      gr: 'zero-warmup',
      r: 0.1,
      lambda: 0.1,
      labelSmoothing: 0,
      augment: true,
      patchSize: 4,
    });
    const c100 = resolveConfig({ preset: 'paper-cifar100', overrides: {}, now: NOW });
    expect({ ...c100, dataset: 'cifar10' }).toEqual(cfg);
  });

  it('quick is the defaults', () => {
    expect(resolveConfig({ preset: 'quick', overrides: {}, now: NOW })).toEqual(DEFAULTS);
  });

  it('an unknown preset lists the known ones', () => {
    expect(errorOf(() => resolveConfig({ preset: 'paper-cifar', overrides: {} }))).toBe(
      'config: preset: got "paper-cifar", expected one of "paper-cifar10", "paper-cifar100", "quick" (did you mean "paper-cifar10"?)',
    );
    expect(errorOf(() => getPreset('imagenet'))).toBe(
      'config: preset: got "imagenet", expected one of "paper-cifar10", "paper-cifar100", "quick"',
    );
  });

  it('presets are frozen', () => {
    expect(Object.isFrozen(getPreset('paper-cifar10'))).toBe(true);
  });
});

describe('layering: defaults < preset < file < flags', () => {
  const yamlText = ['# a run', 'epochs: 50', 'lr: 5.0e-4', 'batchSize: 128', 'gr: r-warmup', 'augment: false', ''].join('\n');
  const jsonText = JSON.stringify({ epochs: 50, lr: 5e-4, batchSize: 128, gr: 'r-warmup', augment: false });

  it.each([
    ['.yaml', yamlText],
    ['.yml', yamlText],
    ['.json', jsonText],
  ])('file (%s) overrides preset, flag overrides file', (ext, text) => {
    const file = writeTemp(ext, text);
    const cfg = resolveConfig({ preset: 'paper-cifar10', configFile: file, overrides: { lr: 2e-4 }, now: NOW });
    expect(cfg.lr).toBe(2e-4); // flag > file > preset
    expect(cfg.epochs).toBe(50); // file > preset
    expect(cfg.batchSize).toBe(128); // file > preset
    expect(cfg.gr).toBe('r-warmup'); // file > preset
    expect(cfg.augment).toBe(false); // file > preset
    expect(cfg.warmupEpochs).toBe(40); // preset > default
    expect(cfg.dataset).toBe('cifar10'); // preset > default
    expect(cfg.logEvery).toBe(20); // default

    const noFlags = resolveConfig({ preset: 'paper-cifar10', configFile: file, overrides: {}, now: NOW });
    expect(noFlags.lr).toBe(5e-4);
    const fileOnly = resolveConfig({ configFile: file, overrides: {}, now: NOW });
    expect(fileOnly).toEqual({ ...DEFAULTS, epochs: 50, lr: 5e-4, batchSize: 128, gr: 'r-warmup', augment: false });
  });

  it('only keys the user gave override: undefined overrides are ignored', () => {
    const file = writeTemp('.yaml', 'lr: 0.004\n');
    const cfg = resolveConfig({ configFile: file, overrides: { lr: undefined, epochs: 7 } });
    expect(cfg.lr).toBe(0.004);
    expect(cfg.epochs).toBe(7);
  });

  it('null in a later layer resets the field to its default', () => {
    const file = writeTemp('.yaml', 'epochs: ~\nwarmupEpochs: null\nsteps: 100\n');
    const cfg = resolveConfig({ preset: 'paper-cifar10', configFile: file, overrides: { steps: null } });
    expect(cfg.epochs).toBe(5);
    expect(cfg.warmupEpochs).toBe(1);
    expect(cfg.steps).toBeUndefined();
    expect(cfg.batchSize).toBe(256); // untouched preset value
  });

  it('an empty YAML file is an empty layer', () => {
    const file = writeTemp('.yaml', '# nothing here\n');
    expect(resolveConfig({ configFile: file, overrides: {}, now: NOW })).toEqual(DEFAULTS);
  });

  it('CLI strings are converted for numeric and boolean fields', () => {
    const cfg = resolveConfig({
      overrides: { lr: '3e-4', epochs: '10', augment: 'false', centered: 'true', optimizer: 'rmsprop', dataDir: '123' },
    });
    expect(cfg).toMatchObject({ lr: 3e-4, epochs: 10, augment: false, centered: true, optimizer: 'rmsprop', dataDir: '123' });
    expect(coerceFlagValue('lr', 'abc')).toBe('abc');
    expect(coerceFlagValue('lr', '')).toBe('');
    expect(coerceFlagValue('lr', '0x10')).toBe('0x10');
    expect(coerceFlagValue('outDir', '42')).toBe('42');
    expect(errorOf(() => resolveConfig({ overrides: { lr: 'abc' } }))).toBe(
      'config: --lr: got "abc", expected a number > 0',
    );
  });

  it('file values are not converted: a quoted number is an error naming the file', () => {
    const file = writeTemp('.yaml', 'lr: "1e-3"\n');
    expect(errorOf(() => resolveConfig({ configFile: file, overrides: {} }))).toBe(
      `config: ${file}: lr: got "1e-3", expected a number > 0`,
    );
  });
});

describe('field validation messages', () => {
  // [field, bad value, expected text]; every field appears at least once.
  const cases: [string, unknown, string][] = [
    ['model', 'vit-l', 'one of "vit-micro", "vit-ti", "vit-s", "vit-b", "swin-micro", "swin-t", "swin-s", "swin-b", "swin-t-cifar", "cait-micro", "cait-xxs12", "cait-xxs24", "cait-xs12", "cait-s12", "cait-xxs12-cifar", "cait-xxs24-cifar", "cait-xs12-cifar", "cait-s12-cifar"'],
    ['dropout', 1, 'a number >= 0 and < 1'],
    ['dropout', -0.1, 'a number >= 0 and < 1'],
    ['gelu', 'relu', 'one of "tanh", "erf"'],
    ['patchSize', 5, 'a divisor of the image size 32: one of 1, 2, 4, 8, 16, 32'],
    ['patchSize', 64, 'a divisor of the image size 32: one of 1, 2, 4, 8, 16, 32'],
    ['patchSize', 0, 'a divisor of the image size 32: one of 1, 2, 4, 8, 16, 32'],
    ['patchSize', 2.5, 'a divisor of the image size 32: one of 1, 2, 4, 8, 16, 32'],
    ['dataset', 'imagenet21k', 'one of "synthetic", "cifar10", "cifar100", "fashion-mnist", "mnist", "imagefolder", "tinyimagenet", "imagenet"'],
    ['dataDir', '', 'a non-empty string'],
    ['imageSize', 7, 'an integer from 8 to 1024, a multiple of the patch size'],
    ['evalCropPad', -1, 'an integer from 0 to 1024'],
    ['dataWorkers', 0, 'an integer from 1 to 64'],
    ['decodedCache', '', 'a non-empty string'],
    ['skipBadImages', 'yes', 'true or false'],
    ['mixup', -1, 'a number from 0 to 100'],
    ['randAugment', 5, 'an integer from 0 to 4'],
    ['randAugmentMagnitude', 31, 'an integer from 0 to 30'],
    ['dataDir', 5, 'a non-empty string'],
    ['syntheticTrain', 0, 'an integer from 1 to 1000000'],
    ['syntheticTrain', 1e9, 'an integer from 1 to 1000000'],
    ['syntheticTest', 1.5, 'an integer from 1 to 1000000'],
    ['trainSubset', 0, 'an integer from 1 to 1000000'],
    ['testSubset', 2.5, 'an integer from 1 to 1000000'],
    ['augment', 'yes', 'true or false'],
    ['valFraction', 1, 'a number >= 0 and < 1'],
    ['optimizer', 'adagrad', 'one of "adam", "rmsprop", "sgd", "adamw"'],
    ['lr', -1, 'a number > 0'],
    ['lr', 0, 'a number > 0'],
    ['lr', Infinity, 'a number > 0'],
    ['beta1', 1, 'a number >= 0 and < 1'],
    ['beta2', -0.5, 'a number >= 0 and < 1'],
    ['eps', 0, 'a number > 0'],
    ['momentum', 1.5, 'a number >= 0 and < 1'],
    ['rmspropDecay', 1, 'a number >= 0 and < 1'],
    ['centered', 1, 'true or false'],
    ['weightDecay', -0.01, 'a number >= 0'],
    ['wdMask', 'none', 'one of "all", "timm"'],
    ['clip', -2, 'a number >= 0'],
    ['labelSmoothing', 1, 'a number >= 0 and < 1'],
    ['schedule', 'cosine', 'one of "paper", "warmup-cosine", "constant"'],
    ['warmupEpochs', -1, 'a number >= 0'],
    ['epochs', 0, 'an integer >= 1'],
    ['epochs', 2.5, 'an integer >= 1'],
    ['steps', 0, 'an integer >= 1'],
    ['batchSize', 0, 'an integer from 1 to 65536'],
    ['batchSize', '64', 'an integer from 1 to 65536'],
    ['batchSize', 1e9, 'an integer from 1 to 65536'],
    ['gr', 'asam', 'one of "none", "gr", "sam", "r-warmup", "lambda-warmup", "zero-warmup"'],
    ['lambda', -0.1, 'a number >= 0'],
    ['r', -0.1, 'a number >= 0'],
    ['grStepOrigin', 2, 'one of 0, 1'],
    ['perturbation', 'sync', 'one of "global", "local"'],
    ['perturbationShards', 0, 'an integer from 1 to 65536'],
    ['seed', -1, 'an integer from 0 to 4294967295'],
    ['seed', 2 ** 32, 'an integer from 0 to 4294967295'],
    ['threads', -1, 'an integer from 0 to 1024'],
    ['threads', 5000, 'an integer from 0 to 1024'],
    ['device', 'gpu', 'one of "auto", "cpu", "cuda"'],
    ['precision', 'float16', 'one of "float32", "bfloat16", "float64", "bf16", "fp32", "fp64"'],
    ['outDir', '', 'a non-empty string'],
    ['checkpointEvery', 0, 'a number of epochs > 0 (0.25 = every quarter epoch) or "<n>steps" (e.g. "500steps")'],
    ['keepLast', 0, 'an integer >= 1'],
    ['evalEvery', '5epochs', 'a number of epochs > 0 (0.25 = every quarter epoch) or "<n>steps" (e.g. "500steps")'],
    ['logEvery', -20, 'an integer >= 1'],
    ['warmupSteps', -1, 'an integer >= 0'],
    ['checkpointMinutes', 0, 'a number > 0'],
    ['tensorboard', 2, 'true or false'],
  ];

  it('covers every field', () => {
    expect(new Set(cases.map((c) => c[0]))).toEqual(new Set(CONFIG_KEYS));
  });

  it.each(cases)('%s = %j is rejected with the exact message', (field, value, expected) => {
    const got = value === Infinity ? 'Infinity' : JSON.stringify(value);
    // unknown source (plain object)
    expect(errorOf(() => validateConfig({ [field]: value }))).toBe(`config: ${field}: got ${got}, expected ${expected}`);
    // from a flag (CLI strings such as "64" or "yes" are converted first, so they are fine there)
    if (coerceFlagValue(field, value) === value)
      expect(errorOf(() => resolveConfig({ overrides: { [field]: value } }))).toBe(
      `config: ${toFlagName(field)}: got ${got}, expected ${expected}`,
    );
    // the table carries the same text, for docs
    expect(CONFIG_FIELDS[field as keyof typeof CONFIG_FIELDS].expected).toBe(expected);
  });

  it.each(cases.filter(([, v]) => v !== Infinity))('%s = %j from a YAML file names the file', (field, value, expected) => {
    const file = writeTemp('.yaml', `${field}: ${JSON.stringify(value)}\n`);
    expect(errorOf(() => resolveConfig({ configFile: file, overrides: {} }))).toBe(
      `config: ${file}: ${field}: got ${JSON.stringify(value)}, expected ${expected}`,
    );
  });

  it('valid edge values are accepted', () => {
    const cfg = resolveConfig({
      overrides: {
        dropout: 0.999, patchSize: 32, lr: 1e-12, beta1: 0, weightDecay: 0, clip: 0, seed: 2 ** 32 - 1,
        threads: 0, warmupEpochs: 0, lambda: 0, r: 0, gr: 'none', valFraction: 0.1, patchSize2: undefined,
      },
    });
    expect(cfg).toMatchObject({ dropout: 0.999, patchSize: 32, seed: 4294967295, clip: 0, r: 0 });
  });

  it('every problem is listed, one per line, in table order', () => {
    const file = writeTemp('.yaml', 'optimizer: adagrad\nlearningRate: 0.1\nepochs: 0\n');
    const msg = errorOf(() => resolveConfig({ configFile: file, overrides: { lr: -1, batchSize: 0, bogus: 1 } }));
    expect(msg.split('\n')).toEqual([
      `config: ${file}: unknown key "learningRate" (did you mean "lr"?)`,
      'config: unknown key "bogus"',
      `config: ${file}: optimizer: got "adagrad", expected one of "adam", "rmsprop", "sgd", "adamw"`,
      'config: --lr: got -1, expected a number > 0',
      `config: ${file}: epochs: got 0, expected an integer >= 1`,
      'config: --batch-size: got 0, expected an integer from 1 to 65536',
    ]);
  });

  it('ConfigError exposes structured issues', () => {
    try {
      resolveConfig({ overrides: { lr: -1 } });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect(err).toBeInstanceOf(Error);
      const e = err as ConfigError;
      expect(e.name).toBe('ConfigError');
      expect(e.issues).toEqual([{ source: '--lr', field: 'lr', text: '--lr: got -1, expected a number > 0' }]);
    }
  });

  it('a non-object config is rejected', () => {
    expect(errorOf(() => validateConfig([1, 2]))).toBe(
      'config: got [1,2], expected an object mapping option names to values',
    );
  });
});

describe('unknown keys', () => {
  it.each([
    ['learningRate', 'lr'],
    ['learning_rate', 'lr'],
    ['batch_size', 'batchSize'],
    ['batch-size', 'batchSize'],
    ['optimiser', 'optimizer'],
    ['epoch', 'epochs'],
    ['weight_decay', 'weightDecay'],
    ['warmup', 'warmupEpochs'],
    ['lamda', 'lambda'],
    ['Seed', 'seed'],
  ])('%s → did you mean %s', (bad, good) => {
    expect(errorOf(() => validateConfig({ [bad]: 1 }))).toBe(
      `config: unknown key ${JSON.stringify(bad)} (did you mean ${JSON.stringify(good)}?)`,
    );
  });

  it('no suggestion when nothing is close', () => {
    expect(errorOf(() => resolveConfig({ overrides: { zzzzzzzz: 1 } }))).toBe('config: unknown key "zzzzzzzz"');
  });

  it('names the file the unknown key came from', () => {
    const file = writeTemp('.json', '{"learningRate": 0.01}');
    expect(errorOf(() => resolveConfig({ configFile: file, overrides: {} }))).toBe(
      `config: ${file}: unknown key "learningRate" (did you mean "lr"?)`,
    );
  });
});

describe('cross-field rules', () => {
  it('lambda > 0 with r = 0 under a GR policy', () => {
    for (const gr of ['gr', 'r-warmup', 'lambda-warmup', 'zero-warmup']) {
      expect(errorOf(() => resolveConfig({ overrides: { gr, r: 0, lambda: 0.2 } }))).toBe(
        `config: --r: got 0, expected a number > 0 because lambda = 0.2 > 0 under gr "${gr}" (alpha = lambda / r); set lambda to 0 or gr to "none" to turn GR off`,
      );
    }
    const file = writeTemp('.yaml', 'r: 0\n');
    expect(errorOf(() => resolveConfig({ configFile: file, overrides: {} }))).toMatch(
      new RegExp(`^config: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: r: got 0, expected a number > 0 because lambda = 0.1 > 0`),
    );
  });

  it('allows r = 0 when GR is off (gr none, or lambda = 0)', () => {
    expect(resolveConfig({ overrides: { gr: 'none', r: 0 } }).r).toBe(0);
    expect(resolveConfig({ overrides: { gr: 'gr', r: 0, lambda: 0 } }).lambda).toBe(0);
  });

  it('sam needs r > 0', () => {
    expect(errorOf(() => resolveConfig({ overrides: { gr: 'sam', r: 0, lambda: 0 } }))).toBe(
      'config: --r: got 0, expected a number > 0 under gr "sam" (with r = 0 SAM is just the base optimizer)',
    );
  });

  it('warmupEpochs longer than the run is accepted (the plan clips it, with a note)', () => {
    expect(resolveConfig({ overrides: { warmupEpochs: 6 } }).warmupEpochs).toBe(6);
    expect(resolveConfig({ overrides: { warmupSteps: 1000, steps: 10 } }).warmupSteps).toBe(1000);
  });

  it('cadences: epochs, fractions of an epoch or "<n>steps"', () => {
    expect(resolveConfig({ overrides: { checkpointEvery: '0.25', evalEvery: '500steps' } })).toMatchObject({ checkpointEvery: 0.25, evalEvery: '500steps' });
    expect(errorOf(() => resolveConfig({ overrides: { evalEvery: '0steps' } }))).toContain('--eval-every: got "0steps"');
  });

  it('a rule does not fire again on a field that already failed', () => {
    expect(errorOf(() => resolveConfig({ overrides: { r: -1 } }))).toBe('config: --r: got -1, expected a number >= 0');
    expect(errorOf(() => resolveConfig({ overrides: { perturbationShards: 2, batchSize: 0 } }))).toBe(
      'config: --batch-size: got 0, expected an integer from 1 to 65536',
    );
    // ...but rules on valid fields still run next to other fields' errors
    expect(errorOf(() => resolveConfig({ overrides: { gr: 'sam', r: 0, lr: 0 } })).split('\n')).toEqual([
      'config: --lr: got 0, expected a number > 0',
      'config: --r: got 0, expected a number > 0 under gr "sam" (with r = 0 SAM is just the base optimizer)',
    ]);
  });
});

describe('config files', () => {
  it('malformed YAML names the file and the line', () => {
    const file = writeTemp('.yaml', 'lr: 0.001\nepochs: 5\n  batchSize: 3\nseed: [1,\n');
    const msg = errorOf(() => resolveConfig({ configFile: file, overrides: {} }));
    const first = msg.split('\n')[0];
    expect(first.startsWith(`config: ${file}: line `)).toBe(true);
    expect(first).toMatch(/^config: .*: line \d+, column \d+: invalid YAML: /);
    expect(first).toContain('line 2');
  });

  it('duplicate YAML keys are errors with a line', () => {
    const file = writeTemp('.yml', 'lr: 0.1\nlr: 0.2\n');
    expect(errorOf(() => resolveConfig({ configFile: file, overrides: {} }))).toBe(
      `config: ${file}: line 2, column 1: invalid YAML: Map keys must be unique`,
    );
  });

  it('malformed JSON names the file and the line', () => {
    const a = writeTemp('.json', '{\n  "lr": 0.001,\n  "epochs" 5\n}\n');
    expect(errorOf(() => resolveConfig({ configFile: a, overrides: {} }))).toMatch(
      /^config: .*cfg\d+\.json: line 3, column \d+: invalid JSON: /,
    );
    const b = writeTemp('.json', '{\n  "lr": 0.001,\n  "augment": tru\n}\n');
    expect(errorOf(() => resolveConfig({ configFile: b, overrides: {} }))).toMatch(
      /^config: .*cfg\d+\.json: line 3, column \d+: invalid JSON: Unexpected token '[^']*'$/,
    );
    const c = writeTemp('.json', '{\n  "lr": 0.001,\n');
    expect(errorOf(() => resolveConfig({ configFile: c, overrides: {} }))).toMatch(/: line 3, column 1: invalid JSON: /);
  });

  it('a file that is not a mapping is rejected', () => {
    const file = writeTemp('.yaml', '- 1\n- 2\n');
    expect(errorOf(() => resolveConfig({ configFile: file, overrides: {} }))).toBe(
      `config: ${file}: got [1,2], expected a mapping of option names to values`,
    );
  });

  it('unsupported extension and missing file', () => {
    const toml = writeTemp('.toml', 'lr = 1\n');
    expect(errorOf(() => resolveConfig({ configFile: toml, overrides: {} }))).toBe(
      `config: ${toml}: unsupported config file extension ".toml", expected .yaml, .yml or .json`,
    );
    const missing = join(dir, 'nope.yaml');
    expect(errorOf(() => resolveConfig({ configFile: missing, overrides: {} }))).toBe(
      `config: ${missing}: cannot read config file (no such file)`,
    );
  });
});

describe('hostile config files (issue 8)', () => {
  it('deep nesting is rejected before parsing, naming the file (JSON, YAML flow and block)', () => {
    const json = writeTemp('.json', `{"lr": ${'['.repeat(100000)}${']'.repeat(100000)}}`);
    expect(errorOf(() => resolveConfig({ configFile: json }))).toBe(
      `config: ${json}: nested 100001 levels deep, expected a flat mapping of option names to values (at most 32 levels)`,
    );
    const flow = writeTemp('.yaml', `lr: ${'['.repeat(10000)}1${']'.repeat(10000)}\n`);
    expect(errorOf(() => resolveConfig({ configFile: flow }))).toMatch(/: nested 10000 levels deep, expected a flat mapping/);
    const block = writeTemp('.yaml', `lr:\n${'- '.repeat(3000)}1\n`);
    expect(errorOf(() => resolveConfig({ configFile: block }))).toMatch(/: nested 3000 levels deep/);
    // Brackets inside strings and comments do not count.
    const quoted = writeTemp('.yaml', `dataDir: "${'['.repeat(100)}"\n# ${'{'.repeat(100)}\nlr: 0.002\n`);
    expect(resolveConfig({ configFile: quoted }).dataDir).toBe('['.repeat(100));
  });

  it('a YAML alias bomb is rejected, naming the file', () => {
    const lines = ['a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]'];
    for (let i = 1; i < 9; i++) lines.push(`l${i}: &l${i} [${Array(9).fill(i === 1 ? '*a' : `*l${i - 1}`).join(', ')}]`);
    const file = writeTemp('.yaml', lines.join('\n'));
    expect(errorOf(() => resolveConfig({ configFile: file }))).toBe(
      `config: ${file}: invalid YAML: its aliases expand too far (Excessive alias count indicates a resource exhaustion attack); a config needs at most 100 alias uses`,
    );
    // A few plain aliases are fine.
    const ok = writeTemp('.yaml', 'lr: &x 0.002\nweightDecay: *x\n');
    expect(resolveConfig({ configFile: ok }).weightDecay).toBe(0.002);
  });

  it('a file too large to be a config is not read', () => {
    const file = writeTemp('.yaml', `# ${'x'.repeat(1 << 20)}\n`);
    expect(errorOf(() => resolveConfig({ configFile: file }))).toBe(
      `config: ${file}: config file is ${(1 << 20) + 3} bytes, expected at most ${1 << 20} (is it a config file?)`,
    );
  });

  it('values from a file keep their source in checks made later (relabelIssues)', () => {
    const file = writeTemp('.yaml', 'batchSize: 512\n');
    const { config, sources } = resolveConfigWithSources({ configFile: file, overrides: { lr: '0.01' } });
    expect(config.batchSize).toBe(512);
    expect(sources).toMatchObject({ batchSize: file, lr: '--lr' });
    const late = new ConfigError([
      { source: '--batch-size', field: 'batchSize', text: '--batch-size: got 512, expected at most the 100 training images' },
      { source: '--epochs', field: 'epochs', text: '--epochs: got 5, expected more' },
    ]);
    expect(relabelIssues(late, sources).message).toBe(
      `config: ${file}: batchSize: got 512, expected at most the 100 training images\n` +
        'config: --epochs: got 5, expected more', // a default: how the user would change it
    );
  });

  it('formatValue survives values too deep to print', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200000; i++) deep = [deep];
    expect(formatValue(deep)).toBe('[...]');
  });
});

describe('serializeConfig', () => {
  it('is sorted, pretty JSON with a final newline', () => {
    const text = serializeConfig(resolveConfig({ overrides: {}, now: NOW }));
    expect(text.endsWith('}\n')).toBe(true);
    const keys = Object.keys(JSON.parse(text));
    expect(keys).toEqual([...keys].sort());
    expect(keys).not.toContain('steps');
    expect(text).toContain('\n  "batchSize": 64,\n');
  });

  it.each([
    ['defaults', {}, undefined],
    ['paper preset + flags', { steps: 1000, dataDir: '/data/cifar', seed: 4, optimizer: 'sgd' }, 'paper-cifar10'],
    ['odd values', { lr: 3e-7, eps: 1e-10, dropout: 0.123456789, gr: 'none', r: 0, wdMask: 'timm' }, 'quick'],
  ] as const)('round-trips through resolveConfig({configFile}): %s', (_, overrides, preset) => {
    const cfg = resolveConfig({ preset, overrides: { ...overrides }, now: NOW });
    const text = serializeConfig(cfg);
    const file = writeTemp('.json', text);
    const back = resolveConfig({ configFile: file, overrides: {}, now: new Date(0) });
    expect(back).toStrictEqual(cfg);
    expect(serializeConfig(back)).toBe(text);
    // YAML too: the JSON text is valid YAML
    const y = writeTemp('.yaml', text);
    expect(resolveConfig({ configFile: y, overrides: {} })).toStrictEqual(cfg);
  });

  it('is stable whatever the key order of the input', () => {
    const cfg = resolveConfig({ overrides: {}, now: NOW });
    const reversed = Object.fromEntries(Object.entries(cfg).reverse()) as RunConfig;
    expect(serializeConfig(reversed)).toBe(serializeConfig(cfg));
  });
});

describe('field table', () => {
  it('has one row per config key with a flag and a one-line description', () => {
    expect(Object.keys(CONFIG_FIELDS)).toEqual(CONFIG_KEYS);
    expect(CONFIG_FIELD_LIST.map((f) => f.key)).toEqual(CONFIG_KEYS);
    expect(new Set(Object.keys(RunConfigSchema.parse({})))).toEqual(
      new Set(CONFIG_KEYS.filter((k) => !['steps', 'dataDir', 'trainSubset', 'testSubset', 'evalCropPad', 'decodedCache', 'warmupSteps', 'checkpointMinutes'].includes(k))),
    );
    const flags = new Set<string>();
    for (const f of CONFIG_FIELD_LIST) {
      expect(f.flag).toBe(toFlagName(f.key));
      expect(f.flag).toMatch(/^--[a-z][a-z0-9-]*$/);
      expect(fromFlagName(f.flag)).toBe(f.key); // commander camel-cases flags back to the key
      expect(f.description.length).toBeGreaterThan(5);
      expect(f.description).not.toContain('\n');
      // a documented default: the schema's, or a phrase for a field without one (never "undefined")
      expect(f.defaultText, f.key).not.toMatch(/^(|undefined|null|"")$/);
      if (f.kind === 'boolean') expect(f.valueName).toBeUndefined();
      else expect(f.valueName).toMatch(/^<.+>$/);
      if (f.kind === 'enum') expect(f.choices?.length).toBeGreaterThan(1);
      flags.add(f.flag);
    }
    expect(flags.size).toBe(CONFIG_KEYS.length);
  });

  it('maps keys to flags', () => {
    expect(toFlagName('batchSize')).toBe('--batch-size');
    expect(toFlagName('warmupEpochs')).toBe('--warmup-epochs');
    expect(toFlagName('lr')).toBe('--lr');
    expect(toFlagName('beta1')).toBe('--beta1');
    expect(fromFlagName('--batch-size')).toBe('batchSize');
    expect(fromFlagName('--no-augment')).toBe('augment');
    expect(CONFIG_FIELDS.batchSize.defaultText).toBe('64');
    expect(CONFIG_FIELDS.model.choices).toEqual(['vit-micro', 'vit-ti', 'vit-s', 'vit-b', 'swin-micro', 'swin-t', 'swin-s', 'swin-b', 'swin-t-cifar', 'cait-micro', 'cait-xxs12', 'cait-xxs24', 'cait-xs12', 'cait-s12', 'cait-xxs12-cifar', 'cait-xxs24-cifar', 'cait-xs12-cifar', 'cait-s12-cifar']);
    expect(CONFIG_FIELDS.augment.negatable).toBe(true);
  });
});
