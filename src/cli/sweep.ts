// `grwarm-native sweep --config sweep.yaml`: a grid of train runs, resumable, N at a time.
import { availableParallelism } from 'node:os';
import { Command, Option } from 'commander';
import { loadSweepFile } from '../sweep/config.js';
import { resolveSweepConfig } from '../sweep/examples.js';
import { progressLine, runSweep, STATUS_FILE, type SweepEvent, type SweepStop } from '../sweep/run.js';
import { defaultParallel, splitThreads } from '../sweep/threads.js';
import { formatDuration, formatPercent } from '../train/progress.js';
import { UsageError } from '../train/errors.js';
import { EXIT, shellQuote, type CliIO } from './common.js';

export interface SweepFlags {
  config?: string;
  parallel?: string;
  threads?: string;
  outDir?: string;
  dataDir?: string;
  dryRun?: boolean;
  quiet?: boolean;
}

/**
 * The command that continues this sweep: every flag that was given, so the resumed sweep
 * runs the same cells in the same folder (`--dry-run` aside: it never stops midway).
 */
export function resumeCommandLine(flags: SweepFlags): string {
  const parts = ['grwarm-native', 'sweep', '--config', shellQuote(flags.config ?? '')];
  const valued: [string, string | undefined][] = [
    ['--out-dir', flags.outDir],
    ['--data-dir', flags.dataDir],
    ['--parallel', flags.parallel],
    ['--threads', flags.threads],
  ];
  for (const [flag, v] of valued) if (v !== undefined) parts.push(flag, shellQuote(v));
  if (flags.quiet) parts.push('--quiet');
  return parts.join(' ');
}

/** A cell's error with its own names taken out, so the same failure in many cells is one entry. */
function errorKey(text: string, cellName: string, runDir: string): string {
  return text.split(runDir).join('<run dir>').split(cellName).join('<cell>');
}

function positiveInt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new UsageError(`${flag}: got ${JSON.stringify(v)}, expected an integer from 1 to 1024`);
  return n;
}

export function sweepCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('sweep')
    .summary('run a grid of training runs (resumable, several at a time)')
    .description(
      'Run every cell of a sweep file (a base config and grids over train options) as a train run in its ' +
        'own directory under the sweep\'s outDir, named from its parameters. Finished runs are skipped, ' +
        'unfinished ones resumed from their checkpoint; a failed cell is recorded in ' +
        `<outDir>/${STATUS_FILE} with its error and does not stop the others.`,
    )
    .addOption(new Option('--config <file>', 'sweep file (YAML or JSON), or the name of a shipped example: repro-small, paper-cifar10').makeOptionMandatory())
    .addOption(new Option('--parallel <n>', 'runs at a time (default: the sweep file\'s parallel, else the measured best for this machine)'))
    .addOption(new Option('--threads <n>', 'CPU threads split between the parallel runs (default: all cores)'))
    .addOption(new Option('--out-dir <dir>', 'root directory of the runs (overrides the sweep file\'s outDir)'))
    .addOption(new Option('--data-dir <dir>', 'data directory of every cell (overrides the sweep file\'s base.dataDir)'))
    .addOption(new Option('--dry-run', 'list the cells and what would happen to each, check the data they need, run nothing'))
    .addOption(new Option('--quiet', 'print only failures and the final line'))
    .addHelpText(
      'after',
      `
Sweep file:
  outDir: runs/my-sweep            # one run directory per cell below it
  parallel: 2                      # optional
  base: { dataset: fashion-mnist, epochs: 40 }        # train options of every cell
  grid:                            # option: [values]; a list of grids is their union
    gr: [none, gr, zero-warmup]
    seed: [0, 1, 2]

Then: grwarm-native report <outDir>
One sweep per folder (<outDir>/sweep.lock). The data every cell needs is checked before any
starts. Cells stop with a checkpoint when the sweep ends, even by kill -9, and the next sweep
resumes them (docs/sweeps.md).
Exit: 0 every cell done, 1 some cell failed (see ${STATUS_FILE}) or data is missing (then no
cell starts), 2 bad sweep file or option, or another sweep holds the folder, 130/143 stopped
(the running cells write a checkpoint; the printed command goes on).
Set GRWARM_DEBUG=1 to print stack traces of errors.`,
    )
    .action(async (flags: SweepFlags) => {
      setExit(await runSweepCommand(io, flags));
    });
}

