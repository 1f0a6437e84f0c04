// Evaluation of a model on a whole data set (eval mode: no dropout), in batches so memory
// stays bounded on large test sets. The loss is the mean over all images.
import { evalBatches, type Dataset } from '../data/index.js';
import type { VitModel } from '../model/vit-model.js';
import type { EvalResult } from './metrics.js';

/** Images per evaluation batch. */
export const EVAL_BATCH = 256;

export async function evaluateDataset(model: VitModel, ds: Dataset, batchSize = EVAL_BATCH): Promise<EvalResult> {
  let lossSum = 0;
  let correct = 0;
  let count = 0;
  for (const b of evalBatches(ds, Math.min(batchSize, Math.max(1, ds.count)))) {
    const r = await model.evaluate(b.images, b.labels);
    lossSum += r.loss * r.count;
    correct += r.correct;
    count += r.count;
  }
  if (count === 0) throw new Error(`data set ${ds.name}: nothing to evaluate (0 images)`);
  return { loss: lossSum / count, error: (count - correct) / count, count };
}
