/**
 * Before a sweep starts any cell: every data set its cells need is there. Each distinct
 * (data set, data directory) is loaded once, with the loader `train` uses, so the check is the
 * same one a cell would fail on, not a second list of file names that could drift from it.
 * A missing data set then fails the sweep once, with one message, instead of once per cell.
 */
import { loadDataset, type DatasetName } from '../data/index.js';
import type { RunConfig } from '../config/index.js';

export interface DataProblem {
  dataset: string;
  dataDir: string | undefined;
  /** Cells that need it. */
  cells: number;
  why: string;
}

/** Checks the data of `configs` (synthetic sets are generated, nothing to check). */
export function checkSweepData(configs: readonly RunConfig[]): DataProblem[] {
  const groups = new Map<string, { dataset: string; dataDir: string | undefined; cells: number }>();
  for (const c of configs) {
    if (c.dataset === 'synthetic') continue;
    const key = JSON.stringify([c.dataset, c.dataDir ?? null]);
    const g = groups.get(key);
    if (g) g.cells++;
    else groups.set(key, { dataset: c.dataset, dataDir: c.dataDir ?? undefined, cells: 1 });
  }
  const problems: DataProblem[] = [];
  for (const g of groups.values()) {
    try {
      loadDataset(g.dataset as DatasetName, { dataDir: g.dataDir, seed: 0 });
    } catch (err) {
      problems.push({ ...g, why: (err as Error).message });
    }
  }
  return problems;
}

/** The one message for the problems: what is missing, for how many cells, and what to do. */
export function dataProblemText(problems: readonly DataProblem[], totalCells: number): string {
  const lines = problems.map(
    (p) => `  ${p.dataset}${p.dataDir ? ` (dataDir ${p.dataDir})` : ''}, needed by ${p.cells} of the ${totalCells} cells: ${p.why}`,
  );
  return (
    `the sweep needs data that is not there; no cell was started:\n${lines.join('\n')}\n` +
    `  put the files there, or point the sweep at them with --data-dir <dir>`
  );
}
