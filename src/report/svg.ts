/**
 * Hand-written SVG charts (no dependency): line charts with optional min–max bands, log
 * axes and vertical markers, and a heat map. Every chart is an `<svg class="chart">` with
 * `data-chart` (its id) and `data-series` (its series, comma-separated); every series is a
 * `<path class="series" data-series="…">`, every band a `<path class="band" data-series="…">`,
 * so a test (or a reader's script) can check what a chart shows.
 */

export interface Series {
  name: string;
  color?: string;
  points: [number, number][];
  /** Optional band: [x, low, high]. */
  band?: [number, number, number][];
  dashed?: boolean;
  /** SVG stroke-dasharray (overrides `dashed`). */
  dash?: string;
  /** Stroke width (default 1.8): lines drawn under others are drawn wider so they stay visible. */
  width?: number;
  /** Point markers along the line (a subset of points, offset per series). */
  marker?: 'circle' | 'square' | 'triangle' | 'diamond';
}

export interface LineChartOptions {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logY?: boolean;
  width?: number;
  height?: number;
  /** Vertical markers (e.g. the end of the warmup). */
  markers?: { x: number; label: string }[];
  /** y values as percentages (×100 on the axis). */
  percentY?: boolean;
  /** Only x ≥ xMin is shown (a zoom on the last epochs); the y range follows the shown part. */
  xMin?: number;
  xMax?: number;
}

export const POLICY_COLORS: Record<string, string> = {
  none: '#444444',
  gr: '#d62728',
  sam: '#8c564b',
  'r-warmup': '#1f77b4',
  'lambda-warmup': '#2ca02c',
  'zero-warmup': '#9467bd',
};
const FALLBACK = ['#17becf', '#bcbd22', '#e377c2', '#7f7f7f', '#ff7f0e'];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0).replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}

function linearTicks(lo: number, hi: number, n = 5): number[] {
  const step = niceStep(hi - lo || Math.abs(hi) || 1, n);
  const out: number[] = [];
  // Integer multiples of the step (no accumulated sum), so 0 is exactly 0 and not 1e-17.
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

interface Tick {
  v: number;
  label: boolean;
  major: boolean;
}

/**
 * Log-axis ticks: every decade (major, labelled) and the sub-decade multiples 2..9 (minor).
 * Over at most 2.5 decades the 2× and 5× ticks are labelled too, under one decade every
 * multiple, so a short log axis never shows only one or two numbers.
 */
export function logTicks(lo: number, hi: number): Tick[] {
  const out: Tick[] = [];
  const decades = Math.log10(hi / lo);
  const labelled = decades < 1 ? [1, 2, 3, 4, 5, 6, 7, 8, 9] : decades <= 2.5 ? [1, 2, 5] : [1];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (let m = 1; m <= 9; m++) {
      const v = Number((m * 10 ** e).toPrecision(12));
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push({ v, label: labelled.includes(m), major: m === 1 });
    }
  }
  return out;
}

const f2 = (v: number) => (Math.round(v * 100) / 100).toString();

function markerSvg(kind: NonNullable<Series['marker']>, x: number, y: number, color: string): string {
  const r = 3;
  const fill = `fill="#fff" stroke="${color}" stroke-width="1.3"`;
  switch (kind) {
    case 'circle':
      return `<circle cx="${f2(x)}" cy="${f2(y)}" r="${r}" ${fill}/>`;
    case 'square':
      return `<rect x="${f2(x - r)}" y="${f2(y - r)}" width="${2 * r}" height="${2 * r}" ${fill}/>`;
    case 'triangle':
      return `<path d="M${f2(x)},${f2(y - r - 0.5)}L${f2(x + r + 0.5)},${f2(y + r)}L${f2(x - r - 0.5)},${f2(y + r)}Z" ${fill}/>`;
    case 'diamond':
      return `<path d="M${f2(x)},${f2(y - r - 1)}L${f2(x + r + 1)},${f2(y)}L${f2(x)},${f2(y + r + 1)}L${f2(x - r - 1)},${f2(y)}Z" ${fill}/>`;
  }
}

