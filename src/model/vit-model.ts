// The public model object: flat parameter/gradient buffers with named views (timm names),
// forward/backward and evaluation on a native backend (CPU or CUDA), safetensors checkpoints.
//
// Host-copy protocol: the parameters, gradients and optimizer state live in backend memory
// (device memory on CUDA). This object never holds a view into it, and never hands out its own
// cache: `params`, `param()`, `grads`, `grad()` and `optimizerState()` return arrays the caller
// owns (copies from a private cache refreshed lazily; a generation counter says when the model
// changed). Every write goes through a method that copies into the model (`setParams`,
// `setParam`, `setTensors`, `editParams`, `setGrads`, `setOptimizerState`, `loadSafetensors`)
// and is all-or-nothing: the new values are staged in a fresh array, pushed, and only once the
// push succeeded does the cache become them. A write refused (busy: an async call is in
// flight) or a callback that throws changes neither the model nor any copy.
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../io/safetensors.js';
import {
  native,
  type Device,
  type NativeApplyResult,
  type NativeBufferKind,
  type NativeCommunicatorHandle,
  type NativeModelHandle,
  type NativeOptimizerConfig,
  type NativeStepResult,
  type NativeTensorInfo,
} from '../native.js';
import { toNativeConfig, vitConfig, type VitConfig, type VitPreset } from './presets.js';

/**
 * float32 (default); float64 (gradient checks); bfloat16: mixed precision with float32 master
 * weights, gradients, optimizer state and reductions, and bf16 GEMM inputs with float32
 * accumulation (parameters and checkpoints stay float32). 'bf16', 'fp32' and 'fp64' are
 * accepted as short names.
 */
export type Precision = 'float32' | 'float64' | 'bfloat16';
/** Every precision name a model option or the CLI accepts, with its canonical name. */
export const PRECISION_ALIASES: Readonly<Record<string, Precision>> = {
  float32: 'float32',
  fp32: 'float32',
  float64: 'float64',
  fp64: 'float64',
  bfloat16: 'bfloat16',
  bf16: 'bfloat16',
};
export type FloatArray = Float32Array | Float64Array;

export interface CreateModelOptions {
  /** Seed of the initialisation (docs/method.md, section 4). Default 0. */
  seed?: number;
  /** float32 (default), float64 (gradient checks) or bfloat16 (mixed precision; see Precision). */
  precision?: Precision | 'bf16' | 'fp32' | 'fp64';
  /**
   * Where to run: 'cpu', 'cuda', or 'auto' (default: CUDA when it is available here, else the
   * CPU). An unavailable device fails with the reason (no plugin, no driver, no cuBLAS).
   */
  device?: Device;
}

export interface ForwardBackwardOptions {
  /** Step seed: dropout masks are a pure function of it (same seed, same masks). */
  seed?: number;
  /** Dropout on (default true). */
  train?: boolean;
  labelSmoothing?: number;
}

export type OptimizerConfig = NativeOptimizerConfig;
export type ApplyResult = NativeApplyResult;
export type StepResult = NativeStepResult;

export interface StepOptions {
  /** Scheduled learning rate of this update. */
  lr: number;
  /** GR strength λ and radius r; λ = 0 or r = 0 is the base optimizer step (no second pass). */
  lambda: number;
  r: number;
  /** Step seed: both passes use the dropout masks it defines. */
  seed: number;
  train?: boolean;
  labelSmoothing?: number;
  /**
   * How the GR perturbation is shared: 'global' (default) perturbs once with the gradient of
   * the whole batch (of every rank, in a data-parallel run); 'local' perturbs each of `shards`
   * shards of this batch (and each rank) with its own gradient and averages the results
   * (SAM's m-sharpness; the paper's JAX code). See the README, "Data-parallel training".
   */
  perturbation?: 'global' | 'local';
  /** Local mode: perturbation shards of this batch (default 1). */
  shards?: number;
}

export interface PassResult {
  /** Mean cross-entropy over the batch. */
  loss: number;
  /** Number of images whose argmax logit is the label. */
  correct: number;
  count: number;
}

