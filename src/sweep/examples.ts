/**
 * The sweep files shipped in the package's examples/ folder, found by name: `--config
 * repro-small` works in an installed project, where `examples/repro-small.yaml` is under
 * node_modules/grwarm-native, not the current directory. A path that exists always wins.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const EXTENSIONS = ['.yaml', '.yml', '.json'];

/** The folder of this package (holding package.json named grwarm-native), from src/ or dist/src/. */
function packageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      if ((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name === 'grwarm-native') return dir;
    } catch {
      // not here; go up
    }
    dir = dirname(dir);
  }
  return undefined;
}

/** The shipped examples' folder, if the package has one. */
export function examplesDir(): string | undefined {
  const root = packageRoot();
  return root !== undefined && existsSync(join(root, 'examples')) ? join(root, 'examples') : undefined;
}

/** Names of the shipped sweep examples (file names without extension). */
export function exampleNames(): string[] {
  const dir = examplesDir();
  if (!dir) return [];
  return readdirSync(dir)
    .filter((f) => EXTENSIONS.some((e) => f.endsWith(e)))
    .map((f) => f.slice(0, f.lastIndexOf('.')))
    .sort();
}

/**
 * `file` itself when it exists; else, for a bare name (no directory part), the shipped example
 * of that name (with or without its extension); else `file` unchanged (reading it then fails
 * with the usual message, which lists the examples).
 */
export function resolveSweepConfig(file: string): string {
  if (existsSync(file) || file.includes('/') || file.includes('\\')) return file;
  const dir = examplesDir();
  if (!dir) return file;
  for (const cand of [file, ...EXTENSIONS.map((e) => file + e)]) {
    if (existsSync(join(dir, cand))) return join(dir, cand);
  }
  return file;
}
