// `grwarm-native report`: aggregation into the Table 1 / Table 2 shapes, Markdown, CSV and
// HTML, from real run directories trained here (tiny synthetic runs).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from '../src/cli.js';
import { pairedDiff, stat, type Setting } from '../src/report/aggregate.js';
import { buildReport } from '../src/report/index.js';
import { cell, diffCell, verdict } from '../src/report/tables.js';
import { makeRuns } from './report-support.js';

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = {
    stdout: { write: (s: string) => (out += s), isTTY: false },
    stderr: { write: (s: string) => (err += s), isTTY: false },
    env: {},
    handleSignals: false,
  };
  const code = await main(argv, io);
  return { code, out, err };
}

let tmp: string;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-report-'));
  await makeRuns(join(tmp, 'runs'));
}, 300_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('statistics', () => {
  it('mean, sample std, paired differences and their judgement', () => {
    expect(stat([1, 2, 3])).toEqual({ n: 3, mean: 2, std: 1, min: 1, max: 3 });
    expect(stat([0.5]).std).toBe(0);
    expect(cell(stat([0.1, 0.12]))).toBe('11.00 ± 1.41 (n=2)');
    const mk = (errs: number[]) => ({ complete: errs.map((e, seed) => ({ config: { seed }, summary: { finalTestError: e, bestTestError: e } })) }) as unknown as Setting;
    const d = pairedDiff(mk([0.2, 0.21, 0.22]), mk([0.25, 0.25, 0.27]));
    expect(d.n).toBe(3);
    expect(d.mean).toBeCloseTo(-0.0467, 4);
    expect(diffCell(d)).toBe('−4.67 ± 0.33 (n=3)');
    // Student t with 2 df: t = −14.0, p = 0.0051 (scipy.stats.ttest_1samp); uncorrected words.
    expect(verdict(d)).toBe('significant at 5% after correction (p = 0.0051, Holm-adjusted 0.0051)');
    expect(verdict(pairedDiff(mk([0.2, 0.25]), mk([0.22, 0.24])))).toBe('within noise (p = 0.80)');
    expect(verdict(pairedDiff(mk([0.2]), mk([0.22])))).toBe('too few paired seeds to judge');
  });
});

describe('report of real runs', () => {
  it('groups the seeds into Table 1 and Table 2 cells with n', () => {
    const rep = buildReport(join(tmp, 'runs'));
    expect(rep.runs).toHaveLength(14);
    expect(rep.agg.settings).toHaveLength(7);
    expect(rep.agg.contexts).toHaveLength(1); // none's lambda/r do not split it off
    const [pre, t1, t2, diffs] = rep.tables;
    expect(pre.id).toBe('precondition');
    expect(t1.rows.map((r) => r[1])).toEqual(['no', 'yes (1 ep)']);
    for (const row of t1.rows) for (const c of row.slice(2, 6)) expect(c).toMatch(/^\d+\.\d\d ± \d+\.\d\d \(n=2\)$/);
    expect(t2.header.slice(3)).toEqual(['gr', 'r-warmup', 'lambda-warmup', 'zero-warmup']);
    expect(t2.rows.map((r) => r[2])).toEqual(['final', 'best']);
    for (const c of t2.rows[0].slice(3)) expect(c).toMatch(/\(n=2\)$/);
    expect(diffs.rows.map((r) => r[2])).toEqual([
      'gr − none',
      'gr − none',
      'r-warmup − gr',
      'lambda-warmup − gr',
      'zero-warmup − gr',
      'r-warmup − none',
      'lambda-warmup − none',
      'zero-warmup − none',
      'none: LR warmup 1 ep − no LR warmup',
      'gr: LR warmup 1 ep − no LR warmup',
    ]);
    // Holm across the 10 comparisons: adjusted p ≥ raw p, and the words come from them.
    for (const c of rep.comparisons) {
      expect(c.pHolm).toBeGreaterThanOrEqual(c.test.p);
      expect(c.words).toMatch(/^(significant at 5% after correction|direction only|within noise|no difference|too few)/);
    }
    expect(rep.findings.some((f) => f.includes('share the gr (LR warmup 1 ep) runs as their reference'))).toBe(true);
    // The cell is the mean of the seeds' summaries.
    const s = rep.agg.settings.find((x) => x.gr === 'zero-warmup')!;
    const finals = [0, 1].map((seed) => JSON.parse(readFileSync(join(tmp, 'runs', `zero-warmup-wu1-s${seed}`, 'summary.json'), 'utf8')).finalTestError);
    expect(s.finalError.mean).toBeCloseTo((finals[0] + finals[1]) / 2, 12);
    expect(rep.findings.some((f) => f.includes('epoch-1 mean ‖g1‖ per policy'))).toBe(true);
  });

  it('writes Markdown, CSV and a self-contained HTML report with every chart', async () => {
    const out = join(tmp, 'out');
    const r = await cli(['report', join(tmp, 'runs'), '--out', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('### Table 1');
    for (const f of ['report.md', 'report.html', 'settings.csv', 'runs.csv']) expect(existsSync(join(out, f))).toBe(true);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('### Table 2: GR warmup policies');
    const csv = readFileSync(join(out, 'settings.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(8);
    expect(csv[0]).toContain('gr,warmupEpochs,n,seeds,finalErrorMean,finalErrorStd,bestErrorMean,bestErrorStd');
    expect(readFileSync(join(out, 'runs.csv'), 'utf8').trim().split('\n')).toHaveLength(15);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org)/); // nothing fetched
    for (const kind of ['final-error', 'test-error', 'test-error-zoom', 'g1-norm', 'g1-steps', 'schedules', 'moment2']) expect(html).toContain(`-${kind}" data-series=`);
  });

  it('a report folder with only runs.csv and settings.csv renders again, with the same statistics', async () => {
    const out = join(tmp, 'out-csv');
    expect((await cli(['report', join(tmp, 'runs'), '--out', out])).code).toBe(0);
    const first = buildReport(join(tmp, 'runs'));
    const again = buildReport(out); // no run directories below: rebuilt from the CSV files
    expect(again.runs).toHaveLength(first.runs.length);
    expect(again.comparisons.map((c) => c.what)).toEqual(first.comparisons.map((c) => c.what));
    again.comparisons.forEach((c, i) => {
      // runs.csv keeps 4 decimals of a percentage
      expect(c.test.mean).toBeCloseTo(first.comparisons[i].test.mean, 3);
      expect(c.words.split(' (')[0]).toBe(first.comparisons[i].words.split(' (')[0]);
    });
    // per-epoch charts need the run directories: only the final-error dot plot remains
    expect(again.groups.flatMap((g) => g.charts.map((c) => c.kind))).toEqual(['final-error']);
    const r = await cli(['report', out, '--out', join(tmp, 'out-csv2')]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(tmp, 'out-csv2', 'runs.csv'), 'utf8')).toBe(readFileSync(join(out, 'runs.csv'), 'utf8'));
  });

  it('an empty folder is a usage error', async () => {
    const r = await cli(['report', join(tmp, 'nothing-here')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('no such folder');
  });
});
