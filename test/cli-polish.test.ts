// Small things a new user trips over (issue 22, items 6 and 10): shipped examples found by
// name, adamw as a name of adam, help texts that do not repeat train's, examples whose
// references exist.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/index.js';
import { exampleNames, resolveSweepConfig } from '../src/sweep/examples.js';
import { cli, ROOT } from './support/cli.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'grwarm-polish-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('shipped examples', () => {
  it('examples/ is in the package and every example is found by name', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.files).toContain('examples');
    const files = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.yaml'));
    expect(exampleNames()).toEqual(files.map((f) => f.replace(/\.yaml$/, '')).sort());
    for (const f of files) expect(resolveSweepConfig(f.replace(/\.yaml$/, ''))).toBe(join(ROOT, 'examples', f));
    expect(resolveSweepConfig('./repro-small')).toBe('./repro-small'); // a path is never looked up
  });

  it('sweep --config repro-small runs the shipped file; an unknown name lists the examples', async () => {
    const r = await cli(['sweep', '--config', 'repro-small', '--dry-run', '--out-dir', join(tmp, 'rs')]);
    // (the exit code says whether Fashion-MNIST is installed here; the plan line comes first)
    expect(r.out).toContain(`sweep ${join(ROOT, 'examples', 'repro-small.yaml')}: 21 cells in ${join(tmp, 'rs')}`);
    const bad = await cli(['sweep', '--config', 'no-such-example']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain(`shipped examples, usable by name (--config <name>): ${exampleNames().join(', ')}`);
    expect(exampleNames()).toContain('repro-small');
  });

  it('every docs/ path an example cites exists', () => {
    for (const f of readdirSync(join(ROOT, 'examples'))) {
      const text = readFileSync(join(ROOT, 'examples', f), 'utf8');
      const cited = [...text.matchAll(/\bdocs\/[\w./-]*\.md\b/g)].map((m) => m[0]);
      for (const p of cited) expect(existsSync(join(ROOT, p)), `${f} cites ${p}`).toBe(true);
    }
  });
});

describe('--optimizer adamw', () => {
  it('is another name of adam (decoupled weight decay), recorded as adam', async () => {
    expect(validateConfig({ optimizer: 'adamw' }).optimizer).toBe('adam');
    const out = join(tmp, 'adamw');
    const r = await cli(['train', '--optimizer', 'adamw', '--steps', '1', '--synthetic-train', '16', '--synthetic-test', '16',
      '--batch-size', '16', '--warmup-epochs', '0', '--patch-size', '8', '--threads', '1', '--quiet', '--out-dir', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).optimizer).toBe('adam');
  });
});

describe('help texts', () => {
  it('only train\'s --help has the full exit-code and Ctrl-C text; the top level lists the codes briefly', async () => {
    const train = await cli(['train', '--help']);
    expect(train.out).toContain('a second Ctrl-C quits at once without one');
    for (const verb of ['eval', 'info', 'build-native', 'sweep', 'report', 'theory']) {
      const h = await cli([verb, '--help']);
      expect(h.code).toBe(0);
      expect(h.out, verb).toMatch(/\nExit: 0\b/);
      expect(h.out, verb).not.toContain('Ctrl-C');
      expect(h.out, verb).not.toContain('training diverged');
    }
    const top = await cli(['--help']);
    expect(top.out).toContain('Exit codes: 0 success, 1 runtime error');
    expect(top.out).not.toContain('Ctrl-C');
  });

  it('build-native --help wraps its description as one paragraph', async () => {
    const h = await cli(['build-native', '--help']);
    const desc = h.out.split('\n\n')[1].split('\n');
    expect(desc.length).toBeGreaterThan(1);
    for (const line of desc.slice(0, -1)) expect(line.length, JSON.stringify(line)).toBeGreaterThan(60);
  });
});
