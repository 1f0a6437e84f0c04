// The HTML report in a real browser: Debian's chromium driven by playwright-core (no browser
// download). The page must render without console errors, every chart must show the series
// it names, and a screenshot goes into the test's temporary folder.
// Needs `apt-get install chromium` (.ci/run installs it); GRWARM_SKIP_BROWSER=1 skips it.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReport } from '../src/report/index.js';
import { theoryHtml } from '../src/theory/report.js';
import { theoryGrid } from '../src/theory/variance.js';
import { writeFileSync } from 'node:fs';
import { makeRuns, POLICIES } from './report-support.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = process.env.GRWARM_SKIP_BROWSER === '1';

let tmp: string;
let browser: Browser;
beforeAll(async () => {
  if (skip) return;
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (or GRWARM_SKIP_BROWSER=1)`);
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-browser-'));
  await makeRuns(join(tmp, 'runs'));
  writeReport(join(tmp, 'runs'), join(tmp, 'report'));
  writeFileSync(join(tmp, 'theory.html'), theoryHtml(theoryGrid({ ts: [5, 50, 500], gammas: [0, 0.01, 0.1], samples: 200 })));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 300_000);
afterAll(async () => {
  await browser?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface ChartInfo {
  id: string;
  declared: string[];
  series: { name: string; points: number; d: number }[];
  bands: string[];
  width: number;
}

async function openPage(file: string) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`requestfailed: ${r.url()}`));
  page.on('request', (r) => {
    if (!r.url().startsWith('file:')) problems.push(`network request: ${r.url()}`);
  });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  return { page, problems };
}

describe.skipIf(skip)('HTML report in Chromium', () => {
  it('renders without console errors; every chart has its expected series; screenshot', async () => {
    const { page, problems } = await openPage(join(tmp, 'report', 'report.html'));
    const charts: ChartInfo[] = await page.$$eval('svg.chart', (svgs) =>
      svgs.map((svg) => ({
        id: svg.getAttribute('data-chart') ?? '',
        declared: (svg.getAttribute('data-series') ?? '').split(',').filter(Boolean),
        series: [...svg.querySelectorAll('path.series')].map((p) => ({
          name: p.getAttribute('data-series') ?? '',
          points: Number(p.getAttribute('data-points')),
          d: (p as SVGPathElement).getTotalLength(),
        })),
        bands: [...svg.querySelectorAll('path.band')].map((p) => p.getAttribute('data-series') ?? ''),
        width: svg.getBoundingClientRect().width,
      })),
    );
    // the final-error dot plot, then one group (one setting) per LR warmup: 1 epoch (5 policies) and none (none, gr)
    const allGroups = await page.$$eval('section.group', (s) => s.map((x) => x.getAttribute('data-group')));
    expect(allGroups).toHaveLength(3);
    const [final, ...groups] = allGroups;
    const dots = charts.find((c) => c.id === `${final}-final-error`)!;
    expect(dots.declared).toEqual(['none', 'gr', 'none', 'gr', 'r-warmup', 'lambda-warmup', 'zero-warmup']);
    const seedDots = await page.$$eval('svg.dotplot circle.seed-dot', (c) => c.length);
    expect(seedDots).toBe(7 * 2);
    const kinds = ['test-error', 'test-error-zoom', 'g1-norm', 'g1-steps', 'train-error', 'moment2'];
    expect(charts).toHaveLength(1 + 2 * (kinds.length + 1));
    for (const g of groups) {
      const expected = g!.endsWith('wu1') ? [...POLICIES] : ['none', 'gr'];
      const sched = charts.find((x) => x.id === `${g}-schedules`)!;
      expect(sched.series.map((s) => s.name)).toEqual([
        'lr / lr0 (all policies)',
        ...expected.filter((p) => p !== 'none').flatMap((p) => [`${p}: λ/λ0`, `${p}: r/r0`]),
      ]);
      for (const s of sched.series) expect(s.d, `${g} schedules ${s.name} drawn`).toBeGreaterThan(0);
      for (const kind of kinds) {
        const c = charts.find((x) => x.id === `${g}-${kind}`);
        expect(c, `${g}-${kind}`).toBeDefined();
        expect([...c!.declared].sort()).toEqual([...expected].sort());
        expect(c!.series.map((s) => s.name).sort()).toEqual([...expected].sort());
        for (const s of c!.series) {
          expect(s.points, `${c!.id} ${s.name}`).toBeGreaterThan(1);
          expect(s.d, `${c!.id} ${s.name} drawn`).toBeGreaterThan(0);
        }
        if (kind === 'test-error' || kind === 'g1-norm') expect(c!.bands.sort()).toEqual([...expected].sort());
        expect(c!.width).toBeGreaterThan(200);
      }
    }
    const tables = await page.$$eval('table', (t) => t.map((x) => x.getAttribute('data-table')));
    expect(tables).toEqual(['precondition', 'table1', 'table2', 'differences']);
    const shot = join(tmp, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('the theory page renders its three heat maps, each colour bar with ticks and the quantity named', async () => {
    const { page, problems } = await openPage(join(tmp, 'theory.html'));
    const maps = await page.$$eval('svg.heatmap', (s) =>
      s.map((x) => [x.getAttribute('data-chart'), x.querySelectorAll('g.cells rect').length, x.querySelectorAll('.cbtick').length >= 3, x.querySelector('.cblabel')?.textContent]),
    );
    expect(maps).toEqual([
      ['theory-closed-form', 9, true, 'Var ψ (log colour scale)'],
      ['theory-monte-carlo', 9, true, 'Var ψ (MC) (log colour scale)'],
      ['theory-relative-difference', 9, true, 'rel. diff'],
    ]);
    await page.screenshot({ path: join(tmp, 'theory.png') });
    expect(problems).toEqual([]);
    await page.close();
  });
});
