/** Small file helpers shared by the loaders, so every error names the path involved. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`${path}: cannot read file: ${(e as Error).message}`);
  }
}

/**
 * Returns the first of `dirs` (that exists) holding every file in `names`; otherwise throws,
 * listing what was expected, where it looked and what was missing in each place.
 */
export function findDirWith(what: string, dirs: string[], names: string[]): string {
  const report: string[] = [];
  for (const d of dirs) {
    if (!existsSync(d)) {
      report.push(`${d} (no such directory)`);
      continue;
    }
    const missing = names.filter((n) => !isFile(join(d, n)));
    if (missing.length === 0) return d;
    report.push(`${d} (missing ${missing.join(', ')})`);
  }
  throw new Error(
    `${what}: missing file(s); expected ${names.join(', ')} in one of: ${report.join('; ')}`,
  );
}

export function hex32(x: number): string {
  return '0x' + (x >>> 0).toString(16).padStart(8, '0');
}
