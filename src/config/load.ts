/**
 * Resolving a run configuration from its layers:
 *
 *   schema defaults < preset < config file (YAML or JSON) < CLI overrides
 *
 * Each layer may give any subset of the fields; a later layer's value replaces an earlier
 * one's, and a `null` value resets the field to its default (e.g. `steps: ~` in a file
 * undoes a preset's `steps`). Every problem of every layer is reported at once in one
 * `ConfigError`, each line naming where the bad value came from (file path or `--flag`).
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import YAML from 'yaml';
import { getPreset } from './presets.js';
import {
  CONFIG_FIELDS,
  ConfigError,
  RunConfigSchema,
  TIMESTAMP_PLACEHOLDER,
  formatValue,
  isConfigKey,
  issuesFromZod,
  toFlagName,
  unknownKeyIssue,
  type ConfigIssue,
  type RunConfig,
  type SourceMap,
} from './schema.js';

export interface ResolveOptions {
  /** Preset name (see `listPresets()`). */
  preset?: string;
  /** Path of a `.yaml`, `.yml` or `.json` config file. */
  configFile?: string;
  /**
   * Values given on the command line, keyed by config key (commander's camel-cased option
   * names are exactly the keys). Pass only options the user actually gave; `undefined`
   * values are ignored. Strings are converted for number/integer/boolean fields
   * (commander hands over raw strings), so `{ lr: '3e-4' }` works.
   */
  overrides?: Record<string, unknown>;
  /** Time used for the `<timestamp>` placeholder of `outDir` (default: now). */
  now?: Date;
}

/** The full, validated run configuration from its layers; throws `ConfigError`. */
export function resolveConfig(options: ResolveOptions): RunConfig {
  const { preset, configFile, overrides = {}, now = new Date() } = options;
  const merged: Record<string, unknown> = {};
  const sources: SourceMap = {};
  const issues: ConfigIssue[] = [];

  const apply = (key: string, value: unknown, source: string | undefined) => {
    if (value === null) {
      delete merged[key];
      delete sources[key];
    } else {
      merged[key] = value;
      sources[key] = source;
    }
  };

  if (preset !== undefined) {
    const label = `preset ${JSON.stringify(preset)}`;
    for (const [key, value] of Object.entries(getPreset(preset))) apply(key, value, label);
  }

  if (configFile !== undefined) {
    for (const [key, value] of Object.entries(loadConfigFile(configFile))) {
      if (isConfigKey(key)) apply(key, value, configFile);
      else issues.push(unknownKeyIssue(key, configFile));
    }
  }

  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (isConfigKey(key)) apply(key, coerceFlagValue(key, value), toFlagName(key));
    else issues.push(unknownKeyIssue(key));
  }

  const result = RunConfigSchema.safeParse(merged);
  if (!result.success) issues.push(...issuesFromZod(result.error, merged, sources));
  if (issues.length > 0 || !result.success) throw new ConfigError(issues);

  const cfg = result.data;
  return { ...cfg, outDir: resolveOutDir(cfg.outDir, now) };
}

// ---------------------------------------------------------------------------------------
// Config files
// ---------------------------------------------------------------------------------------

const notAMapping = (path: string, value: unknown): ConfigError =>
  new ConfigError([
    { source: path, text: `${path}: got ${formatValue(value)}, expected a mapping of option names to values` },
  ]);

/**
 * Read one config file as a raw layer (not validated: keys and values are checked by
 * `resolveConfig`). YAML for `.yaml`/`.yml`, JSON for `.json`. An empty YAML file is `{}`.
 * Throws `ConfigError` naming the file (and the line, for syntax errors).
 */
