/**
 * Checks of the JSON fields of a checkpoint's metadata (`model_config`, `data_order`,
 * `train_state`). A checkpoint is a file from disk: anything in it may be corrupt or hostile,
 * so each field is checked for type and range before the loop or the native model sees it,
 * and a problem is reported as `metadata "<field>": <key>: got <value>, expected <what>`.
 */
import { formatValue, type RunConfig } from '../config/index.js';
import { runModelConfig, type VitConfig } from '../model/presets.js';
import { parseEpochSums, type EpochSums } from './metrics.js';

/** Where the data order stands: the next batch is batch `index` of (0-based) data epoch `epoch`. */
export interface DataOrder {
  seed: number;
  epoch: number;
  index: number;
  batchSize: number;
  stepsPerEpoch: number;
  trainCount: number;
}

export interface BestResult {
  testError: number;
  testLoss: number;
  /** Validation error at that point (runs with valFraction > 0, where it chooses the best). */
  valError?: number;
  epoch: number;
  step: number;
}

/** Loop state beyond parameters and optimizer, so a resumed run continues its bookkeeping. */
export interface TrainState {
  /** Sums of the current, unfinished epoch (empty at an epoch boundary). */
  epochSums: EpochSums;
  best: BestResult | null;
  /** Seconds of training so far (all sessions together). */
  elapsedSec: number;
}

/** Throws with the problem text; the caller wraps it into a CheckpointError naming the file. */
type Fail = (problem: string) => never;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function objectField(field: string, v: unknown, fail: Fail): Record<string, unknown> {
  if (!isObject(v)) fail(`metadata "${field}": got ${formatValue(v)}, expected a JSON object`);
  return v as Record<string, unknown>;
}

function intIn(field: string, o: Record<string, unknown>, key: string, lo: number, hi: number, fail: Fail): number {
  const v = o[key];
  if (!Number.isSafeInteger(v) || (v as number) < lo || (v as number) > hi) {
    fail(`metadata "${field}": ${key}: got ${formatValue(v)}, expected an integer from ${lo} to ${hi}`);
  }
  return v as number;
}

function numberIn(field: string, o: Record<string, unknown>, key: string, lo: number, hi: number, fail: Fail): number {
  const v = o[key];
  if (typeof v !== 'number' || !(v >= lo && v <= hi)) {
    fail(`metadata "${field}": ${key}: got ${formatValue(v)}, expected a number from ${lo} to ${hi}`);
  }
  return v as number;
}

/** Bounds far above any model this package builds, low enough that nothing absurd is allocated. */
const MODEL_LIMITS: [keyof VitConfig, number, number][] = [
  ['imageSize', 1, 4096],
  ['channels', 1, 64],
  ['patchSize', 1, 4096],
  ['numClasses', 1, 100_000],
  ['width', 1, 16_384],
  ['depth', 1, 1024],
  ['heads', 1, 1024],
];

/**
 * `model_config`: every field present with a sane type and range, and the shape the
 * checkpoint's own config builds (so a corrupt width cannot pass for the run's model).
 */
