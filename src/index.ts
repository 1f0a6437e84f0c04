// grwarm-native: train Vision Transformers with gradient regularization from Node.js.
export { createModel, VitModel } from './model/vit-model.js';
export type { CreateModelOptions, ForwardBackwardOptions, PassResult, Precision, FloatArray } from './model/vit-model.js';
export { VIT_PRESETS, vitConfig } from './model/presets.js';
export type { VitConfig, VitPreset } from './model/presets.js';
export { backendInfo, setThreads, setGemm, sgemmGflops, gemmClockMs } from './backend.js';
export type { BackendInfo } from './backend.js';
export { readSafetensors, writeSafetensors } from './io/safetensors.js';
export type { OptimizerConfig, StepOptions, StepResult, ApplyResult } from './model/vit-model.js';
export { Trainer } from './train/trainer.js';
export type { TrainerConfig, StepMetrics } from './train/trainer.js';
export { unfusedStep } from './train/unfused-gr-step.js';
export { learningRate, grAt } from './schedule/index.js';
export type { LrSchedule, GrConfig, GrPolicy } from './schedule/index.js';
// Data sets and the input pipeline (the CLI's loaders, subsets, batches and normalisation).
export {
  DATASET_NAMES,
  loadDataset,
  loadCifar10,
  loadCifar100,
  loadMnistLike,
  loadIdxPair,
  defaultFashionMnistDir,
  makeSynthetic,
  SYNTHETIC_CLASSES,
  fixedSubset,
  splitValidation,
  stepsPerEpoch,
  allocBatch,
  makeTrainBatch,
  evalBatches,
  epochOrder,
  normalizeImages,
  normLut,
  augmentInto,
  IDENTITY_AUG,
  channelStats,
} from './data/index.js';
export type {
  Dataset,
  DatasetSplits,
  DatasetName,
  LoadDatasetOptions,
  Batch,
  TrainBatchSpec,
  SyntheticOptions,
  Cifar100Options,
  MnistKind,
  AugParams,
} from './data/index.js';
export { evaluateDataset } from './train/evaluate.js';
export type { EvalResult } from './train/metrics.js';
