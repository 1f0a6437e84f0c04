// `grwarm-native train`: configure (preset < config file < flags) or resume a run, train it
// with progress output, stop gracefully on SIGINT/SIGTERM.
import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { Command, Option } from 'commander';
import {
  ConfigError,
  coerceFlagValue,
  formatValue,
  listPresets,
  resolveConfig,
  resolveConfigWithSources,
  resolveOutDir,
  toFlagName,
  validateConfig,
  type ConfigIssue,
  type ConfigKey,
  RunConfigSchema,
  type RunConfig,
  type SourceMap,
} from '../config/index.js';
import {
  CollectiveError,
  DEFAULT_CHECK_EVERY,
  DEFAULT_COMM_TIMEOUT_SEC,
  openDistributed,
  type Distributed,
} from '../distributed/index.js';
import { readCheckpoint, type LoadedCheckpoint } from '../train/checkpoint.js';
import { checkResume } from '../train/resume-check.js';
import { UsageError } from '../train/errors.js';
import { setImageLoadLog } from '../data/index.js';
import { prepareRun, StopController, trainRun, type PreparedRun, type StopSignalName } from '../train/loop.js';
import { checkDataSettings, RESUME_OVERRIDABLE } from '../train/plan.js';
import { Progress, type ProgressMode } from '../train/progress.js';
import {
  locateResume,
  openRunDirForResume,
  prepareNewRunDir,
  removeUnstartedRunDir,
  runPaths,
  type OpenRunDir,
} from '../train/run-dir.js';
import {
  EXIT,
  EXIT_CODES_HELP,
  exitCodeFor,
  packageVersion,
  reportError,
  shellQuote,
  warnIfOversubscribed,
  type CliIO,
} from './common.js';
import { addConfigOptions, configOverrides } from './config-options.js';
import { watchLifeline } from './lifeline.js';

interface TrainFlags {
  preset?: string;
  config?: string;
  resume?: string;
  quiet?: boolean;
  json?: boolean;
  listPresets?: boolean;
  distributed?: boolean;
  commTimeout?: string;
  checkEvery?: string;
  [key: string]: unknown;
}

const OTHER = 'Other options:';

/** The epilog of `train --help`: behaviours worth knowing and what the output means. */
export const TRAIN_NOTES = `
Repeating a run: --config <run dir>/config.json starts the same configuration
  again. When the file is a run's own stored config.json, its outDir (which holds
  that run) is replaced by a new runs/<timestamp>; --out-dir chooses another.
A short try on a real data set: --train-subset <n> and --test-subset <n> train
  and evaluate on fixed random subsets (the same images for every seed), and
  --steps <n> ends the run after n updates, e.g.
    --dataset fashion-mnist --train-subset 2000 --test-subset 500 --steps 200
  The start line then reads "200 steps (6.45 epochs of 31 steps, batch 64;
  warmup 31)".
--data-dir with --dataset synthetic (generated in memory, no files) is refused.
--threads larger than the CPUs available (os.availableParallelism()) is allowed
  with a warning on stderr: it oversubscribes the CPUs and is usually slower.
Nothing is created before the data set has loaded; a run that fails before its
  first step removes the run directory it created.

Output (progress lines, epoch lines, <run dir>/metrics.jsonl):
  loss     mean cross-entropy of the batch at the current weights θ (first pass)
  loss2    GR steps only: the loss of the same batch at the perturbed weights
           θ + r·g1/‖g1‖ (the second pass); loss2 − loss ≈ r·‖g1‖, the quantity
           GR penalises. Steps without a second pass (--gr none, the warmup of
           zero-warmup) show no loss2 (null in metrics.jsonl).
  acc      training accuracy of the batch (first pass)
  |g1|     on epoch lines: the epoch's mean of ‖g1‖, the L2 norm over all
           parameters of the first-pass gradient (the paper's Figures 2 and 4);
           per step in metrics.jsonl as g1Norm, with gradNorm/gradNormClipped the
           norm of the combined gradient before/after clipping
  lr       learning rate of the step; img/s: training images per second;
           data ms/step: time to build a batch (overlapped with the step)
  ETA      GR steps (two passes) and base steps (one) are timed separately
           (a GR step counts as two base steps until one has run), plus the
           evaluations still to come
  summary.json: "status": "complete" with the final and best test error, or
           "interrupted" (Ctrl-C/SIGTERM) with the step reached, the best test
           error so far, the checkpoint and the command to resume.
  summary.csv: one row per epoch (timm's columns first); --tensorboard: event
           files in <run dir>/tensorboard/. See docs/run-directory.md.`;

