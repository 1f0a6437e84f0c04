// The overfitting finding's words follow its numbers (issue 22 item 10: "rises from 1.910 to
// 1.910" claimed a rise that was not there).
import { describe, expect, it } from 'vitest';
import type { Aggregate } from '../src/report/aggregate.js';
import { computeFindings } from '../src/report/findings.js';

function aggWith(minLoss: number, finalLoss: number): Aggregate {
  const key = JSON.stringify({ model: 'vit-micro' });
  const st = (mean: number) => ({ n: 2, mean, std: 0, min: mean, max: mean });
  const base = {
    contextKey: key, gr: 'none', warmupEpochs: 0, complete: [{}, {}],
    finalError: st(0.2), finalTrainError: st(0.05), finalTestLoss: st(finalLoss), minTestLoss: st(minLoss),
  };
  return { contexts: [{ key, label: 'vit-micro' }], settings: [base] } as unknown as Aggregate;
}

describe('overfitting finding', () => {
  it('names a rise only when the numbers show one', () => {
    const [rose] = computeFindings(aggWith(1.5, 1.91), []);
    expect(rose).toContain('its test loss rises from 1.500 at its best epoch to 1.910');
    expect(rose).toContain('it overfits (precondition holds)');
    const [flat] = computeFindings(aggWith(1.9101, 1.9102), []);
    expect(flat).not.toContain('rises');
    expect(flat).toContain('its test loss does not rise (1.910 at the end, its lowest)');
    expect(flat).toContain('precondition not shown');
  });
});
