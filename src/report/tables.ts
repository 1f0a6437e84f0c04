/**
 * The report's tables as plain data (header + rows of strings), rendered as Markdown, CSV and
 * HTML by the callers. Errors are shown in percent: `mean ± std (n)` over seeds.
 */
import {
  findSetting,
  pairedDiff,
  POLICY_ORDER,
  settingsOf,
  TABLE1_POLICIES,
  TABLE2_POLICIES,
  warmupsOf,
  type Aggregate,
  type PairedDiff,
  type Setting,
  type Stat,
} from './aggregate.js';
import type { Comparison } from './comparisons.js';
import { fmtCi, fmtP, pairedTest, wording } from './stats.js';

export interface Table {
  id: string;
  title: string;
  note?: string;
  header: string[];
  rows: string[][];
}

const pct = (x: number, d = 2) => (Number.isFinite(x) ? (100 * x).toFixed(d) : '–');

/** `14.82 ± 0.31 (n=3)` in percent; `–` when there is no complete run. */
export function cell(s: Stat | undefined): string {
  if (!s || s.n === 0) return '–';
  return `${pct(s.mean)} ± ${pct(s.std)} (n=${s.n})`;
}

/** `−0.41 ± 0.20 (n=3)` percentage points; paired by seed. */
export function diffCell(d: PairedDiff | undefined): string {
  if (!d || d.n === 0) return '–';
  const sign = d.mean > 0 ? '+' : d.mean < 0 ? '−' : '±';
  const se = Number.isFinite(d.se) ? ` ± ${pct(d.se)}` : '';
  return `${sign}${pct(Math.abs(d.mean))}${se} (n=${d.n})`;
}

/**
 * A single paired difference in words, as a family of one (Student t with n − 1 df; see
 * stats.ts). The report's tables use the Holm-corrected words of the whole family (comparisons.ts).
 */
export function verdict(d: PairedDiff | undefined): string {
  if (!d) return '–';
  const t = pairedTest(d.diffs.map((x) => 100 * x));
  return wording(t, t.p);
}

/** `−2.25 [−5.41, +0.91]` percentage points: mean and 95% t interval of a comparison. */
export function ciCell(c: Comparison | undefined): string {
  if (!c) return '–';
  return fmtCi(c.test.mean, c.test.ciLow, c.test.ciHigh);
}

function warmupLabel(w: number): string {
  return w === 0 ? 'no' : `yes (${w} ep)`;
}

export function table1(agg: Aggregate, cs: readonly Comparison[] = []): Table {
  const rows: string[][] = [];
  for (const c of agg.contexts) {
    for (const w of warmupsOf(agg, c.key)) {
      const base = findSetting(agg, c.key, 'none', w);
      const gr = findSetting(agg, c.key, 'gr', w);
      if (!base && !gr) continue;
      const d = base && gr ? pairedDiff(gr, base) : undefined;
      const cmp = cs.find((x) => x.a === gr && x.b === base);
      rows.push([c.label, warmupLabel(w), cell(base?.finalError), cell(gr?.finalError), cell(base?.bestError), cell(gr?.bestError), cmp ? ciCell(cmp) : diffCell(d), cmp ? cmp.words : verdict(d)]);
    }
  }
  return {
    id: 'table1',
    title: 'Table 1: base optimizer vs vanilla GR, without and with LR warmup (test error %, mean ± std over seeds)',
    note: 'final = the last epoch\'s weights (the paper\'s number); best = the lowest test error of any epoch. ' +
      'Δ = GR − base of the final error in percentage points, paired by seed: mean [95% t interval]; the words as in the Differences table.',
    header: ['setting', 'LR warmup', 'base: final', 'GR: final', 'base: best', 'GR: best', 'Δ final (GR − base)', 'statistics'],
    rows,
  };
}

export function table2(agg: Aggregate): Table {
  const rows: string[][] = [];
  for (const c of agg.contexts) {
    for (const w of warmupsOf(agg, c.key)) {
      if (w === 0) continue;
      const ss = TABLE2_POLICIES.map((p) => findSetting(agg, c.key, p, w));
      if (ss.every((s) => !s)) continue;
      rows.push([c.label, warmupLabel(w), 'final', ...ss.map((s) => cell(s?.finalError))]);
      rows.push([c.label, warmupLabel(w), 'best', ...ss.map((s) => cell(s?.bestError))]);
    }
  }
  return {
    id: 'table2',
    title: 'Table 2: GR warmup policies with LR warmup (test error %, mean ± std over seeds)',
    header: ['setting', 'LR warmup', 'error', ...TABLE2_POLICIES],
    rows,
  };
}

