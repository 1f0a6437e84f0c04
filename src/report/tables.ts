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

/** How a paired difference compares with its standard error, in words. */
export function verdict(d: PairedDiff | undefined): string {
  if (!d) return '–';
  if (d.n < 2 || !Number.isFinite(d.se)) return 'too few paired seeds to judge';
  if (d.se === 0) return d.mean === 0 ? 'no difference' : 'same sign on every seed';
  const z = Math.abs(d.mean) / d.se;
  const allSame = d.diffs.every((x) => Math.sign(x) === Math.sign(d.mean) && x !== 0);
  if (z >= 2 && allSame) return `${d.mean < 0 ? 'lower' : 'higher'} on every seed, ${z.toFixed(1)} SE`;
  if (z >= 2) return `${d.mean < 0 ? 'lower' : 'higher'} by ${z.toFixed(1)} SE`;
  return `within noise (${z.toFixed(1)} SE)`;
}

function warmupLabel(w: number): string {
  return w === 0 ? 'no' : `yes (${w} ep)`;
}

export function table1(agg: Aggregate): Table {
  const rows: string[][] = [];
  for (const c of agg.contexts) {
    for (const w of warmupsOf(agg, c.key)) {
      const base = findSetting(agg, c.key, 'none', w);
      const gr = findSetting(agg, c.key, 'gr', w);
      if (!base && !gr) continue;
      const d = base && gr ? pairedDiff(gr, base) : undefined;
      rows.push([c.label, warmupLabel(w), cell(base?.finalError), cell(gr?.finalError), cell(base?.bestError), cell(gr?.bestError), diffCell(d), verdict(d)]);
    }
  }
  return {
    id: 'table1',
    title: 'Table 1: base optimizer vs vanilla GR, without and with LR warmup (test error %, mean ± std over seeds)',
    note: 'final = the last epoch\'s weights (the paper\'s number); best = the lowest test error of any epoch. ' +
      'Δ = GR − base of the final error, paired by seed (mean ± standard error of the per-seed differences).',
    header: ['setting', 'LR warmup', 'base: final', 'GR: final', 'base: best', 'GR: best', 'Δ final (GR − base)', 'Δ vs seed spread'],
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

/** Each policy against vanilla GR and against the base optimizer, paired by seed. */
export function differences(agg: Aggregate): Table {
  const rows: string[][] = [];
  for (const c of agg.contexts) {
    for (const w of warmupsOf(agg, c.key)) {
      const gr = findSetting(agg, c.key, 'gr', w);
      const base = findSetting(agg, c.key, 'none', w);
      for (const p of POLICY_ORDER) {
        if (p === 'none') continue;
        const s = findSetting(agg, c.key, p, w);
        if (!s || s.complete.length === 0) continue;
        const vsGr = gr && p !== 'gr' ? pairedDiff(s, gr) : undefined;
        const vsBase = base ? pairedDiff(s, base) : undefined;
        rows.push([c.label, warmupLabel(w), p, diffCell(vsGr), verdict(vsGr), diffCell(vsBase), verdict(vsBase)]);
      }
    }
  }
  return {
    id: 'differences',
    title: 'Differences in final test error (percentage points), paired by seed',
    note:
      'mean ± standard error of the per-seed differences. "within noise" = less than 2 standard errors: ' +
      'with 3 seeds such a difference is not evidence either way.',
    header: ['setting', 'LR warmup', 'policy', 'vs gr', 'judgement', 'vs none', 'judgement'],
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
      `${s.minTestLoss.mean.toFixed(3)} → ${s.finalTestLoss.mean.toFixed(3)}`,
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
