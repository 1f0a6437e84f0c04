/**
 * The report's charts, one group per (context, warmup length) — i.e. per model, optimizer
 * and the other settings of a row — with one series per GR policy:
 *
 * - test error per epoch: mean over seeds, min–max band;
 * - per-epoch mean ‖g1‖ (the paper's Figures 2 and 4), mean over seeds, min–max band;
 * - per-step lr, λ and r of each policy (seed of the first complete run);
 * - Adam's bias-corrected second moment v̂ (mean over the parameters), mean over seeds,
 *   when the runs recorded it (`moment2` lines of metrics.jsonl).
 */
import { POLICY_ORDER, settingsOf, warmupsOf, type Aggregate, type Setting } from './aggregate.js';
import type { RunData } from './runs.js';
import type { Comparison } from './comparisons.js';
import { isSummaryOnly } from './csv-runs.js';
import { pairedTest } from './stats.js';
import { dotPlot, lineChart, POLICY_COLORS, type DotPlotItem, type Series } from './svg.js';

export interface ChartGroup {
  id: string;
  title: string;
  contextLabel: string;
  warmupEpochs: number;
  /** Chart id → SVG. */
  charts: { id: string; kind: string; svg: string; series: string[] }[];
}

/** Mean and min/max over runs of a per-epoch field, at the epochs every run has. */
function epochSeries(runs: RunData[], get: (e: RunData['epochs'][number]) => number | null): { points: [number, number][]; band: [number, number, number][] } {
  const byEpoch = new Map<number, number[]>();
  for (const r of runs) {
    for (const e of r.epochs) {
      const v = get(e);
      if (v === null || !Number.isFinite(v)) continue;
      const a = byEpoch.get(e.epoch) ?? [];
      a.push(v);
      byEpoch.set(e.epoch, a);
    }
  }
  const epochs = [...byEpoch.keys()].sort((a, b) => a - b);
  const points: [number, number][] = [];
  const band: [number, number, number][] = [];
  for (const ep of epochs) {
    const v = byEpoch.get(ep)!;
    points.push([ep, v.reduce((a, b) => a + b, 0) / v.length]);
    band.push([ep, Math.min(...v), Math.max(...v)]);
  }
  return { points, band };
}

function momentSeries(runs: RunData[]): { points: [number, number][]; band: [number, number, number][] } {
  const byStep = new Map<number, number[]>();
  for (const r of runs) {
    for (const m of r.moments) {
      const a = byStep.get(m.step) ?? [];
      a.push(m.mean);
      byStep.set(m.step, a);
    }
  }
  const steps = [...byStep.keys()].sort((a, b) => a - b);
  return {
    points: steps.map((s) => [s, byStep.get(s)!.reduce((a, b) => a + b, 0) / byStep.get(s)!.length]),
    band: steps.map((s) => [s, Math.min(...byStep.get(s)!), Math.max(...byStep.get(s)!)]),
  };
}

/** Per-step ‖g1‖ (logged steps, up to `maxStep`): mean and min/max over runs at each step. */
function stepSeries(runs: RunData[], maxStep: number): { points: [number, number][]; band: [number, number, number][] } {
  const byStep = new Map<number, number[]>();
  for (const r of runs) {
    for (const p of r.steps) {
      if (p.step > maxStep || !Number.isFinite(p.g1Norm)) continue;
      byStep.set(p.step, [...(byStep.get(p.step) ?? []), p.g1Norm]);
    }
  }
  const steps = [...byStep.keys()].sort((a, b) => a - b);
  return {
    points: steps.map((s) => [s, byStep.get(s)!.reduce((a, b) => a + b, 0) / byStep.get(s)!.length]),
    band: steps.map((s) => [s, Math.min(...byStep.get(s)!), Math.max(...byStep.get(s)!)]),
  };
}

function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').toLowerCase();
}

/** The paper's Figure 1 shape: final test error per policy, one dot per seed, mean and 95% interval. */
function finalErrorPlot(id: string, settings: Setting[], warmups: number[]): ChartGroup['charts'][number] | undefined {
  const groups = warmups
    .map((w) => ({
      label: w === 0 ? 'no LR warmup' : `LR warmup ${w} epochs`,
      items: settings
        .filter((s) => s.warmupEpochs === w && s.complete.length > 0)
        .sort((a, b) => POLICY_ORDER.indexOf(a.gr) - POLICY_ORDER.indexOf(b.gr))
        .map((s): DotPlotItem => {
          const values = s.complete.map((r) => 100 * r.summary!.finalTestError);
          const t = pairedTest(values);
          return { name: s.gr, values, seeds: s.complete.map((r) => r.config.seed), mean: t.mean, ciLow: t.ciLow, ciHigh: t.ciHigh };
        }),
    }))
    .filter((g) => g.items.length > 0);
  if (groups.length === 0) return undefined;
  const svg = dotPlot({ id: `${id}-final-error`, title: 'Final test error per policy (one dot per seed; mean and 95% interval)', yLabel: 'final test error (%)', groups });
  return { id: `${id}-final-error`, kind: 'final-error', svg, series: groups.flatMap((g) => g.items.map((i) => i.name)) };
}

