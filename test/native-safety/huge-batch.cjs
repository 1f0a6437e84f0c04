// Item 2: a batch too large for memory is refused with the memory it needs, and the model
// stays usable (both when the huge batch comes first and after a normal batch).
// argv[2] = 'first' | 'after'. Run under `ulimit -v` so the allocation itself fails.
const addon = require('./load.cjs');
const wide = { ...addon.micro, width: 512, depth: 8, heads: 8, mlpHidden: 2048 };
const m = new addon.NativeModel(wide, { precision: 'float32', seed: 1 });
const need = m.activationBytes(1);
const huge = Math.ceil((Number(process.argv[3]) * 2 ** 30) / need); // images needing ~argv[3] GiB
(async () => {
  const small = addon.batch(2, wide);
  if (process.argv[2] === 'after') await m.forwardBackward(small.images, small.labels, 1, true, 0);
  const big = addon.batch(huge, wide);
  let msg = '';
  try {
    await m.forwardBackward(big.images, big.labels, 1, true, 0);
  } catch (e) {
    msg = e.message;
  }
  if (!/out of memory: a batch of \d+ images needs [\d.]+ GiB/.test(msg)) throw new Error('unexpected: ' + msg);
  console.log(msg);
  for (let i = 0; i < 3; i++) {
    const r = await m.forwardBackward(small.images, small.labels, 1, true, 0);
    if (!Number.isFinite(r.loss) || r.count !== 2) throw new Error('model broken after OOM');
  }
  m.configureOptimizer({ kind: 'adam' });
  await m.step(small.images, small.labels, { lr: 1e-3, lambda: 0.1, r: 0.1, seed: 2 });
  console.log('ok');
})();
