import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../src/io/atomic.js';
import {
  parseSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  SafetensorsError,
  writeSafetensors,
  type TensorToWrite,
} from '../src/io/safetensors.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'grwarm-st-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const bytes = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * Build a safetensors file by hand: u64 LE header length, header text (optionally padded
 * with `pad` spaces), data bytes. Independent of the writer under test.
 */
function handMade(header: string, data: Uint8Array, pad = 0): Uint8Array {
  const h = new TextEncoder().encode(header + ' '.repeat(pad));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** 16 bytes of F32 [1, -2.5, 3.25, 1e-3] in little-endian, written with DataView. */
function f32Data(): Uint8Array {
  const d = new Uint8Array(16);
  const v = new DataView(d.buffer);
  [1, -2.5, 3.25, 1e-3].forEach((x, i) => v.setFloat32(4 * i, x, true));
  return d;
}

describe('safetensors round trip', () => {
  it('keeps every dtype bit-exact, plus shapes and metadata', () => {
    const backing = new Float32Array([9, 9, 1.5, NaN, -0, Infinity, 1e-45, -3.4028234663852886e38]);
    const tensors: TensorToWrite[] = [
      // A subarray (non-zero byteOffset) to check the writer honours views.
      { name: 'blocks.0.attn.qkv.weight', dtype: 'F32', shape: [2, 3], data: backing.subarray(2) },
      { name: 'f64', dtype: 'F64', shape: [3], data: new Float64Array([Math.PI, -1e-300, 5e-324]) },
      { name: 'i32', dtype: 'I32', shape: [2, 2], data: new Int32Array([0, -1, 2147483647, -2147483648]) },
      { name: 'step', dtype: 'I64', shape: [], data: new BigInt64Array([-9223372036854775808n]) },
      { name: 'i64', dtype: 'I64', shape: [2], data: new BigInt64Array([9223372036854775807n, 7n]) },
      { name: 'u8', dtype: 'U8', shape: [5], data: new Uint8Array([0, 1, 127, 128, 255]) },
      { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    ];
    const metadata = { format: 'pt', note: 'λ/r = 0.8 — ünïcode', empty: '' };
    const path = join(dir, 'model.safetensors');
    writeSafetensors(path, tensors, metadata);

    const raw = readFileSync(path);
    const n = Number(raw.readBigUInt64LE(0));
    expect((8 + n) % 8).toBe(0); // data section 8-byte aligned

    for (const loaded of [readSafetensors(path), parseSafetensors(raw, 'in-memory')]) {
      expect(loaded.metadata).toEqual(metadata);
      expect([...loaded.tensors.keys()].sort()).toEqual(tensors.map((t) => t.name).sort());
      for (const t of tensors) {
        const got = loaded.tensors.get(t.name)!;
        expect(got.dtype).toBe(t.dtype);
        expect(got.shape).toEqual(t.shape);
        expect(got.data.constructor).toBe(t.data.constructor);
        expect(bytes(got.data)).toEqual(bytes(t.data));
      }
    }
  });

  it('writes no __metadata__ entry when none is given, and tensors contiguously in order', () => {
    const path = join(dir, 'a.safetensors');
    writeSafetensors(path, [
      { name: 'b', dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
      { name: 'a', dtype: 'F32', shape: [1], data: new Float32Array([2]) },
    ]);
    const raw = readFileSync(path);
    const n = Number(raw.readBigUInt64LE(0));
    const header = JSON.parse(raw.subarray(8, 8 + n).toString('utf8'));
    expect(Object.keys(header)).toEqual(['b', 'a']);
    expect(header.b.data_offsets).toEqual([0, 3]);
    expect(header.a.data_offsets).toEqual([3, 7]);
    expect(raw.length).toBe(8 + n + 7);
    expect(readSafetensors(path).metadata).toEqual({});
  });
});

describe('hand-made files', () => {
  const header = JSON.stringify({
    __metadata__: { epoch: '3' },
    w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
    step: { dtype: 'I64', shape: [1], data_offsets: [16, 24] },
  });
  function data(): Uint8Array {
    const d = new Uint8Array(24);
    d.set(f32Data());
    new DataView(d.buffer).setBigInt64(16, 123456789012345n, true);
    return d;
  }

  for (const pad of [0, 5]) {
    it(`loads a file built with DataView (header padding ${pad})`, () => {
      const path = join(dir, `hand-${pad}.safetensors`);
      writeFileSync(path, handMade(header, data(), pad));
      const { metadata, tensors } = readSafetensors(path);
      expect(metadata).toEqual({ epoch: '3' });
      const w = tensors.get('w')!;
      expect(w.dtype).toBe('F32');
      expect(w.shape).toEqual([2, 2]);
      expect(Array.from(w.data as Float32Array)).toEqual([1, -2.5, 3.25, Math.fround(1e-3)]);
      const step = tensors.get('step')!;
      expect(step.dtype).toBe('I64');
      expect(step.data).toEqual(new BigInt64Array([123456789012345n]));
    });
  }

  it('copies unaligned F64 data into an aligned array', () => {
    // Header of odd length: the data section starts at an odd byte offset.
    let h = JSON.stringify({ x: { dtype: 'F64', shape: [2], data_offsets: [0, 16] } });
    if ((8 + h.length) % 2 === 0) h += ' ';
    const d = new Uint8Array(16);
    const v = new DataView(d.buffer);
    v.setFloat64(0, -0.1, true);
    v.setFloat64(8, 6.02214076e23, true);
    const x = parseSafetensors(handMade(h, d), 'odd.safetensors').tensors.get('x')!;
    expect(x.data).toBeInstanceOf(Float64Array);
    expect(Array.from(x.data as Float64Array)).toEqual([-0.1, 6.02214076e23]);
  });
});

describe('corrupt files', () => {
  /** Write `file` to disk, expect readSafetensors and parseSafetensors to reject it with `re`. */
  function expectCorrupt(file: Uint8Array, re: RegExp): void {
    const path = join(dir, 'bad.safetensors');
    writeFileSync(path, file);
    let err: unknown;
    try {
      readSafetensors(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).toMatch(re);
    expect(() => parseSafetensors(file, 'mem.safetensors')).toThrow(re);
  }
  const entry = (e: object): string => JSON.stringify({ w: e });
  const w = { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] };

  it('file shorter than 8 bytes', () => {
    expectCorrupt(new Uint8Array(5), /file is 5 bytes, shorter than the 8-byte header length prefix/);
  });

  it('header length beyond the file size', () => {
    const f = handMade(entry(w), f32Data());
    new DataView(f.buffer).setBigUint64(0, 100000n, true);
    expectCorrupt(f, new RegExp(`header length 100000 is beyond the file size: only ${f.length - 8} bytes follow`));
    new DataView(f.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
    expectCorrupt(f, /header length 18446744073709551615 is beyond the file size/);
  });

  it('truncated data', () => {
    const f = handMade(entry(w), f32Data());
    expectCorrupt(f.subarray(0, f.length - 6), /tensor "w": data_offsets end 16 is beyond the data section \(10 bytes\)/);
    // Same through a file truncated on disk after a real write.
    const path = join(dir, 'trunc.safetensors');
    writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [4], data: new Float32Array(4) }]);
    truncateSync(path, readFileSync(path).length - 1);
    expect(() => readSafetensors(path)).toThrow(/tensor "w": data_offsets end 16 is beyond the data section \(15 bytes\)/);
  });

  it('header that is not JSON, not UTF-8 or not an object', () => {
    expectCorrupt(handMade('{"w": {"dtype": "F32",', f32Data()), /header is not valid JSON/);
    const f = handMade('{"w":1}', new Uint8Array(0));
    f[10] = 0xff; // inside the string "w"
    expectCorrupt(f, /header is not valid UTF-8/);
    expectCorrupt(handMade('[1, 2]', new Uint8Array(0)), /header must be a JSON object, got an array/);
  });

  it('unknown and unsupported dtypes', () => {
    expectCorrupt(handMade(entry({ ...w, dtype: 'F33' }), f32Data()), /tensor "w" has unknown dtype "F33" \(supported: F32 F64 I32 I64 U8\)/);
    expectCorrupt(
      handMade(entry({ ...w, dtype: 'BF16', data_offsets: [0, 8] }), f32Data()),
      /tensor "w" has dtype BF16, a valid safetensors dtype that grwarm-native does not load \(supported: F32 F64 I32 I64 U8\)/,
    );
    expectCorrupt(handMade(entry({ ...w, dtype: 'F16' }), f32Data()), /tensor "w" has dtype F16, a valid safetensors dtype/);
  });

  it('shape / data_offsets mismatch and unordered offsets', () => {
    expectCorrupt(
      handMade(entry({ ...w, data_offsets: [0, 12] }), f32Data()),
      /tensor "w": shape \[2, 2\] F32 needs 16 bytes, data_offsets \[0, 12\] give 12/,
    );
    expectCorrupt(handMade(entry({ ...w, shape: [3, 2] }), f32Data()), /shape \[3, 2\] F32 needs 24 bytes, data_offsets \[0, 16\] give 16/);
    expectCorrupt(handMade(entry({ ...w, data_offsets: [16, 0] }), f32Data()), /tensor "w": data_offsets not ordered \(begin 16 > end 0\)/);
  });

  it('overlapping tensors', () => {
    const h = JSON.stringify({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    });
    expectCorrupt(handMade(h, f32Data()), /tensors "a" \[0, 8\) and "b" \[4, 12\) overlap/);
  });

  it('entries with missing fields or wrong types', () => {
    expectCorrupt(handMade(entry({ dtype: 'F32', data_offsets: [0, 16] }), f32Data()), /tensor "w": missing "shape"/);
    expectCorrupt(handMade(entry({ dtype: 'F32', shape: [4] }), f32Data()), /tensor "w": missing "data_offsets"/);
    expectCorrupt(handMade(entry({ ...w, dtype: 32 }), f32Data()), /tensor "w": "dtype" must be a string, got number/);
    expectCorrupt(handMade(entry({ ...w, shape: [2, -2] }), f32Data()), /tensor "w": "shape" must be an array of non-negative integers, got \[2,-2\]/);
    expectCorrupt(handMade(entry({ ...w, shape: '4' }), f32Data()), /"shape" must be an array of non-negative integers/);
    expectCorrupt(handMade(entry({ ...w, data_offsets: [0] }), f32Data()), /tensor "w": "data_offsets" must be \[begin, end\]/);
    expectCorrupt(handMade(JSON.stringify({ w: [1] }), f32Data()), /tensor "w": entry must be an object, got an array/);
  });

  it('__metadata__ that is not an object of strings', () => {
    const meta = (m: unknown): string => JSON.stringify({ __metadata__: m, w });
    expectCorrupt(handMade(meta({ epoch: 3 }), f32Data()), /"__metadata__" value for key "epoch" must be a string, got number/);
    expectCorrupt(handMade(meta('x'), f32Data()), /"__metadata__" must be an object of strings/);
  });
});

describe('layout checks of the reference reader (issue 8, item 8)', () => {
  function expectCorrupt(file: Uint8Array, problem: string): void {
    const path = join(dir, 'layout.safetensors');
    writeFileSync(path, file);
    expect(() => readSafetensors(path)).toThrow(`Invalid safetensors file ${path}: ${problem}`);
    expect(() => parseSafetensors(file, 'mem.safetensors')).toThrow(`Invalid safetensors file mem.safetensors: ${problem}`);
  }
  const two = JSON.stringify({
    a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
  });

  it('a header length one byte short (every tensor read one byte off) is rejected', () => {
    const f = handMade(two, f32Data(), 3);
    const v = new DataView(f.buffer);
    v.setBigUint64(0, v.getBigUint64(0, true) - 1n, true);
    expectCorrupt(f, 'the tensors fill 16 bytes but the data section holds 17 (1 byte too many); a wrong header length or trailing bytes');
    // The same on a file written by the writer (its header is space-padded to 8 bytes).
    const path = join(dir, 'w.safetensors');
    writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [3], data: Float32Array.from([1, 2, 3]) }]);
    const w = new Uint8Array(readFileSync(path));
    const wv = new DataView(w.buffer);
    wv.setBigUint64(0, wv.getBigUint64(0, true) - 1n, true);
    writeFileSync(path, w);
    expect(() => readSafetensors(path)).toThrow(/\(1 byte too many\)|header is not valid JSON/);
  });

  it('trailing bytes, a gap, data not starting at 0, an empty tensor inside another', () => {
    expectCorrupt(handMade(JSON.stringify({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } }), f32Data()), 'the tensors fill 12 bytes but the data section holds 16 (4 bytes too many); a wrong header length or trailing bytes');
    expectCorrupt(
      handMade(JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }), f32Data()),
      '4 unused bytes between tensors "a" (ends at 4) and "b" (begins at 8); tensor data must be contiguous',
    );
    expectCorrupt(
      handMade(JSON.stringify({ a: { dtype: 'F32', shape: [3], data_offsets: [4, 16] } }), f32Data()),
      'the first tensor "a" begins at data offset 4, expected 0 (tensor data must start the data section)',
    );
    expectCorrupt(
      handMade(JSON.stringify({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, e: { dtype: 'F32', shape: [0], data_offsets: [8, 8] } }), f32Data()),
      'tensors "a" [0, 16) and "e" [8, 8) overlap',
    );
  });

  it('a shape whose byte size is not exact, and a header nested too deep', () => {
    expectCorrupt(
      handMade(JSON.stringify({ a: { dtype: 'F64', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 0] } }), new Uint8Array(0)),
      'tensor "a": shape [1099511627776, 1099511627776] F64 needs more bytes than any file holds, data_offsets [0, 0] give 0',
    );
    const deep = `{"a":{"dtype":"F32","shape":${'['.repeat(100)}${']'.repeat(100)},"data_offsets":[0,0]}}`;
    expectCorrupt(handMade(deep, new Uint8Array(0)), 'header JSON is nested 102 levels deep (at most 64 expected)');
  });

  it('empty tensors between others are fine when in order', () => {
    const h = JSON.stringify({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      e: { dtype: 'F32', shape: [0, 5], data_offsets: [8, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
    });
    const t = parseSafetensors(handMade(h, f32Data()), 'ok.safetensors').tensors;
    expect([...t.keys()]).toEqual(['a', 'e', 'b']);
    expect(t.get('e')!.data.length).toBe(0);
  });
});

