// safetensors reader/writer (https://huggingface.co/docs/safetensors): the checkpoint
// format shared with PyTorch/timm. Layout: u64 little-endian header length N, N bytes of
// UTF-8 JSON header, then the data section; each tensor's data_offsets are relative to
// the start of the data section. All numbers in the data section are little-endian.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import { withPath } from './fs-errors.js';

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
    /** The problem alone, without the file name. */
    readonly problem: string,
    /** 'Invalid' for a corrupt file, 'Rejected' for a well-formed one refused by an option. */
    readonly verb: 'Invalid' | 'Rejected' | 'Cannot write' = 'Invalid',
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

export interface ReadOptions {
  /**
   * Reject the file when an F32/F64 tensor holds NaN or ±Infinity (the message names the
   * file and the tensor). Checkpoints are read this way: a model with non-finite weights
   * would train or evaluate to NaN without saying why.
   */
  requireFinite?: boolean;
}

/** Where the bytes come from: an open file (read piecewise) or a buffer already in memory. */
interface ByteSource {
  size: number;
  /** Fill `dst` with the bytes starting at `position`. */
  read(dst: Uint8Array, position: number): void;
}

/** One tensor as the header describes it (offsets relative to the data section). */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/** The validated header of a file: metadata, tensor entries, where the data section starts. */
export interface SafetensorsHeader {
  metadata: Record<string, string>;
  entries: SafetensorsEntry[];
  dataStart: number;
}

/** Deeper than this is not a safetensors header (tensor entries are 3 levels deep). */
const MAX_JSON_DEPTH = 64;

/** Nesting depth of JSON text, counted over brackets outside strings (no recursion). */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

function parseHeader(
  headerBytes: Uint8Array,
  dataSize: number,
  fail: (problem: string) => never,
): { metadata: Record<string, string>; entries: SafetensorsEntry[] } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    return fail('header is not valid UTF-8');
  }
  // Checked before parsing so that no later step (messages, copies) recurses on a hostile header.
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH) fail(`header JSON is nested ${depth} levels deep (at most ${MAX_JSON_DEPTH} expected)`);
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
  const entries: SafetensorsEntry[] = [];
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
    if (!isShape(shape)) fail(`${where}: "shape" must be an array of non-negative integers, got ${shortJson(shape)}`);
    if (!Array.isArray(offs) || offs.length !== 2 || !isShape(offs)) {
      fail(`${where}: "data_offsets" must be [begin, end] non-negative integers, got ${shortJson(offs)}`);
    }
    if (!isSupported(dtype)) {
      const supported = `supported: ${SUPPORTED_DTYPES.join(' ')}`;
      if (KNOWN_UNSUPPORTED.has(dtype as string)) {
        fail(`${where} has dtype ${dtype as string}, a valid safetensors dtype that grwarm-native does not load (${supported}); convert it to F32`);
      }
      fail(`${where} has unknown dtype ${shortJson(dtype)} (${supported})`);
    }
    const d = dtype as SafetensorsDType;
    const [begin, end] = offs as number[];
    if (begin > end) fail(`${where}: data_offsets not ordered (begin ${begin} > end ${end})`);
    if (end > dataSize) {
      fail(`${where}: data_offsets end ${end} is beyond the data section (${dataSize} bytes); file truncated?`);
    }
    const shp = shape as number[];
    const expected = numel(shp) * DTYPES[d].size;
    // An element count past 2^53 is not exact; it cannot match any real byte range anyway.
    if (!Number.isSafeInteger(expected) || end - begin !== expected) {
      const need = Number.isSafeInteger(expected) ? `${expected} bytes` : 'more bytes than any file holds';
      fail(`${where}: shape [${shp.join(', ')}] ${d} needs ${need}, data_offsets [${begin}, ${end}] give ${end - begin}`);
    }
    entries.push({ name, dtype: d, shape: shp, begin, end });
  }
  checkLayout(entries, dataSize, fail);
  return { metadata, entries };
}

