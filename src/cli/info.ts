// `grwarm-native info`: version, native backend, BLAS, threads, SIMD, CUDA (and why not).
import { Command, Option } from 'commander';
import { backendInfo } from '../backend.js';
import { EXIT, EXIT_CODES_HELP, packageVersion, type CliIO } from './common.js';

export function infoCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('info')
    .summary('version, native backend, BLAS, threads, SIMD and CUDA availability')
    .description('Print the package version and what the native addon runs on.')
    .addOption(new Option('--json', 'print one JSON object'))
    .addHelpText('after', EXIT_CODES_HELP)
    .action((flags: { json?: boolean }) => {
      const b = backendInfo();
      const info = {
        version: packageVersion(),
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        ...b,
      };
      if (flags.json) {
        io.stdout.write(JSON.stringify(info) + '\n');
      } else {
        const lines = [
          `grwarm-native ${info.version}`,
          `node:     ${info.node} (${info.platform})`,
          `backend:  ${b.backend}`,
          `blas:     ${b.blasAvailable ? b.blas : 'none in this build'}`,
          `gemm:     ${b.gemm === 'blas' ? 'BLAS' : 'built-in kernel'}`,
          `threads:  ${b.threads} (hardware threads: ${b.hardwareThreads})`,
          `simd:     ${b.simd}`,
          `cuda:     ${b.cuda ? 'available' : `not available: ${b.cudaReason}`}`,
        ];
        io.stdout.write(lines.join('\n') + '\n');
      }
      setExit(EXIT.OK);
    });
}