/** A line chart as an SVG string. */
export function lineChart(o: LineChartOptions): string {
  const W = o.width ?? 600;
  const H = o.height ?? 320;
  // The legend sits right of the plot, so it never covers data or the marker labels.
  const longest = Math.max(0, ...o.series.map((s) => s.name.length));
  const legendW = o.series.length ? Math.min(170, 30 + 5.6 * longest) : 0;
  const m = { l: 62, r: 10 + legendW, t: 38, b: 42 };
  const pw = W - m.l - m.r - legendW;
  const ph = H - m.t - m.b;
  const scaleY = o.percentY ? 100 : 1;
  const ok = (y: number) => Number.isFinite(y) && (!o.logY || y > 0);
  const xs: number[] = [];
  const ys: number[] = [];
  const inX = (x: number) => Number.isFinite(x) && (o.xMin === undefined || x >= o.xMin) && (o.xMax === undefined || x <= o.xMax);
  for (const s of o.series) {
    for (const [x, y] of s.points) if (inX(x) && ok(y)) (xs.push(x), ys.push(y));
    for (const [x, lo, hi] of s.band ?? []) if (inX(x) && ok(lo) && ok(hi)) (xs.push(x), ys.push(lo, hi));
  }
  for (const mk of o.markers ?? []) if (inX(mk.x)) xs.push(mk.x);
  let x0 = o.xMin ?? (xs.length ? Math.min(...xs) : 0);
  let x1 = o.xMax ?? (xs.length ? Math.max(...xs) : 1);
  if (x1 === x0) x1 = x0 + 1;
  let y0 = ys.length ? Math.min(...ys) : 0;
  let y1 = ys.length ? Math.max(...ys) : 1;
  if (!o.logY) {
    const pad = (y1 - y0) * 0.05 || Math.abs(y1) * 0.05 || 1;
    y0 -= pad;
    y1 += pad;
    if (y0 < 0 && Math.min(...(ys.length ? ys : [0])) >= 0) y0 = 0;
  } else {
    if (y1 <= y0) y1 = y0 * 10;
    y0 /= 1.2;
    y1 *= 1.2;
  }
  if (x0 === x1) x1 = x0 + 1;
  const X = (x: number) => m.l + ((x - x0) / (x1 - x0)) * pw;
  const Y = (y: number) =>
    o.logY ? m.t + ph - ((Math.log10(y) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))) * ph : m.t + ph - ((y - y0) / (y1 - y0)) * ph;
  const parts: string[] = [];
  const names = o.series.map((s) => s.name);
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="${escapeXml(o.id)}" data-series="${escapeXml(names.join(','))}" ` +
      `viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(o.title)}">`,
  );
  parts.push(`<title>${escapeXml(o.title)}</title>`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(o.title)}</text>`);
  // axes and grid
  const xt = linearTicks(x0, x1, 6);
  const yt: Tick[] = o.logY ? logTicks(y0, y1) : linearTicks(y0, y1, 5).map((v) => ({ v, label: true, major: true }));
  parts.push('<g class="grid" stroke-width="1">');
  for (const t of yt) parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${f2(Y(t.v))}" y2="${f2(Y(t.v))}" stroke="${t.major ? '#dcdcdc' : '#f0f0f0'}"/>`);
  parts.push('</g>');
  parts.push(`<g class="axis" font-size="10" fill="#333">`);
  parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#333"/>`);
  parts.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="#333"/>`);
  for (const t of xt) {
    if (t < x0 || t > x1) continue;
    parts.push(`<line x1="${f2(X(t))}" x2="${f2(X(t))}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#333"/>`);
    parts.push(`<text x="${f2(X(t))}" y="${m.t + ph + 15}" text-anchor="middle">${fmtTick(t)}</text>`);
  }
  for (const t of yt) {
    parts.push(`<line class="ytick" x1="${m.l - (t.major ? 5 : 3)}" x2="${m.l}" y1="${f2(Y(t.v))}" y2="${f2(Y(t.v))}" stroke="#333"/>`);
    if (t.label) parts.push(`<text x="${m.l - 7}" y="${f2(Y(t.v) + 3)}" text-anchor="end">${fmtTick(t.v * scaleY)}</text>`);
  }
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 6}" text-anchor="middle" font-size="11">${escapeXml(o.xLabel)}</text>`);
  parts.push(
    `<text x="14" y="${m.t + ph / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 14 ${m.t + ph / 2})">${escapeXml(o.logY ? `${o.yLabel} (log)` : o.yLabel)}</text>`,
  );
  parts.push('</g>');
  for (const mk of o.markers ?? []) {
    if (!inX(mk.x)) continue;
    const x = f2(X(mk.x));
    parts.push(
      `<g class="marker"><line x1="${x}" x2="${x}" y1="${m.t}" y2="${m.t + ph}" stroke="#999" stroke-dasharray="4 3"/>` +
        `<text x="${Number(x) + 3}" y="${m.t - 4}" font-size="9" fill="#666">${escapeXml(mk.label)}</text></g>`,
    );
  }
  parts.push(`<clipPath id="clip-${escapeXml(o.id)}"><rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}"/></clipPath>`);
  parts.push(`<g clip-path="url(#clip-${escapeXml(o.id)})">`);
  o.series.forEach((s, i) => {
    const color = s.color ?? POLICY_COLORS[s.name] ?? FALLBACK[i % FALLBACK.length];
    const band = (s.band ?? []).filter(([x, lo, hi]) => Number.isFinite(x) && ok(lo) && ok(hi));
    if (band.length > 1) {
      const up = band.map(([x, , hi]) => `${f2(X(x))},${f2(Y(hi))}`);
      const down = band.map(([x, lo]) => `${f2(X(x))},${f2(Y(lo))}`).reverse();
      parts.push(
        `<path class="band" data-series="${escapeXml(s.name)}" d="M${up.join('L')}L${down.join('L')}Z" fill="${color}" fill-opacity="0.15" stroke="none"/>`,
      );
    }
    const pts = s.points.filter(([x, y]) => inX(x) && ok(y));
    const d = pts.length ? 'M' + pts.map(([x, y]) => `${f2(X(x))},${f2(Y(y))}`).join('L') : '';
    const dash = s.dash ?? (s.dashed ? '5 3' : undefined);
    parts.push(
      `<path class="series" data-series="${escapeXml(s.name)}" data-points="${pts.length}" d="${d}" fill="none" stroke="${color}" stroke-width="${s.width ?? 1.8}"` +
        `${dash ? ` stroke-dasharray="${dash}"` : ''}><title>${escapeXml(s.name)}</title></path>`,
    );
    if (s.marker && pts.length) {
      // About 8 markers per line, shifted per series so coinciding lines show all their markers.
      const every = Math.max(1, Math.floor(pts.length / 8));
      const shift = Math.floor(((i % 4) * every) / 4);
      for (let k = shift; k < pts.length; k += every) parts.push(markerSvg(s.marker, X(pts[k][0]), Y(pts[k][1]), color));
    }
  });
  parts.push('</g>');
  // legend: right of the plot
  const lx = m.l + pw + 10;
  parts.push(`<g class="legend" font-size="10">`);
  o.series.forEach((s, i) => {
    const color = s.color ?? POLICY_COLORS[s.name] ?? FALLBACK[i % FALLBACK.length];
    const y = m.t + 4 + i * 14;
    const dash = s.dash ?? (s.dashed ? '5 3' : undefined);
    parts.push(
      `<line x1="${lx}" x2="${lx + 20}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>` +
        (s.marker ? markerSvg(s.marker, lx + 10, y, color) : '') +
        `<text x="${lx + 24}" y="${y + 3}">${escapeXml(s.name)}</text>`,
    );
  });
  parts.push('</g></svg>');
  return parts.join('\n');
}

