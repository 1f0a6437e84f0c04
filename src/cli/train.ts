// `grwarm-native train`: configure (preset < config file < flags) or resume a run, train it
// with progress output, stop gracefully on SIGINT/SIGTERM.
import { resolve } from 'node:path';
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
import { UsageError } from '../train/errors.js';
import { StopController, trainRun, type StopSignalName } from '../train/loop.js';
import { RESUME_OVERRIDABLE } from '../train/plan.js';
import { Progress, type ProgressMode } from '../train/progress.js';
import { locateResume, openRunDirForResume, prepareNewRunDir, runPaths, type OpenRunDir } from '../train/run-dir.js';
import { EXIT, EXIT_CODES_HELP, exitCodeFor, packageVersion, reportError, shellQuote, type CliIO } from './common.js';
import { addConfigOptions, configOverrides } from './config-options.js';

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
}

/** A new run: config from its layers, a fresh (or abandoned) run directory, locked. */
function setupNewRun(flags: TrainFlags, overrides: Partial<Record<ConfigKey, unknown>>): Setup {
  const { config, sources } = resolveConfigWithSources({ preset: flags.preset, configFile: flags.config, overrides });
  return { config, sources, runDir: config.outDir, run: prepareNewRunDir(config.outDir), resume: undefined };
}

/**
 * `--resume <path>`: continue a run in its own directory (locked first, so the checkpoint
 * chosen is the newest one under the lock) or, with `--out-dir` elsewhere, into a new one.
 * A run directory without a checkpoint but with a config.json restarts from step 0.
 */
function setupResume(io: CliIO, resumePath: string, overrides: Partial<Record<ConfigKey, unknown>>): Setup {
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
    // Continuing into a directory other than the run's own: it must not hold another run.
    run ??= prepareNewRunDir(runDir);
    return { config: { ...r.config, outDir: runDir }, sources: r.sources, runDir, run, resume };
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
  if (flags.resume !== undefined && (flags.preset !== undefined || flags.config !== undefined)) {
    throw new UsageError(
      `--resume takes the config from the checkpoint; it cannot be combined with ${flags.preset !== undefined ? '--preset' : '--config'}`,
    );
  }
  if (flags.distributed) return runDistributed(io, flags, overrides, version);
  const setup = flags.resume !== undefined ? setupResume(io, flags.resume, overrides) : setupNewRun(flags, overrides);
  try {
    for (const n of setup.run.notes) io.stderr.write(`note: ${n}\n`);
    return await trainInDir(io, flags, setup, version);
  } finally {
    setup.run.lock.release();
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
        setup = flags.resume !== undefined ? setupResume(io, flags.resume, overrides) : setupNewRun(flags, overrides);
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
  const { config, runDir, resume, sources } = setup;
  const mode: ProgressMode = flags.json ? 'json' : flags.quiet ? 'quiet' : io.stdout.isTTY ? 'tty' : 'plain';
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
        return result.signal === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM;
      }
      default:
        throw new Error(`internal: unexpected run status ${JSON.stringify(result satisfies never)}`);
    }
  } finally {
    progress.clear();
    if (handleSignals) {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
  }
}

/** A writable that drops everything (the progress display of ranks other than 0). */
class NullStream {
  isTTY = false;
  columns = 80;
  write(_chunk: unknown): boolean {
    return true;
  }
}
