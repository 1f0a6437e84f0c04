// The report's SVG building blocks: log-axis ticks, "(log)" axis titles, the dot plot.
import { describe, expect, it } from 'vitest';
import { dotPlot, lineChart, logTicks } from '../src/report/svg.js';

describe('log axis', () => {
  it('ticks at every decade; sub-decade labels on short axes', () => {
    const short = logTicks(0.9, 3.2);
    expect(short.filter((t) => t.label).map((t) => t.v)).toEqual([0.9, 1, 2, 3]);
    const mid = logTicks(0.05, 8);
    expect(mid.filter((t) => t.label).map((t) => t.v)).toEqual([0.05, 0.1, 0.2, 0.5, 1, 2, 5]);
    expect(mid.filter((t) => t.major).map((t) => t.v)).toEqual([0.1, 1]);
    const long = logTicks(1e-4, 1e2);
    expect(long.filter((t) => t.label).map((t) => t.v)).toEqual([1e-4, 1e-3, 1e-2, 0.1, 1, 10, 100]);
    expect(long.length).toBeGreaterThan(40); // minor ticks 2..9 of every decade
  });
  it('the axis title says "(log)"; a linear one does not', () => {
    const series = [{ name: 'gr', points: [[1, 0.5], [2, 2]] as [number, number][] }];
    expect(lineChart({ id: 'a', title: 't', xLabel: 'x', yLabel: '‖g1‖', series, logY: true })).toContain('>‖g1‖ (log)</text>');
    expect(lineChart({ id: 'b', title: 't', xLabel: 'x', yLabel: 'lr', series })).not.toContain('(log)');
  });
  it('zoom: only points with x ≥ xMin are drawn', () => {
    const series = [{ name: 'gr', points: [[1, 90], [5, 30], [9, 26], [10, 25]] as [number, number][] }];
    expect(lineChart({ id: 'z', title: 't', xLabel: 'x', yLabel: 'e', series, xMin: 8 })).toContain('data-points="2"');
  });
});

describe('linear axis', () => {
  it('a symmetric colour bar has a tick at exactly 0', async () => {
    const { heatMap } = await import('../src/report/svg.js');
    const svg = heatMap({ id: 'h', title: 't', xLabel: 'x', yLabel: 'y', xs: [1, 2], ys: [1], values: [[-0.63, 0.41]], diverging: true, valueLabel: 'rel. diff' });
    expect(svg).toContain('>0</text>');
    expect(svg).not.toMatch(/e-1[0-9]</);
    expect(svg).toContain('>rel. diff</text>');
  });
});

describe('dot plot', () => {
  it('one dot per seed, one mean bar and one interval per item', () => {
    const item = (name: string, values: number[]) => ({ name, values, seeds: values.map((_, i) => i), mean: 1, ciLow: 0, ciHigh: 2 });
    const svg = dotPlot({ id: 'd', title: 't', yLabel: 'e', groups: [{ label: 'no LR warmup', items: [item('none', [1, 2, 3]), item('gr', [2, 2, 2])] }] });
    expect(svg.match(/class="seed-dot"/g)).toHaveLength(6);
    expect(svg.match(/class="mean"/g)).toHaveLength(2);
    expect(svg.match(/class="ci"/g)).toHaveLength(2);
    expect(svg).toContain('data-series="none,gr"');
  });
});
