// `grwarm-native theory`: the adaptive-learning-rate variance Var ψ(t; γ), closed form vs Monte Carlo.
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { writeFileAtomic } from '../io/atomic.js';
import { makeOutputDir } from '../io/out-dir.js';
import { theoryCsv, theoryHtml, theoryMarkdown, theorySvgs } from '../theory/report.js';
import { DEFAULT_GAMMAS, DEFAULT_TS, theoryGrid } from '../theory/variance.js';
import { UsageError } from '../train/errors.js';
import { EXIT, exitHelp, type CliIO } from './common.js';

interface TheoryFlags {
  out?: string;
  samples?: string;
  seed?: string;
  sigma1?: string;
  t?: string;
  gamma?: string;
}

function numList(flag: string, v: string | undefined, fallback: number[], integer: boolean): number[] {
  if (v === undefined) return fallback;
  const xs = v.split(',').map((s) => Number(s.trim()));
  if (xs.length === 0 || xs.some((x) => !Number.isFinite(x) || x < 0 || (integer && (!Number.isInteger(x) || x < 2)))) {
    throw new UsageError(`${flag}: got ${JSON.stringify(v)}, expected a comma-separated list of ${integer ? 'integers >= 2' : 'numbers >= 0'}`);
  }
  return xs;
}

function intOpt(flag: string, v: string | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag}: got ${JSON.stringify(v)}, expected an integer from ${min} to ${max}`);
  return n;
}

export function theoryCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('theory')
    .summary('adaptive-LR variance Var ψ(t; γ): closed form vs Monte Carlo (heat maps, CSV)')
    .description(
      'The variance of Adam\'s adaptive learning rate when the gradient variance decays as e^(−γ(k−1)) ' +
        '(docs/method.md, section 7; the paper\'s Figure 3): the first-order closed form over a (t, γ) grid, a ' +
        'seeded Monte Carlo estimate beside it and their relative difference. Writes theory.html, theory-*.svg, ' +
        'theory.csv and theory.md.',
    )
    .addOption(new Option('--out <dir>', 'output folder').default('theory'))
    .addOption(new Option('--samples <n>', 'Monte Carlo samples per grid cell').default('2000'))
    .addOption(new Option('--seed <n>', 'Monte Carlo seed').default('0'))
    .addOption(new Option('--sigma1 <x>', 'variance of the first gradient').default('1'))
    .addOption(new Option('--t <list>', `steps t (comma-separated; default ${DEFAULT_TS.join(',')})`))
    .addOption(new Option('--gamma <list>', `decay rates γ (comma-separated; default ${DEFAULT_GAMMAS.join(',')})`))
    .addHelpText('after', exitHelp('0 written, 1 I/O error (disk full, ...), 2 bad option or an --out that cannot be created'))
    .action((flags: TheoryFlags) => {
      const samples = intOpt('--samples', flags.samples, 2000, 10, 10_000_000);
      const seed = intOpt('--seed', flags.seed, 0, 0, 2 ** 32 - 1);
      const sigma1 = Number(flags.sigma1 ?? '1');
      if (!(sigma1 > 0) || !Number.isFinite(sigma1)) throw new UsageError(`--sigma1: got ${JSON.stringify(flags.sigma1)}, expected a number > 0`);
      const ts = numList('--t', flags.t, DEFAULT_TS, true);
      const gammas = numList('--gamma', flags.gamma, DEFAULT_GAMMAS, false);
      const g = theoryGrid({ ts, gammas, samples, seed, sigma1 });
      const out = flags.out ?? 'theory';
      makeOutputDir('--out', out);
      const files: [string, string][] = [
        ['theory.html', theoryHtml(g)],
        ['theory.csv', theoryCsv(g)],
        ['theory.md', theoryMarkdown(g)],
        ...theorySvgs(g).map((s) => [`theory-${s.id}.svg`, s.svg + '\n'] as [string, string]),
      ];
      for (const [name, text] of files) writeFileAtomic(join(out, name), [Buffer.from(text, 'utf8')]);
      let worst = { rel: 0, t: 0, gamma: 0 };
      g.gammas.forEach((gm, i) => g.ts.forEach((t, j) => {
        if (t >= 100 && gm <= 0.05 && Math.abs(g.relDiff[i][j]) > Math.abs(worst.rel)) worst = { rel: g.relDiff[i][j], t, gamma: gm };
      }));
      io.stdout.write(
        `Var ψ on ${g.ts.length} x ${g.gammas.length} (t, γ) points, ${samples} Monte Carlo samples each; ` +
          `largest |relative difference| at t >= 100, γ <= 0.05: ${(100 * Math.abs(worst.rel)).toFixed(1)}% (t = ${worst.t}, γ = ${worst.gamma})\n` +
          `written: ${files.map(([n]) => join(out, n)).join(', ')}\n`,
      );
      setExit(EXIT.OK);
    });
}
