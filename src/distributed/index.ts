/**
 * Data-parallel training over MPI: this process's place in the job and the few collective
 * helpers the training loop needs (agreement on config, stop, errors; replica checks; sharded
 * evaluation; model state from rank 0).
 *
 * The engine is MPI (libgrwarm_mpi.so, opened only here). Rank and size come from MPI itself,
 * so `mpirun -np N` and Slurm's `srun` launch the same way. Every helper below is a
 * collective: all ranks call it in the same order, between steps (never while one runs).
 */
import { availableParallelism } from 'node:os';
import { evalBatches, type Dataset } from '../data/index.js';
import type { VitModel } from '../model/vit-model.js';
import { native, type NativeCommunicatorHandle } from '../native.js';
import { UsageError } from '../train/errors.js';
import type { EvalResult } from '../train/metrics.js';

/** Default bound on how long a collective waits for the other ranks (seconds). */
export const DEFAULT_COMM_TIMEOUT_SEC = 300;
/** Default: compare the weights of all ranks every this many steps (and at checkpoints). */
export const DEFAULT_CHECK_EVERY = 50;

/** An error every rank knows about (decided collectively): ranks exit cleanly, no abort. */
export class CollectiveError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CollectiveError';
  }
}

export class Distributed {
  readonly rank: number;
  readonly size: number;
  readonly description: string;
  private finalized = false;

  constructor(
    readonly comm: NativeCommunicatorHandle,
    readonly checkEvery: number,
  ) {
    this.rank = comm.rank();
    this.size = comm.size();
    this.description = comm.describe();
  }

  get isRoot(): boolean {
    return this.rank === 0;
  }

  /** Element-wise sums over ranks. */
  sum(values: number[]): number[] {
    const a = Float64Array.from(values);
    this.comm.allreduceScalars(a);
    return Array.from(a);
  }

  /** The ranks whose `flag` is true (every rank gets the same list). */
  ranksWhere(flag: boolean): number[] {
    const v = new Array<number>(this.size).fill(0);
    v[this.rank] = flag ? 1 : 0;
    return this.sum(v).flatMap((x, r) => (x > 0 ? [r] : []));
  }

  /** Rank 0's value (JSON-serialisable) on every rank; other ranks pass undefined. */
  broadcastJson<T>(value: T | undefined): T {
    const bytes = this.isRoot ? Buffer.from(JSON.stringify(value ?? null), 'utf8') : Buffer.alloc(0);
    const len = new Float64Array([bytes.length]);
    this.comm.broadcast(new Uint8Array(len.buffer), 0);
    const buf = new Uint8Array(len[0]);
    if (this.isRoot) buf.set(bytes);
    this.comm.broadcast(buf, 0);
    return JSON.parse(Buffer.from(buf).toString('utf8')) as T;
  }

  /** Copies `data` of rank 0 into `data` on every rank. */
  broadcastArray(data: Float32Array | Float64Array): void {
    this.comm.broadcast(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 0);
  }

  /**
   * Every rank starts from rank 0's model: parameters, optimizer state and update count (rank 0
   * may have restored a checkpoint the others never read).
   */
  syncModelFromRoot(model: VitModel): void {
    const params = model.params.slice();
    this.broadcastArray(params);
    if (!this.isRoot) model.setParams(params);
    for (const slot of model.optimizerState()) {
      const data = slot.data.slice();
      this.broadcastArray(data);
      if (!this.isRoot) model.setOptimizerState(slot.name, data);
    }
    const steps = this.broadcastJson(this.isRoot ? model.optimizerSteps : undefined);
    if (!this.isRoot) model.optimizerSteps = steps;
  }

  /** Fails on every rank when the ranks' weights are not bit-identical. */
  checkReplicas(model: VitModel, step: number): void {
    const r = this.comm.checkReplicas(model.params);
    if (r.mismatched.length > 0) {
      const mine = r.mismatched.includes(this.rank) ? ` (this rank, ${this.rank}, has hash ${r.hash})` : '';
      throw new CollectiveError(
        `the weights of rank(s) ${r.mismatched.join(', ')} differ from rank 0's at step ${step} ` +
          `(rank 0 hash ${r.rootHash})${mine}: the ranks no longer train one model. This is a bug or ` +
          'a hardware fault; the last checkpoint was written before it was detected',
        1,
      );
    }
  }

  /** Which signal (if any) some rank received: every rank stops at the same step. */
  agreeStop(local: 'SIGINT' | 'SIGTERM' | undefined): 'SIGINT' | 'SIGTERM' | undefined {
    const [int, term] = this.sum([local === 'SIGINT' ? 1 : 0, local === 'SIGTERM' ? 1 : 0]);
    return int > 0 ? 'SIGINT' : term > 0 ? 'SIGTERM' : undefined;
  }

  /**
   * Evaluation split over the ranks (batch i on rank i mod N), summed: every rank gets the
   * whole data set's loss and error.
   */
  async evaluate(model: VitModel, ds: Dataset, batchSize = 256): Promise<EvalResult> {
    let lossSum = 0;
    let correct = 0;
    let count = 0;
    let i = 0;
    for (const b of evalBatches(ds, Math.min(batchSize, Math.max(1, ds.count)))) {
      if (i++ % this.size !== this.rank) continue;
      const r = await model.evaluate(b.images, b.labels);
      lossSum += r.loss * r.count;
      correct += r.correct;
      count += r.count;
    }
    [lossSum, correct, count] = this.sum([lossSum, correct, count]);
    if (count === 0) throw new Error(`data set ${ds.name}: nothing to evaluate (0 images)`);
    return { loss: lossSum / count, error: (count - correct) / count, count };
  }

  /** Leaves the job cleanly (every rank, at the end). */
  finalize(): void {
    if (this.finalized) return;
    this.finalized = true;
    this.comm.finalize();
  }

  /** Ends every rank now (an error only this rank knows about). */
  abort(code: number): never {
    return this.comm.abort(code);
  }
}

/**
 * Joins the MPI job this process was started in. Fails with a usage error when there is no
 * MPI support in this build or when the process is alone (started without mpirun/srun).
 */
export function openDistributed(opts: { timeoutSec?: number; checkEvery?: number } = {}): Distributed {
  let comm: NativeCommunicatorHandle;
  try {
    comm = new (native().NativeCommunicator)(opts.timeoutSec ?? DEFAULT_COMM_TIMEOUT_SEC);
  } catch (err) {
    throw new UsageError(`--distributed: ${(err as Error).message}`);
  }
  if (comm.size() < 2) {
    comm.finalize();
    throw new UsageError(
      '--distributed: this process is the only rank of its MPI job (world size 1); start N processes with ' +
        '`mpirun -np N npx grwarm-native train --distributed ...` (or `srun` under Slurm), or drop --distributed',
    );
  }
  return new Distributed(comm, opts.checkEvery ?? DEFAULT_CHECK_EVERY);
}

/** CPU threads a rank uses when the config says 0 (auto): the cores the launcher bound it to. */
export function autoThreads(): number {
  return availableParallelism();
}