export function trainCommand(io: CliIO, setExit: (code: number) => void): Command {
  const cmd = new Command('train')
    .summary('train a ViT with a GR policy (default: a few-minute run on synthetic data)')
    .description(
      'Train a Vision Transformer with gradient regularization. Settings come from, in increasing ' +
        'priority: built-in defaults < --preset < --config file < flags. The resolved config is ' +
        'written to <run dir>/config.json, the metrics to <run dir>/metrics.jsonl.',
    );
  addConfigOptions(cmd);
  cmd
    .optionsGroup(OTHER)
    .addOption(new Option('--preset <name>', 'start from a named preset (see --list-presets)').helpGroup(OTHER))
    .addOption(new Option('--config <file>', 'YAML or JSON config file (keys as in config.json)').helpGroup(OTHER))
    .addOption(
      new Option('--resume <path>', 'continue a run: its run directory (newest checkpoint) or a checkpoint file').helpGroup(OTHER),
    )
    .addOption(new Option('--quiet', 'print only errors and the final line').helpGroup(OTHER))
    .addOption(new Option('--json', 'print the metrics as JSON lines on stdout instead of the progress display').helpGroup(OTHER))
    .addOption(new Option('--list-presets', 'list the presets and exit').helpGroup(OTHER))
    .addOption(
      new Option('--distributed', 'data-parallel training: one rank of `mpirun -np N` / `srun` (--batch-size is the global batch)').helpGroup(OTHER),
    )
    .addOption(
      new Option('--comm-timeout <sec>', `--distributed: end the job when a collective waits this long for the other ranks (0 = never)`)
        .default(String(DEFAULT_COMM_TIMEOUT_SEC))
        .helpGroup(OTHER),
    )
    .addOption(
      new Option('--check-every <steps>', '--distributed: compare the weights of all ranks every n steps (and at checkpoints)')
        .default(String(DEFAULT_CHECK_EVERY))
        .helpGroup(OTHER),
    )
    .helpOption('-h, --help', 'display help for command')
    .addHelpText(
      'after',
      `
On --resume the config comes from the checkpoint; only these may differ:
  ${RESUME_OVERRIDABLE.map(toFlagName).join(', ')}, --quiet, --json.
The resumed run is bit-identical to an uninterrupted one with the same seed and
thread count.
${TRAIN_NOTES}
${EXIT_CODES_HELP}`,
    )
    .action(async (flags: TrainFlags) => {
      setExit(await runTrain(io, flags));
    });
  return cmd;
}

/**
 * The continued run's config: `base` (a checkpoint's config, or the config.json of a run
 * restarted from step 0) with the allowed overrides applied. `baseSource` names where
 * `base` came from, for messages about its values.
 */