/**
 * Which values of `data` are not finite once converted to the precision of a model's
 * parameters (float32 for float32 and bfloat16 models): an F64 value beyond float32's range
 * passes a finiteness check of the file but becomes Infinity in the model. Undefined when all
 * are finite; else one phrase for an error message.
 */
export function notFiniteIn(precision: Precision, data: ArrayLike<number>): string | undefined {
  const round = precision === 'float64' ? (v: number) => v : Math.fround;
  let first = -1;
  let count = 0;
  for (let i = 0; i < data.length; i++) {
    const v = round(data[i]);
    if (v - v !== 0) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (first < 0) return undefined;
  const type = precision === 'float64' ? 'float64' : 'float32';
  return `${count} value${count === 1 ? '' : 's'} not finite as ${type}, the precision of this model's parameters (the first, at index ${first}, is ${data[first]})`;
}

/** Largest batch evaluate/predict sends to the native side at once (bounds activation memory). */
const EVAL_CHUNK = 256;

/**
 * The private host cache of one flat buffer. It is never handed out: readers get copies
 * (`copy`), writers stage a whole new buffer and `commit` it, so a refused or failed write leaves
 * the cache and the model as they were.
 */
class HostCopy {
  private gen = -1;
  private cache: FloatArray;
  constructor(
    private readonly handle: NativeModelHandle,
    private readonly kind: NativeBufferKind,
    private readonly make: () => FloatArray,
  ) {
    this.cache = make();
  }

  /**
   * The model's current values: the cache, pulled again if the model changed. Read-only.
   * Refused while a call is in flight, like every native read: the call may be changing the
   * buffer, and its generation counter with it.
   */
  current(): FloatArray {
    if (this.handle.busy()) throw new Error(`${this.kind}: the model is busy with another call; await it first`);
    const g = this.handle.generation(this.kind);
    if (g !== this.gen) {
      this.handle.readBuffer(this.kind, 0, this.cache);
      this.gen = g;
    }
    return this.cache;
  }

  /** A copy of elements [begin, end) of the current values, owned by the caller. */
  copy(begin = 0, end?: number): FloatArray {
    return this.current().slice(begin, end);
  }

  /**
   * Pushes `staged` (a whole buffer) into the model. A refused push (busy) throws and changes
   * nothing. With `adopt` (the caller made `staged` and keeps no reference to it) it becomes
   * the cache; otherwise someone else may still hold it, so the next read pulls again.
   */
  commit(staged: FloatArray, adopt: boolean): void {
    this.handle.writeBuffer(this.kind, 0, staged);
    if (adopt) {
      this.cache = staged;
      this.gen = this.handle.generation(this.kind);
    } else {
      this.gen = -1;
    }
  }
}

export class VitModel {
  readonly config: VitConfig;
  readonly precision: Precision;
  /** The backend this model runs on ("cpu" or "cuda") and a one-line description of it. */
  readonly device: { name: string; detail: string };
  readonly tensors: readonly NativeTensorInfo[];
  readonly paramNames: readonly string[];
  readonly numParams: number;
  /** @internal the native handle, for the training step. */
  readonly handle: NativeModelHandle;
  private readonly byName: Map<string, NativeTensorInfo>;
  private readonly paramCopy: HostCopy;
  private readonly gradCopy: HostCopy;

  constructor(config: VitConfig, options: CreateModelOptions = {}) {
    const asked = options.precision ?? 'float32';
    const precision = typeof asked === 'string' ? PRECISION_ALIASES[asked] : undefined;
    if (!precision) {
      throw new RangeError(
        `options.precision: expected "float32", "float64" or "bfloat16" (or bf16/fp32/fp64), got ${JSON.stringify(asked)}`,
      );
    }
    this.config = { ...config };
    this.precision = precision;
    this.handle = new (native().NativeModel)(toNativeConfig(config), {
      precision,
      seed: options.seed ?? 0,
      device: options.device ?? 'auto',
    });
    this.device = this.handle.device();
    this.tensors = this.handle.layout();
    this.paramNames = this.tensors.map((t) => t.name);
    this.byName = new Map(this.tensors.map((t) => [t.name, t]));
    const last = this.tensors[this.tensors.length - 1];
    this.numParams = last.offset + last.size;
    this.paramCopy = new HostCopy(this.handle, 'params', () => this.newFlat());
    this.gradCopy = new HostCopy(this.handle, 'grads', () => this.newFlat());
  }

  /**
   * A copy of the whole flat parameter buffer as of this call, owned by the caller: changing it
   * changes nothing else (not the model, not a later `params`). Write with `setParams`,
   * `setParam`, `setTensors` or `editParams`. Each read copies numParams values; read once and
   * index the result rather than `model.params[i]` in a loop.
   */
  get params(): FloatArray {
    return this.paramCopy.copy();
  }

  /** A copy of the flat gradient buffer (same layout as `params`), owned by the caller; write with `setGrads`. */
  get grads(): FloatArray {
    return this.gradCopy.copy();
  }

  /** Shape of a parameter tensor (PyTorch order: Linear weights are [out, in]). */
  shape(name: string): number[] {
    return [...this.info(name).shape];
  }

  /** One parameter tensor, by timm name: a copy owned by the caller (a later step does not change it). */
  param(name: string): FloatArray {
    const t = this.info(name);
    return this.paramCopy.copy(t.offset, t.offset + t.size);
  }

  /** The gradient of one tensor, by timm name: a copy owned by the caller. */
  grad(name: string): FloatArray {
    const t = this.info(name);
    return this.gradCopy.copy(t.offset, t.offset + t.size);
  }

  /**
   * Replaces every parameter with `values` (numParams numbers, the layout of `params`). All or
   * nothing: refused while the model is busy, and then nothing changes.
   */
  setParams(values: ArrayLike<number>): void {
    this.checkFlat(values, 'setParams');
    this.paramCopy.commit(this.newFlat(values), true);
  }

  /** Replaces one parameter tensor, by timm name (all or nothing, like `setTensors`). */
  setParam(name: string, values: ArrayLike<number>): void {
    this.setTensors(new Map([[name, values]]));
  }

  /**
   * Replaces the named parameter tensors (the others keep their values) in one copy into the
   * model. Every name and length is checked before anything is written; a refused write
   * (busy) changes nothing.
   */
  setTensors(values: ReadonlyMap<string, ArrayLike<number>>): void {
    for (const [name, v] of values) {
      const t = this.info(name);
      if (v.length !== t.size) {
        throw new RangeError(`parameter "${name}": expected ${t.size} values (shape [${t.shape.join(', ')}]), got ${v.length}`);
      }
    }
    const staged = this.paramCopy.copy();
    for (const [name, v] of values) staged.set(v, this.info(name).offset);
    this.paramCopy.commit(staged, true);
  }

  /**
   * Lets `edit` change a copy of the current parameters, then copies it into the model. If
   * `edit` throws, or the write is refused (busy), the model and every copy stay as they were.
   */
  editParams(edit: (params: FloatArray) => void): void {
    const staged = this.paramCopy.copy();
    edit(staged);
    this.paramCopy.commit(staged, false); // `edit` may have kept a reference to it
  }

  /** Replaces the gradient buffer (for hand-written steps: `applyOptimizer` uses it); all or nothing. */
  setGrads(values: ArrayLike<number>): void {
    this.checkFlat(values, 'setGrads');
    this.gradCopy.commit(this.newFlat(values), true);
  }

  /** Global L2 norm of all parameters. */
  paramNorm(): number {
    return this.handle.paramNorm();
  }

  /** Global L2 norm of the gradient buffer. */
  gradNorm(): number {
    return this.handle.gradNorm();
  }

  /** Re-initialises every parameter from `seed`. */
  init(seed: number): void {
    this.handle.init(seed);
  }

  /** True while an async call (step, forwardBackward, evaluate, ...) is in flight. */
  get busy(): boolean {
    return this.handle.busy();
  }

  /**
   * Forward and backward pass on one batch (images N*C*H*W, normalised). The gradient of the
   * mean loss is written into the model's gradient buffer (overwritten, not accumulated).
   * Runs off the event loop; the inputs are copied when the call is made.
   */
  async forwardBackward(images: Float32Array, labels: Int32Array, opts: ForwardBackwardOptions = {}): Promise<PassResult> {
    return this.handle.forwardBackward(images, labels, opts.seed ?? 0, opts.train ?? true, opts.labelSmoothing ?? 0);
  }

  /** Eval-mode logits [N, numClasses], row-major. */
  async predict(images: Float32Array): Promise<Float32Array> {
    const per = this.imageNumel();
    const n = this.batchSize(images);
    const out = new Float32Array(n * this.config.numClasses);
    for (let i = 0; i < n; i += EVAL_CHUNK) {
      const m = Math.min(EVAL_CHUNK, n - i);
      const r = await this.handle.evaluate(images.subarray(i * per, (i + m) * per), null, true, 0);
      out.set(r.logits!, i * this.config.numClasses);
    }
    return out;
  }

  /** Eval-mode mean loss and accuracy count over any number of images (chunked). */
  async evaluate(images: Float32Array, labels: Int32Array, opts: { labelSmoothing?: number } = {}): Promise<PassResult> {
    const per = this.imageNumel();
    const n = this.batchSize(images);
    if (labels.length !== n) {
      throw new RangeError(`labels: expected length ${n} (one per image), got ${labels.length}`);
    }
    let lossSum = 0;
    let correct = 0;
    for (let i = 0; i < n; i += EVAL_CHUNK) {
      const m = Math.min(EVAL_CHUNK, n - i);
      const r = await this.handle.evaluate(
        images.subarray(i * per, (i + m) * per),
        labels.subarray(i, i + m),
        false,
        opts.labelSmoothing ?? 0,
      );
      lossSum += r.loss! * m;
      correct += r.correct!;
    }
    return { loss: lossSum / n, correct, count: n };
  }

  /**
   * Sets up the optimizer of docs/method.md section 2 over the flat buffers; its state starts
   * at zero and the update counter at 0. Call again to reset. If memory runs out, the previous
   * optimizer is left as it was.
   */
  configureOptimizer(cfg: OptimizerConfig): void {
    this.handle.configureOptimizer(cfg);
  }

  /** Optimizer state as named flat buffers (PyTorch names: exp_avg, exp_avg_sq, ...): fresh copies. */
  optimizerState(): { name: string; data: FloatArray }[] {
    return this.handle.optimizerSlotNames().map((name, i) => {
      const data = this.newFlat();
      this.handle.readBuffer('optimizer', i, data);
      return { name, data };
    });
  }

  /** Replaces one optimizer state buffer, by PyTorch name (e.g. "exp_avg"). */
  setOptimizerState(name: string, values: ArrayLike<number>): void {
    const names = this.handle.optimizerSlotNames();
    const i = names.indexOf(name);
    if (i < 0) {
      throw new RangeError(
        `optimizer state "${name}": this optimizer has ${names.length ? names.map((n) => `"${n}"`).join(', ') : 'no state (configure it first)'}`,
      );
    }
    this.checkFlat(values, `setOptimizerState("${name}")`);
    const data = values instanceof (this.precision === 'float64' ? Float64Array : Float32Array)
      ? (values as FloatArray)
      : this.newFlat(values);
    this.handle.writeBuffer('optimizer', i, data);
  }

  /** Number of optimizer updates applied so far (Adam's bias correction uses this + 1). */
  get optimizerSteps(): number {
    return this.handle.optimizerSteps();
  }

  set optimizerSteps(n: number) {
    this.handle.setOptimizerSteps(n);
  }

  /**
   * The fused training step, one native call: first forward/backward, and when λ > 0 and
   * r > 0 the GR perturbation, second pass with the same masks, combination and bit-exact
   * restore; then global-norm clipping and the optimizer update.
   */
  async step(images: Float32Array, labels: Int32Array, opts: StepOptions): Promise<StepResult> {
    return this.handle.step(images, labels, opts);
  }

  /** Clipping + optimizer update using the model's gradient buffer (for hand-written steps). */
  async applyOptimizer(lr: number): Promise<ApplyResult> {
    return this.handle.applyOptimizer(lr);
  }

  /**
   * Data-parallel training: with a communicator (src/distributed/) every `step` and
   * `forwardBackward` treats its batch as this rank's part of the global batch (gradients
   * averaged over all ranks, losses and counts global). null returns to a single process.
   */
  setCommunicator(comm: NativeCommunicatorHandle | null): void {
    this.handle.setCommunicator(comm);
  }

  /** Writes the parameters as safetensors with timm names (loads in PyTorch/timm). */
  saveSafetensors(path: string, metadata: Record<string, string> = {}, extra: TensorToWrite[] = []): void {
    const dtype = this.precision === 'float64' ? 'F64' : 'F32';
    const params = this.paramCopy.current(); // read here, written out before anything can change it
    const tensors: TensorToWrite[] = this.tensors.map((t) => ({
      name: t.name,
      dtype,
      shape: t.shape,
      data: params.subarray(t.offset, t.offset + t.size),
    }));
    writeSafetensors(path, [...tensors, ...extra], metadata);
  }

  /**
   * Loads parameters from a safetensors file. Every model tensor must be present with its
   * exact shape and values that are finite in the model's precision (an F64 1e300 is refused
   * by a float32 model); F32 and F64 are accepted. Tensors whose names start with
   * one of `ignorePrefixes` (e.g. optimizer state in a checkpoint) are skipped; any other extra
   * tensor is an error. Nothing is written unless the whole file matches. Returns the metadata.
   */
  loadSafetensors(path: string, ignorePrefixes: string[] = []): Record<string, string> {
    const file = readSafetensors(path, { requireFinite: true });
    const problems: string[] = [];
    for (const t of this.tensors) {
      const s = file.tensors.get(t.name);
      if (!s) {
        problems.push(`missing tensor "${t.name}" (shape [${t.shape.join(', ')}])`);
        continue;
      }
      if (s.dtype !== 'F32' && s.dtype !== 'F64') {
        problems.push(`tensor "${t.name}": dtype ${s.dtype}, expected F32 or F64`);
      }
      if (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i])) {
        problems.push(`tensor "${t.name}": shape [${s.shape.join(', ')}], expected [${t.shape.join(', ')}]`);
      }
      const bad = notFiniteIn(this.precision, s.data as ArrayLike<number>);
      if (bad) problems.push(`tensor "${t.name}" holds ${bad}`);
    }
    for (const name of file.tensors.keys()) {
      if (!this.byName.has(name) && !ignorePrefixes.some((p) => name.startsWith(p))) {
        problems.push(`unexpected tensor "${name}" (not a parameter of this model)`);
      }
    }
    if (problems.length > 0) {
      throw new Error(`Cannot load ${path} into this model:\n  ${problems.join('\n  ')}`);
    }
    this.setTensors(new Map(this.tensors.map((t) => [t.name, file.tensors.get(t.name)!.data as ArrayLike<number>])));
    return file.metadata;
  }

  private newFlat(values?: ArrayLike<number>): FloatArray {
    const Ctor = this.precision === 'float64' ? Float64Array : Float32Array;
    const a = new Ctor(this.numParams);
    if (values) a.set(values);
    return a;
  }

  private checkFlat(values: ArrayLike<number>, what: string): void {
    if (values.length !== this.numParams) {
      throw new RangeError(`${what}: expected ${this.numParams} values (one per parameter), got ${values.length}`);
    }
  }

  private info(name: string): NativeTensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new RangeError(`unknown parameter "${name}"; see model.paramNames`);
    return t;
  }

  private imageNumel(): number {
    return this.config.channels * this.config.imageSize * this.config.imageSize;
  }

  private batchSize(images: Float32Array): number {
    const per = this.imageNumel();
    if (!(images instanceof Float32Array) || images.length === 0 || images.length % per !== 0) {
      const c = this.config;
      throw new RangeError(
        `images: expected a Float32Array of N*${per} floats (shape [N, ${c.channels}, ${c.imageSize}, ${c.imageSize}]), ` +
          `got ${images instanceof Float32Array ? `length ${images.length}` : typeof images}`,
      );
    }
    return images.length / per;
  }
}

/** Creates a model from a preset name or a full config. */
export function createModel(config: VitPreset | VitConfig, options: CreateModelOptions = {}): VitModel {
  return new VitModel(typeof config === 'string' ? vitConfig(config) : config, options);
}
