// A small seeded mutation fuzzer for the file parsers (used by test/fuzz-*.test.ts): byte
// flips, interesting bytes, truncation, extension, chunk copies, and format-aware edits of
// safetensors headers (length field, JSON fields), IDX dimensions and config texts. Every
// mutation is a pure function of (input, seed), so a failure is replayed by its seed.

/** xorshift32: tiny, fast, good enough to pick mutations. */
export class FuzzRng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed >>> 0) || 0x9e3779b9;
  }
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (this.s = x >>> 0);
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
}

export type Mutator = (input: Uint8Array, rng: FuzzRng) => Uint8Array;

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a];

export const flipBits: Mutator = (input, rng) => {
  const out = input.slice();
  if (out.length === 0) return out;
  const n = 1 + rng.int(8);
  for (let i = 0; i < n; i++) out[rng.int(out.length)] ^= 1 << rng.int(8);
  return out;
};

export const setBytes: Mutator = (input, rng) => {
  const out = input.slice();
  if (out.length === 0) return out;
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) out[rng.int(out.length)] = rng.pick(INTERESTING_BYTES);
  return out;
};

/** Flips bits near the start of the file, where the headers are. */
export const flipHeadBits: Mutator = (input, rng) => {
  const out = input.slice();
  const span = Math.min(out.length, 256);
  if (span === 0) return out;
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) out[rng.int(span)] ^= 1 << rng.int(8);
  return out;
};

export const truncate: Mutator = (input, rng) => {
  // Mostly small cuts (one byte short is the nastiest), sometimes anywhere.
  const cut = rng.chance(0.5) ? 1 + rng.int(8) : rng.int(input.length + 1);
  return input.slice(0, Math.max(0, input.length - cut));
};

export const extend: Mutator = (input, rng) => {
  const n = rng.chance(0.5) ? 1 + rng.int(8) : 1 + rng.int(512);
  const tail = new Uint8Array(n);
  if (rng.chance(0.5)) for (let i = 0; i < n; i++) tail[i] = rng.u32() & 0xff;
  const out = new Uint8Array(input.length + n);
  out.set(input);
  out.set(tail, input.length);
  return out;
};

export const copyChunk: Mutator = (input, rng) => {
  const out = input.slice();
  if (out.length < 2) return out;
  const len = 1 + rng.int(Math.min(64, out.length - 1));
  const from = rng.int(out.length - len + 1);
  const to = rng.int(out.length - len + 1);
  out.copyWithin(to, from, from + len);
  return out;
};

export const GENERIC: readonly Mutator[] = [flipBits, setBytes, flipHeadBits, truncate, extend, copyChunk];

// ---------------------------------------------------------------------------- safetensors

/** Values that break naive code: wrong types, zero, negative, huge, fractional, nested. */
const INTERESTING_JSON: readonly unknown[] = [
  null, 'x', '', {}, [], 0, -1, 1, 1.5, 2 ** 31, 2 ** 53, 1e9, 1e308, -1e308, true,
  [0], [-1, 2], [1e9, 1e9, 1e9], { a: 1 },
];

function headerOf(buf: Uint8Array): { json: Record<string, unknown>; dataStart: number } | undefined {
  if (buf.length < 8) return undefined;
  const n = Number(new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(0, true));
  if (n > buf.length - 8) return undefined;
  try {
    const json = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + n))) as Record<string, unknown>;
    return typeof json === 'object' && json !== null ? { json, dataStart: 8 + n } : undefined;
  } catch {
    return undefined;
  }
}

