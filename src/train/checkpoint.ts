/**
 * Training checkpoints: safetensors files holding the parameters (timm names, so they load
 * in PyTorch/timm), the optimizer state as extra tensors `optimizer.<slot>` (one flat tensor
 * per slot, in the parameters' flat layout) and string metadata describing where the run
 * stands. See run-dir.ts for the metadata keys. Writing is atomic (writeSafetensors writes a
 * temp file and renames it), and a model whose parameters are not finite is never written.
 */
import {
  readSafetensors,
  readSafetensorsHeader,
  SafetensorsError,
  type SafetensorsContents,
  type SafetensorsHeader,
  type TensorToWrite,
} from '../io/safetensors.js';
import type { VitConfig } from '../model/presets.js';
import { notFiniteIn, type VitModel } from '../model/vit-model.js';
import { RunConfigSchema, issuesFromZod, type RunConfig } from '../config/index.js';
import { checkDataOrder, checkModelConfig, checkTrainState } from './checkpoint-meta.js';
import { CheckpointError } from './errors.js';

export const CHECKPOINT_FORMAT = 'grwarm-native-checkpoint';
export const CHECKPOINT_VERSION = 1;
/** Name prefix of the optimizer-state tensors. */
export const OPTIMIZER_PREFIX = 'optimizer.';

// The shapes of the metadata fields, with their checks, live in checkpoint-meta.ts.
import type { DataOrder, TrainState } from './checkpoint-meta.js';
export type { BestResult, DataOrder, TrainState } from './checkpoint-meta.js';

export interface CheckpointMeta {
  /** Updates done (= model.optimizerSteps). */
  step: number;
  /** Epochs completed. */
  epoch: number;
  /** Updates done in the current, unfinished epoch (0 at an epoch boundary). */
  epochStep: number;
  dataOrder: DataOrder;
  config: RunConfig;
  configHash: string;
  modelConfig: VitConfig;
  state: TrainState;
  /** The run this checkpoint belongs to (run-state.json's runId); absent in older checkpoints. */
  runId?: string;
  /** Processes of the data-parallel run that wrote it (1 for one process); absent (= 1) in older checkpoints. */
  worldSize?: number;
  /** `grwarm-native <version>`. */
  producer: string;
  createdAt: string;
}

export interface LoadedCheckpoint {
  path: string;
  meta: CheckpointMeta;
  file: SafetensorsContents;
}

function encodeMeta(m: CheckpointMeta): Record<string, string> {
  return {
    format: CHECKPOINT_FORMAT,
    format_version: String(CHECKPOINT_VERSION),
    step: String(m.step),
    epoch: String(m.epoch),
    epoch_step: String(m.epochStep),
    data_order: JSON.stringify(m.dataOrder),
    config: JSON.stringify(m.config),
    config_hash: m.configHash,
    model_config: JSON.stringify(m.modelConfig),
    train_state: JSON.stringify(m.state),
    producer: m.producer,
    created: m.createdAt,
    ...(m.runId !== undefined ? { run_id: m.runId } : {}),
    ...(m.worldSize !== undefined ? { world_size: String(m.worldSize) } : {}),
  };
}

/**
 * Writes a checkpoint of `model` (parameters + optimizer state) to `path`, atomically.
 * Refuses (throws) when a parameter is not finite, so a diverged model never replaces a
 * good checkpoint.
 */
export function saveCheckpoint(path: string, model: VitModel, meta: CheckpointMeta): void {
  if (!Number.isFinite(model.paramNorm())) {
    throw new Error(`refusing to write checkpoint ${path}: the parameters are not finite`);
  }
  if (model.optimizerSteps !== meta.step) {
    throw new Error(`checkpoint ${path}: step ${meta.step} does not match the model's ${model.optimizerSteps} updates`);
  }
  const extra: TensorToWrite[] = model.optimizerState().map((s) => ({
    name: OPTIMIZER_PREFIX + s.name,
    dtype: s.data instanceof Float64Array ? 'F64' : 'F32',
    shape: [s.data.length],
    data: s.data,
  }));
  model.saveSafetensors(path, encodeMeta(meta), extra);
}

