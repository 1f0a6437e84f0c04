/**
 * Sweep files: a base run configuration and one or more grids over config keys. The cells
 * are the union of the grids' cartesian products (duplicates dropped; run in order of seed,
 * then grid order), each a normal `train`
 * configuration with its own run directory under the sweep's `outDir`, named from its
 * parameters.
 *
 * ```yaml
 * outDir: runs/repro-small        # the sweep's root; one run directory per cell below it
 * parallel: 2                     # optional default for --parallel
 * base:                           # train config keys shared by every cell
 *   dataset: fashion-mnist
 *   epochs: 40
 * grid:                           # key: list of values (or a list of such grids)
 *   gr: [none, gr, zero-warmup]
 *   seed: [0, 1, 2]
 * ```
 */
import { readFileSync, statSync } from 'node:fs';
import YAML from 'yaml';
import {
  ConfigError,
  isConfigKey,
  serializeConfig,
  validateConfig,
  type ConfigIssue,
  type RunConfig,
} from '../config/index.js';
import { reasonText } from '../io/fs-errors.js';
import { RESUME_OVERRIDABLE } from '../train/plan.js';
import { exampleNames } from './examples.js';

export interface SweepCell {
  /** Directory name under the sweep root, from the cell's parameters. */
  name: string;
  /** Run directory (root/name). */
  runDir: string;
  /** The values the grid set (key → value), for tables and progress. */
  params: Record<string, unknown>;
  /** The cell's resolved config (outDir = runDir). */
  config: RunConfig;
}

export interface SweepSpec {
  file: string;
  outDir: string;
  parallel?: number;
  base: Record<string, unknown>;
  grids: Record<string, unknown[]>[];
  cells: SweepCell[];
}

const TOP_KEYS = new Set(['outDir', 'parallel', 'base', 'grid', 'name', 'description']);
/**
 * Keys a cell's run directory never varies by: those that do not change what is computed,
 * which is the list a resume may override (one list, in train/plan.ts; a new run-only key
 * such as a logging or checkpoint-keeping option goes there).
 */
const NOT_IN_NAME: ReadonlySet<string> = new Set(RESUME_OVERRIDABLE);
/** Parameters always in the name, in this order; other varied keys follow (alphabetical), the seed last. */
const NAME_ORDER = ['model', 'optimizer', 'lr', 'warmupEpochs', 'gr'] as const;
const MAX_CELLS = 10_000;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(file: string, text: string): never {
  throw new ConfigError([{ source: file, text: `${file}: ${text}` }]);
}

