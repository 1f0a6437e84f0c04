/**
 * `grwarm-native report RUNS_DIR`: the runs below a folder aggregated into the paper's table
 * shapes (Markdown, CSV) and a self-contained HTML page with inline SVG charts.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { aggregate, type Aggregate } from './aggregate.js';
import { comparisons, type Comparison } from './comparisons.js';
import { computeFindings } from './findings.js';
import { chartGroups, type ChartGroup } from './charts.js';
import { hasRunsCsv, isSummaryOnly, loadRunsCsv } from './csv-runs.js';
import { findRunDirs, loadRuns, type RunData } from './runs.js';
import { escapeXml } from './svg.js';
import {
  differences,
  precondition,
  settingsCsvRows,
  table1,
  table2,
  tableToMarkdown,
  toCsv,
  type Table,
} from './tables.js';

export interface Report {
  root: string;
  runs: RunData[];
  skipped: { dir: string; why: string }[];
  agg: Aggregate;
  comparisons: Comparison[];
  tables: Table[];
  findings: string[];
  groups: ChartGroup[];
  notes?: string;
}

export function buildReport(root: string, opts: { notes?: string } = {}): Report {
  // A published report folder keeps runs.csv but not the run directories: rebuild from it.
  const fromCsv = existsSync(root) && findRunDirs(root).length === 0 && hasRunsCsv(root);
  const { runs, skipped } = fromCsv ? { runs: loadRunsCsv(root), skipped: [] } : loadRuns(root);
  const agg = aggregate(runs);
  const cs = comparisons(agg);
  const tables = [precondition(agg), table1(agg, cs), table2(agg), differences(cs)];
  return { root, runs, skipped, agg, comparisons: cs, tables, findings: computeFindings(agg, cs), groups: chartGroups(agg, cs), notes: opts.notes };
}

/** Why a run is left out: no summary yet (unfinished or failed), or one that says it stopped. */
function incompleteWhy(r: RunData): string {
  const status = r.summary?.status;
  if (!status) return 'no summary.json (unfinished or failed)';
  return `summary.json says "${status}" (resume it to include it)`;
}

function commonConfig(runs: RunData[]): [string, string][] {
  if (runs.length === 0) return [];
  const skip = new Set(['outDir', 'threads', 'seed', 'gr', 'warmupEpochs']);
  const out: [string, string][] = [];
  const first = runs[0].config as Record<string, unknown>;
  for (const k of Object.keys(first).sort()) {
    if (skip.has(k)) continue;
    const v = JSON.stringify(first[k]);
    if (runs.every((r) => JSON.stringify((r.config as Record<string, unknown>)[k]) === v)) out.push([k, v]);
  }
  return out;
}

function overview(rep: Report): { lines: string[] } {
  const complete = rep.runs.filter((r) => r.summary?.status === 'complete');
  const hours = complete.reduce((a, r) => a + (r.summary?.totalTimeSec ?? 0), 0) / 3600;
  const lines = [
    `${rep.runs.length} runs in ${rep.agg.settings.length} settings (${complete.length} complete` +
      `${rep.agg.incomplete.length ? `, ${rep.agg.incomplete.length} unfinished — left out of the tables` : ''}); ` +
      `${hours.toFixed(2)} run-hours of training in total.`,
  ];
  const first = complete[0]?.summary;
  if (first) {
    const params = Number.isFinite(first.params) ? ` (${first.params.toLocaleString('en-US')} parameters)` : '';
    lines.push(
      `Data: ${first.dataset}, ${first.trainImages} training / ${first.testImages} test images; ` +
        `${first.epochs} epochs of ${first.stepsPerEpoch} steps; model ${first.model}${params}.`,
    );
  }
  if (complete.length && complete.every(isSummaryOnly)) {
    lines.push(
      'Rebuilt from runs.csv and settings.csv (the run directories are not kept): final and best errors per run, ' +
        'test losses as per-setting means; per-epoch and per-step charts need the run directories.',
    );
  }
  return { lines };
}

