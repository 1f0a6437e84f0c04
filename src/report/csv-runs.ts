/**
 * A report from a committed `runs.csv` (and its `settings.csv`) when the run directories are
 * gone: a published report keeps only those files, and its wording must still be regenerable
 * from them after the statistics change.
 *
 * Each runs.csv row becomes a summary-only RunData: its configuration is the row's columns
 * joined with the matching settings.csv row (which carries every context key), its summary the
 * final/best errors and times. runs.csv has no test loss: the per-setting means of
 * settings.csv (finalTestLossMean, minTestLossMean) are given to each of the setting's runs, so
 * the precondition check reads the same means; their seed spread is not known. Per-epoch
 * charts need the run directories and are left out for these runs (`isSummaryOnly`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunConfig } from '../config/index.js';
import type { EpochRecord, RunSummary } from '../train/metrics.js';
import type { RunData } from './runs.js';

const summaryOnly = new WeakSet<RunData>();

/** True for runs rebuilt from runs.csv (no per-epoch or per-step records). */
export function isSummaryOnly(r: RunData): boolean {
  return summaryOnly.has(r);
}

/** RFC 4180 fields: quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') row.push(field), (field = '');
    else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length) row.push(field), rows.push(row);
  return rows.filter((r) => r.length > 1 || r[0] !== '');
}

function value(s: string): unknown {
  if (s === 'true') return true;
  if (s === 'false') return false;
  if (s === 'null') return null;
  if (s !== '' && Number.isFinite(Number(s))) return Number(s);
  return s;
}

function records(file: string): Record<string, string>[] {
  const [header, ...rows] = parseCsv(readFileSync(file, 'utf8'));
  if (!header) return [];
  return rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ''])));
}

/** Settings columns that are statistics, not configuration. */
const STAT_COLUMNS = new Set(['gr', 'warmupEpochs', 'n', 'seeds', 'finalErrorMean', 'finalErrorStd', 'bestErrorMean', 'bestErrorStd', 'finalErrorMin', 'finalErrorMax', 'finalTrainErrorMean', 'finalTestLossMean', 'minTestLossMean']);

/** Whether `dir` holds a runs.csv a report can be rebuilt from. */
export function hasRunsCsv(dir: string): boolean {
  return existsSync(join(dir, 'runs.csv'));
}

export function loadRunsCsv(dir: string): RunData[] {
  const runs = records(join(dir, 'runs.csv'));
  const settings = existsSync(join(dir, 'settings.csv')) ? records(join(dir, 'settings.csv')) : [];
  const out: RunData[] = [];
  for (const row of runs) {
    const gr = row.gr;
    const match = settings.find(
      (s) =>
        s.gr === gr &&
        Number(s.warmupEpochs) === Number(row.warmupEpochs) &&
        s.model === row.model &&
        s.optimizer === row.optimizer &&
        Number(s.lr) === Number(row.lr) &&
        (gr === 'none' || (Number(s.lambda) === Number(row.lambda) && Number(s.r) === Number(row.r))) &&
        s.seeds.split(' ').includes(row.seed),
    );
    const cfg: Record<string, unknown> = {};
    if (match) for (const [k, v] of Object.entries(match)) if (!STAT_COLUMNS.has(k)) cfg[k] = value(v);
    for (const k of ['model', 'optimizer', 'gr', 'warmupEpochs', 'lr', 'lambda', 'r', 'seed']) cfg[k] = value(row[k]);
    const num = (k: string) => (row[k] === '' ? NaN : Number(row[k]) / 100);
    const epochs = Number(row.epochs);
    const trainSubset = Number(cfg.trainSubset);
    const batch = Number(cfg.batchSize);
    const finalTestLoss = match && match.finalTestLossMean !== '' ? Number(match.finalTestLossMean) : NaN;
    const minTestLoss = match && match.minTestLossMean !== '' ? Number(match.minTestLossMean) : NaN;
    const status = row.status === 'complete' ? 'complete' : undefined;
    const summary = status
      ? ({
          status,
          finalTestError: num('finalTestError'),
          bestTestError: num('bestTestError'),
          bestEpoch: Number(row.bestEpoch),
          finalTestLoss,
          epochs,
          stepsPerEpoch: trainSubset > 0 && batch > 0 ? Math.floor(trainSubset / batch) : NaN,
          totalTimeSec: Number(row.totalTimeSec),
          dataset: cfg.dataset,
          trainImages: trainSubset,
          testImages: Number(cfg.testSubset),
          model: cfg.model,
        } as unknown as RunSummary)
      : null;
    // Two records: the lowest test loss (at the best epoch) and the last epoch.
    const rec = (epoch: number, extra: Partial<EpochRecord>) => ({ type: 'epoch', epoch, g1NormMean: NaN, ...extra }) as EpochRecord;
    const recs = [
      rec(Number(row.bestEpoch), { testLoss: minTestLoss, testError: num('bestTestError'), trainAcc: NaN }),
      rec(epochs, { testLoss: finalTestLoss, testError: num('finalTestError'), trainAcc: 1 - num('finalTrainError') }),
    ];
    const run: RunData = { dir: join(dir, row.run), name: row.run, config: cfg as unknown as RunConfig, summary, epochs: recs, steps: [], moments: [], problems: [] };
    summaryOnly.add(run);
    out.push(run);
  }
  return out;
}
