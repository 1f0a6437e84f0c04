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
import { lineChart, type Series } from './svg.js';

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

function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').toLowerCase();
}

export function chartGroups(agg: Aggregate, _cs: readonly Comparison[] = []): ChartGroup[] {
  const groups: ChartGroup[] = [];
  for (const c of agg.contexts) {
    const warmups = warmupsOf(agg, c.key);
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

      const g1: Series[] = settings.map((s) => ({ name: s.gr, ...epochSeries(s.complete, (e) => e.g1NormMean) }));
      add('g1-norm', lineChart({ id: `${id}-g1-norm`, title: 'Per-epoch mean ‖g1‖ = ‖∇L‖ (mean, min–max band over seeds)', xLabel: 'epoch', yLabel: '‖g1‖', series: g1, logY: true, markers: epochMarker }), names);

      const tr: Series[] = settings.map((s) => ({ name: s.gr, ...epochSeries(s.complete, (e) => 1 - e.trainAcc) }));
      add('train-error', lineChart({ id: `${id}-train-error`, title: 'Training error per epoch (first pass, train mode)', xLabel: 'epoch', yLabel: 'train error (%)', series: tr, percentY: true, markers: epochMarker }), names);

      const one = (s: Setting) => s.complete[0].steps;
      const lr: Series[] = settings.map((s) => ({ name: s.gr, points: one(s).map((p) => [p.step, p.lr] as [number, number]) }));
      add('lr', lineChart({ id: `${id}-lr`, title: 'Learning rate per step', xLabel: 'step', yLabel: 'lr', series: lr, markers: stepMarker, height: 240 }), names);
      const lam: Series[] = settings.map((s) => ({ name: s.gr, points: one(s).map((p) => [p.step, p.lambda] as [number, number]) }));
      add('lambda', lineChart({ id: `${id}-lambda`, title: 'GR strength λ per step', xLabel: 'step', yLabel: 'λ', series: lam, markers: stepMarker, height: 240 }), names);
      const rr: Series[] = settings.map((s) => ({ name: s.gr, points: one(s).map((p) => [p.step, p.r] as [number, number]) }));
      add('r', lineChart({ id: `${id}-r`, title: 'Perturbation radius r per step', xLabel: 'step', yLabel: 'r', series: rr, markers: stepMarker, height: 240 }), names);

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
