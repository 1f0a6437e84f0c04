// `grwarm-native build-native`: builds the native addon from source with cmake-js (a regular
// dependency of the package, so this works in an installed package, not only in a checkout)
// into the package's build/ folder, where it is preferred over the prebuilt binary. Never run
// by an install script: it is the explicit fallback the load error points to.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { EXIT, exitHelp, type CliIO } from './common.js';

/** The package root: this file is dist/src/cli/build-native.js (or src/cli/build-native.ts). */
function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(join('dist', 'src')) ? join(here, '..', '..', '..') : join(here, '..', '..');
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected an integer >= 1, got "${v}"`);
  return n;
}

export function buildNativeCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('build-native')
    .summary("build the native addon from source into the package's build/ folder (cmake-js)")
    .description(
      // One paragraph: commander wraps it to the terminal's width (hard line breaks would wrap twice).
      "Build the native addon from source with cmake-js into the package's build/ folder, where it is " +
        'preferred over the prebuilt binary. Needs cmake (>= 3.18), make or ninja and a C++17 compiler; ' +
        'OpenBLAS is optional (opened at run time). By default the kernels are compiled for this ' +
        'machine (-march=native); --portable builds the run-time dispatched kernels of the prebuilt binary.',
    )
    .addOption(new Option('--portable', 'compile all ISA variants with run-time dispatch instead of -march=native'))
    .addOption(new Option('-j, --jobs <n>', 'parallel compile jobs').argParser(positiveInt).default(availableParallelism()))
    .addOption(new Option('--cuda <mode>', 'the CUDA backend plugin (AUTO: when nvcc is found)').choices(['AUTO', 'ON', 'OFF']).default('AUTO'))
    .addHelpText('after', exitHelp("0 built, 1 the build failed (cmake-js's output above says why), 2 bad option"))
    .action((flags: { portable?: boolean; jobs: number; cuda: string }) => {
      const root = packageRoot();
      const out = join(root, 'build');
      const require = createRequire(import.meta.url);
      let cmakeJs: string;
      try {
        cmakeJs = require.resolve('cmake-js/bin/cmake-js');
      } catch {
        io.stderr.write('grwarm-native build-native: cmake-js is not installed (it is a dependency of grwarm-native: reinstall the package)\n');
        setExit(EXIT.RUNTIME);
        return;
      }
      const args = [
        cmakeJs,
        'compile',
        '--out',
        out,
        `--CDGRWARM_NATIVE_ARCH=${flags.portable ? 'OFF' : 'ON'}`,
        '--CDGRWARM_TESTS=OFF',
        `--CDGRWARM_CUDA=${flags.cuda}`,
        '--',
        `-j${flags.jobs}`,
      ];
      io.stdout.write(`grwarm-native build-native: in ${root}\n  ${process.execPath} ${args.join(' ')}\n`);
      const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: process.env });
      const built = join(out, 'Release', 'grwarm_native.node');
      if (r.error || r.status !== 0 || !existsSync(built)) {
        const why = r.error ? r.error.message : `cmake-js exited with ${r.status ?? r.signal}`;
        io.stderr.write(
          `grwarm-native build-native: the build failed (${why}). It needs cmake >= 3.18, make or ninja and a C++17 ` +
            'compiler on PATH (Debian/Ubuntu: apt-get install g++ make cmake).\n',
        );
        setExit(EXIT.RUNTIME);
        return;
      }
      const cuda = existsSync(join(out, 'Release', 'libgrwarm_cuda.so')) ? ' and libgrwarm_cuda.so (CUDA plugin)' : '';
      io.stdout.write(
        `built ${built}${cuda} (${flags.portable ? 'portable, run-time ISA dispatch' : '-march=native'}); ` +
          'it is loaded in preference to the prebuilt binary. Check with `npx grwarm-native info`.\n',
      );
      setExit(EXIT.OK);
    });
}
