// The public model object: flat parameter/gradient buffers with named views (timm names),
// forward/backward and evaluation on the native backend, safetensors checkpoints.
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../io/safetensors.js';
import {
  native,
  type NativeApplyResult,
  type NativeModelHandle,
  type NativeOptimizerConfig,
  type NativeStepResult,
  type NativeTensorInfo,
} from '../native.js';
import { toNativeConfig, vitConfig, type VitConfig, type VitPreset } from './presets.js';

export type Precision = 'float32' | 'float64';
export type FloatArray = Float32Array | Float64Array;

export interface CreateModelOptions {
  /** Seed of the initialisation (SPEC section 4). Default 0. */
  seed?: number;
  /** float64 exists for gradient checks; training uses float32. */
  precision?: Precision;
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
}

export interface PassResult {
  /** Mean cross-entropy over the batch. */
  loss: number;
  /** Number of images whose argmax logit is the label. */
  correct: number;
  count: number;
}

/** Largest batch evaluate/predict sends to the native side at once (bounds activation memory). */
const EVAL_CHUNK = 256;

export class VitModel {
  readonly config: VitConfig;
  readonly precision: Precision;
  readonly tensors: readonly NativeTensorInfo[];
  readonly paramNames: readonly string[];
  readonly numParams: number;
  /** The whole flat parameter buffer (no copy: writes go to the model). */
  readonly params: FloatArray;
  /** The whole flat gradient buffer, same layout as `params`. */
  readonly grads: FloatArray;
  /** @internal the native handle, for the training step. */
  readonly handle: NativeModelHandle;
  private readonly byName: Map<string, NativeTensorInfo>;

  constructor(config: VitConfig, options: CreateModelOptions = {}) {
    const precision = options.precision ?? 'float32';
    if (precision !== 'float32' && precision !== 'float64') {
      throw new RangeError(`options.precision: expected "float32" or "float64", got ${JSON.stringify(precision)}`);
    }
    this.config = { ...config };
    this.precision = precision;
    this.handle = new (native().NativeModel)(toNativeConfig(config), { precision, seed: options.seed ?? 0 });
    this.tensors = this.handle.layout();
    this.paramNames = this.tensors.map((t) => t.name);
    this.byName = new Map(this.tensors.map((t) => [t.name, t]));
    const last = this.tensors[this.tensors.length - 1];
    this.numParams = last.offset + last.size;
    const Ctor = precision === 'float64' ? Float64Array : Float32Array;
    this.params = new Ctor(this.handle.params());
    this.grads = new Ctor(this.handle.grads());
  }

  /** Shape of a parameter tensor (PyTorch order: Linear weights are [out, in]). */
  shape(name: string): number[] {
    return [...this.info(name).shape];
  }

  /** A view (no copy) of one parameter tensor, by timm name. */
  param(name: string): FloatArray {
    const t = this.info(name);
    return this.params.subarray(t.offset, t.offset + t.size);
  }

  /** A view (no copy) of the gradient of one tensor, by timm name. */
  grad(name: string): FloatArray {
    const t = this.info(name);
    return this.grads.subarray(t.offset, t.offset + t.size);
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

  /**
   * Forward and backward pass on one batch (images N*C*H*W, normalised). The gradient of the
   * mean loss is written into `grads` (overwritten, not accumulated). Runs off the event loop.
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
   * Sets up the optimizer of SPEC section 2 over the flat buffers; its state starts at zero
   * and the update counter at 0. Call again to reset.
   */
  configureOptimizer(cfg: OptimizerConfig): void {
    this.handle.configureOptimizer(cfg);
  }

  /** Optimizer state as named flat buffers (PyTorch names: exp_avg, exp_avg_sq, ...), no copy. */
  optimizerState(): { name: string; data: FloatArray }[] {
    const Ctor = this.precision === 'float64' ? Float64Array : Float32Array;
    return this.handle.optimizerSlots().map((s) => ({ name: s.name, data: new Ctor(s.buffer) }));
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

  /** Clipping + optimizer update using the gradient now in `grads` (for hand-written steps). */
  async applyOptimizer(lr: number): Promise<ApplyResult> {
    return this.handle.applyOptimizer(lr);
  }

  /** Writes the parameters as safetensors with timm names (loads in PyTorch/timm). */
  saveSafetensors(path: string, metadata: Record<string, string> = {}, extra: TensorToWrite[] = []): void {
    const dtype = this.precision === 'float64' ? 'F64' : 'F32';
    const tensors: TensorToWrite[] = this.tensors.map((t) => ({
      name: t.name,
      dtype,
      shape: t.shape,
      data: this.param(t.name),
    }));
    writeSafetensors(path, [...tensors, ...extra], metadata);
  }

  /**
   * Loads parameters from a safetensors file. Every model tensor must be present with its
   * exact shape; F32 and F64 are accepted. Tensors whose names start with one of
   * `ignorePrefixes` (e.g. optimizer state in a checkpoint) are skipped; any other extra
   * tensor is an error. Nothing is written unless the whole file matches. Returns the metadata.
   */
  loadSafetensors(path: string, ignorePrefixes: string[] = []): Record<string, string> {
    const file = readSafetensors(path);
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
    }
    for (const name of file.tensors.keys()) {
      if (!this.byName.has(name) && !ignorePrefixes.some((p) => name.startsWith(p))) {
        problems.push(`unexpected tensor "${name}" (not a parameter of this model)`);
      }
    }
    if (problems.length > 0) {
      throw new Error(`Cannot load ${path} into this model:\n  ${problems.join('\n  ')}`);
    }
    for (const t of this.tensors) {
      this.param(t.name).set(file.tensors.get(t.name)!.data as FloatArray);
    }
    return file.metadata;
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
