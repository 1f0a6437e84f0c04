// safetensors reader/writer (https://huggingface.co/docs/safetensors): the checkpoint
// format shared with PyTorch/timm. Layout: u64 little-endian header length N, N bytes of
// UTF-8 JSON header, then the data section; each tensor's data_offsets are relative to
// the start of the data section. All numbers in the data section are little-endian.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';

interface DTypeArrays {
  F32: Float32Array;
  F64: Float64Array;
  I32: Int32Array;
  I64: BigInt64Array;
  U8: Uint8Array;
}

export type SafetensorsDType = keyof DTypeArrays;
export type SafetensorsData = DTypeArrays[SafetensorsDType];

/** A loaded tensor; `dtype` discriminates the type of `data` (check dtype, get the right array). */
export type SafetensorsTensor = {
  [D in SafetensorsDType]: { dtype: D; shape: number[]; data: DTypeArrays[D] };
}[SafetensorsDType];

/** Input to writeSafetensors. Loosely typed on purpose (generic callers); checked at run time. */
export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  data: SafetensorsData;
}

export interface SafetensorsContents {
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensor>;
}

const DTYPES: { [D in SafetensorsDType]: { size: number; make: (n: number) => DTypeArrays[D]; tag: string } } = {
  F32: { size: 4, make: (n) => new Float32Array(n), tag: 'Float32Array' },
  F64: { size: 8, make: (n) => new Float64Array(n), tag: 'Float64Array' },
  I32: { size: 4, make: (n) => new Int32Array(n), tag: 'Int32Array' },
  I64: { size: 8, make: (n) => new BigInt64Array(n), tag: 'BigInt64Array' },
  U8: { size: 1, make: (n) => new Uint8Array(n), tag: 'Uint8Array' },
};

export const SUPPORTED_DTYPES = Object.keys(DTYPES) as SafetensorsDType[];

/** Valid safetensors dtypes we do not load: a distinct message beats "unknown dtype". */
const KNOWN_UNSUPPORTED = new Set([
  'BF16', 'F16', 'BOOL', 'I8', 'I16', 'U16', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2',
]);

/** The reference implementation refuses headers above 100 MB; a larger N means corruption. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

export class SafetensorsError extends Error {
  constructor(
    readonly file: string,
    problem: string,
    verb = 'Invalid',
  ) {
    super(`${verb} safetensors file ${file}: ${problem}`);
    this.name = 'SafetensorsError';
  }
}

const HOST_IS_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverse each `size`-byte group in place (only used on big-endian hosts). */
function swapBytes(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function isSupported(d: unknown): d is SafetensorsDType {
  return typeof d === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, d);
}

function isShape(s: unknown): s is number[] {
  return Array.isArray(s) && s.every((d) => Number.isSafeInteger(d) && d >= 0);
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `string ${JSON.stringify(v)}` : typeof v;
}

// ---------------------------------------------------------------------------- writing

/**
 * Write tensors (in the given order, contiguous) and optional string metadata to `path`,
 * atomically. The header is space-padded so the data section starts 8-byte aligned,
 * which lets readers map F64/I64 tensors without copying.
 */
export function writeSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
): void {
  const fail = (problem: string): never => {
    throw new SafetensorsError(path, problem, 'Cannot write');
  };
  const parts: string[] = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') fail(`metadata value for key "${k}" must be a string, got ${describe(v)}`);
    }
    parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  const seen = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    if (typeof t.name !== 'string') fail(`tensor name must be a string, got ${describe(t.name)}`);
    if (t.name === METADATA_KEY) fail(`"${METADATA_KEY}" is reserved and cannot be a tensor name`);
    if (seen.has(t.name)) fail(`duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    if (!isSupported(t.dtype)) {
      fail(`tensor "${t.name}" has unsupported dtype ${String(t.dtype)} (supported: ${SUPPORTED_DTYPES.join(' ')})`);
    }
    const spec = DTYPES[t.dtype];
    const tag = ArrayBuffer.isView(t.data) ? (t.data as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag] : describe(t.data);
    if (tag !== spec.tag) fail(`tensor "${t.name}" has dtype ${t.dtype}, which needs a ${spec.tag}, got ${tag}`);
    if (!isShape(t.shape)) fail(`tensor "${t.name}" has invalid shape ${JSON.stringify(t.shape)} (need non-negative integers)`);
    const n = numel(t.shape);
    if (t.data.length !== n) {
      fail(`tensor "${t.name}" shape [${t.shape.join(', ')}] has ${n} elements but data has ${t.data.length}`);
    }
    const end = offset + n * spec.size;
    // Build each entry by hand: JSON.stringify of an object would reorder integer-like
    // names ("0", "1") and treat "__proto__" specially; this keeps the given order.
    parts.push(
      `${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }

  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8; // 8 + headerLen is then a multiple of 8
  const head = new Uint8Array(8 + headerLen).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLen), true);
  head.set(json, 8);

  function* chunks(): Generator<Uint8Array> {
    yield head;
    for (const t of tensors) {
      const bytes = bytesOf(t.data);
      if (HOST_IS_LE) {
        yield bytes;
      } else {
        const copy = bytes.slice();
        swapBytes(copy, DTYPES[t.dtype].size);
        yield copy;
      }
    }
  }
  writeFileAtomic(path, chunks());
}

// ---------------------------------------------------------------------------- reading

/** Where the bytes come from: an open file (read piecewise) or a buffer already in memory. */
interface ByteSource {
  size: number;
  /** Fill `dst` with the bytes starting at `position`. */
  read(dst: Uint8Array, position: number): void;
}

