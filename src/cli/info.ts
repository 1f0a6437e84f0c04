// `grwarm-native info`: version, native backends (and why one is unavailable), BLAS, threads, SIMD.
import { Command, Option } from 'commander';
import { backendInfo, resolveDevice, type Device } from '../backend.js';
import { DEVICES } from '../config/schema.js';
import { presetSizes } from '../model/preset-sizes.js';
import { EXIT, exitHelp, packageVersion, type CliIO } from './common.js';

export function infoCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('info')
    .summary('version, native backend, BLAS, threads, SIMD and CUDA availability')
    .description('Print the package version and what the native addon runs on.')
    .addOption(new Option('--json', 'print one JSON object'))
    .addOption(
      new Option('--device <device>', 'check that this device can run here (exit 1 with the reason if not)').choices([...DEVICES]),
    )
    .addHelpText('after', exitHelp('0, or 1 when --device names a device that cannot run here; 2 bad option'))
    .action((flags: { json?: boolean; device?: Device }) => {
      const b = backendInfo();
      const info = {
        version: packageVersion(),
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        ...b,
        presets: presetSizes(),
      };
      if (flags.device) {
        try {
          const st = resolveDevice(flags.device);
          io.stdout.write(flags.json ? JSON.stringify(st) + '\n' : `device ${flags.device}: ${st.name} (${st.detail})\n`);
          setExit(EXIT.OK);
        } catch (err) {
          io.stderr.write(`grwarm-native info: ${(err as Error).message}\n`);
          setExit(EXIT.RUNTIME);
        }
        return;
      }
      if (flags.json) {
        io.stdout.write(JSON.stringify(info) + '\n');
      } else {
        const lines = [
          `grwarm-native ${info.version}`,
          `node:     ${info.node} (${info.platform})`,
          `backend:  ${b.backend} (what --device auto picks)`,
          ...b.backends.map(
            (d) => `  ${d.name.padEnd(5)} ${d.available ? `available: ${d.detail}` : `not available: ${d.reason}`}`,
          ),
          `addon:    ${b.addon ?? 'unknown'}`,
          `gemm:     ${b.gemm} (float32): ${b.blas}`,
          `bf16:     ${b.bf16Gemm}; bf16 on CUDA: ${cudaBf16(b.backends.find((d) => d.name === 'cuda'))}`,
          `openblas: ${b.openblas}`,
          `onednn:   ${b.onednn}`,
          `threads:  ${b.threads} (hardware threads: ${b.hardwareThreads})`,
          `simd:     ${b.simd}`,
          `families: ${b.families.join(', ')} (model families of the native core)`,
          'presets:  (--model; parameters at the preset\'s own image size and classes)',
          ...info.presets.map(
            (p) =>
              `  ${p.preset.padEnd(16)} ${p.family.padEnd(5)} ${p.params.toLocaleString('en-US').padStart(11)} params, ` +
              `${p.imageSize} px, patch ${p.patchSize}, ${p.numClasses} classes`,
          ),
          `cuda:     ${b.cuda ? 'available' : `not available: ${b.cudaReason}`}`,
        ];
        io.stdout.write(lines.join('\n') + '\n');
      }
      setExit(EXIT.OK);
    });
}

/** The bf16 status of the CUDA backend, for the `bf16:` line of `info`. */
function cudaBf16(cuda: { available: boolean; bf16: boolean } | undefined): string {
  if (!cuda) return 'no CUDA plugin in this build';
  if (!cuda.available) return 'in the plugin (CUDA is not available here)';
  return cuda.bf16 ? 'yes (cuBLAS bf16 GEMMs)' : 'no (needs cublasGemmEx and a GPU of compute capability 8.0 or newer)';
}