export interface HeatMapOptions {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  /** Column values (x) and row values (y), and values[row][col]. */
  xs: number[];
  ys: number[];
  values: number[][];
  /** Colour on a log scale (values > 0). */
  log?: boolean;
  /** Text of the colour bar. */
  valueLabel: string;
  /** Symmetric diverging scale around 0 (for signed differences). */
  diverging?: boolean;
  width?: number;
  height?: number;
}

function viridis(t: number): string {
  // A 5-stop approximation of viridis.
  const stops = [
    [68, 1, 84],
    [59, 82, 139],
    [33, 145, 140],
    [94, 201, 98],
    [253, 231, 37],
  ];
  const u = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(u));
  const f = u - i;
  const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function diverge(t: number): string {
  // t in [-1, 1]: blue – white – red
  const a = Math.min(1, Math.abs(t));
  const [r, g, b] = t < 0 ? [33, 102, 172] : [178, 24, 43];
  const mix = (c: number) => Math.round(255 + (c - 255) * a);
  return `rgb(${mix(r)},${mix(g)},${mix(b)})`;
}

/** A heat map as an SVG string (rows bottom to top = ys ascending). */
export function heatMap(o: HeatMapOptions): string {
  const W = o.width ?? 560;
  const H = o.height ?? 360;
  const m = { l: 62, r: 120, t: 28, b: 42 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const flat = o.values.flat().filter((v) => Number.isFinite(v) && (!o.log || v > 0));
  let lo = Math.min(...flat);
  let hi = Math.max(...flat);
  const amax = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
  if (o.diverging) (lo = -amax), (hi = amax);
  const tr = (v: number) => (o.log ? Math.log10(v) : v);
  const norm = (v: number) => (tr(hi) === tr(lo) ? 0.5 : (tr(v) - tr(lo)) / (tr(hi) - tr(lo)));
  const color = (v: number) => (!Number.isFinite(v) || (o.log && v <= 0) ? '#ccc' : o.diverging ? diverge(v / amax) : viridis(norm(v)));
  const cw = pw / o.xs.length;
  const ch = ph / o.ys.length;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart heatmap" data-chart="${escapeXml(o.id)}" data-series="${escapeXml(o.valueLabel)}" ` +
      `viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(o.title)}">`,
  );
  parts.push(`<title>${escapeXml(o.title)}</title><rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(o.title)}</text>`);
  parts.push(`<g class="cells" data-series="${escapeXml(o.valueLabel)}">`);
  o.ys.forEach((y, i) => {
    o.xs.forEach((x, j) => {
      const v = o.values[i][j];
      parts.push(
        `<rect x="${f2(m.l + j * cw)}" y="${f2(m.t + ph - (i + 1) * ch)}" width="${f2(cw + 0.3)}" height="${f2(ch + 0.3)}" fill="${color(v)}">` +
          `<title>${escapeXml(`${o.xLabel} ${x}, ${o.yLabel} ${y}: ${Number.isFinite(v) ? v.toPrecision(4) : 'n/a'}`)}</title></rect>`,
      );
    });
  });
  parts.push('</g>');
  // axes: label about 6 ticks each
  parts.push('<g class="axis" font-size="10" fill="#333">');
  const every = (n: number) => Math.max(1, Math.ceil(n / 6));
  o.xs.forEach((x, j) => {
    if (j % every(o.xs.length) !== 0) return;
    parts.push(`<text x="${f2(m.l + (j + 0.5) * cw)}" y="${m.t + ph + 14}" text-anchor="middle">${fmtTick(x)}</text>`);
  });
  o.ys.forEach((y, i) => {
    if (i % every(o.ys.length) !== 0) return;
    parts.push(`<text x="${m.l - 5}" y="${f2(m.t + ph - (i + 0.5) * ch + 3)}" text-anchor="end">${fmtTick(y)}</text>`);
  });
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 6}" text-anchor="middle" font-size="11">${escapeXml(o.xLabel)}</text>`);
  parts.push(`<text x="14" y="${m.t + ph / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 14 ${m.t + ph / 2})">${escapeXml(o.yLabel)}</text>`);
  parts.push('</g>');
  // colour bar
  const bx = m.l + pw + 18;
  const steps = 40;
  parts.push('<g class="colorbar" font-size="9">');
  for (let k = 0; k < steps; k++) {
    const t = k / (steps - 1);
    const v = o.log ? 10 ** (tr(lo) + t * (tr(hi) - tr(lo))) : lo + t * (hi - lo);
    parts.push(`<rect x="${bx}" y="${f2(m.t + ph - ((k + 1) * ph) / steps)}" width="14" height="${f2(ph / steps + 0.5)}" fill="${color(v)}"/>`);
  }
  // Ticks along the bar (decades and 2×/5× on a log scale, round numbers otherwise) and the
  // quantity's name beside it.
  const barY = (v: number) => m.t + ph - norm(v) * ph;
  const ticks = o.log ? logTicks(lo, hi).filter((t) => t.label) : linearTicks(lo, hi, 5).map((v) => ({ v, label: true, major: true }));
  parts.push(`<rect x="${bx}" y="${m.t}" width="14" height="${ph}" fill="none" stroke="#666" stroke-width="0.6"/>`);
  for (const t of ticks) {
    const y = f2(barY(t.v));
    parts.push(`<line class="cbtick" x1="${bx + 14}" x2="${bx + 18}" y1="${y}" y2="${y}" stroke="#333"/><text x="${bx + 20}" y="${Number(y) + 3}">${fmtTick(t.v)}</text>`);
  }
  const nx = bx + 66;
  parts.push(`<text class="cblabel" x="${nx}" y="${m.t + ph / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 ${nx} ${m.t + ph / 2})">${escapeXml(o.log ? `${o.valueLabel} (log colour scale)` : o.valueLabel)}</text>`);
  parts.push('</g></svg>');
  return parts.join('\n');
}