interface Entry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

function parseHeader(
  headerBytes: Uint8Array,
  dataSize: number,
  fail: (problem: string) => never,
): { metadata: Record<string, string>; entries: Entry[] } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    return fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return fail(`header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    return fail(`header must be a JSON object, got ${describe(header)}`);
  }

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        fail(`"${METADATA_KEY}" must be an object of strings, got ${describe(raw)}`);
      }
      for (const [k, v] of Object.entries(raw as object)) {
        if (typeof v !== 'string') fail(`"${METADATA_KEY}" value for key "${k}" must be a string, got ${describe(v)}`);
      }
      // fromEntries defines own properties, so a "__proto__" key stays plain data.
      metadata = Object.fromEntries(Object.entries(raw as Record<string, string>));
      continue;
    }
    const where = `tensor "${name}"`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`${where}: entry must be an object, got ${describe(raw)}`);
    const e = raw as Record<string, unknown>;
    for (const field of ['dtype', 'shape', 'data_offsets']) {
      if (!(field in e)) fail(`${where}: missing "${field}"`);
    }
    const { dtype, shape, data_offsets: offs } = e;
    if (typeof dtype !== 'string') fail(`${where}: "dtype" must be a string, got ${describe(dtype)}`);
    if (!isShape(shape)) fail(`${where}: "shape" must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    if (!Array.isArray(offs) || offs.length !== 2 || !isShape(offs)) {
      fail(`${where}: "data_offsets" must be [begin, end] non-negative integers, got ${JSON.stringify(offs)}`);
    }
    if (!isSupported(dtype)) {
      const supported = `supported: ${SUPPORTED_DTYPES.join(' ')}`;
      if (KNOWN_UNSUPPORTED.has(dtype as string)) {
        fail(`${where} has dtype ${dtype as string}, a valid safetensors dtype that grwarm-native does not load (${supported}); convert it to F32`);
      }
      fail(`${where} has unknown dtype ${JSON.stringify(dtype)} (${supported})`);
    }
    const d = dtype as SafetensorsDType;
    const [begin, end] = offs as number[];
    if (begin > end) fail(`${where}: data_offsets not ordered (begin ${begin} > end ${end})`);
    if (end > dataSize) {
      fail(`${where}: data_offsets end ${end} is beyond the data section (${dataSize} bytes); file truncated?`);
    }
    const shp = shape as number[];
    const expected = numel(shp) * DTYPES[d].size;
    if (end - begin !== expected) {
      fail(`${where}: shape [${shp.join(', ')}] ${d} needs ${expected} bytes, data_offsets [${begin}, ${end}] give ${end - begin}`);
    }
    entries.push({ name, dtype: d, shape: shp, begin, end });
  }

  // Overlap check on non-empty tensors sorted by start; empty tensors occupy no bytes.
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1];
    const b = sorted[i];
    if (b.begin < a.end) {
      fail(`tensors "${a.name}" [${a.begin}, ${a.end}) and "${b.name}" [${b.begin}, ${b.end}) overlap`);
    }
  }
  return { metadata, entries };
}

function decode(src: ByteSource, sourceName: string): SafetensorsContents {
  const fail = (problem: string): never => {
    throw new SafetensorsError(sourceName, problem);
  };
  if (src.size < 8) fail(`file is ${src.size} bytes, shorter than the 8-byte header length prefix`);
  const prefix = new Uint8Array(8);
  src.read(prefix, 0);
  const n = new DataView(prefix.buffer).getBigUint64(0, true);
  const avail = src.size - 8;
  if (n > BigInt(avail)) fail(`header length ${n} is beyond the file size: only ${avail} bytes follow the 8-byte prefix (file is ${src.size} bytes)`);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerLen = Number(n);
  const headerBytes = new Uint8Array(headerLen);
  src.read(headerBytes, 8);
  const dataStart = 8 + headerLen;
  const { metadata, entries } = parseHeader(headerBytes, src.size - dataStart, fail);

  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    const spec = DTYPES[e.dtype];
    // A fresh typed array (own, aligned ArrayBuffer) instead of a view into the file
    // buffer, whose offsets need not be aligned for the element size.
    const data = spec.make(numel(e.shape));
    const bytes = bytesOf(data);
    src.read(bytes, dataStart + e.begin);
    if (!HOST_IS_LE) swapBytes(bytes, spec.size);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data } as SafetensorsTensor);
  }
  return { metadata, tensors };
}

/** Parse a whole safetensors file already in memory. `sourceName` is used in error messages. */
export function parseSafetensors(buf: Uint8Array, sourceName = '<buffer>'): SafetensorsContents {
  return decode(
    {
      size: buf.byteLength,
      read: (dst, pos) => dst.set(buf.subarray(pos, pos + dst.byteLength)),
    },
    sourceName,
  );
}

/**
 * Read and validate a safetensors file. Tensors are read straight from the file into
 * their own typed arrays (no whole-file buffer), so large checkpoints cost one copy.
 */
export function readSafetensors(path: string): SafetensorsContents {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const read = (dst: Uint8Array, pos: number): void => {
      let done = 0;
      while (done < dst.byteLength) {
        const got = readSync(fd, dst, done, dst.byteLength - done, pos + done);
        if (got === 0) throw new SafetensorsError(path, `file ended at byte ${pos + done}, expected ${size} bytes (changed while being read?)`);
        done += got;
      }
    };
    return decode({ size, read }, path);
  } finally {
    closeSync(fd);
  }
}