async function runSweepCommand(io: CliIO, flags: SweepFlags): Promise<number> {
  // A bare name is a shipped example (`--config repro-small`); the spec records the real path.
  const spec = loadSweepFile(resolveSweepConfig(flags.config!), { outDir: flags.outDir, dataDir: flags.dataDir });
  const cores = positiveInt('--threads', flags.threads) ?? availableParallelism();
  const parallel = positiveInt('--parallel', flags.parallel) ?? spec.parallel ?? defaultParallel(cores, spec.cells.map((c) => c.config.model));
  const { parallel: p, threadsPerRun } = splitThreads(cores, parallel);
  const tty = io.stdout.isTTY === true && !flags.quiet;
  const say = (s: string) => void io.stdout.write(s + '\n');
  let lastLineAt = 0;
  let lineShown = false;
  const clearLine = () => {
    if (tty && lineShown) io.stdout.write('\r\x1b[K');
    lineShown = false;
  };
  const stop: SweepStop = { requested: false };
  // Failures by distinct error: the first cell with it prints it, later ones refer to it.
  const failures = new Map<string, { first: string; text: string; count: number }>();
  const runDirOf = new Map(spec.cells.map((c) => [c.name, c.runDir]));
  const onEvent = (e: SweepEvent) => {
    switch (e.kind) {
      case 'note':
        clearLine();
        io.stderr.write(`note: ${e.text}\n`);
        break;
      case 'plan': {
        const count = (a: string) => e.cells.filter((c) => c.action === a).length;
        if (!flags.quiet)
          say(
            `sweep ${spec.file}: ${e.cells.length} cells in ${spec.outDir} — ${count('new')} new, ${count('resume')} to resume, ` +
              `${count('skip')} done already${count('conflict') ? `, ${count('conflict')} in conflict` : ''}; ` +
              `${p} at a time x ${threadsPerRun} thread${threadsPerRun === 1 ? '' : 's'}`,
          );
        if (flags.dryRun) for (const c of e.cells) say(`  ${c.action.padEnd(8)} ${c.name}${c.why ? `  (${c.why})` : ''}`);
        break;
      }
      case 'start':
        if (!flags.quiet && !tty) say(`start ${e.action === 'resume' ? '(resume) ' : ''}${e.name} | ${progressLine(e.progress)}`);
        break;
      case 'finish': {
        clearLine();
        const r = e.result;
        let failText = r.error ?? '';
        if (r.status === 'failed') {
          const key = errorKey(failText, r.name, runDirOf.get(r.name) ?? r.name);
          const seen = failures.get(key);
          if (seen) {
            seen.count++;
            failText = `the same error as ${seen.first}`;
          } else failures.set(key, { first: r.name, text: failText, count: 1 });
        }
        const what =
          r.status === 'done'
            ? `done  ${r.name}: final error ${r.finalTestError !== undefined ? formatPercent(r.finalTestError, 2) : '?'}, best ${r.bestTestError !== undefined ? formatPercent(r.bestTestError, 2) : '?'}, ${formatDuration(r.wallSec ?? 0)}`
            : r.status === 'failed'
              ? `FAILED ${r.name}: ${failText}`
              : `stopped ${r.name}: ${r.error ?? ''}`;
        if (r.status === 'failed') io.stderr.write(what + '\n');
        else if (!flags.quiet) say(what);
        if (!flags.quiet && !tty) say(progressLine(e.progress));
        break;
      }
      case 'tick': {
        const now = Date.now();
        if (tty) {
          io.stdout.write(`\r${progressLine(e.progress)}\x1b[K`);
          lineShown = true;
        } else if (!flags.quiet && now - lastLineAt > 60_000) {
          lastLineAt = now;
          say(progressLine(e.progress));
        }
        break;
      }
    }
  };
  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
    if (!stop.requested) {
      clearLine();
      io.stderr.write(`\n${sig}: stopping the sweep; the running cells finish their step and write a checkpoint\n`);
    }
    stop.requested = true;
    lastSignal = sig;
    stop.notify?.(); // the cells get their SIGINT now, not at the next progress tick
  };
  let lastSignal: 'SIGINT' | 'SIGTERM' | undefined;
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  const handle = io.handleSignals !== false && !flags.dryRun;
  if (handle) {
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  }
  try {
    const { results, statusFile } = await runSweep({
      spec,
      parallel: p,
      threadsPerRun,
      dryRun: flags.dryRun,
      onEvent,
      stop,
      outDirFlag: flags.outDir !== undefined ? '--out-dir' : `${spec.file}: outDir`,
    });
    clearLine();
    if (flags.dryRun) return EXIT.OK;
    const failed = results.filter((r) => r.status === 'failed');
    const total = spec.cells.length;
    if (failures.size > 0 && failed.length > 1) {
      // One line per distinct error with its count (the cells are in the status file).
      for (const f of failures.values()) {
        io.stderr.write(`${f.count} cell${f.count === 1 ? '' : 's'} failed with: ${f.text.split('\n')[0]}${f.count > 1 ? ` (first: ${f.first})` : ''}\n`);
      }
    }
    if (stop.requested) {
      io.stderr.write(`sweep stopped; run it again to resume: ${resumeCommandLine(flags)}\n`);
      return lastSignal === 'SIGTERM' ? EXIT.SIGTERM : EXIT.SIGINT;
    }
    const doneCount = total - failed.length;
    say(
      `sweep finished: ${doneCount}/${total} done, ${failed.length} failed (${statusFile})` +
        // No report to suggest when no cell finished: it would only say "no run directories".
        (doneCount > 0 ? `; report: grwarm-native report ${shellQuote(spec.outDir)}` : ''),
    );
    return failed.length > 0 ? EXIT.RUNTIME : EXIT.OK;
  } finally {
    if (handle) {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
  }
}