export interface DotPlotItem {
  /** Series name (the policy: sets the colour). */
  name: string;
  /** One value per seed, in the unit of the axis, and the seeds. */
  values: number[];
  seeds: number[];
  mean: number;
  /** 95% interval of the mean (NaN for fewer than 2 seeds). */
  ciLow: number;
  ciHigh: number;
}

export interface DotPlotOptions {
  id: string;
  title: string;
  yLabel: string;
  /** Groups of items side by side (e.g. one per LR warmup), each with a label under it. */
  groups: { label: string; items: DotPlotItem[] }[];
  width?: number;
  height?: number;
}

/**
 * One dot per seed and the mean with its 95% interval, per item (the paper's Figure 1
 * shape). Dots are spread sideways by seed so equal values stay visible.
 */
export function dotPlot(o: DotPlotOptions): string {
  const items = o.groups.flatMap((g) => g.items);
  const W = o.width ?? Math.max(360, 120 + 78 * items.length);
  const H = o.height ?? 340;
  const m = { l: 62, r: 14, t: 28, b: 62 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = items.flatMap((it) => [...it.values, it.ciLow, it.ciHigh, it.mean]).filter(Number.isFinite);
  let y0 = all.length ? Math.min(...all) : 0;
  let y1 = all.length ? Math.max(...all) : 1;
  const pad = (y1 - y0) * 0.08 || 1;
  y0 -= pad;
  y1 += pad;
  const Y = (y: number) => m.t + ph - ((y - y0) / (y1 - y0)) * ph;
  const slot = pw / Math.max(1, items.length);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart dotplot" data-chart="${escapeXml(o.id)}" data-series="${escapeXml(items.map((i) => i.name).join(','))}" ` +
      `viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(o.title)}">`,
  );
  parts.push(`<title>${escapeXml(o.title)}</title><rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(o.title)}</text>`);
  const yt = linearTicks(y0, y1, 6);
  parts.push('<g class="grid" stroke="#e6e6e6">');
  for (const t of yt) parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${f2(Y(t))}" y2="${f2(Y(t))}"/>`);
  parts.push('</g><g class="axis" font-size="10" fill="#333">');
  parts.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="#333"/><line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#333"/>`);
  for (const t of yt) parts.push(`<line x1="${m.l - 4}" x2="${m.l}" y1="${f2(Y(t))}" y2="${f2(Y(t))}" stroke="#333"/><text x="${m.l - 7}" y="${f2(Y(t) + 3)}" text-anchor="end">${fmtTick(t)}</text>`);
  parts.push(`<text x="14" y="${m.t + ph / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 14 ${m.t + ph / 2})">${escapeXml(o.yLabel)}</text>`);
  parts.push('</g>');
  let k = 0;
  o.groups.forEach((g, gi) => {
    const start = k;
    for (const it of g.items) {
      const cx = m.l + (k + 0.5) * slot;
      const color = POLICY_COLORS[it.name] ?? FALLBACK[k % FALLBACK.length];
      parts.push(`<g class="item" data-series="${escapeXml(it.name)}" data-group="${escapeXml(g.label)}">`);
      if (Number.isFinite(it.ciLow)) {
        const w = Math.min(10, slot * 0.12);
        parts.push(
          `<path class="ci" d="M${f2(cx - w)},${f2(Y(it.ciLow))}H${f2(cx + w)}M${f2(cx)},${f2(Y(it.ciLow))}V${f2(Y(it.ciHigh))}M${f2(cx - w)},${f2(Y(it.ciHigh))}H${f2(cx + w)}" stroke="#222" stroke-width="1.3" fill="none">` +
            `<title>${escapeXml(`${it.name}: 95% interval ${it.ciLow.toFixed(2)} – ${it.ciHigh.toFixed(2)}`)}</title></path>`,
        );
      }
      parts.push(`<path class="mean" d="M${f2(cx - slot * 0.22)},${f2(Y(it.mean))}H${f2(cx + slot * 0.22)}" stroke="#222" stroke-width="2.5"><title>${escapeXml(`${it.name}: mean ${it.mean.toFixed(2)}`)}</title></path>`);
      it.values.forEach((v, j) => {
        const n = it.values.length;
        const dx = n > 1 ? (j / (n - 1) - 0.5) * slot * 0.36 : 0;
        parts.push(
          `<circle class="seed-dot" data-series="${escapeXml(it.name)}" cx="${f2(cx + dx)}" cy="${f2(Y(v))}" r="4" fill="${color}" fill-opacity="0.85" stroke="#fff" stroke-width="0.8">` +
            `<title>${escapeXml(`${it.name}, seed ${it.seeds[j]}: ${v.toFixed(2)}`)}</title></circle>`,
        );
      });
      parts.push(`<text x="${f2(cx)}" y="${m.t + ph + 14}" text-anchor="middle" font-size="10">${escapeXml(it.name)}</text>`);
      parts.push(`<text x="${f2(cx)}" y="${m.t + ph + 26}" text-anchor="middle" font-size="9" fill="#666">n=${it.values.length}</text></g>`);
      k++;
    }
    const gx = m.l + ((start + k) / 2) * slot;
    parts.push(`<text class="group-label" x="${f2(gx)}" y="${m.t + ph + 44}" text-anchor="middle" font-size="11" font-weight="bold">${escapeXml(g.label)}</text>`);
    if (gi < o.groups.length - 1) {
      const sx = f2(m.l + k * slot);
      parts.push(`<line x1="${sx}" x2="${sx}" y1="${m.t}" y2="${m.t + ph + 48}" stroke="#999" stroke-dasharray="4 3"/>`);
    }
  });
  parts.push(`<text x="${m.l + pw}" y="${H - 4}" text-anchor="end" font-size="9" fill="#666">dots: seeds · bar: mean · whiskers: 95% t interval</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