export function reportMarkdown(rep: Report): string {
  const out: string[] = ['# Training report', ''];
  out.push(`Runs: \`${rep.root}\`. ${overview(rep).lines.join(' ')}`, '');
  if (rep.notes) out.push(rep.notes.trim(), '');
  if (rep.findings.length) {
    out.push('## Findings (computed from the runs)', '');
    for (const f of rep.findings) out.push(`- ${f}`);
    out.push('');
  }
  out.push('## Tables', '');
  for (const t of rep.tables) out.push(tableToMarkdown(t));
  const cc = commonConfig(rep.runs);
  if (cc.length) {
    out.push('## Configuration shared by every run', '', cc.map(([k, v]) => `\`${k}: ${v}\``).join(', '), '');
  }
  if (rep.agg.incomplete.length || rep.skipped.length) {
    out.push('## Left out', '');
    for (const r of rep.agg.incomplete) out.push(`- ${r.name}: ${incompleteWhy(r)}`);
    for (const s of rep.skipped) out.push(`- ${s.dir}: ${s.why}`);
    out.push('');
  }
  out.push('Charts: see report.html (self-contained; open it in any browser, offline).', '');
  return out.join('\n');
}

export function runsCsv(rep: Report): string {
  const header = ['run', 'model', 'optimizer', 'gr', 'warmupEpochs', 'lr', 'lambda', 'r', 'seed', 'status', 'finalTestError', 'bestTestError', 'bestEpoch', 'finalTrainError', 'epochs', 'totalTimeSec'];
  const rows = rep.runs.map((r) => {
    const s = r.summary;
    const f = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '' : Number((100 * x).toFixed(4)));
    return [
      r.name, r.config.model, r.config.optimizer, r.config.gr, r.config.warmupEpochs, r.config.lr, r.config.lambda, r.config.r, r.config.seed,
      s?.status ?? 'unfinished', f(s?.finalTestError), f(s?.bestTestError), s?.bestEpoch ?? '', f(1 - (r.epochs.at(-1)?.trainAcc ?? NaN)),
      s?.epochs ?? r.epochs.length, s ? Number(s.totalTimeSec.toFixed(1)) : '',
    ];
  });
  return toCsv(header, rows);
}

