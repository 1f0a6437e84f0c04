// grStepOrigin and the runs made before it existed (which counted the GR ramps from 1).
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/index.js';
import { configHash } from '../src/train/plan.js';

describe('grStepOrigin', () => {
  it('defaults to 0; a config without the key (an old run) hashes as grStepOrigin 1', () => {
    const cfg = validateConfig({ gr: 'r-warmup' });
    expect(cfg.grStepOrigin).toBe(0);
    const { grStepOrigin: _drop, ...old } = cfg;
    void _drop;
    expect(configHash(old as never)).toBe(configHash({ ...cfg, grStepOrigin: 1 }));
    expect(configHash({ ...cfg, grStepOrigin: 0 })).not.toBe(configHash({ ...cfg, grStepOrigin: 1 }));
  });
});