describe('requireFinite', () => {
  it('rejects NaN/Inf in F32 and F64 tensors, naming the file and the tensor; integers are not checked', () => {
    const path = join(dir, 'nan.safetensors');
    writeSafetensors(path, [
      { name: 'ok', dtype: 'F32', shape: [2], data: Float32Array.from([1, 2]) },
      { name: 'ints', dtype: 'I32', shape: [1], data: Int32Array.from([-1]) },
      { name: 'bad', dtype: 'F64', shape: [4], data: Float64Array.from([0, -Infinity, NaN, 1]) },
    ]);
    expect(readSafetensors(path).tensors.get('bad')!.data.length).toBe(4); // off by default
    expect(() => readSafetensors(path, { requireFinite: true })).toThrow(
      `Rejected safetensors file ${path}: tensor "bad" holds 2 non-finite values (the first, at index 1, is -Infinity)`,
    );
    const err = (() => {
      try {
        parseSafetensors(readFileSync(path), 'mem', { requireFinite: true });
      } catch (e) {
        return e as SafetensorsError;
      }
    })();
    expect(err).toBeInstanceOf(SafetensorsError);
    expect([err!.file, err!.verb, err!.problem]).toEqual(['mem', 'Rejected', 'tensor "bad" holds 2 non-finite values (the first, at index 1, is -Infinity)']);
  });
});

