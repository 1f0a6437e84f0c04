// `train --model swin-micro | cait-micro` end to end in child processes: every GR policy in
// float32 and bfloat16, and an exact resume from a mid-run checkpoint (the family seam leaves
// the trainer, checkpoints and the GR step unchanged, so a Swin or CaiT run behaves like a ViT
// run); and two GR steps of cait-xxs12 on CIFAR-10-shaped synthetic data (32 px, patch 4).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../src/io/safetensors.js';
import { CLI, ensureCliBuilt } from './support/cli.js';

const work = mkdtempSync(join(tmpdir(), 'grwarm-cli-families-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// 32 training images in batches of 8: 4 steps per epoch, 8 steps, warmup 1 epoch.
const small = (model: string) => ['train', '--model', model, '--synthetic-train', '32', '--synthetic-test', '16', '--batch-size', '8',
  '--steps', '8', '--warmup-epochs', '1', '--threads', '1', '--quiet', '--r', '0.05', '--lambda', '0.05'];

function train(args: string[]): { code: number | null; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, err: r.stderr };
}

function paramBytes(file: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [name, t] of readSafetensors(file).tensors) out.set(name, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return out;
}

describe.each(['swin-micro', 'cait-micro'])('train --model %s', (model) => {
  ensureCliBuilt();
  const SMALL = small(model);
  for (const precision of ['float32', 'bfloat16']) {
    it(`${precision}: every GR policy trains (finite losses, the second pass where the policy has one)`, () => {
      for (const gr of ['none', 'gr', 'sam', 'r-warmup', 'lambda-warmup', 'zero-warmup']) {
        const dir = join(work, `${model}-${precision}-${gr}`);
        const r = train([...SMALL, '--gr', gr, '--precision', precision, '--out-dir', dir]);
        expect(r.code, `${gr}: ${r.err}`).toBe(0);
        const steps = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
          .filter((m) => m.type === 'step');
        expect(steps).toHaveLength(8);
        for (const s of steps) expect(Number.isFinite(s.loss), `${gr} step ${String(s.step)}`).toBe(true);
        // The second pass runs exactly when the step's scheduled lambda and r are both > 0
        // (docs/method.md section 3.3); gr and sam every step, none never, and the warmup
        // policies at least after the 4 warmup steps.
        for (const st of steps) {
          expect(st.secondPass, `${gr} step ${String(st.step)}`).toBe((st.lambda as number) > 0 && (st.r as number) > 0);
        }
        const second = steps.filter((st) => st.secondPass === true).length;
        if (gr === 'none') expect(second).toBe(0);
        else if (gr === 'gr' || gr === 'sam') expect(second, gr).toBe(8);
        else expect(second, gr).toBeGreaterThanOrEqual(4);
      }
    }, 120_000);

    it(`${precision}: resuming from the step-4 checkpoint ends bit-identical to the straight run`, () => {
      const a = join(work, `${model}-${precision}-straight`), c = join(work, `${model}-${precision}-resumed`);
      expect(train([...SMALL, '--gr', 'zero-warmup', '--precision', precision, '--out-dir', a]).code).toBe(0);
      const r = train(['train', '--resume', join(a, 'checkpoints', 'step-0000004.safetensors'), '--out-dir', c, '--quiet']);
      expect(r.code, r.err).toBe(0);
      const pa = paramBytes(join(a, 'checkpoints', 'step-0000008.safetensors'));
      const pc = paramBytes(join(c, 'checkpoints', 'step-0000008.safetensors'));
      expect([...pc.keys()]).toEqual([...pa.keys()]);
      for (const [name, bytes] of pa) expect(pc.get(name)!.equals(bytes), name).toBe(true);
    }, 120_000);
  }
});

describe('train --model cait-xxs12', () => {
  ensureCliBuilt();
  it('cait-xxs12 at 32 px (the CIFAR variant) takes GR steps in float32 and bf16', () => {
    for (const precision of ['float32', 'bfloat16']) {
      const dir = join(work, `xxs12-${precision}`);
      const r = train(['train', '--model', 'cait-xxs12', '--synthetic-train', '4', '--synthetic-test', '2', '--batch-size', '2',
        '--steps', '2', '--threads', '2', '--quiet', '--gr', 'gr', '--r', '0.05', '--precision', precision, '--out-dir', dir]);
      expect(r.code, r.err).toBe(0);
      const steps = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((m) => m.type === 'step');
      expect(steps).toHaveLength(2);
      for (const s of steps) expect(Number.isFinite(s.loss)).toBe(true);
      const names = [...paramBytes(join(dir, 'checkpoints', 'step-0000002.safetensors')).keys()];
      expect(names).toContain('blocks.11.attn.proj_l.weight');
      expect(names).toContain('blocks_token_only.1.gamma_2');
    }
  }, 120_000);
});
