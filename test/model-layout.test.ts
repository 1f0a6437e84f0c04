// Parameter layout (timm names, PyTorch shapes, order) and initialisation.
import { describe, expect, it } from 'vitest';
import { createModel } from '../src/index.js';

/** timm's VisionTransformer state_dict for a class-token ViT, written out independently. */
function timmLayout(D: number, depth: number, mlp: number, classes: number, tokens: number, patch: number, ch: number) {
  const rows: [string, number[]][] = [
    ['cls_token', [1, 1, D]],
    ['pos_embed', [1, tokens, D]],
    ['patch_embed.proj.weight', [D, ch, patch, patch]],
    ['patch_embed.proj.bias', [D]],
  ];
  for (let i = 0; i < depth; i++) {
    const b = `blocks.${i}.`;
    rows.push(
      [`${b}norm1.weight`, [D]],
      [`${b}norm1.bias`, [D]],
      [`${b}attn.qkv.weight`, [3 * D, D]],
      [`${b}attn.qkv.bias`, [3 * D]],
      [`${b}attn.proj.weight`, [D, D]],
      [`${b}attn.proj.bias`, [D]],
      [`${b}norm2.weight`, [D]],
      [`${b}norm2.bias`, [D]],
      [`${b}mlp.fc1.weight`, [mlp, D]],
      [`${b}mlp.fc1.bias`, [mlp]],
      [`${b}mlp.fc2.weight`, [D, mlp]],
      [`${b}mlp.fc2.bias`, [D]],
    );
  }
  rows.push(['norm.weight', [D]], ['norm.bias', [D]], ['head.weight', [classes, D]], ['head.bias', [classes]]);
  return rows;
}

describe('parameter layout', () => {
  it('vit-ti matches timm names, shapes and order; views tile the flat buffer', () => {
    const m = createModel('vit-ti');
    const expected = timmLayout(192, 12, 768, 10, 65, 4, 3);
    expect(m.tensors.map((t) => [t.name, t.shape])).toEqual(expected);
    let offset = 0;
    for (const t of m.tensors) {
      expect(t.offset).toBe(offset);
      offset += t.size;
    }
    expect(m.numParams).toBe(offset);
    expect(m.params.length).toBe(m.numParams);
    expect(m.numParams).toBe(5_362_762); // docs/method.md: ≈5.36 M
    // a tensor written by name lands at its offset in the flat buffer
    const bias = Float32Array.from(m.param('head.bias'));
    bias[3] = 7;
    m.setParam('head.bias', bias);
    expect(m.params[m.numParams - 10 + 3]).toBe(7);
  });

  it.each([
    ['vit-ti', 146.9],
    ['vit-s', 207.8],
    ['vit-b', 293.8],
  ] as const)('%s init norm is within one percent of %d (docs/method.md section 4)', (preset, norm) => {
    const m = createModel(preset, { seed: 123 });
    expect(Math.abs(m.paramNorm() - norm) / norm).toBeLessThan(0.01);
  });

  it('initialisation follows the scheme: zeros, ones, N(0, 0.02), Xavier bounds', () => {
    const m = createModel('vit-ti', { seed: 4 });
    expect(m.param('head.weight').every((v) => v === 0)).toBe(true);
    expect(m.param('cls_token').every((v) => v === 0)).toBe(true);
    expect(m.param('blocks.0.norm1.weight').every((v) => v === 1)).toBe(true);
    const pos = m.param('pos_embed');
    const std = Math.sqrt(pos.reduce((s, v) => s + v * v, 0) / pos.length);
    expect(std).toBeGreaterThan(0.019);
    expect(std).toBeLessThan(0.021);
    const a = Math.sqrt(6 / (192 + 768));
    const fc1 = m.param('blocks.3.mlp.fc1.weight');
    const maxAbs = fc1.reduce((mx, v) => Math.max(mx, Math.abs(v)), 0);
    expect(maxAbs).toBeLessThanOrEqual(a);
    expect(maxAbs).toBeGreaterThan(0.99 * a);
  });

  it('same seed gives the same parameters, another seed different ones', () => {
    const a = createModel('vit-micro', { seed: 1 });
    const b = createModel('vit-micro', { seed: 1 });
    const c = createModel('vit-micro', { seed: 2 });
    expect(Buffer.compare(Buffer.from(a.params.buffer), Buffer.from(b.params.buffer))).toBe(0);
    expect(Buffer.compare(Buffer.from(a.params.buffer), Buffer.from(c.params.buffer))).not.toBe(0);
  });
});