function parseJsonField(path: string, meta: Record<string, string>, key: string): unknown {
  const raw = meta[key];
  if (raw === undefined) throw new CheckpointError(path, `metadata field "${key}" is missing`);
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new CheckpointError(path, `metadata field "${key}" is not valid JSON (${(err as Error).message})`);
  }
}

function parseIntField(path: string, meta: Record<string, string>, key: string): number {
  const raw = meta[key];
  const n = raw === undefined ? NaN : Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new CheckpointError(path, `metadata field "${key}" is ${raw === undefined ? 'missing' : JSON.stringify(raw)}, expected an integer >= 0`);
  }
  return n;
}

/** Parses and checks the metadata of a checkpoint (throws CheckpointError naming the file and the field). */
export function decodeMeta(path: string, meta: Record<string, string>): CheckpointMeta {
  if (meta.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(
      path,
      `not a grwarm-native training checkpoint (metadata "format" is ${meta.format === undefined ? 'missing' : JSON.stringify(meta.format)}, expected "${CHECKPOINT_FORMAT}")`,
    );
  }
  const version = Number(meta.format_version);
  if (version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(
      path,
      `checkpoint format version ${JSON.stringify(meta.format_version)} is not supported (this version reads ${CHECKPOINT_VERSION})`,
    );
  }
  const fail = (problem: string): never => {
    throw new CheckpointError(path, problem);
  };
  const cfgRaw = parseJsonField(path, meta, 'config');
  // A checkpoint written before grStepOrigin existed counted the GR ramps from 1: resume it so.
  if (cfgRaw && typeof cfgRaw === 'object' && !Array.isArray(cfgRaw) && !('grStepOrigin' in cfgRaw)) (cfgRaw as Record<string, unknown>).grStepOrigin = 1;
  const parsed = RunConfigSchema.safeParse(cfgRaw);
  if (!parsed.success) {
    const issues = issuesFromZod(parsed.error, cfgRaw).map((i) => i.text);
    fail(`metadata "config" is not a valid run configuration: ${issues.join('; ')}`);
  }
  const config = parsed.data as RunConfig;
  const step = parseIntField(path, meta, 'step');
  const epoch = parseIntField(path, meta, 'epoch');
  const epochStep = parseIntField(path, meta, 'epoch_step');
  const modelConfig = checkModelConfig(parseJsonField(path, meta, 'model_config'), config, fail);
  const dataOrder = checkDataOrder(parseJsonField(path, meta, 'data_order'), step, config, fail);
  if (epoch !== dataOrder.epoch || epochStep !== dataOrder.index) {
    fail(`metadata "epoch" ${epoch} and "epoch_step" ${epochStep} disagree with "data_order" (epoch ${dataOrder.epoch}, index ${dataOrder.index})`);
  }
  const state = checkTrainState(parseJsonField(path, meta, 'train_state'), fail);
  const runId = meta.run_id;
  if (runId !== undefined && !/^[\w-]{1,64}$/.test(runId)) fail(`metadata "run_id": got ${JSON.stringify(runId.slice(0, 80))}, expected a run id`);
  const worldSize = meta.world_size === undefined ? undefined : parseIntField(path, meta, 'world_size');
  if (worldSize === 0) fail('metadata "world_size": got 0, expected an integer >= 1');
  return {
    runId,
    worldSize,
    step,
    epoch,
    epochStep,
    dataOrder,
    config,
    configHash: meta.config_hash ?? '',
    modelConfig,
    state,
    producer: meta.producer ?? '',
    createdAt: meta.created ?? '',
  };
}

/**
 * Reads only the header of a checkpoint and decodes its metadata (cheap even for big
 * models; the tensors are left on disk). The header is checked as fully as by
 * readCheckpoint: layout, sizes, UTF-8 and JSON.
 */
export function readCheckpointMeta(path: string): CheckpointMeta {
  let header: SafetensorsHeader;
  try {
    header = readSafetensorsHeader(path);
  } catch (err) {
    throw fileProblem(path, err);
  }
  return decodeMeta(path, header.metadata);
}

/**
 * Whether a safetensors file is a training checkpoint (metadata "format" is
 * "grwarm-native-checkpoint") or a plain weights file (e.g. written by
 * `model.saveSafetensors`). Reads only the header; a file that is not valid safetensors is a
 * CheckpointError naming it.
 */
