/** The theory grid as SVG heat maps, CSV, Markdown and a self-contained HTML page. */
import { heatMap, escapeXml } from '../report/svg.js';
import type { TheoryGrid } from './variance.js';

export function theorySvgs(g: TheoryGrid): { id: string; svg: string }[] {
  const common = { xLabel: 't (steps)', yLabel: 'γ (decay rate of E g²)', xs: g.ts, ys: g.gammas };
  return [
    {
      id: 'closed-form',
      svg: heatMap({ ...common, id: 'theory-closed-form', title: 'Var ψ(t; γ), closed form (first order)', values: g.closed, log: true, valueLabel: 'Var ψ' }),
    },
    {
      id: 'monte-carlo',
      svg: heatMap({ ...common, id: 'theory-monte-carlo', title: `Var ψ(t; γ), Monte Carlo (${g.samples} samples)`, values: g.mc, log: true, valueLabel: 'Var ψ (MC)' }),
    },
    {
      id: 'relative-difference',
      svg: heatMap({ ...common, id: 'theory-relative-difference', title: '(closed form − MC) / MC', values: g.relDiff, diverging: true, valueLabel: 'rel. diff' }),
    },
  ];
}

export function theoryCsv(g: TheoryGrid): string {
  const lines = ['t,gamma,closedForm,monteCarlo,monteCarloSE,relDiff'];
  g.gammas.forEach((gm, i) =>
    g.ts.forEach((t, j) => lines.push([t, gm, g.closed[i][j], g.mc[i][j], g.mcSe[i][j], g.relDiff[i][j]].map((v) => Number(v.toPrecision(6))).join(','))),
  );
  return lines.join('\n') + '\n';
}

const INTRO =
  'Gradients g_k ~ N(0, σ_k), σ_k = e^(−γ(k−1))·σ1, k = 1..t; adaptive learning rate ψ = sqrt(t / Σ g_k²). ' +
  'Closed form: the first-order (delta-method) Var ψ ≈ Var(Y)/(4E(Y)³) = t/(2σ1)·(1+e^(−γt))(1−e^(−γ))²/((1+e^(−γ))(1−e^(−γt))²) ' +
  '(docs/method.md, section 7). It grows with γ at every t: a faster-falling gradient norm makes the adaptive ' +
  'learning rate noisier. The Monte Carlo estimate samples ψ; the relative difference shows where the approximation ' +
  'holds: within a few percent for t ≥ 100 and small γ, about a third too low at t = 10, and worse where γ is so large ' +
  'that a few early gradients make up the whole sum.';

export function theoryMarkdown(g: TheoryGrid): string {
  const out = ['# Adaptive learning-rate variance under decaying gradients', '', INTRO, ''];
  out.push(`σ1 = ${g.sigma1}; Monte Carlo: ${g.samples} samples per cell, seed ${g.seed}. Cells: closed form / Monte Carlo (relative difference).`, '');
  out.push(`| γ \\ t | ${g.ts.join(' | ')} |`, `|---|${g.ts.map(() => '---:').join('|')}|`);
  g.gammas.forEach((gm, i) => {
    out.push(
      `| ${gm} | ${g.ts.map((_, j) => `${g.closed[i][j].toPrecision(3)} / ${g.mc[i][j].toPrecision(3)} (${(100 * g.relDiff[i][j]).toFixed(1)}%)`).join(' | ')} |`,
    );
  });
  out.push('', 'Heat maps: theory.html / theory-*.svg.', '');
  return out.join('\n');
}

export function theoryHtml(g: TheoryGrid): string {
  const svgs = theorySvgs(g);
  return [
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Adaptive learning-rate variance</title>',
    '<style>body{font-family:system-ui,sans-serif;max-width:1240px;margin:24px auto;padding:0 16px}.charts{display:flex;flex-wrap:wrap;gap:10px}p{max-width:900px}</style></head><body>',
    '<h1>Adaptive learning-rate variance under decaying gradients</h1>',
    `<p>${escapeXml(INTRO)}</p>`,
    `<p>σ1 = ${g.sigma1}; Monte Carlo: ${g.samples} samples per cell, seed ${g.seed}.</p>`,
    '<div class="charts">',
    ...svgs.map((s) => s.svg),
    '</div></body></html>',
    '',
  ].join('\n');
}