/**
 * lr, λ and r of every policy in one panel, each divided by its peak value (lr0, λ0, r0), over
 * the first two warmups where they differ. Lines that coincide (λ/λ0 = r/r0 = 1 for several
 * policies) are drawn widest first, with their own dashes and markers, so each stays visible.
 */
const OFFSET = 0.02;

function schedulesChart(id: string, settings: Setting[], warmupStep: number, markers: { x: number; label: string }[]): string {
  const withGr = settings.filter((s) => s.gr !== 'none' && s.complete[0].steps.length > 0);
  const ref = settings.find((s) => s.complete[0].steps.length > 0);
  const series: Series[] = [];
  if (ref) {
    const pts = ref.complete[0].steps;
    const lr0 = Math.max(...pts.map((p) => p.lr)) || 1;
    series.push({ name: 'lr / lr0 (all policies)', color: '#777', points: pts.map((p) => [p.step, p.lr / lr0] as [number, number]) });
  }
  const kinds = ['circle', 'square', 'triangle', 'diamond'] as const;
  withGr.forEach((s, i) => {
    const pts = s.complete[0].steps;
    const l0 = s.complete[0].config.lambda || 1;
    const r0 = s.complete[0].config.r || 1;
    // Policies share the values 0 and 1: each policy's lines are lifted by OFFSET·i (said in the
    // title), so equal schedules lie side by side instead of on top of each other.
    const up = OFFSET * i;
    series.push({ name: `${s.gr}: λ/λ0`, color: POLICY_COLORS_OF(s.gr), marker: kinds[i % 4], points: pts.map((p) => [p.step, p.lambda / l0 + up] as [number, number]) });
    series.push({ name: `${s.gr}: r/r0`, color: darker(POLICY_COLORS_OF(s.gr)), dash: '4 3', points: pts.map((p) => [p.step, p.r / r0 + up] as [number, number]) });
  });
  // λ lines wide, r lines thin, dark and dashed on top: where r/r0 = λ/λ0 both show.
  const n = withGr.length;
  series.forEach((s, k) => (s.width = k === 0 ? 4 : s.dash ? 1.4 : 2 + 0.5 * (n - Math.ceil(k / 2))));
  const xMax = warmupStep > 0 ? 2 * warmupStep : undefined;
  return lineChart({
    id,
    title: `Schedules ÷ peak value${xMax ? ', first 2 warmups' : ''}; policy i lifted by ${OFFSET}·i`,
    xLabel: 'optimizer step (1 = first update)',
    yLabel: 'fraction of peak value',
    series,
    markers,
    xMax,
    height: 320,
    width: 720,
  });
}

const POLICY_COLORS_OF = (p: string) => POLICY_COLORS[p] ?? '#17becf';
/** The colour at 55% brightness (#rrggbb). */
const darker = (hex: string) =>
  '#' + [1, 3, 5].map((i) => Math.round(parseInt(hex.slice(i, i + 2), 16) * 0.55).toString(16).padStart(2, '0')).join('');

