#!/usr/bin/env node
// grwarm-native command line: `train`, `eval`, `info`, `sweep`, `report`, `theory`. `main(argv)` runs the CLI in-process
// and returns the exit code (tests call it directly); run as a program, it sets
// process.exitCode.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { EXIT, GENERAL_EXIT_CODES_HELP, packageVersion, reportError, type CliIO } from './cli/common.js';
import { buildNativeCommand } from './cli/build-native.js';
import { evalCommand } from './cli/eval.js';
import { infoCommand } from './cli/info.js';
import { reportCommand } from './cli/report.js';
import { sweepCommand } from './cli/sweep.js';
import { theoryCommand } from './cli/theory.js';
import { trainCommand } from './cli/train.js';

export type { CliIO } from './cli/common.js';
export { EXIT } from './cli/common.js';

function defaultIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** Builds the program; `setExit` receives the exit code of the command that ran. */
export function buildProgram(io: CliIO, setExit: (code: number) => void): Command {
  const program = new Command('grwarm-native')
    .description('Train Vision Transformers with gradient regularization (GR) and GR warmup policies.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpCommand(true)
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    })
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  grwarm-native train                                   default run: vit-micro on synthetic data
  grwarm-native train --preset paper-cifar10 --data-dir ~/data/cifar-10-batches-bin
  grwarm-native train --resume runs/2025-01-31T12-34-56Z
  grwarm-native eval --checkpoint runs/2025-01-31T12-34-56Z/best.safetensors
  grwarm-native info --json
  grwarm-native sweep --config repro-small --parallel 2     (a shipped example, by name)
  grwarm-native report runs/repro-small --out docs/repro-small
  grwarm-native theory --out theory
${GENERAL_EXIT_CODES_HELP}`,
    );
  // Subcommands inherit the output configuration and exitOverride from the program.
  program.addCommand(inherit(program, trainCommand(io, setExit)));
  program.addCommand(inherit(program, evalCommand(io, setExit)));
  program.addCommand(inherit(program, infoCommand(io, setExit)));
  program.addCommand(inherit(program, buildNativeCommand(io, setExit)));
  program.addCommand(inherit(program, sweepCommand(io, setExit)));
  program.addCommand(inherit(program, reportCommand(io, setExit)));
  program.addCommand(inherit(program, theoryCommand(io, setExit)));
  return program;
}

function inherit(parent: Command, cmd: Command): Command {
  return cmd.copyInheritedSettings(parent);
}

/** Runs the CLI on `argv` (the arguments after the program name); resolves to the exit code. */
export async function main(argv: string[], io: CliIO = defaultIO()): Promise<number> {
  let code: number = EXIT.OK;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError && err.exitCode === 0) return EXIT.OK; // --help, --version
    return reportError(io, err);
  }
}

function isEntryPoint(): boolean {
  const arg = process.argv[1];
  if (!arg) return false;
  try {
    return realpathSync(arg) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  // `grwarm-native train --json | head`: a closed stdout must not crash the run (the metrics
  // still go to the run directory).
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`error: ${(err as Error)?.message ?? String(err)}\n`);
      process.exitCode = EXIT.RUNTIME;
    },
  );
}
