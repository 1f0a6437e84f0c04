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
import { readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import YAML from 'yaml';
import { reasonText } from '../io/fs-errors.js';
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
  return resolveConfigWithSources(options).config;
}

/**
 * As resolveConfig, plus where each field's value came from (`--flag`, the config file's
 * path, `preset "name"`; absent for defaults), so that later checks that need the data set
 * (batch size against the number of images, ...) can name the right source.
 */
export function resolveConfigWithSources(options: ResolveOptions): { config: RunConfig; sources: SourceMap } {
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
  return { config: { ...cfg, outDir: resolveOutDir(cfg.outDir, now) }, sources };
}

// ---------------------------------------------------------------------------------------
// Config files
// ---------------------------------------------------------------------------------------

const notAMapping = (path: string, value: unknown): ConfigError =>
  new ConfigError([
    { source: path, text: `${path}: got ${formatValue(value)}, expected a mapping of option names to values` },
  ]);

/** Config files are a few hundred bytes; anything this big is not one. */
export const MAX_CONFIG_BYTES = 1 << 20;
/** A config is one flat mapping; deeper nesting than this is hostile or broken. */
export const MAX_CONFIG_DEPTH = 32;

const fileIssue = (path: string, text: string): ConfigError => new ConfigError([{ source: path, text: `${path}: ${text}` }]);

/**
 * Read one config file as a raw layer (not validated: keys and values are checked by
 * `resolveConfig`). YAML for `.yaml`/`.yml`, JSON for `.json`. An empty YAML file is `{}`.
 * Throws `ConfigError` naming the file (and the line, for syntax errors).
 */
export function loadConfigFile(path: string): Record<string, unknown> {
  const ext = extname(path).toLowerCase();
  if (ext !== '.yaml' && ext !== '.yml' && ext !== '.json') {
    throw fileIssue(path, `unsupported config file extension ${JSON.stringify(ext)}, expected .yaml, .yml or .json`);
  }
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > MAX_CONFIG_BYTES) {
      throw fileIssue(path, `config file is ${size} bytes, expected at most ${MAX_CONFIG_BYTES} (is it a config file?)`);
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : reasonText(e.code, e.message);
    throw fileIssue(path, `cannot read config file (${why})`);
  }
  return parseConfigText(text, path);
}

/**
 * Parse the text of a config file (`path` gives the format by its extension and names the
 * file in messages). Pure: the fuzz tests call it on mutated texts.
 */
export function parseConfigText(text: string, path: string): Record<string, unknown> {
  const isJson = extname(path).toLowerCase() === '.json';
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // BOM
  if (text.length > MAX_CONFIG_BYTES) throw fileIssue(path, `config text is ${text.length} characters, expected at most ${MAX_CONFIG_BYTES}`);
  // Before parsing: the parsers recurse per nesting level, and a stack overflow deep inside
  // a library is not always a catchable error.
  const depth = nestingDepth(text, !isJson);
  if (depth > MAX_CONFIG_DEPTH) {
    throw fileIssue(path, `nested ${depth} levels deep, expected a flat mapping of option names to values (at most ${MAX_CONFIG_DEPTH} levels)`);
  }

  let value: unknown;
  if (isJson) {
    try {
      value = JSON.parse(text);
    } catch (err) {
      const raw = (err as Error).message;
      const { line, col } = jsonErrorPosition(raw, text);
      const msg = raw
        .replace(/ in JSON at position \d+.*$/s, '')
        .replace(/, (\.\.\.)?".*" is not valid JSON$/s, '')
        .replace(/\n/g, '\\n');
      throw fileIssue(path, `line ${line}, column ${col}: invalid JSON: ${msg}`);
    }
  } else {
    let doc: YAML.Document;
    try {
      doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    } catch (err) {
      throw fileIssue(path, `invalid YAML: ${(err as Error).message}`);
    }
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
    try {
      // maxAliasCount bounds what aliases may expand to: a "billion laughs" file fails here.
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      const msg = (err as Error).message;
      throw fileIssue(
        path,
        /alias/i.test(msg)
          ? `invalid YAML: its aliases expand too far (${msg}); a config needs at most ${MAX_ALIAS_COUNT} alias uses`
          : `invalid YAML: ${msg}`,
      );
    }
    if (value === null || value === undefined) value = {}; // empty file, or only comments
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw notAMapping(path, value);
  return value as Record<string, unknown>;
}

const MAX_ALIAS_COUNT = 100;

/**
 * Nesting depth of a JSON or YAML text, without parsing it: flow brackets outside quoted
 * strings and comments, and for YAML also the block indentation (leading spaces, `- `, `? `
 * of a line, each at least one level). An over-estimate for odd texts, which is fine: real
 * config files are flat.
 */
export function nestingDepth(text: string, yaml: boolean): number {
  let depth = 0;
  let max = 0;
  let quote = 0; // the open quote character, or 0
  let lineStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (quote !== 0) {
      if (c === 0x5c && quote === 0x22) i++; // backslash escape in a double-quoted string
      else if (c === quote) quote = 0;
      continue;
    }
    if (c === 0x0a) {
      lineStart = true;
      continue;
    }
    if (yaml && lineStart) {
      // Block structure: the run of indentation and indicators opening the line.
      let j = i;
      while (j < text.length && (text[j] === ' ' || text[j] === '\t' || ((text[j] === '-' || text[j] === '?') && /[ \t\n]/.test(text[j + 1] ?? '\n')))) j++;
      max = Math.max(max, depth + Math.ceil((j - i) / 2));
      lineStart = false;
      i = j - 1;
      continue;
    }
    lineStart = false;
    // In YAML a quote opens a string only at the start of a scalar (`o'neil` is plain text).
    const tokenStart = !yaml || /[\s:,[{]/.test(text[i - 1] ?? ' ');
    if ((c === 0x22 || (yaml && c === 0x27)) && tokenStart) quote = c;
    else if (yaml && c === 0x23) {
      while (i + 1 < text.length && text.charCodeAt(i + 1) !== 0x0a) i++; // comment
    } else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return max;
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
