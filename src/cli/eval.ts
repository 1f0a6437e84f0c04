// `grwarm-native eval --checkpoint FILE`: test loss and error of a checkpoint. The model shape
// and the data set come from a training checkpoint's metadata (the data flags may point
// elsewhere); a plain weights file needs --model and the data set flags.
import { Command, Option } from 'commander';
import {
  CONFIG_FIELDS,
  ConfigError,
  MODELS,
  coerceFlagValue,
  formatValue,
  relabelIssues,
  toFlagName,
  validateConfig,
  type ConfigKey,
  type RunConfig,
  type SourceMap,
} from '../config/index.js';
import { SafetensorsError } from '../io/safetensors.js';
import { setThreads } from '../backend.js';
import { createModel } from '../model/vit-model.js';
import {
  CHECKPOINT_FORMAT,
  isTrainingCheckpoint,
  OPTIMIZER_PREFIX,
  readCheckpointMeta,
  type CheckpointMeta,
} from '../train/checkpoint.js';
import { CheckpointError, UsageError } from '../train/errors.js';
import { evaluateDataset } from '../train/evaluate.js';
import { setImageLoadLog } from '../data/index.js';
import { checkDataSettings, loadRunData, modelConfigFor } from '../train/plan.js';
import { formatAccuracy, formatPercent } from '../train/progress.js';
import { EXIT, exitHelp, warnIfOversubscribed, type CliIO } from './common.js';
import { addConfigOptions, configOverrides } from './config-options.js';

/** Config fields `eval` accepts as flags. */
const EVAL_KEYS: readonly ConfigKey[] = [
  'model',
  'patchSize',
  'gelu',
  'dataset',
  'dataDir',
  'syntheticTrain',
  'syntheticTest',
  'imageSize',
  'evalCropPad',
  'dataWorkers',
  'decodedCache',
  'skipBadImages',
  'seed',
  'threads',
  'device',
];
/** The flags that build the model: needed for a plain weights file, checked against a training checkpoint. */
const MODEL_KEYS: readonly ConfigKey[] = ['model', 'patchSize', 'gelu'];

export function evalCommand(io: CliIO, setExit: (code: number) => void): Command {
  const cmd = new Command('eval')
    .summary('test loss and error of a checkpoint or a weights file')
    .description(
      'Evaluate a checkpoint on the test split. For a training checkpoint the model and the data set are the ' +
        'ones recorded in it; --dataset, --data-dir and --synthetic-* evaluate on other data of the same shape. ' +
        'A plain weights file (safetensors with the parameters only, e.g. written by model.saveSafetensors) ' +
        'records neither: give --model (and --patch-size, --gelu when not the defaults) and the data set flags.',
    )
    .addOption(
      new Option('--checkpoint <file>', 'checkpoint (.safetensors) written by `grwarm-native train`, or a plain weights file').makeOptionMandatory(),
    );
  // The model flags describe a plain weights file; a training checkpoint records its own model.
  const heading = 'Model options (a plain weights file; a training checkpoint records its model):';
  for (const key of MODEL_KEYS) {
    const f = CONFIG_FIELDS[key];
    const choices = f.choices ? `; choices: ${f.choices.join(', ')}` : '';
    const need = key === 'model' ? 'required for a plain weights file' : `default: ${f.defaultText}`;
    cmd.addOption(new Option(`${f.flag} ${f.valueName ?? '<value>'}`, `${f.description} (${need}${choices})`).helpGroup(heading));
  }
  addConfigOptions(
    cmd,
    EVAL_KEYS.filter((k) => !MODEL_KEYS.includes(k)),
  );
  cmd
    .addOption(new Option('--json', 'print the result as one JSON object'))
    .addHelpText(
      'after',
      `
The epoch shown for a training checkpoint is the epoch its last update belongs to,
counted from 1 as in train.log and summary.json (a checkpoint after update 200 of a
run with 937 steps per epoch is "epoch 1 at 200 of its 937 steps").
${exitHelp('0 evaluated, 1 runtime error (data files, I/O), 2 usage error: bad option, unusable\ncheckpoint or config')}`,
    )
    .action(async (flags: Record<string, unknown>) => {
      setExit(await runEval(io, flags));
    });
  return cmd;
}

/** The epoch (1-based, as train.log and summary.json count) of update `step`; 0 before the first. */
export function epochOfStep(step: number, stepsPerEpoch: number): number {
  return step === 0 ? 0 : Math.ceil(step / stepsPerEpoch);
}

interface EvalSetup {
  cfg: RunConfig;
  sources: SourceMap;
  /** Training checkpoint: its metadata; a plain weights file: undefined. */
  meta: CheckpointMeta | undefined;
}

