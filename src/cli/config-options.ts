// Commander options generated from the config field table (src/config CONFIG_FIELDS), so
// the flags, the config file keys and the docs cannot drift apart. Values are handed to
// `resolveConfig` as raw strings: it converts and validates them, so a bad value gets the
// same message whether it came from a flag or a config file.
import { Option, type Command } from 'commander';
import {
  CONFIG_FIELD_LIST,
  CONFIG_KEYS,
  type ConfigKey,
  type FieldGroup,
  type FieldSpec,
} from '../config/index.js';

const GROUP_HEADINGS: Record<FieldGroup, string> = {
  model: 'Model options:',
  data: 'Data options:',
  optimisation: 'Optimisation options:',
  gr: 'Gradient regularization options:',
  run: 'Run options:',
};

function describe(f: Readonly<FieldSpec>): string {
  const parts: string[] = [];
  if (f.kind === 'enum' && f.choices) parts.push(`choices: ${f.choices.join(', ')}`);
  parts.push(`default: ${f.defaultText}`);
  return `${f.description} (${parts.join('; ')})`;
}

/** Adds one option per config field (and `--no-<flag>` for negatable booleans). */
export function addConfigOptions(cmd: Command, only?: readonly ConfigKey[]): Command {
  for (const f of CONFIG_FIELD_LIST) {
    if (only && !only.includes(f.key)) continue;
    const heading = GROUP_HEADINGS[f.group];
    if (f.kind === 'boolean') {
      cmd.addOption(new Option(f.flag, describe(f)).helpGroup(heading));
      if (f.negatable) {
        cmd.addOption(new Option(`--no-${f.flag.slice(2)}`, `turn ${f.flag} off`).helpGroup(heading));
      }
    } else {
      cmd.addOption(new Option(`${f.flag} ${f.valueName ?? '<value>'}`, describe(f)).helpGroup(heading));
    }
  }
  return cmd;
}

/**
 * The config values given on the command line, keyed by config key (commander's option
 * names are the camel-cased keys). No option has a commander default, so a defined value
 * means the user gave the flag.
 */
export function configOverrides(opts: Record<string, unknown>): Partial<Record<ConfigKey, unknown>> {
  const out: Partial<Record<ConfigKey, unknown>> = {};
  for (const key of CONFIG_KEYS) if (opts[key] !== undefined) out[key] = opts[key];
  return out;
}
