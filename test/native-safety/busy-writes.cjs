// Item 10: every write (and read) while a call is in flight is refused with "busy".
const addon = require('./load.cjs');
const m = new addon.NativeModel(addon.micro, { precision: 'float32', seed: 1 });
const n = m.layout().reduce((s, t) => s + t.size, 0);
m.configureOptimizer({ kind: 'adam' });
(async () => {
  const { images, labels } = addon.batch(64);
  const before = new Float32Array(n);
  m.readBuffer('params', 0, before);
  const p = m.step(images, labels, { lr: 0, lambda: 0.1, r: 0.1, seed: 2 });
  const refused = [];
  const tryIt = (name, f) => {
    try {
      f();
    } catch (e) {
      if (/busy/.test(e.message)) refused.push(name);
      else throw e;
    }
  };
  const junk = new Float32Array(n).fill(7);
  tryIt('writeBuffer', () => m.writeBuffer('params', 0, junk));
  tryIt('readBuffer', () => m.readBuffer('grads', 0, junk));
  tryIt('init', () => m.init(3));
  tryIt('configureOptimizer', () => m.configureOptimizer({ kind: 'sgd' }));
  tryIt('setOptimizerSteps', () => m.setOptimizerSteps(5));
  tryIt('forwardBackward', () => m.forwardBackward(images, labels, 1, true, 0));
  tryIt('step', () => m.step(images, labels, { lr: 0, lambda: 0, r: 0, seed: 1 }));
  if (!m.busy()) throw new Error('busy() should be true');
  await p;
  if (refused.length !== 7) throw new Error('not refused: ' + refused.join(','));
  const after = new Float32Array(n);
  m.readBuffer('params', 0, after);
  // lr 0: the GR step restores theta bit-exactly, and the refused write never landed
  if (Buffer.compare(Buffer.from(before.buffer), Buffer.from(after.buffer)) !== 0) throw new Error('params changed');
  console.log('ok');
})();