export function chartGroups(agg: Aggregate, _cs: readonly Comparison[] = []): ChartGroup[] {
  const groups: ChartGroup[] = [];
  for (const c of agg.contexts) {
    const warmups = warmupsOf(agg, c.key);
    const dots = finalErrorPlot(slug(`${c.label}-final`), settingsOf(agg, c.key), warmups);
    if (dots) {
      groups.push({
        id: slug(`${c.label}-final`),
        title: `${c.label} — final test error per policy, every seed`,
        contextLabel: c.label,
        warmupEpochs: -1,
        charts: [dots],
      });
    }
    for (const w of warmups) {
      const settings = settingsOf(agg, c.key)
        .filter((s) => s.warmupEpochs === w && s.complete.length > 0 && !s.complete.every(isSummaryOnly))
        .sort((a, b) => POLICY_ORDER.indexOf(a.gr) - POLICY_ORDER.indexOf(b.gr));
      if (settings.length === 0) continue;
      const id = slug(`${c.label}-wu${w}`);
      const first = settings[0].complete[0];
      const spe = first.summary?.stepsPerEpoch ?? 0;
      const warmupStep = Math.round(w * spe);
      const epochMarker = w > 0 ? [{ x: w, label: 'end of warmup' }] : [];
      const stepMarker = w > 0 ? [{ x: warmupStep, label: 'end of warmup' }] : [];
      const charts: ChartGroup['charts'] = [];
      const add = (kind: string, svg: string, series: string[]) => charts.push({ id: `${id}-${kind}`, kind, svg, series });
      const names = settings.map((s) => s.gr);
      const label = (s: Setting) => `${s.gr} (n=${s.complete.length})`;

      const err: Series[] = settings.map((s) => ({ name: s.gr, ...epochSeries(s.complete, (e) => e.testError) }));
      add('test-error', lineChart({ id: `${id}-test-error`, title: 'Test error per epoch (mean, min–max band over seeds)', xLabel: 'epoch', yLabel: 'test error (%)', series: err, percentY: true, markers: epochMarker }), names);
      // The final differences are a few points on an axis that spans the whole training:
      // a second panel zooms on the last 40% of the epochs.
      const lastEpoch = Math.max(...settings.flatMap((s) => s.complete.map((r) => r.epochs.at(-1)?.epoch ?? 0)));
      const zoomFrom = Math.floor(0.6 * lastEpoch);
      add('test-error-zoom', lineChart({ id: `${id}-test-error-zoom`, title: `Test error, epochs ${zoomFrom}–${lastEpoch} (zoom)`, xLabel: 'epoch', yLabel: 'test error (%)', series: err, percentY: true, xMin: zoomFrom }), names);

      const g1: Series[] = settings.map((s) => ({ name: s.gr, ...epochSeries(s.complete, (e) => e.g1NormMean) }));
      add('g1-norm', lineChart({ id: `${id}-g1-norm`, title: 'Per-epoch mean ‖g1‖ = ‖∇L‖ (mean, min–max band over seeds)', xLabel: 'epoch', yLabel: '‖g1‖', series: g1, logY: true, markers: epochMarker }), names);

      // Step resolution over the first warmups: where the policies differ (the per-epoch mean
      // averages the first steps away). Mean over seeds at the logged steps.
      const stepCut = warmupStep > 0 ? 3 * warmupStep : Math.max(1, 5 * spe);
      const g1s: Series[] = settings.map((s) => ({ name: s.gr, ...stepSeries(s.complete, stepCut) }));
      add('g1-steps', lineChart({ id: `${id}-g1-steps`, title: `‖g1‖ per logged step, first ${stepCut} steps (mean, min–max band over seeds)`, xLabel: 'optimizer step', yLabel: '‖g1‖', series: g1s, logY: true, markers: stepMarker, xMax: stepCut }), names);

      const tr: Series[] = settings.map((s) => ({ name: s.gr, ...epochSeries(s.complete, (e) => 1 - e.trainAcc) }));
      add('train-error', lineChart({ id: `${id}-train-error`, title: 'Training error per epoch (first pass, train mode)', xLabel: 'epoch', yLabel: 'train error (%)', series: tr, percentY: true, markers: epochMarker }), names);

      add('schedules', schedulesChart(`${id}-schedules`, settings, warmupStep, stepMarker), ['lr', ...settings.filter((s) => s.gr !== 'none').map((s) => s.gr)]);

      const withMoments = settings.filter((s) => s.complete.some((r) => r.moments.length > 0));
      if (withMoments.length > 0) {
        const slot = withMoments[0].complete.find((r) => r.moments.length > 0)!.moments[0].slot;
        const mom: Series[] = withMoments.map((s) => ({ name: s.gr, ...momentSeries(s.complete) }));
        const maxStep = warmupStep > 0 ? Math.min(3 * warmupStep, Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY;
        const cut = (ser: Series): Series => ({
          ...ser,
          points: ser.points.filter(([x]) => x <= maxStep),
          band: ser.band?.filter(([x]) => x <= maxStep),
        });
        add(
          'moment2',
          lineChart({
            id: `${id}-moment2`,
            title: `${slot === 'exp_avg_sq' ? 'Adam second moment: mean bias-corrected v̂' : `second moment: mean ${slot}`}${warmupStep > 0 ? ' (first 3 warmups)' : ''}`,
            xLabel: 'step',
            yLabel: 'mean v̂',
            xMax: Number.isFinite(maxStep) ? maxStep : undefined,
            series: mom.map(cut),
            logY: true,
            markers: stepMarker,
          }),
          withMoments.map((s) => s.gr),
        );
      }
      groups.push({
        id,
        title: `${c.label} — LR warmup ${w === 0 ? 'none' : `${w} epochs`}`,
        contextLabel: c.label,
        warmupEpochs: w,
        charts,
      });
      void label;
    }
  }
  return groups;
}
