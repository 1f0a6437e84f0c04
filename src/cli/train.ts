// `grwarm-native train`: configure (preset < config file < flags) or resume a run, train it
// with progress output, stop gracefully on SIGINT/SIGTERM.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import {
  ConfigError,
  coerceFlagValue,
  formatValue,
  listPresets,
  resolveConfig,
  resolveOutDir,
  toFlagName,
  validateConfig,
  type ConfigIssue,
  type ConfigKey,
  type RunConfig,
} from '../config/index.js';
import { readCheckpoint, type LoadedCheckpoint } from '../train/checkpoint.js';
import { UsageError } from '../train/errors.js';
import { StopController, trainRun, type StopSignalName } from '../train/loop.js';
import { RESUME_OVERRIDABLE } from '../train/plan.js';
import { Progress, type ProgressMode } from '../train/progress.js';
import { locateResume, prepareNewRunDir, runPaths } from '../train/run-dir.js';
import { EXIT, EXIT_CODES_HELP, packageVersion, shellQuote, type CliIO } from './common.js';
import { addConfigOptions, configOverrides } from './config-options.js';

interface TrainFlags {
  preset?: string;
  config?: string;
  resume?: string;
  quiet?: boolean;
  json?: boolean;
  listPresets?: boolean;
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

/** The resumed run's config: the checkpoint's, with the allowed overrides applied. */
function resumeConfig(ckpt: LoadedCheckpoint, overrides: Partial<Record<ConfigKey, unknown>>): RunConfig {
  const base = ckpt.meta.config;
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
  const sources = Object.fromEntries(Object.keys(overrides).map((k) => [k, toFlagName(k)]));
  return validateConfig(merged, sources);
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

  let config: RunConfig;
  let runDir: string;
  let resume: LoadedCheckpoint | undefined;
  if (flags.resume !== undefined) {
    if (flags.preset !== undefined || flags.config !== undefined) {
      throw new UsageError(
        `--resume takes the config from the checkpoint; it cannot be combined with ${flags.preset !== undefined ? '--preset' : '--config'}`,
      );
    }
    const where = locateResume(flags.resume);
    resume = readCheckpoint(where.checkpoint);
    config = resumeConfig(resume, overrides);
    runDir = overrides.outDir !== undefined ? config.outDir : (where.runDir ?? config.outDir);
    config = { ...config, outDir: runDir };
    // Continuing into a directory other than the run's own: it must not hold another run.
    if (where.runDir === undefined || resolve(runDir) !== resolve(where.runDir)) prepareNewRunDir(runDir);
    else mkdirSync(runPaths(runDir).checkpoints, { recursive: true });
  } else {
    config = resolveConfig({ preset: flags.preset, configFile: flags.config, overrides });
    runDir = config.outDir;
    prepareNewRunDir(runDir);
  }

  const mode: ProgressMode = flags.json ? 'json' : flags.quiet ? 'quiet' : io.stdout.isTTY ? 'tty' : 'plain';
  const progress = new Progress(mode, io.stdout, io.stderr, config.logEvery);
  const stop = new StopController();

  const onSignal = (signal: StopSignalName) => {
    const code = signal === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM;
    progress.clear();
    if (stop.requested !== undefined) {
      io.stderr.write(`\n${signal} again: exiting now without writing a checkpoint\n`);
      process.exit(code);
    }
    stop.request(signal);
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
      onStep: onStep ? (rec) => onStep(rec, stop) : undefined,
    });
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