/** Rebuilds a file from a header object and the old data section (length prefix made consistent). */
function withHeader(json: unknown, data: Uint8Array): Uint8Array {
  const text = new TextEncoder().encode(JSON.stringify(json));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

export const editHeaderLength: Mutator = (input, rng) => {
  const out = input.slice();
  if (out.length < 8) return out;
  const v = new DataView(out.buffer);
  const n = v.getBigUint64(0, true);
  const choices = [n - 1n, n + 1n, n - 8n, n + 8n, 0n, 1n, 2n ** 64n - 1n, 100_000_001n, BigInt(out.length - 8), BigInt(rng.u32())];
  let next = rng.pick(choices);
  if (next < 0n) next = 0n;
  v.setBigUint64(0, next & (2n ** 64n - 1n), true);
  return out;
};

function mutateValue(v: unknown, rng: FuzzRng, depth = 0): unknown {
  if (Array.isArray(v) && v.length > 0 && rng.chance(0.7)) {
    const copy = v.slice();
    const i = rng.int(copy.length);
    copy[i] = typeof copy[i] === 'number' && rng.chance(0.6) ? (copy[i] as number) + rng.pick([-1, 1, -8, 8, 1e9]) : mutateValue(copy[i], rng, depth + 1);
    return copy;
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && depth < 3 && rng.chance(0.7)) {
    const copy: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    const keys = Object.keys(copy);
    if (keys.length > 0) {
      const k = rng.pick(keys);
      if (rng.chance(0.2)) delete copy[k];
      else copy[k] = mutateValue(copy[k], rng, depth + 1);
    }
    return copy;
  }
  if (typeof v === 'number' && rng.chance(0.5)) return v + rng.pick([-1, 1, 0.5, 1e9, -v]);
  if (typeof v === 'string' && rng.chance(0.3)) return rng.pick(['F32', 'F64', 'I64', 'U8', 'BF16', 'F33', '', v + 'x']);
  return rng.pick(INTERESTING_JSON);
}

/** One JSON field of the header (a tensor entry, or a metadata value) changed. */
export const editHeaderField: Mutator = (input, rng) => {
  const h = headerOf(input);
  if (!h) return flipBits(input, rng);
  const json = { ...h.json };
  const keys = Object.keys(json);
  if (keys.length === 0) return flipBits(input, rng);
  const k = rng.pick(keys);
  if (k === '__metadata__' && typeof json[k] === 'object' && json[k] !== null) {
    const meta = { ...(json[k] as Record<string, string>) };
    const mk = rng.pick(Object.keys(meta).length > 0 ? Object.keys(meta) : ['x']);
    let value: unknown;
    try {
      value = JSON.parse(meta[mk]);
    } catch {
      value = meta[mk];
    }
    // Metadata values are strings; JSON inside them (config, model_config, ...) is edited as JSON.
    meta[mk] = rng.chance(0.85) ? JSON.stringify(mutateValue(value, rng)) ?? 'null' : (rng.pick(INTERESTING_JSON) as string);
    json[k] = meta;
  } else if (rng.chance(0.1)) {
    delete json[k];
  } else {
    json[k] = mutateValue(json[k], rng);
  }
  return withHeader(json, input.subarray(h.dataStart));
};

export const SAFETENSORS: readonly Mutator[] = [...GENERIC, editHeaderLength, editHeaderLength, editHeaderField, editHeaderField, editHeaderField];

// ---------------------------------------------------------------------------- IDX

/** One dimension (or the magic) of an IDX header set to an edge value. */
export const editIdxHeader: Mutator = (input, rng) => {
  const out = input.slice();
  if (out.length < 8) return out;
  const v = new DataView(out.buffer);
  const fields = Math.min(4, Math.floor(out.length / 4));
  const at = 4 * rng.int(fields);
  const old = v.getUint32(at);
  v.setUint32(at, rng.pick([0, 1, 2, old - 1, old + 1, 28, 30, 32, 33, 0xffffffff, 0x80000000, rng.u32()]) >>> 0);
  return out;
};

export const IDX: readonly Mutator[] = [...GENERIC, editIdxHeader, editIdxHeader, editIdxHeader];

// ---------------------------------------------------------------------------- config texts

const CONFIG_VALUES = [
  '0', '-1', '1e9', '1000000000', '5000', '1e308', '-1e308', '.nan', '.inf', 'NaN', 'null', '~', '""', '"x"',
  '[]', '{}', '[1, 2]', 'true', '0.5', '2.5', `${'['.repeat(40)}${']'.repeat(40)}`, '&a 1', '*a', '*nope',
];

/** A line's value replaced by an edge value, a line duplicated or dropped, or deep nesting / aliases added. */
export const editConfigText: Mutator = (input, rng) => {
  const text = new TextDecoder().decode(input);
  const lines = text.split('\n');
  const i = rng.int(lines.length);
  const op = rng.int(6);
  if (op === 0) lines.splice(i, 0, lines[i] ?? '');
  else if (op === 1) lines.splice(i, 1);
  else if (op === 2) lines.push(`lr: ${'['.repeat(50 + rng.int(5000))}1`);
  else if (op === 3) {
    // An alias chain that doubles at every level: a small "billion laughs".
    const depth = 3 + rng.int(12);
    const bomb = ['x0: &x0 [1, 1]'];
    for (let d = 1; d < depth; d++) bomb.push(`x${d}: &x${d} [*x${d - 1}, *x${d - 1}]`);
    lines.push(...bomb);
  } else {
    const m = /^(\s*"?[\w-]+"?\s*:\s*)(.*?)(,?)$/.exec(lines[i] ?? '');
    if (m) lines[i] = m[1] + rng.pick(CONFIG_VALUES) + m[3];
    else lines[i] = `${rng.pick(['batchSize', 'threads', 'syntheticTrain', 'lr', 'bogus'])}: ${rng.pick(CONFIG_VALUES)}`;
  }
  return new TextEncoder().encode(lines.join('\n'));
};

export const CONFIG: readonly Mutator[] = [flipBits, setBytes, truncate, copyChunk, editConfigText, editConfigText, editConfigText];

/** `count` mutants of `seedInput`, each from its own seed (`base + i`), 1-3 mutations stacked. */
export function* mutants(seedInput: Uint8Array, mutators: readonly Mutator[], count: number, base: number): Generator<{ seed: number; bytes: Uint8Array }> {
  // A plain copy: Buffer#slice is a view, so mutating a Buffer seed would corrupt it for the next mutant.
  const plain = new Uint8Array(seedInput);
  for (let i = 0; i < count; i++) {
    const seed = base + i;
    const rng = new FuzzRng(seed * 2654435761);
    let bytes: Uint8Array = plain;
    const rounds = 1 + rng.int(3);
    for (let r = 0; r < rounds; r++) bytes = rng.pick(mutators)(bytes, rng);
    yield { seed, bytes };
  }
}