/** The family of comparisons (comparisons.ts): one row each, with its statistics and words. */
export function differences(cs: readonly Comparison[]): Table {
  const rows = cs.map((c) => [
    c.contextLabel,
    c.warmupLabel,
    c.what,
    ciCell(c),
    Number.isFinite(c.test.sd) ? c.test.sd.toFixed(2) : '–',
    String(c.test.n),
    `${c.test.lower} lower, ${c.test.higher} higher${c.test.ties ? `, ${c.test.ties} tied` : ''}`,
    fmtP(c.test.p),
    fmtP(c.pHolm),
    c.words,
  ]);
  return {
    id: 'differences',
    title: 'Differences in final test error (percentage points), paired by seed',
    note:
      `a − b per seed: mean [95% interval from Student's t with n − 1 degrees of freedom], sd of the per-seed differences, ` +
      `signs over the seeds, two-sided paired t-test p and Holm's correction across all ${cs.length} comparisons of this table. ` +
      'Words: "significant at 5% after correction" = Holm-adjusted p < 0.05; "direction only" = not significant, but ' +
      'p < 0.10 or every seed has the same sign; "within noise" = neither. With 3 seeds the 95% interval is mean ± 4.30 standard errors.',
    header: ['setting', 'LR warmup', 'a − b', 'mean [95% CI]', 'sd', 'n', 'signs', 'p', 'p (Holm)', 'statistics'],
    rows,
  };
}

/** The overfitting precondition: training vs test error and the test loss of each setting. */
export function precondition(agg: Aggregate): Table {
  const rows: string[][] = [];
  for (const c of agg.contexts) for (const s of settingsOf(agg, c.key).sort((a, b) => a.warmupEpochs - b.warmupEpochs || POLICY_ORDER.indexOf(a.gr) - POLICY_ORDER.indexOf(b.gr))) {
    if (s.complete.length === 0) continue;
    rows.push([
      c.label,
      warmupLabel(s.warmupEpochs),
      s.gr,
      cell(s.finalTrainError),
      cell(s.finalError),
      `${pct(s.finalError.mean - s.finalTrainError.mean)}`,
      Number.isFinite(s.minTestLoss.mean) && Number.isFinite(s.finalTestLoss.mean)
        ? `${s.minTestLoss.mean.toFixed(3)} → ${s.finalTestLoss.mean.toFixed(3)}`
        : '–',
    ]);
  }
  return {
    id: 'precondition',
    title: 'Precondition: does the model overfit? (last epoch, mean over seeds)',
    note:
      'train error = mean error of the last epoch\'s mini-batches (train mode, first pass); gap = test − train error; ' +
      'test loss: lowest of any epoch → final. A large gap and a test loss that rises again mean the base run overfits, ' +
      'which is where a regulariser such as GR can pay off.',
    header: ['setting', 'LR warmup', 'policy', 'train error %', 'test error %', 'gap (pp)', 'test loss min → final'],
    rows,
  };
}

/** Every setting, one CSV row each (numbers in percent). */
export function settingsCsvRows(agg: Aggregate): { header: string[]; rows: (string | number)[][] } {
  const ctxKeys = [...new Set(agg.contexts.flatMap((c) => Object.keys(c.values)))].sort();
  const header = [
    ...ctxKeys,
    'gr',
    'warmupEpochs',
    'n',
    'seeds',
    'finalErrorMean',
    'finalErrorStd',
    'bestErrorMean',
    'bestErrorStd',
    'finalErrorMin',
    'finalErrorMax',
    'finalTrainErrorMean',
    'finalTestLossMean',
    'minTestLossMean',
  ];
  const f = (x: number) => (Number.isFinite(x) ? Number((100 * x).toFixed(4)) : '');
  const rows = agg.settings.map((s: Setting) => [
    ...ctxKeys.map((k) => {
      const v = s.context[k];
      return v === undefined ? '' : typeof v === 'string' || typeof v === 'number' ? v : JSON.stringify(v);
    }),
    s.gr,
    s.warmupEpochs,
    s.finalError.n,
    s.seeds.join(' '),
    f(s.finalError.mean),
    f(s.finalError.std),
    f(s.bestError.mean),
    f(s.bestError.std),
    f(s.finalError.min),
    f(s.finalError.max),
    f(s.finalTrainError.mean),
    Number.isFinite(s.finalTestLoss.mean) ? Number(s.finalTestLoss.mean.toFixed(5)) : '',
    Number.isFinite(s.minTestLoss.mean) ? Number(s.minTestLoss.mean.toFixed(5)) : '',
  ]);
  return { header, rows };
}

function csvField(v: string | number): string {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: string[], rows: (string | number)[][]): string {
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}

function mdEscape(s: string): string {
  return s.replace(/\|/g, '\\|');
}

export function tableToMarkdown(t: Table): string {
  const lines = [`### ${t.title}`, ''];
  if (t.rows.length === 0) return lines.concat(['(no runs for this table)', '']).join('\n');
  lines.push(`| ${t.header.map(mdEscape).join(' | ')} |`);
  lines.push(`|${t.header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
  for (const r of t.rows) lines.push(`| ${r.map(mdEscape).join(' | ')} |`);
  if (t.note) lines.push('', t.note);
  lines.push('');
  return lines.join('\n');
}