export function isTrainingCheckpoint(path: string): boolean {
  let header: SafetensorsHeader;
  try {
    header = readSafetensorsHeader(path);
  } catch (err) {
    throw fileProblem(path, err);
  }
  return header.metadata.format === CHECKPOINT_FORMAT;
}

/** A CheckpointError for a file that cannot be read as safetensors. */
function fileProblem(path: string, err: unknown): CheckpointError {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return new CheckpointError(path, 'no such file');
  if (e.code === 'EISDIR') return new CheckpointError(path, 'is a directory, expected a checkpoint file');
  if (err instanceof SafetensorsError) {
    return new CheckpointError(path, err.verb === 'Invalid' ? `not a valid safetensors file: ${err.problem}` : err.problem);
  }
  return new CheckpointError(path, e.message); // a FileSystemError: names the file and the reason
}

/**
 * Reads a checkpoint file: tensors and decoded metadata. A file with a NaN or an infinity in
 * any float tensor is rejected, naming the tensor.
 */
export function readCheckpoint(path: string): LoadedCheckpoint {
  let file: SafetensorsContents;
  try {
    file = readSafetensors(path, { requireFinite: true });
  } catch (err) {
    throw fileProblem(path, err);
  }
  return { path, meta: decodeMeta(path, file.metadata), file };
}

/**
 * Copies a checkpoint's parameters and optimizer state into `model` (whose optimizer must
 * already be configured as in the checkpoint's run) and sets its update count. Checks every
 * name, shape and slot first; nothing is written unless everything matches.
 */
export function restoreCheckpoint(model: VitModel, ckpt: LoadedCheckpoint): void {
  const { file, path } = ckpt;
  const problems: string[] = [];
  for (const t of model.tensors) {
    const s = file.tensors.get(t.name);
    if (!s) problems.push(`missing tensor "${t.name}"`);
    else if (s.dtype !== 'F32' && s.dtype !== 'F64') problems.push(`tensor "${t.name}" has dtype ${s.dtype}`);
    else if (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i])) {
      problems.push(`tensor "${t.name}" has shape [${s.shape.join(', ')}], expected [${t.shape.join(', ')}]`);
    } else {
      const bad = notFiniteIn(model.precision, s.data as ArrayLike<number>); // after conversion to the model's precision
      if (bad) problems.push(`tensor "${t.name}" holds ${bad}`);
    }
  }
  const slots = model.optimizerState();
  const slotNames = new Set(slots.map((s) => OPTIMIZER_PREFIX + s.name));
  for (const s of slots) {
    const t = file.tensors.get(OPTIMIZER_PREFIX + s.name);
    if (!t) problems.push(`missing optimizer state "${OPTIMIZER_PREFIX + s.name}"`);
    else if (t.dtype !== 'F32' && t.dtype !== 'F64') problems.push(`optimizer state "${OPTIMIZER_PREFIX + s.name}" has dtype ${t.dtype}`);
    else if (t.data.length !== s.data.length) {
      problems.push(`optimizer state "${OPTIMIZER_PREFIX + s.name}" has ${t.data.length} values, expected ${s.data.length}`);
    } else {
      const bad = notFiniteIn(model.precision, t.data as ArrayLike<number>);
      if (bad) problems.push(`optimizer state "${OPTIMIZER_PREFIX + s.name}" holds ${bad}`);
    }
  }
  for (const name of file.tensors.keys()) {
    if (name.startsWith(OPTIMIZER_PREFIX) && !slotNames.has(name)) {
      problems.push(`optimizer state "${name}" does not belong to this optimizer`);
    }
  }
  if (problems.length > 0) {
    throw new CheckpointError(path, `does not match the model and optimizer of its config:\n  ${problems.join('\n  ')}`);
  }
  // One push per buffer (host-copy protocol): the model copies them into backend memory.
  model.setTensors(new Map(model.tensors.map((t) => [t.name, file.tensors.get(t.name)!.data as ArrayLike<number>])));
  for (const s of slots) model.setOptimizerState(s.name, file.tensors.get(OPTIMIZER_PREFIX + s.name)!.data as ArrayLike<number>);
  model.optimizerSteps = ckpt.meta.step;
}