describe('readSafetensorsHeader', () => {
  it('checks the header as fully as the full reader, without reading the data', () => {
    const path = join(dir, 'h.safetensors');
    writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [2, 2], data: new Float32Array(4) }], { k: 'v' });
    const h = readSafetensorsHeader(path);
    expect(h.metadata).toEqual({ k: 'v' });
    expect(h.entries).toEqual([{ name: 'w', dtype: 'F32', shape: [2, 2], begin: 0, end: 16 }]);
    expect(h.dataStart % 8).toBe(0);
    truncateSync(path, readFileSync(path).length - 1);
    expect(() => readSafetensorsHeader(path)).toThrow(/tensor "w": data_offsets end 16 is beyond the data section \(15 bytes\)/);
    expect(() => readSafetensorsHeader(join(dir, 'none.safetensors'))).toThrow(
      `cannot read ${join(dir, 'none.safetensors')}: no such file or directory (ENOENT)`,
    );
  });
});

describe('writer validation', () => {
  const cases: Array<[string, TensorToWrite[], RegExp]> = [
    ['length', [{ name: 'w', dtype: 'F32', shape: [2, 3], data: new Float32Array(5) }], /tensor "w" shape \[2, 3\] has 6 elements but data has 5/],
    [
      'duplicate',
      [
        { name: 'w', dtype: 'U8', shape: [1], data: new Uint8Array(1) },
        { name: 'w', dtype: 'U8', shape: [1], data: new Uint8Array(1) },
      ],
      /duplicate tensor name "w"/,
    ],
    ['array type', [{ name: 'w', dtype: 'F64', shape: [2], data: new Float32Array(2) }], /tensor "w" has dtype F64, which needs a Float64Array, got Float32Array/],
    ['reserved', [{ name: '__metadata__', dtype: 'U8', shape: [1], data: new Uint8Array(1) }], /"__metadata__" is reserved/],
    ['dtype', [{ name: 'w', dtype: 'BF16' as never, shape: [1], data: new Uint8Array(2) }], /tensor "w" has unsupported dtype BF16/],
    ['shape', [{ name: 'w', dtype: 'U8', shape: [1.5], data: new Uint8Array(1) }], /tensor "w" has invalid shape \[1\.5\]/],
  ];
  for (const [what, tensors, re] of cases) {
    it(`rejects bad input (${what}) without touching an existing file`, () => {
      const path = join(dir, 'ckpt.safetensors');
      writeFileSync(path, 'previous checkpoint');
      expect(() => writeSafetensors(path, tensors)).toThrow(re);
      expect(() => writeSafetensors(path, tensors)).toThrow(new RegExp(`Cannot write safetensors file ${path}`));
      expect(readFileSync(path, 'utf8')).toBe('previous checkpoint');
      expect(readdirSync(dir)).toEqual(['ckpt.safetensors']);
    });
  }

  it('rejects non-string metadata values', () => {
    const path = join(dir, 'm.safetensors');
    expect(() => writeSafetensors(path, [], { epoch: 3 as unknown as string })).toThrow(/metadata value for key "epoch" must be a string, got number/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('writeFileAtomic', () => {
  it('writes the chunks in order and leaves no temp file', () => {
    const path = join(dir, 'out.bin');
    writeFileAtomic(path, [new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array([3])]);
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
    writeFileAtomic(path, [new TextEncoder().encode('replaced')]);
    expect(readFileSync(path, 'utf8')).toBe('replaced');
    expect(readdirSync(dir)).toEqual(['out.bin']);
  });

  it('does not clobber the target when producing the data fails midway', () => {
    const path = join(dir, 'summary.json');
    writeFileSync(path, '{"ok":true}');
    function* failing(): Generator<Uint8Array> {
      yield new TextEncoder().encode('{"partial"');
      throw new Error('disk on fire');
    }
    expect(() => writeFileAtomic(path, failing())).toThrow('disk on fire');
    expect(readFileSync(path, 'utf8')).toBe('{"ok":true}');
    expect(readdirSync(dir)).toEqual(['summary.json']);
  });

  it('removes the temp file when the final rename fails', () => {
    const target = join(dir, 'occupied');
    mkdirSync(target);
    writeFileSync(join(target, 'keep'), 'x'); // a non-empty directory cannot be renamed over
    expect(() => writeFileAtomic(target, [new Uint8Array([1])])).toThrow();
    expect(readdirSync(dir)).toEqual(['occupied']);
    expect(readdirSync(target)).toEqual(['keep']);
  });

  it('fails cleanly when the directory does not exist, naming the target and the reason', () => {
    const target = join(dir, 'missing', 'x.bin');
    expect(() => writeFileAtomic(target, [new Uint8Array(1)])).toThrow(`cannot write ${target}: no such file or directory (ENOENT)`);
    expect(readdirSync(dir)).toEqual([]);
  });
});