function resumeConfig(
  base: RunConfig,
  baseSource: string,
  overrides: Partial<Record<ConfigKey, unknown>>,
): { config: RunConfig; sources: SourceMap } {
  const merged: Record<string, unknown> = { ...base };
  const issues: ConfigIssue[] = [];
  const allowed = RESUME_OVERRIDABLE.map(toFlagName).join(', ');
  for (const [key, raw] of Object.entries(overrides) as [ConfigKey, unknown][]) {
    const value = coerceFlagValue(key, raw);
    if (RESUME_OVERRIDABLE.includes(key)) {
      merged[key] = key === 'outDir' && typeof value === 'string' ? resolveOutDir(value) : value;
    } else if (JSON.stringify(value) !== JSON.stringify(base[key])) {
      const flag = toFlagName(key);
      issues.push({
        source: flag,
        field: key,
        text:
          `${flag}: got ${formatValue(value)}, but the run being resumed has ${formatValue(base[key])}; ` +
          `a resumed run keeps its checkpoint's config (only ${allowed} may change)`,
      });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  const sources: SourceMap = Object.fromEntries(Object.keys(base).map((k) => [k, baseSource]));
  for (const k of Object.keys(overrides)) sources[k] = toFlagName(k);
  return { config: validateConfig(merged, sources), sources };
}

interface Setup {
  config: RunConfig;
  sources: SourceMap;
  runDir: string;
  run: OpenRunDir;
  resume: LoadedCheckpoint | undefined;
  /** The data and plan, loaded before the run directory was created (absent in distributed runs: each rank loads them). */
  prepared?: PreparedRun;
  /** True when this command created the run (not a resume): a run that fails before it starts is cleared away. */
  isNew: boolean;
}

/** The outDir default (`runs/<timestamp>`), unresolved. */
const DEFAULT_OUT_DIR = RunConfigSchema.parse({}).outDir;

const realOrResolved = (p: string): string => {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
};

/**
 * True when `file` is the config.json a run stored in its run directory: the outDir it names
 * is the folder it lies in, or (a run directory moved, or a relative outDir read from another
 * working directory) the folder is a run directory and the outDir it names exists.
 */
function isStoredRunConfig(file: string, outDir: string): boolean {
  if (basename(file) !== 'config.json') return false;
  const folder = dirname(file);
  if (realOrResolved(folder) === realOrResolved(outDir)) return true;
  const p = runPaths(folder);
  return (existsSync(p.metrics) || existsSync(p.log) || existsSync(p.checkpoints)) && existsSync(outDir);
}

/** Notes and warnings about a config before anything is created. */
function checkBeforeStart(io: CliIO, config: RunConfig, sources: SourceMap): void {
  for (const n of checkDataSettings(config, sources)) io.stderr.write(`note: ${n}\n`);
  warnIfOversubscribed(io, config.threads, sources.threads);
}

/**
 * A new run: config from its layers, its data loaded (nothing is created before that), then a
 * fresh (or abandoned) run directory, locked. `--config <run dir>/config.json` (a run's own
 * stored config, whose outDir is that run's directory) repeats the run in a new
 * runs/<timestamp> unless --out-dir is given. `preload: false` (distributed runs, where every
 * rank loads the data after the ranks' configs were compared) leaves the loading to trainRun.
 */
function setupNewRun(io: CliIO, flags: TrainFlags, overrides: Partial<Record<ConfigKey, unknown>>, preload = true): Setup {
  const resolved = resolveConfigWithSources({ preset: flags.preset, configFile: flags.config, overrides });
  let { config } = resolved;
  const sources = { ...resolved.sources };
  if (flags.config !== undefined && sources.outDir === flags.config && isStoredRunConfig(flags.config, config.outDir)) {
    const fresh = resolveOutDir(DEFAULT_OUT_DIR);
    io.stderr.write(
      `note: ${flags.config} is the stored config of the run in ${dirname(flags.config)}; repeating it in a new run directory ` +
        `${fresh} (--out-dir chooses another)\n`,
    );
    config = { ...config, outDir: fresh };
    delete sources.outDir;
  }
  checkBeforeStart(io, config, sources);
  const prepared = preload ? prepareRun(config, sources) : undefined;
  return { config, sources, runDir: config.outDir, run: prepareNewRunDir(config.outDir), resume: undefined, prepared, isNew: true };
}

/**
 * `--resume <path>`: continue a run in its own directory (locked first, so the checkpoint
 * chosen is the newest one under the lock) or, with `--out-dir` elsewhere, into a new one.
 * A run directory without a checkpoint but with a config.json restarts from step 0.
 */
function setupResume(io: CliIO, resumePath: string, overrides: Partial<Record<ConfigKey, unknown>>, preload = true, worldSize = 1): Setup {
  const outFlag = typeof overrides.outDir === 'string' ? resolveOutDir(overrides.outDir) : undefined;
  let where = locateResume(resumePath);
  const own = where.runDir;
  const inPlace = own !== undefined && (outFlag === undefined || resolve(outFlag) === resolve(own));
  let run: OpenRunDir | undefined = inPlace ? openRunDirForResume(own) : undefined;
  try {
    if (run) where = locateResume(resumePath); // what is newest may have changed before we held the lock
    let resume: LoadedCheckpoint | undefined;
    let base: RunConfig;
    let baseSource: string;
    if (where.checkpoint !== undefined) {
      resume = readCheckpoint(where.checkpoint);
      // Before anything in the directory changes: the checkpoint must belong to this run.
      if (inPlace) checkResume(own, where.checkpoint, resume.meta, worldSize);
      base = resume.meta.config;
      baseSource = `checkpoint ${where.checkpoint}`;
    } else {
      const cfgPath = runPaths(own!).config;
      base = resolveConfig({ configFile: cfgPath });
      baseSource = cfgPath;
      io.stderr.write(
        `note: ${own} has no checkpoint (its run stopped before writing one): restarting it from step 0 with ${cfgPath}\n`,
      );
    }
    const r = resumeConfig(base, baseSource, overrides);
    const runDir = inPlace ? own! : (outFlag ?? where.runDir ?? r.config.outDir);
    const config = { ...r.config, outDir: runDir };
    // A data directory given now is checked; one in the checkpoint's config was accepted then.
    if (overrides.dataDir !== undefined) checkBeforeStart(io, config, r.sources);
    else warnIfOversubscribed(io, config.threads, r.sources.threads);
    const prepared = preload ? prepareRun(config, r.sources) : undefined;
    // Continuing into a directory other than the run's own: it must not hold another run.
    run ??= prepareNewRunDir(runDir);
    return { config, sources: r.sources, runDir, run, resume, prepared, isNew: false };
  } catch (err) {
    run?.lock.release();
    throw err;
  }
}

async function runTrain(io: CliIO, flags: TrainFlags): Promise<number> {
  const version = packageVersion();
  if (flags.listPresets) {
    const presets = listPresets();
    if (flags.json) io.stdout.write(JSON.stringify(presets) + '\n');
    else for (const p of presets) io.stdout.write(`${p.name.padEnd(16)} ${p.description}\n`);
    return EXIT.OK;
  }
  const overrides = configOverrides(flags);
  setImageLoadLog((text) => void io.stderr.write(`${text}\n`));
  if (flags.resume !== undefined && (flags.preset !== undefined || flags.config !== undefined)) {
    throw new UsageError(
      `--resume takes the config from the checkpoint; it cannot be combined with ${flags.preset !== undefined ? '--preset' : '--config'}`,
    );
  }
  if (flags.distributed) return runDistributed(io, flags, overrides, version);
  const setup = flags.resume !== undefined ? setupResume(io, flags.resume, overrides) : setupNewRun(io, flags, overrides);
  let failed = true;
  try {
    for (const n of setup.run.notes) io.stderr.write(`note: ${n}\n`);
    const code = await trainInDir(io, flags, setup, version);
    failed = false;
    return code;
  } finally {
    setup.run.lock.release();
    // A new run that failed before it started (no config.json yet) leaves no directory behind.
    if (failed && setup.isNew) removeUnstartedRunDir(setup.run);
  }
}

function positiveNumberFlag(flag: string, raw: string | undefined, integer: boolean, min: number): number {
  const v = Number(raw);
  if (raw === undefined || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) {
    throw new UsageError(`${flag}: got ${JSON.stringify(raw)}, expected ${integer ? 'an integer' : 'a number'} >= ${min}`);
  }
  return v;
}

/** What rank 0 tells the other ranks after setting the run up. */
type RootSetup =
  | { ok: true; config: RunConfig; runDir: string; resumed: boolean }
  | { ok: false; message: string; code: number };

/**
 * `--distributed`: rank 0 sets the run up (run directory, lock, resume) exactly as a single
 * process does; every rank checks that it was started with rank 0's config; all ranks train;
 * only rank 0 writes. An error every rank knows about ends them all cleanly with its exit
 * code; an error only one rank sees ends the job (MPI_Abort) after printing it.
 */
async function runDistributed(
  io: CliIO,
  flags: TrainFlags,
  overrides: Partial<Record<ConfigKey, unknown>>,
  version: string,
): Promise<number> {
  const timeoutSec = positiveNumberFlag('--comm-timeout', flags.commTimeout, false, 0);
  const checkEvery = positiveNumberFlag('--check-every', flags.checkEvery, true, 1);
  const dist = openDistributed({ timeoutSec, checkEvery });
  const who = `rank ${dist.rank} of ${dist.size}`;
  let setup: Setup | undefined;
  try {
    let mine: RootSetup | undefined;
    if (dist.isRoot) {
      try {
        setup =
          flags.resume !== undefined ? setupResume(io, flags.resume, overrides, false, dist.size) : setupNewRun(io, flags, overrides, false);
        mine = { ok: true, config: setup.config, runDir: setup.runDir, resumed: setup.resume !== undefined };
      } catch (err) {
        const code = reportError(io, err);
        mine = { ok: false, message: (err as Error)?.message ?? String(err), code };
      }
    }
    const shared = dist.broadcastJson(mine);
    if (!shared.ok) {
      if (!dist.isRoot) io.stderr.write(`${who}: stopping: rank 0 could not set the run up (see its error)\n`);
      dist.finalize();
      return shared.code;
    }
    // Every rank must have been started with rank 0's config (a new run; a resumed run takes
    // rank 0's checkpoint config). The run directory is rank 0's (its <timestamp>).
    let differs: string[] = [];
    if (!shared.resumed) {
      try {
        const own = setupConfigOnly(flags, overrides);
        differs = (Object.keys({ ...own, ...shared.config }) as ConfigKey[]).filter(
          (k) => k !== 'outDir' && JSON.stringify(own[k]) !== JSON.stringify(shared.config[k]),
        );
      } catch (err) {
        differs = [`(its config is invalid: ${(err as Error).message})`];
      }
    }
    const bad = dist.ranksWhere(differs.length > 0);
    if (bad.length > 0) {
      const detail = differs
        .map((k) => (k.startsWith('(') ? k : `${toFlagName(k)} ${formatValue((setupConfigOnlySafe(flags, overrides) ?? {})[k as ConfigKey])} (rank 0: ${formatValue(shared.config[k as ConfigKey])})`))
        .join(', ');
      const text =
        differs.length > 0
          ? `${who} was started with a different config than rank 0: ${detail}; start every rank with the same command`
          : `rank(s) ${bad.join(', ')} of ${dist.size} were started with a different config than rank 0 (their messages say how); start every rank with the same command`;
      throw new CollectiveError(text, EXIT.USAGE);
    }
    const B = shared.config.batchSize;
    if (B < dist.size) {
      throw new CollectiveError(`--batch-size ${B} is the global batch: it must hold at least one image per rank (${dist.size} ranks)`, EXIT.USAGE);
    }
    const K = shared.config.perturbationShards;
    if (K > Math.floor(B / dist.size)) {
      throw new CollectiveError(
        `--perturbation-shards ${K}: each rank holds ${Math.floor(B / dist.size)}-${Math.ceil(B / dist.size)} images of the global batch ${B}; a shard needs at least one`,
        EXIT.USAGE,
      );
    }
    if (dist.isRoot) {
      const extra = B % dist.size;
      const split =
        extra === 0
          ? `${B / dist.size} per rank`
          : `${Math.ceil(B / dist.size)} on rank${extra > 1 ? `s 0-${extra - 1}` : ' 0'}, ${Math.floor(B / dist.size)} on the others`;
      io.stderr.write(`distributed: ${dist.description}; global batch ${B} split as ${split}; perturbation ${shared.config.perturbation}\n`);
    }
    if (!setup) {
      setup = {
        config: shared.config,
        sources: {},
        runDir: shared.runDir,
        run: { notes: [], lock: { release: () => undefined } } as unknown as OpenRunDir,
        resume: undefined,
        isNew: false,
      };
    }
    for (const n of setup.run.notes) io.stderr.write(`note: ${n}\n`);
    const code = await trainInDir(io, flags, setup, version, dist);
    dist.finalize();
    return code;
  } catch (err) {
    if (err instanceof CollectiveError) {
      if (dist.isRoot || !err.message.startsWith('rank(s)')) io.stderr.write(`error: ${err.message}\n`);
      dist.finalize();
      return err.exitCode;
    }
    if (isCollective(err)) {
      // Every rank saw the same (a diverged run: the losses are global): rank 0 reports it.
      if (dist.isRoot) reportError(io, err);
      dist.finalize();
      return exitCodeFor(err);
    }
    io.stderr.write(`error: ${who}: ${(err as Error)?.message ?? String(err)}\n`);
    io.stderr.write(`${who}: ending the job (the run directory keeps its last checkpoint)\n`);
    return dist.abort(exitCodeFor(err));
  } finally {
    setup?.run.lock.release();
    // A new run that failed before it started (no config.json yet) leaves no directory behind.
    if (setup?.isNew) removeUnstartedRunDir(setup.run);
  }
}

/**
 * Errors every rank raises at the same point: they depend only on the config, the data and
 * global quantities (a config that does not fit the data, a diverged run's global loss).
 */
function isCollective(err: unknown): boolean {
  return err instanceof ConfigError || (err as Error)?.name === 'DivergedError';
}

function setupConfigOnly(flags: TrainFlags, overrides: Partial<Record<ConfigKey, unknown>>): RunConfig {
  return resolveConfigWithSources({ preset: flags.preset, configFile: flags.config, overrides }).config;
}

function setupConfigOnlySafe(flags: TrainFlags, overrides: Partial<Record<ConfigKey, unknown>>): RunConfig | undefined {
  try {
    return setupConfigOnly(flags, overrides);
  } catch {
    return undefined;
  }
}

async function trainInDir(io: CliIO, flags: TrainFlags, setup: Setup, version: string, dist?: Distributed): Promise<number> {
  const { config, runDir, resume, sources, prepared } = setup;
  // In place redraws (`\r`, ESC[K) only on a terminal of its own: not under an MPI launcher
  // (which may hand ranks a pseudo-terminal and merges their output) or a dumb terminal.
  const inPlace = io.stdout.isTTY === true && dist === undefined && !underMpi(io.env) && io.env?.TERM !== 'dumb';
  const mode: ProgressMode = flags.json ? 'json' : flags.quiet ? 'quiet' : inPlace ? 'tty' : 'plain';
  // Ranks other than 0 print only errors (rank 0 reports the run).
  const silent = dist !== undefined && !dist.isRoot;
  const progress = silent
    ? new Progress('quiet', new NullStream() as unknown as typeof io.stdout, io.stderr, config.logEvery)
    : new Progress(mode, io.stdout, io.stderr, config.logEvery);
  const stop = new StopController();

  const onSignal = (signal: StopSignalName) => {
    const code = signal === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM;
    progress.clear();
    if (stop.requested !== undefined) {
      io.stderr.write(`\n${signal} again: exiting now without writing a checkpoint\n`);
      process.exit(code);
    }
    stop.request(signal);
    if (silent) return;
    if (dist) {
      io.stderr.write(
        `\n${signal}: stopping every rank after the current step, then rank 0 writes a checkpoint ` +
          `(mpirun passes Ctrl-C on as SIGTERM; if a rank has died instead, the launcher ends the job ` +
          `and the run directory keeps its last checkpoint)\n`,
      );
      return;
    }
    io.stderr.write(
      `\n${signal}: finishing the current step, then writing a checkpoint ` +
        `(${signal === 'SIGINT' ? 'press Ctrl-C again' : 'send it again'} to quit at once without one)\n`,
    );
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  const handleSignals = io.handleSignals !== false;
  if (handleSignals) {
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  }
  // A sweep's cell: stop (with a checkpoint) when the sweep is gone; see lifeline.ts.
  const unwatchLifeline = handleSignals
    ? watchLifeline(io.env, () => {
        if (stop.requested !== undefined) return;
        progress.clear();
        stop.request('SIGTERM');
        io.stderr.write('\nthe sweep that started this run is gone (its lifeline pipe closed): finishing the current step, then writing a checkpoint\n');
      })
    : () => {};
  try {
    const onStep = io.onStep;
    const result = await trainRun({
      config,
      runDir,
      resume,
      progress,
      stop,
      version,
      sources,
      prepared,
      notify: (text) => void io.stderr.write(`note: ${text}\n`),
      onStep: onStep ? (rec) => onStep(rec, stop) : undefined,
      dist,
    });
    if (silent) {
      const status = result.status;
      return status === 'interrupted' ? (result.signal === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM) : EXIT.OK;
    }
    switch (result.status) {
      case 'complete':
        progress.final(result.finalLine, result.summary);
        return EXIT.OK;
      case 'already-complete':
        return EXIT.OK;
      case 'interrupted': {
        const what = result.checkpoint
          ? `checkpoint: ${result.checkpoint}\nresume with: grwarm-native train --resume ${shellQuote(runDir)}`
          : 'no step finished in this session, so no new checkpoint was written';
        io.stderr.write(`stopped by ${result.signal} at step ${result.step}; ${what}\n`);
        io.stderr.write(`summary: ${runPaths(runDir).summary} ("status": "interrupted")\n`);
        return result.signal === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM;
      }
      default:
        throw new Error(`internal: unexpected run status ${JSON.stringify(result satisfies never)}`);
    }
  } finally {
    progress.clear();
    unwatchLifeline();
    if (handleSignals) {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
  }
}

/** True when launched as a rank of mpirun/srun (their environment variables). */
function underMpi(env: NodeJS.ProcessEnv | Record<string, string | undefined> | undefined): boolean {
  const e = env ?? process.env;
  return ['OMPI_COMM_WORLD_SIZE', 'PMI_SIZE', 'PMIX_RANK', 'MPI_LOCALNRANKS', 'SLURM_PROCID'].some((k) => e[k] !== undefined);
}

/** A writable that drops everything (the progress display of ranks other than 0). */
class NullStream {
  isTTY = false;
  columns = 80;
  write(_chunk: unknown): boolean {
    return true;
  }
}
