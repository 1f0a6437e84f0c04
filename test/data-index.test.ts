import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DATASET_NAMES, loadDataset, splitValidation } from '../src/data/index.js';
import { makeSynthetic } from '../src/data/synthetic.js';

const root = mkdtempSync(join(tmpdir(), 'grwarm-index-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('loadDataset', () => {
  it('builds the synthetic set from seed and sizes', () => {
    const { train, test } = loadDataset('synthetic', { seed: 4, syntheticTrain: 120, syntheticTest: 30 });
    expect([train.name, train.count, test.count]).toEqual(['synthetic', 120, 30]);
    const direct = makeSynthetic({ seed: 4, trainCount: 120, testCount: 30 });
    expect(train.images).toEqual(direct.train.images);
  });

  it('dispatches file-based sets to their loaders', () => {
    const d = join(root, 'cifar-10-batches-bin');
    mkdirSync(d);
    const rec = Buffer.alloc(3073);
    rec[0] = 6;
    for (const f of [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).concat('test_batch.bin')) {
      writeFileSync(join(d, f), rec);
    }
    const { train, test } = loadDataset('cifar10', { dataDir: root, seed: 0 });
    expect([train.name, train.count, test.count, train.labels[0]]).toEqual(['cifar10', 5, 1, 6]);
  });

  it('asks for a data directory where there is no default', () => {
    for (const name of ['cifar10', 'cifar100', 'mnist'] as const) {
      expect(() => loadDataset(name, { seed: 0 })).toThrow(new RegExp(`'${name}' needs a data directory`));
    }
    expect(() => loadDataset('mnist', { seed: 0, dataDir: join(root, 'none') })).toThrow(/none does not exist/);
    expect(DATASET_NAMES).toContain('fashion-mnist');
  });
});

describe('splitValidation', () => {
  const { train } = makeSynthetic({ seed: 2, trainCount: 200, testCount: 0 });
  const size = 3 * 32 * 32;

  it('partitions the samples deterministically', () => {
    const a = splitValidation(train, 0.1, 9);
    const b = splitValidation(train, 0.1, 9);
    const c = splitValidation(train, 0.1, 10);
    expect([a.train.count, a.val.count]).toEqual([180, 20]);
    expect(a.val.images).toEqual(b.val.images);
    expect(a.val.images).not.toEqual(c.val.images);
    expect(a.val.name).toBe('synthetic-val');
    // Every sample lands in exactly one part, with its own label: match images back.
    const key = (img: Uint8Array): string => Buffer.from(img).toString('base64');
    const original = new Map<string, number>();
    for (let i = 0; i < train.count; i++) original.set(key(train.images.subarray(i * size, (i + 1) * size)), train.labels[i]);
    const seen = new Set<string>();
    for (const part of [a.train, a.val]) {
      for (let i = 0; i < part.count; i++) {
        const k = key(part.images.subarray(i * size, (i + 1) * size));
        expect(original.get(k)).toBe(part.labels[i]);
        seen.add(k);
      }
      expect(part.mean).toEqual(train.mean);
    }
    expect(seen.size).toBe(200);
  });

  it('accepts fraction 0 and rejects fractions outside [0, 1)', () => {
    expect(splitValidation(train, 0, 1).val.count).toBe(0);
    expect(() => splitValidation(train, 1, 1)).toThrow(/fraction/);
    expect(() => splitValidation(train, -0.1, 1)).toThrow(/fraction/);
  });
});
