// `grwarm-native report RUNS_DIR`: Table 1 / Table 2 shapes (Markdown, CSV) and an offline HTML report.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { makeOutputDir } from '../io/out-dir.js';
import { writeReport } from '../report/index.js';
import { tableToMarkdown } from '../report/tables.js';
import { UsageError } from '../train/errors.js';
import { EXIT, exitHelp, type CliIO } from './common.js';

interface ReportFlags {
  out?: string;
  notes?: string;
  quiet?: boolean;
}

export function reportCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('report')
    .summary('aggregate runs into the paper\'s tables (Markdown, CSV) and an offline HTML report with charts')
    .description(
      'Read every run directory below RUNS_DIR (config.json, metrics.jsonl, summary.json), group the runs that ' +
        'differ only in the seed, and write report.md (Table 1: base vs GR without/with LR warmup; Table 2: the GR ' +
        'warmup policies; mean ± std over seeds of the final and best test error, with n; paired differences with ' +
        'their 95% t interval, sign count, p-value and Holm correction, worded "significant at 5% after correction", ' +
        '"direction only" or "within noise"), settings.csv, runs.csv and report.html (self-contained, inline SVG: ' +
        'final error per seed and policy, test error per epoch with a zoom on the last epochs, ‖g1‖ per epoch and per ' +
        'step, training error, lr/λ/r in one panel, Adam second moment). A folder with only runs.csv (and settings.csv), ' +
        'such as a committed report, is rebuilt from those files.',
    )
    .argument('<runs-dir>', 'folder holding the run directories (e.g. a sweep\'s outDir)')
    .addOption(new Option('--out <dir>', 'where to write the report files (default: <runs-dir>/report)'))
    .addOption(new Option('--notes <file>', 'a Markdown file included at the top of the report (your reading of it)'))
    .addOption(new Option('--quiet', 'print only the list of files written'))
    .addHelpText('after', exitHelp('0 written (runs that cannot be read are skipped with a warning), 1 I/O error, 2 no such\nfolder, no run directories below it, or an --out that cannot be created'))
    .action((runsDir: string, flags: ReportFlags) => {
      let notes: string | undefined;
      if (flags.notes !== undefined) {
        try {
          notes = readFileSync(flags.notes, 'utf8');
        } catch (err) {
          throw new UsageError(`--notes ${flags.notes}: cannot read it: ${(err as Error).message}`);
        }
      }
      const outDir = flags.out ?? join(runsDir, 'report');
      if (!existsSync(runsDir)) throw new UsageError(`${runsDir}: no such folder`);
      makeOutputDir('--out', outDir);
      let written;
      try {
        written = writeReport(runsDir, outDir, { notes });
      } catch (err) {
        if ((err as Error).message.endsWith('no such folder')) throw new UsageError((err as Error).message);
        throw err;
      }
      const rep = written.report;
      // One warning per run left out (malformed, unreadable, a second path to the same run), then the count.
      for (const sk of rep.skipped) io.stderr.write(`warning: skipped ${sk.dir}: ${sk.why}\n`);
      if (rep.skipped.length > 0) io.stderr.write(`warning: ${rep.skipped.length} run director${rep.skipped.length === 1 ? 'y' : 'ies'} skipped (listed under "Left out" in report.md)\n`);
      if (rep.runs.length === 0) {
        io.stderr.write(`report: no run directories (with config.json and metrics.jsonl) below ${runsDir}\n`);
        setExit(EXIT.USAGE);
        return;
      }
      if (!flags.quiet) {
        for (const t of rep.tables) if (t.id !== 'precondition') io.stdout.write(tableToMarkdown(t) + '\n');
      }
      io.stdout.write(`report of ${rep.runs.length} runs written: ${written.files.join(', ')}\n`);
      setExit(EXIT.OK);
    });
}