function shortJson(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * The reference reader's layout rule: sorted by offsets, the tensors start at 0, follow each
 * other without gaps or overlaps and end exactly at the end of the file. A header length that
 * is off by a few bytes breaks this rule, so every tensor being read shifted is caught here.
 */
function checkLayout(entries: SafetensorsEntry[], dataSize: number, fail: (problem: string) => never): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: SafetensorsEntry | undefined;
  for (const e of sorted) {
    if (e.begin < pos && prev) {
      fail(`tensors "${prev.name}" [${prev.begin}, ${prev.end}) and "${e.name}" [${e.begin}, ${e.end}) overlap`);
    }
    if (e.begin > pos) {
      fail(
        prev
          ? `${e.begin - pos} unused bytes between tensors "${prev.name}" (ends at ${pos}) and "${e.name}" (begins at ${e.begin}); tensor data must be contiguous`
          : `the first tensor "${e.name}" begins at data offset ${e.begin}, expected 0 (tensor data must start the data section)`,
      );
    }
    pos = e.end;
    prev = e;
  }
  if (pos !== dataSize) {
    fail(
      `the tensors fill ${pos} bytes but the data section holds ${dataSize} (${dataSize - pos} byte${dataSize - pos === 1 ? '' : 's'} too many); ` +
        'a wrong header length or trailing bytes',
    );
  }
}

function decodeHeader(src: ByteSource, sourceName: string): SafetensorsHeader {
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
  return { metadata, entries, dataStart };
}

/** "NaN at index 3" for the first non-finite value and how many there are, or undefined. */
function nonFinite(data: Float32Array | Float64Array): string | undefined {
  let first = -1;
  let count = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    // v - v is 0 for every finite v, NaN for NaN and ±Infinity: one cheap test per value.
    if (v - v !== 0) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (first < 0) return undefined;
  return `${count} non-finite value${count === 1 ? '' : 's'} (the first, at index ${first}, is ${data[first]})`;
}

function decode(src: ByteSource, sourceName: string, options: ReadOptions): SafetensorsContents {
  const { metadata, entries, dataStart } = decodeHeader(src, sourceName);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    const spec = DTYPES[e.dtype];
    // A fresh typed array (own, aligned ArrayBuffer) instead of a view into the file
    // buffer, whose offsets need not be aligned for the element size.
    const data = spec.make(numel(e.shape));
    const bytes = bytesOf(data);
    src.read(bytes, dataStart + e.begin);
    if (!HOST_IS_LE) swapBytes(bytes, spec.size);
    if (options.requireFinite && (data instanceof Float32Array || data instanceof Float64Array)) {
      const bad = nonFinite(data);
      if (bad !== undefined) throw new SafetensorsError(sourceName, `tensor "${e.name}" holds ${bad}`, 'Rejected');
    }
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data } as SafetensorsTensor);
  }
  return { metadata, tensors };
}

function bufferSource(buf: Uint8Array): ByteSource {
  return {
    size: buf.byteLength,
    read: (dst, pos) => dst.set(buf.subarray(pos, pos + dst.byteLength)),
  };
}

/** Parse a whole safetensors file already in memory. `sourceName` is used in error messages. */
export function parseSafetensors(buf: Uint8Array, sourceName = '<buffer>', options: ReadOptions = {}): SafetensorsContents {
  return decode(bufferSource(buf), sourceName, options);
}

/** Opens `path` and runs `fn` on it as a ByteSource; OS errors name the file. */
function withFileSource<T>(path: string, fn: (src: ByteSource) => T): T {
  const fd = withPath(path, 'read', () => openSync(path, 'r'));
  try {
    const size = withPath(path, 'read', () => fstatSync(fd)).size;
    const read = (dst: Uint8Array, pos: number): void => {
      let done = 0;
      while (done < dst.byteLength) {
        const got = withPath(path, 'read', () => readSync(fd, dst, done, dst.byteLength - done, pos + done));
        if (got === 0) throw new SafetensorsError(path, `file ended at byte ${pos + done}, expected ${size} bytes (changed while being read?)`);
        done += got;
      }
    };
    return fn({ size, read });
  } finally {
    closeSync(fd);
  }
}

/**
 * Read and validate a safetensors file. Tensors are read straight from the file into
 * their own typed arrays (no whole-file buffer), so large checkpoints cost one copy.
 */
export function readSafetensors(path: string, options: ReadOptions = {}): SafetensorsContents {
  return withFileSource(path, (src) => decode(src, path, options));
}

/**
 * Read and validate only the header of a safetensors file (metadata, names, dtypes, shapes,
 * layout against the file size); the tensor data stays on disk. Cheap for any file size.
 */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  return withFileSource(path, (src) => decodeHeader(src, path));
}