/** Config of a training checkpoint with the data flags applied; model flags must agree with it. */
function checkpointSetup(path: string, overrides: Partial<Record<ConfigKey, unknown>>): EvalSetup {
  const meta = readCheckpointMeta(path);
  const merged: Record<string, unknown> = { ...meta.config };
  for (const [k, v] of Object.entries(overrides)) merged[k] = coerceFlagValue(k, v);
  // Values not given as flags come from the checkpoint: say so in messages about them.
  const sources: SourceMap = Object.fromEntries(Object.keys(merged).map((k) => [k, `checkpoint ${path}`]));
  for (const k of Object.keys(overrides)) sources[k] = toFlagName(k);
  const cfg = validateConfig(merged, sources);
  for (const key of MODEL_KEYS) {
    if (overrides[key] !== undefined && JSON.stringify(cfg[key]) !== JSON.stringify(meta.config[key])) {
      throw new UsageError(
        `${toFlagName(key)}: got ${formatValue(cfg[key])}, but checkpoint ${path} holds a model with ${key} ` +
          `${formatValue(meta.config[key])} (recorded in its metadata); drop ${toFlagName(key)}`,
      );
    }
  }
  return { cfg, sources, meta };
}

/** Config of a plain weights file: everything from the flags; --model is required. */
function weightsSetup(path: string, overrides: Partial<Record<ConfigKey, unknown>>): EvalSetup {
  if (overrides.model === undefined) {
    throw new UsageError(
      `--checkpoint ${path}: a plain weights file (its metadata has no "format": "${CHECKPOINT_FORMAT}"), ` +
        `so it does not say which model it holds; expected --model (one of ${MODELS.map((m) => JSON.stringify(m)).join(', ')}) ` +
        'and the data set it was trained on (--dataset, --data-dir; --patch-size and --gelu when not the defaults)',
    );
  }
  const sources: SourceMap = Object.fromEntries(Object.keys(overrides).map((k) => [k, toFlagName(k)]));
  const merged: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(overrides)) merged[k] = coerceFlagValue(k, v);
  return { cfg: validateConfig(merged, sources), sources, meta: undefined };
}

async function runEval(io: CliIO, flags: Record<string, unknown>): Promise<number> {
  const path = String(flags.checkpoint);
  const overrides = configOverrides(flags);
  const { cfg, sources, meta } = isTrainingCheckpoint(path) ? checkpointSetup(path, overrides) : weightsSetup(path, overrides);
  // A data directory given now is checked (the synthetic set reads none).
  if (meta === undefined || overrides.dataDir !== undefined) {
    for (const n of checkDataSettings(cfg, sources)) io.stderr.write(`note: ${n}\n`);
  }
  warnIfOversubscribed(io, cfg.threads, sources.threads);
  setThreads(cfg.threads);
  setImageLoadLog((text) => void io.stderr.write(`${text}\n`));

  let data;
  try {
    // The test split only: image-folder sets then skip decoding the training images.
    data = loadRunData({ ...cfg, valFraction: 0, trainSubset: undefined }, { testOnly: true });
  } catch (err) {
    throw err instanceof ConfigError ? relabelIssues(err, sources) : err;
  }
  if (data.test.count === 0) throw new Error(`data set ${cfg.dataset}: the test split is empty; expected at least one image`);
  const mc = meta ? meta.modelConfig : modelConfigFor(cfg, data.test);
  if (data.test.channels !== mc.channels || data.test.numClasses !== mc.numClasses || data.test.height !== mc.imageSize) {
    throw new CheckpointError(
      path,
      `its model takes ${mc.channels}-channel ${mc.imageSize}x${mc.imageSize} images in ${mc.numClasses} classes, but data set ` +
        `${cfg.dataset} has ${data.test.channels}-channel ${data.test.height}x${data.test.width} images in ${data.test.numClasses} classes`,
    );
  }
  const model = createModel(mc, { seed: 0, device: cfg.device, precision: cfg.precision });
  try {
    // Rejects NaN/Inf weights with the tensor's name, as training's readCheckpoint does.
    model.loadSafetensors(path, [OPTIMIZER_PREFIX]);
  } catch (err) {
    const problem = err instanceof SafetensorsError ? err.problem : (err as Error).message;
    throw new CheckpointError(path, meta ? problem : `does not hold the parameters of --model ${cfg.model} for ${cfg.dataset} (${mc.numClasses} classes): ${problem}`);
  }
  const r = await evaluateDataset(model, data.test);
  const spe = meta?.dataOrder.stepsPerEpoch;
  const epoch = meta ? epochOfStep(meta.step, spe!) : null;
  const result = {
    checkpoint: path,
    weightsOnly: meta === undefined,
    step: meta ? meta.step : null,
    epoch,
    model: cfg.model,
    dataset: cfg.dataset,
    split: 'test',
    images: r.count,
    loss: r.loss,
    error: r.error,
    accuracy: 1 - r.error,
  };
  if (flags.json) io.stdout.write(JSON.stringify(result) + '\n');
  else {
    let what = `weights only, ${cfg.model}`;
    if (meta) {
      const inEpoch = meta.step - (epoch! - 1) * spe!;
      const partial = meta.step > 0 && inEpoch !== spe ? ` at ${inEpoch} of its ${spe} steps` : '';
      what = `step ${meta.step}, epoch ${epoch}${partial}, ${cfg.model}`;
    }
    io.stdout.write(
      `test loss ${r.loss.toFixed(4)}, error ${formatPercent(r.error, 2)} (accuracy ${formatAccuracy(r.error, 2)}) ` +
        `on ${r.count} ${cfg.dataset} test images; ${path} (${what})\n`,
    );
  }
  return EXIT.OK;
}
