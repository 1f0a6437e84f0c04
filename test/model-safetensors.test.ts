// Model checkpoints in safetensors: round trip, files written by another tool, bad files.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createModel, vitConfig } from '../src/index.js';
import { randomizeParams } from './support/batch.js';

const dir = mkdtempSync(join(tmpdir(), 'grwarm-st-'));
const cfg = vitConfig('vit-micro', { depth: 1 });

/** Builds a safetensors file byte by byte, as another tool would (no use of our writer). */
function handWritten(tensors: { name: string; shape: number[]; data: Float32Array }[], pad = 5): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header) + ' '.repeat(pad), 'utf8');
  const out = Buffer.alloc(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let at = 8 + json.length;
  for (const t of tensors) {
    for (let i = 0; i < t.data.length; i++, at += 4) out.writeFloatLE(t.data[i], at);
  }
  return out;
}

describe('model safetensors', () => {
  it('save then load restores bit-identical parameters and the metadata', () => {
    const a = createModel(cfg, { seed: 1 });
    randomizeParams(a, 5);
    const path = join(dir, 'a.safetensors');
    a.saveSafetensors(path, { step: '12' });
    const b = createModel(cfg, { seed: 2 });
    const meta = b.loadSafetensors(path);
    expect(meta.step).toBe('12');
    expect(Buffer.from(b.params.buffer).equals(Buffer.from(a.params.buffer))).toBe(true);
  });

  it('loads a file written by hand in the format (other tool, unaligned header padding)', () => {
    const src = createModel(cfg, { seed: 3 });
    randomizeParams(src, 6);
    // Another tool may order tensors differently: write them reversed.
    const tensors = [...src.tensors].reverse().map((t) => ({ name: t.name, shape: t.shape, data: Float32Array.from(src.param(t.name)) }));
    const path = join(dir, 'hand.safetensors');
    writeFileSync(path, handWritten(tensors, 3));
    const m = createModel(cfg, { seed: 4 });
    m.loadSafetensors(path);
    expect(Buffer.from(m.params.buffer).equals(Buffer.from(src.params.buffer))).toBe(true);
  });

  it('rejects files whose tensors do not match the model, naming the tensor, and changes nothing', () => {
    const src = createModel(cfg, { seed: 3 });
    const tensors = src.tensors.map((t) => ({ name: t.name, shape: t.shape, data: Float32Array.from(src.param(t.name)) }));
    const m = createModel(cfg, { seed: 9 });
    const before = Float32Array.from(m.params);

    const missing = join(dir, 'missing.safetensors');
    writeFileSync(missing, handWritten(tensors.filter((t) => t.name !== 'head.bias')));
    expect(() => m.loadSafetensors(missing)).toThrow(/missing tensor "head\.bias" \(shape \[10\]\)/);

    const wrongShape = join(dir, 'shape.safetensors');
    writeFileSync(
      wrongShape,
      handWritten(tensors.map((t) => (t.name === 'pos_embed' ? { ...t, shape: [1, 5, 13 * 64], data: t.data } : t))),
    );
    expect(() => m.loadSafetensors(wrongShape)).toThrow(/tensor "pos_embed": shape \[1, 5, 832\], expected \[1, 65, 64\]/);

    const extra = join(dir, 'extra.safetensors');
    writeFileSync(extra, handWritten([...tensors, { name: 'blocks.7.norm1.weight', shape: [64], data: new Float32Array(64) }]));
    expect(() => m.loadSafetensors(extra)).toThrow(/unexpected tensor "blocks\.7\.norm1\.weight"/);
    expect(Buffer.from(m.params.buffer).equals(Buffer.from(before.buffer))).toBe(true);
  });

  it('corrupt files: truncated, header length beyond the file, unknown dtype', () => {
    const m = createModel(cfg);
    const path = join(dir, 'ok.safetensors');
    m.saveSafetensors(path);
    const good = readFileSync(path);

    const truncated = join(dir, 'truncated.safetensors');
    writeFileSync(truncated, good.subarray(0, good.length - 100));
    expect(() => m.loadSafetensors(truncated)).toThrow(/truncated\.safetensors/);

    const beyond = Buffer.from(good);
    beyond.writeBigUInt64LE(BigInt(good.length * 2), 0);
    const beyondPath = join(dir, 'beyond.safetensors');
    writeFileSync(beyondPath, beyond);
    expect(() => m.loadSafetensors(beyondPath)).toThrow(/header length .*beyond|exceeds|larger than/i);

    const n = Number(good.readBigUInt64LE(0));
    const header = good.subarray(8, 8 + n).toString('utf8').replace('"F32"', '"Q32"');
    const unknown = Buffer.concat([good.subarray(0, 8), Buffer.from(header, 'utf8'), good.subarray(8 + n)]);
    const unknownPath = join(dir, 'unknown.safetensors');
    writeFileSync(unknownPath, unknown);
    expect(() => m.loadSafetensors(unknownPath)).toThrow(/unknown dtype "Q32"/);
  });
});
