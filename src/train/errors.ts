// Error kinds of a training run, so the CLI can map them to exit codes without parsing
// messages: a `UsageError` is the user's to fix on the command line (exit 2, like a
// `ConfigError`); a `DivergedError` means the loss or gradient became NaN/Inf (exit 1).

/** A problem with what the user asked for (bad --resume path, run dir already used, ...). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A checkpoint file that cannot be used (not ours, wrong version, corrupt metadata). */
export class CheckpointError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'CheckpointError';
  }
}

/** The loss or the gradient became non-finite at `step`; nothing was updated at that step. */
export class DivergedError extends Error {
  constructor(
    message: string,
    readonly step: number,
    /** The newest checkpoint on disk (written before the failure), if any. */
    readonly lastCheckpoint: string | undefined,
  ) {
    super(message);
    this.name = 'DivergedError';
  }
}
