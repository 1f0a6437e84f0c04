/**
 * The report's computed findings: one line each, worded from the statistics of
 * comparisons.ts (nothing here judges a difference by hand).
 */
import { settingsOf, warmupsOf, type Aggregate } from './aggregate.js';
import { sharedBaselines, type Comparison } from './comparisons.js';
import { fmtCi } from './stats.js';

const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(2) : '–');

export function computeFindings(agg: Aggregate, cs: readonly Comparison[]): string[] {
  const out: string[] = [];
  for (const c of agg.contexts) {
    for (const b of settingsOf(agg, c.key).filter((s) => s.gr === 'none' && s.complete.length > 0)) {
      const gap = b.finalError.mean - b.finalTrainError.mean;
      const haveLoss = Number.isFinite(b.finalTestLoss.mean) && Number.isFinite(b.minTestLoss.mean);
      const rise = b.finalTestLoss.mean - b.minTestLoss.mean;
      const head =
        `${c.label}, LR warmup ${b.warmupEpochs === 0 ? 'none' : `${b.warmupEpochs} ep`}: the base run (no GR) ends at ` +
        `${pct(b.finalTrainError.mean)}% training error vs ${pct(b.finalError.mean)}% test error (gap ${pct(gap)} points)`;
      if (haveLoss) {
        out.push(
          `${head}, and its test loss rises from ${b.minTestLoss.mean.toFixed(3)} at its best epoch to ${b.finalTestLoss.mean.toFixed(3)}: ` +
            `${gap > 0.05 && rise > 0 ? 'it overfits (precondition holds)' : 'it does not clearly overfit (precondition not shown)'}.`,
        );
      } else {
        out.push(`${head}; the test-loss part of the check needs the per-epoch records, which these runs do not have.`);
      }
    }
  }
  if (cs.length) {
    const sig = cs.filter((x) => x.words.startsWith('significant'));
    const dir = cs.filter((x) => x.words.startsWith('direction only'));
    const ns = [...new Set(cs.map((x) => x.test.n))].sort((a, b) => a - b);
    out.push(
      `${cs.length} paired comparisons (${ns.join('/')} seeds each), Holm-corrected as one family: ` +
        `${sig.length} significant at 5% after correction, ${dir.length} direction only, ${cs.length - sig.length - dir.length} within noise.`,
    );
  }
  for (const x of cs) {
    out.push(
      `${x.contextLabel}, ${x.warmupLabel}: ${x.what} = ${fmtCi(x.test.mean, x.test.ciLow, x.test.ciHigh)} points ` +
        `(mean [95% CI]; lower on ${x.test.lower} of ${x.test.n} seeds): ${x.words}.`,
    );
  }
  for (const s of sharedBaselines(cs)) out.push(`${s.contextLabel}: ${s.text}`);
  for (const c of agg.contexts) {
    for (const w of warmupsOf(agg, c.key)) {
      const ss = settingsOf(agg, c.key).filter((s) => s.warmupEpochs === w && s.complete.length > 0 && Number.isFinite(s.finalTrainError.mean));
      const grs = ss.filter((s) => s.gr !== 'none');
      if (grs.length < 2) continue;
      const hi = grs.reduce((a, b) => (b.finalTrainError.mean > a.finalTrainError.mean ? b : a));
      const lo = grs.reduce((a, b) => (b.finalTrainError.mean < a.finalTrainError.mean ? b : a));
      const list = ss.map((s) => `${s.gr} ${pct(s.finalTrainError.mean)}%`).join(', ');
      const spread = hi.finalTrainError.mean - lo.finalTrainError.mean;
      out.push(
        `${c.label}, LR warmup ${w === 0 ? 'none' : `${w} ep`}: final training error per policy: ${list}. ` +
          (spread > 0.02
            ? `The GR policies do not reach the same training error (${hi.gr} ${pct(hi.finalTrainError.mean)}% vs ${lo.gr} ${pct(lo.finalTrainError.mean)}%): ` +
              `part of a test-error difference between them can be slower training within the run rather than worse generalisation.`
            : 'The GR policies reach about the same training error (within 2 points).'),
      );
    }
    const warm = warmupsOf(agg, c.key).filter((w) => w > 0);
    for (const w of warm) {
      const first = settingsOf(agg, c.key)
        .filter((s) => s.warmupEpochs === w && s.complete.length > 0)
        .map((s) => {
          const v = s.complete.map((r) => r.epochs[0]?.g1NormMean ?? NaN).filter(Number.isFinite);
          return v.length ? `${s.gr} ${(v.reduce((a, b) => a + b, 0) / v.length).toFixed(3)}` : '';
        })
        .filter(Boolean);
      if (first.length) out.push(`${c.label}, LR warmup ${w} ep: epoch-1 mean ‖g1‖ per policy: ${first.join(', ')}.`);
    }
  }
  return out;
}