export function checkModelConfig(raw: unknown, cfg: RunConfig, fail: Fail): VitConfig {
  const F = 'model_config';
  const o = objectField(F, raw, fail);
  for (const [key, lo, hi] of MODEL_LIMITS) intIn(F, o, key, lo, hi, fail);
  numberIn(F, o, 'mlpRatio', 0.001, 64, fail);
  const dropout = o.dropout;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) {
    fail(`metadata "${F}": dropout: got ${formatValue(dropout)}, expected a number >= 0 and < 1`);
  }
  if (o.gelu !== 'tanh' && o.gelu !== 'erf') fail(`metadata "${F}": gelu: got ${formatValue(o.gelu)}, expected "tanh" or "erf"`);
  const mc = o as unknown as VitConfig;
  const known = new Set<string>([...MODEL_LIMITS.map(([k]) => k), 'mlpRatio', 'dropout', 'gelu', 'family', 'embedDim', 'depths', 'stageHeads', 'window', 'dropPath', 'classDepth', 'layerScaleInit']);
  const extra = Object.keys(o).filter((k) => !known.has(k));
  if (extra.length > 0) fail(`metadata "${F}": unknown key ${formatValue(extra[0])}`);
  if (mc.imageSize % mc.patchSize !== 0) {
    fail(`metadata "${F}": patchSize: got ${mc.patchSize}, expected a divisor of imageSize ${mc.imageSize}`);
  }
  // The architecture must be the one the checkpoint's config names, so a corrupt width or
  // depth cannot pass for the run's model (channels, classes and image size come from the
  // data set; dropout and GELU are compared with the run's by the resume check).
  const preset = runModelConfig(
    cfg.model,
    { imageSize: mc.imageSize, channels: mc.channels, numClasses: mc.numClasses },
    { patchSize: cfg.patchSize, dropout: cfg.dropout, gelu: cfg.gelu },
  );
  for (const key of ['width', 'depth', 'heads', 'mlpRatio', 'patchSize', 'family', 'embedDim', 'depths', 'stageHeads', 'window', 'classDepth', 'layerScaleInit'] as const) {
    if (JSON.stringify(mc[key]) !== JSON.stringify(preset[key])) {
      fail(
        `metadata "${F}": ${key}: got ${formatValue(mc[key])}, expected ${formatValue(preset[key])} ` +
          `(what the checkpoint's config, model ${JSON.stringify(cfg.model)}, builds)`,
      );
    }
  }
  return mc;
}

/** `data_order`: integers, consistent with the step count and the config's batch size. */
export function checkDataOrder(raw: unknown, step: number, cfg: RunConfig, fail: Fail): DataOrder {
  const F = 'data_order';
  const o = objectField(F, raw, fail);
  const big = Number.MAX_SAFE_INTEGER;
  const d: DataOrder = {
    seed: intIn(F, o, 'seed', 0, 2 ** 32 - 1, fail),
    epoch: intIn(F, o, 'epoch', 0, big, fail),
    index: intIn(F, o, 'index', 0, big, fail),
    batchSize: intIn(F, o, 'batchSize', 1, big, fail),
    stepsPerEpoch: intIn(F, o, 'stepsPerEpoch', 1, big, fail),
    trainCount: intIn(F, o, 'trainCount', 1, big, fail),
  };
  if (d.seed !== cfg.seed) fail(`metadata "${F}": seed: got ${d.seed}, expected the config's seed ${cfg.seed}`);
  if (d.batchSize !== cfg.batchSize) fail(`metadata "${F}": batchSize: got ${d.batchSize}, expected the config's batchSize ${cfg.batchSize}`);
  if (d.index >= d.stepsPerEpoch || d.epoch * d.stepsPerEpoch + d.index !== step) {
    fail(
      `metadata "${F}": epoch ${d.epoch}, index ${d.index} at ${d.stepsPerEpoch} steps per epoch ` +
        `do not give the checkpoint's step ${step}`,
    );
  }
  return d;
}

/** `train_state`: epoch sums, best result and elapsed time, all finite and in range. */
export function checkTrainState(raw: unknown, fail: Fail): TrainState {
  const F = 'train_state';
  const o = objectField(F, raw, fail);
  let epochSums;
  try {
    epochSums = parseEpochSums(o.epochSums);
  } catch (err) {
    return fail(`metadata "${F}": ${(err as Error).message}`);
  }
  let best: BestResult | null = null;
  if (o.best !== null && o.best !== undefined) {
    const b = objectField(`${F}.best`, o.best, fail);
    best = {
      testError: numberIn(`${F}.best`, b, 'testError', 0, 1, fail),
      // An infinite test loss (a model that is confidently wrong) is written as JSON null.
      testLoss: b.testLoss === null ? (null as unknown as number) : numberIn(`${F}.best`, b, 'testLoss', 0, Number.MAX_VALUE, fail),
      epoch: intIn(`${F}.best`, b, 'epoch', 0, Number.MAX_SAFE_INTEGER, fail),
      step: intIn(`${F}.best`, b, 'step', 0, Number.MAX_SAFE_INTEGER, fail),
    };
    if (b.valError !== undefined) best.valError = numberIn(`${F}.best`, b, 'valError', 0, 1, fail);
  }
  const elapsedSec = o.elapsedSec === undefined ? 0 : numberIn(F, o, 'elapsedSec', 0, Number.MAX_VALUE, fail);
  return { epochSums, best, elapsedSec };
}