export function loadConfigFile(path: string): Record<string, unknown> {
  const ext = extname(path).toLowerCase();
  if (ext !== '.yaml' && ext !== '.yml' && ext !== '.json') {
    throw new ConfigError([
      {
        source: path,
        text: `${path}: unsupported config file extension ${JSON.stringify(ext)}, expected .yaml, .yml or .json`,
      },
    ]);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.message;
    throw new ConfigError([{ source: path, text: `${path}: cannot read config file (${why})` }]);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // BOM

  let value: unknown;
  if (ext === '.json') {
    try {
      value = JSON.parse(text);
    } catch (err) {
      const raw = (err as Error).message;
      const { line, col } = jsonErrorPosition(raw, text);
      const msg = raw
        .replace(/ in JSON at position \d+.*$/s, '')
        .replace(/, (\.\.\.)?".*" is not valid JSON$/s, '')
        .replace(/\n/g, '\\n');
      throw new ConfigError([{ source: path, text: `${path}: line ${line}, column ${col}: invalid JSON: ${msg}` }]);
    }
  } else {
    const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) {
      throw new ConfigError(
        doc.errors.map((e) => {
          const pos = e.linePos?.[0];
          const where = pos ? `line ${pos.line}, column ${pos.col}: ` : '';
          const msg = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
          return { source: path, text: `${path}: ${where}invalid YAML: ${msg}` };
        }),
      );
    }
    value = doc.toJS();
    if (value === null || value === undefined) value = {}; // empty file, or only comments
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw notAMapping(path, value);
  return value as Record<string, unknown>;
}

/**
 * 1-based line and column of a `JSON.parse` error. Node 20 gives a character position for
 * most errors but not for a bad token ("Unexpected token …"); then the YAML parser, whose
 * JSON schema flags the same spot, supplies it; failing that, the end of the text.
 */
function jsonErrorPosition(message: string, text: string): { line: number; col: number } {
  const lc = /\(line (\d+) column (\d+)\)/.exec(message);
  if (lc) return { line: Number(lc[1]), col: Number(lc[2]) };
  const m = /at position (\d+)/.exec(message);
  if (!m) {
    const pos = YAML.parseDocument(text, { schema: 'json' }).errors[0]?.linePos?.[0];
    if (pos) return { line: pos.line, col: pos.col };
  }
  const offset = m ? Math.min(Number(m[1]), text.length) : text.length;
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, col: before[before.length - 1].length + 1 };
}

// ---------------------------------------------------------------------------------------
// CLI values
// ---------------------------------------------------------------------------------------

const NUMBER_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;
const TRUE = new Set(['true', 'yes', 'on', '1']);
const FALSE = new Set(['false', 'no', 'off', '0']);

/**
 * Convert a raw CLI string to the field's type (number/integer → number, boolean → true or
 * false). A string that does not convert is returned unchanged so that validation reports
 * it as given (`config: --lr: got "abc", expected a number > 0`). Non-strings and string
 * fields pass through.
 */
export function coerceFlagValue(key: string, value: unknown): unknown {
  if (typeof value !== 'string' || !isConfigKey(key)) return value;
  const kind = CONFIG_FIELDS[key].kind;
  const s = value.trim();
  if (kind === 'number' || kind === 'integer') return NUMBER_RE.test(s) ? Number(s) : value;
  if (kind === 'boolean') {
    const l = s.toLowerCase();
    return TRUE.has(l) ? true : FALSE.has(l) ? false : value;
  }
  return value;
}

// ---------------------------------------------------------------------------------------
// Output directory and serialisation
// ---------------------------------------------------------------------------------------

/** `2025-01-31T12-34-56Z` (UTC, file-name safe, sorts by time). */
export function formatTimestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-');
}

/** Replace every `<timestamp>` in `outDir` by the time `now`. */
export function resolveOutDir(outDir: string, now: Date = new Date()): string {
  return outDir.split(TIMESTAMP_PLACEHOLDER).join(formatTimestamp(now));
}

/**
 * Stable pretty JSON of a resolved config: keys sorted, 2-space indent, final newline,
 * absent optional fields left out. Reading it back with `resolveConfig({ configFile })`
 * gives an equal config.
 */
export function serializeConfig(cfg: RunConfig): string {
  const rec = cfg as Record<string, unknown>;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(rec).sort()) {
    if (rec[key] !== undefined) sorted[key] = rec[key];
  }
  return JSON.stringify(sorted, null, 2) + '\n';
}