/** A very small Markdown subset → HTML: paragraphs, `- ` lists, **bold**, `code`, [text](url). */
export function miniMarkdown(md: string): string {
  const inline = (s: string) =>
    escapeXml(s)
      .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
      .replace(/`([^`]+)`/g, '<code>$1</code>')
      .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, '<a href="$2">$1</a>');
  const blocks = md.trim().split(/\n\s*\n/);
  return blocks
    .map((b) => {
      const lines = b.split('\n');
      if (lines.every((l) => /^\s*- /.test(l) || /^\s{2,}\S/.test(l))) {
        const items: string[] = [];
        for (const l of lines) {
          if (/^\s*- /.test(l)) items.push(l.replace(/^\s*- /, ''));
          else items[items.length - 1] += ' ' + l.trim();
        }
        return `<ul>${items.map((i) => `<li>${inline(i)}</li>`).join('')}</ul>`;
      }
      const h = /^(#{1,4}) (.*)$/.exec(lines[0]);
      if (h && lines.length === 1) return `<h${h[1].length + 1}>${inline(h[2])}</h${h[1].length + 1}>`;
      return `<p>${inline(lines.join(' '))}</p>`;
    })
    .join('\n');
}

function tableHtml(t: Table): string {
  const head = `<tr>${t.header.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr>`;
  const body = t.rows.map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<td class="label">${escapeXml(c)}</td>` : `<td>${escapeXml(c)}</td>`)).join('')}</tr>`).join('\n');
  return (
    `<section class="table" id="${t.id}"><h3>${escapeXml(t.title)}</h3>` +
    (t.rows.length ? `<table data-table="${t.id}">${head}\n${body}</table>` : '<p>(no runs for this table)</p>') +
    (t.note ? `<p class="note">${escapeXml(t.note)}</p>` : '') +
    '</section>'
  );
}

const CSS = `
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1240px;color:#222;padding:0 16px}
h1{font-size:24px}h2{font-size:19px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}td.label{text-align:left}p.note{font-size:12px;color:#555;max-width:900px}
.charts{display:flex;flex-wrap:wrap;gap:10px}.charts svg{border:1px solid #eee}
code{background:#f4f4f4;padding:0 3px;border-radius:3px}ul.findings li{margin:3px 0}
`;

export function reportHtml(rep: Report): string {
  const parts: string[] = [];
  parts.push('<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">');
  parts.push('<meta name="viewport" content="width=device-width, initial-scale=1">');
  parts.push(`<title>grwarm-native report: ${escapeXml(rep.root)}</title><style>${CSS}</style></head><body>`);
  parts.push(`<h1>Training report</h1><p>Runs: <code>${escapeXml(rep.root)}</code>. ${escapeXml(overview(rep).lines.join(' '))}</p>`);
  if (rep.notes) parts.push(`<section id="notes">${miniMarkdown(rep.notes)}</section>`);
  if (rep.findings.length) {
    parts.push('<h2>Findings (computed from the runs)</h2><ul class="findings">');
    for (const f of rep.findings) parts.push(`<li>${escapeXml(f)}</li>`);
    parts.push('</ul>');
  }
  parts.push('<h2>Tables</h2>');
  for (const t of rep.tables) parts.push(tableHtml(t));
  parts.push('<h2>Charts</h2>');
  parts.push(
    '<p class="note">First, per setting, the final test error of every seed (dots), with the mean (bar) and its 95% t interval (whiskers). ' +
      'Then one group per setting and LR warmup: lines are means over seeds, shaded bands span the lowest and highest seed; ' +
      'the dashed vertical line marks the end of the warmup; the zoom panel shows the last 40% of the epochs; ' +
      '‖g1‖ is the gradient norm of the first pass, averaged over each epoch; "(log)" marks a logarithmic axis. ' +
      'The schedules panel divides lr, λ and r by their peak values and lifts each policy by a small offset so equal schedules stay visible.</p>',
  );
  for (const g of rep.groups) {
    parts.push(`<section class="group" id="${escapeXml(g.id)}" data-group="${escapeXml(g.id)}"><h3>${escapeXml(g.title)}</h3><div class="charts">`);
    for (const c of g.charts) parts.push(c.svg);
    parts.push('</div></section>');
  }
  const cc = commonConfig(rep.runs);
  if (cc.length) {
    parts.push('<h2>Configuration shared by every run</h2><p>');
    parts.push(cc.map(([k, v]) => `<code>${escapeXml(k)}: ${escapeXml(v)}</code>`).join(' '));
    parts.push('</p>');
  }
  if (rep.agg.incomplete.length || rep.skipped.length) {
    parts.push('<h2>Left out</h2><ul>');
    for (const r of rep.agg.incomplete) parts.push(`<li>${escapeXml(r.name)}: ${escapeXml(incompleteWhy(r))}</li>`);
    for (const s of rep.skipped) parts.push(`<li>${escapeXml(s.dir)}: ${escapeXml(s.why)}</li>`);
    parts.push('</ul>');
  }
  parts.push(`<p class="note">Generated by grwarm-native report from ${rep.runs.length} run directories.</p>`);
  parts.push('</body></html>');
  return parts.join('\n') + '\n';
}

export interface WrittenReport {
  files: string[];
  report: Report;
}

/** Writes report.md, report.html, settings.csv and runs.csv into `outDir`. */
export function writeReport(root: string, outDir: string, opts: { notes?: string } = {}): WrittenReport {
  const rep = buildReport(root, opts);
  mkdirSync(outDir, { recursive: true });
  const { header, rows } = settingsCsvRows(rep.agg);
  const files: [string, string][] = [
    ['report.md', reportMarkdown(rep)],
    ['report.html', reportHtml(rep)],
    ['settings.csv', toCsv(header, rows)],
    ['runs.csv', runsCsv(rep)],
  ];
  for (const [name, text] of files) writeFileAtomic(join(outDir, name), [Buffer.from(text, 'utf8')]);
  return { files: files.map(([n]) => join(outDir, n)), report: rep };
}