/** Reads and expands a sweep file (YAML or JSON). Throws ConfigError naming the file. */
export function loadSweepFile(file: string, overrides: { outDir?: string; dataDir?: string } = {}): SweepSpec {
  let text: string;
  try {
    if (statSync(file).size > 1_000_000) fail(file, 'larger than 1 MB; expected a sweep file');
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const names = exampleNames();
    const hint = names.length > 0 ? `; shipped examples, usable by name (--config <name>): ${names.join(', ')}` : '';
    fail(file, `cannot read it: ${reasonText((err as NodeJS.ErrnoException).code, (err as Error).message)}${hint}`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text, { maxAliasCount: 100 });
  } catch (err) {
    fail(file, `not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  return expandSweep(doc, file, overrides);
}

/** Expands a parsed sweep document into its cells. */
export function expandSweep(doc: unknown, file: string, overrides: { outDir?: string; dataDir?: string } = {}): SweepSpec {
  if (!isPlainObject(doc)) fail(file, 'expected a mapping with base, grid and outDir');
  for (const k of Object.keys(doc)) {
    if (!TOP_KEYS.has(k)) fail(file, `unknown key "${k}"; expected one of ${[...TOP_KEYS].join(', ')} (train options go under base:)`);
  }
  const outDir = overrides.outDir ?? doc.outDir;
  if (typeof outDir !== 'string' || outDir === '') fail(file, 'outDir: expected the directory the runs go to (a non-empty string)');
  let parallel: number | undefined;
  if (doc.parallel !== undefined) {
    if (!Number.isInteger(doc.parallel) || (doc.parallel as number) < 1) fail(file, `parallel: got ${JSON.stringify(doc.parallel)}, expected an integer >= 1`);
    parallel = doc.parallel as number;
  }
  const rawBase = doc.base ?? {};
  if (!isPlainObject(rawBase)) fail(file, 'base: expected a mapping of train options');
  const base: Record<string, unknown> = overrides.dataDir !== undefined ? { ...rawBase, dataDir: overrides.dataDir } : rawBase;
  for (const k of Object.keys(base)) {
    if (!isConfigKey(k)) fail(file, `base: unknown train option "${k}"`);
    if (k === 'outDir') fail(file, 'base: outDir is set per cell (under the sweep\'s outDir); remove it');
  }
  const rawGrids = doc.grid === undefined ? [{}] : Array.isArray(doc.grid) ? doc.grid : [doc.grid];
  const grids: Record<string, unknown[]>[] = rawGrids.map((g, i) => {
    const where = rawGrids.length > 1 ? `grid[${i}]` : 'grid';
    if (!isPlainObject(g)) fail(file, `${where}: expected a mapping of train option → list of values`);
    const out: Record<string, unknown[]> = {};
    for (const [k, v] of Object.entries(g)) {
      if (!isConfigKey(k)) fail(file, `${where}: unknown train option "${k}"`);
      if (k === 'outDir') fail(file, `${where}: outDir cannot vary (each cell gets its own run directory)`);
      const values = Array.isArray(v) ? v : [v];
      if (values.length === 0) fail(file, `${where}.${k}: empty list; expected at least one value`);
      out[k] = values;
    }
    return out;
  });

  // Cartesian products, in grid order, keys varying slowest first.
  const paramSets: Record<string, unknown>[] = [];
  for (const g of grids) {
    let sets: Record<string, unknown>[] = [{}];
    for (const [k, values] of Object.entries(g)) {
      sets = sets.flatMap((s) => values.map((v) => ({ ...s, [k]: v })));
      if (sets.length > MAX_CELLS) fail(file, `the grid has more than ${MAX_CELLS} cells`);
    }
    paramSets.push(...sets);
  }

  const issues: ConfigIssue[] = [];
  const resolved: { params: Record<string, unknown>; config: RunConfig }[] = [];
  const seen = new Set<string>();
  for (const params of paramSets) {
    let config: RunConfig;
    try {
      config = validateConfig({ ...base, ...params, outDir: 'x' });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const label = Object.entries(params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ');
      for (const i of err.issues) issues.push({ source: file, text: `${file}: cell ${label || '(base)'}: ${i.text}` });
      continue;
    }
    const key = serializeConfig(config);
    if (seen.has(key)) continue;
    seen.add(key);
    resolved.push({ params, config });
  }
  if (issues.length > 0) throw new ConfigError(issues.slice(0, 20));
  if (resolved.length === 0) fail(file, 'the grid has no cells');

  // Keys whose value differs between cells go into the names (plus the fixed ones).
  const varied = new Set<string>();
  for (const k of Object.keys(resolved[0].config)) {
    if (NOT_IN_NAME.has(k)) continue;
    const first = JSON.stringify((resolved[0].config as Record<string, unknown>)[k]);
    if (resolved.some((c) => JSON.stringify((c.config as Record<string, unknown>)[k]) !== first)) varied.add(k);
  }
  for (const c of resolved) for (const k of Object.keys(c.params)) if (!NOT_IN_NAME.has(k)) varied.add(k);
  // Seeds slowest: a sweep stopped early has every setting at its first seeds.
  resolved.sort((a, b) => a.config.seed - b.config.seed);
  const names = new Map<string, number>();
  const cells: SweepCell[] = resolved.map(({ params, config }) => {
    const name = cellName(config, varied);
    names.set(name, (names.get(name) ?? 0) + 1);
    return { name, runDir: `${outDir}/${name}`, params, config: { ...config, outDir: `${outDir}/${name}` } };
  });
  for (const [name, n] of names) if (n > 1) fail(file, `${n} cells would share the run directory name "${name}"`);
  return { file, outDir, parallel, base, grids, cells };
}

function fmt(v: unknown): string {
  const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v : JSON.stringify(v);
  return s.replace(/[^A-Za-z0-9.+-]/g, '-');
}

const SHORT: Record<string, string> = {
  lr: 'lr',
  warmupEpochs: 'wu',
  seed: 's',
  lambda: 'lam',
  r: 'r',
  epochs: 'ep',
  batchSize: 'bs',
  weightDecay: 'wd',
  trainSubset: 'n',
};

/** `vit-micro_adam_lr0.001_wu5_zero-warmup_r0.1_s0`: the fixed parameters, then the other varied keys, the seed last. */
export function cellName(config: RunConfig, varied: ReadonlySet<string>): string {
  const c = config as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of NAME_ORDER) parts.push(k === 'lr' || k === 'warmupEpochs' ? `${SHORT[k]}${fmt(c[k])}` : fmt(c[k]));
  const rest = [...varied].filter((k) => !(NAME_ORDER as readonly string[]).includes(k) && k !== 'seed').sort();
  for (const k of rest) {
    const v = c[k];
    parts.push(typeof v === 'boolean' ? (v ? k : `no-${k}`) : `${SHORT[k] ?? k}${fmt(v)}`);
  }
  parts.push(`s${fmt(c.seed)}`);
  return parts.join('_');
}
