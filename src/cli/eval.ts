// `grwarm-native eval --checkpoint FILE`: test loss and error of a checkpoint. The model shape
// and the data set come from the checkpoint's metadata; the data flags may point elsewhere.
import { Command, Option } from 'commander';
import {
  ConfigError,
  coerceFlagValue,
  relabelIssues,
  toFlagName,
  validateConfig,
  type ConfigKey,
  type SourceMap,
} from '../config/index.js';
import { SafetensorsError } from '../io/safetensors.js';
import { setThreads } from '../backend.js';
import { createModel } from '../model/vit-model.js';
import { OPTIMIZER_PREFIX, readCheckpointMeta } from '../train/checkpoint.js';
import { CheckpointError } from '../train/errors.js';
import { evaluateDataset } from '../train/evaluate.js';
import { loadRunData } from '../train/plan.js';
import { formatAccuracy, formatPercent } from '../train/progress.js';
import { EXIT, EXIT_CODES_HELP, type CliIO } from './common.js';
import { addConfigOptions, configOverrides } from './config-options.js';

/** Config fields `eval` accepts as flags. */
const EVAL_KEYS: readonly ConfigKey[] = ['dataset', 'dataDir', 'syntheticTrain', 'syntheticTest', 'threads', 'device'];

export function evalCommand(io: CliIO, setExit: (code: number) => void): Command {
  const cmd = new Command('eval')
    .summary('test loss and error of a checkpoint')
    .description(
      'Evaluate a checkpoint on the test split. The model and the data set are the ones recorded ' +
        'in the checkpoint; --dataset, --data-dir and --synthetic-* evaluate on other data of the same shape.',
    )
    .addOption(new Option('--checkpoint <file>', 'checkpoint (.safetensors) written by `grwarm-native train`').makeOptionMandatory());
  addConfigOptions(cmd, EVAL_KEYS);
  cmd
    .addOption(new Option('--json', 'print the result as one JSON object'))
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (flags: Record<string, unknown>) => {
      setExit(await runEval(io, flags));
    });
  return cmd;
}

async function runEval(io: CliIO, flags: Record<string, unknown>): Promise<number> {
  const path = String(flags.checkpoint);
  const meta = readCheckpointMeta(path);
  const merged: Record<string, unknown> = { ...meta.config };
  const overrides = configOverrides(flags);
  for (const [k, v] of Object.entries(overrides)) merged[k] = coerceFlagValue(k, v);
  // Values not given as flags come from the checkpoint: say so in messages about them.
  const sources: SourceMap = Object.fromEntries(Object.keys(merged).map((k) => [k, `checkpoint ${path}`]));
  for (const k of Object.keys(overrides)) sources[k] = toFlagName(k);
  const cfg = validateConfig(merged, sources);
  setThreads(cfg.threads);

  let data;
  try {
    data = loadRunData({ ...cfg, valFraction: 0 });
  } catch (err) {
    throw err instanceof ConfigError ? relabelIssues(err, sources) : err;
  }
  if (data.test.count === 0) throw new Error(`data set ${cfg.dataset}: the test split is empty; expected at least one image`);
  const mc = meta.modelConfig;
  if (data.test.channels !== mc.channels || data.test.numClasses !== mc.numClasses || data.test.height !== mc.imageSize) {
    throw new CheckpointError(
      path,
      `its model takes ${mc.channels}-channel ${mc.imageSize}x${mc.imageSize} images in ${mc.numClasses} classes, but data set ` +
        `${cfg.dataset} has ${data.test.channels}-channel ${data.test.height}x${data.test.width} images in ${data.test.numClasses} classes`,
    );
  }
  const model = createModel(mc, { seed: 0, device: cfg.device });
  try {
    // Rejects NaN/Inf weights with the tensor's name, as training's readCheckpoint does.
    model.loadSafetensors(path, [OPTIMIZER_PREFIX]);
  } catch (err) {
    throw new CheckpointError(path, err instanceof SafetensorsError ? err.problem : (err as Error).message);
  }
  const r = await evaluateDataset(model, data.test);
  const result = {
    checkpoint: path,
    step: meta.step,
    epoch: meta.epoch,
    model: meta.config.model,
    dataset: cfg.dataset,
    split: 'test',
    images: r.count,
    loss: r.loss,
    error: r.error,
    accuracy: 1 - r.error,
  };
  if (flags.json) io.stdout.write(JSON.stringify(result) + '\n');
  else {
    io.stdout.write(
      `test loss ${r.loss.toFixed(4)}, error ${formatPercent(r.error, 2)} (accuracy ${formatAccuracy(r.error, 2)}) ` +
        `on ${r.count} ${cfg.dataset} test images; ${path} (step ${meta.step}, epoch ${meta.epoch}, ${meta.config.model})\n`,
    );
  }
  return EXIT.OK;
}
