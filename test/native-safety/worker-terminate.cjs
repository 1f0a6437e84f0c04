// Item 4: terminating a worker thread while its step runs must not take the process down.
const { Worker } = require('node:worker_threads');
const path = require('node:path');
const code = `
  const { parentPort } = require('node:worker_threads');
  const addon = require(${JSON.stringify(path.join(__dirname, 'load.cjs'))});
  const wide = { ...addon.micro, width: 256, depth: 6, heads: 4, mlpHidden: 1024 };
  const m = new addon.NativeModel(wide, { precision: 'float32', seed: 1 });
  m.configureOptimizer({ kind: 'adam' });
  const { images, labels } = addon.batch(32, wide);
  (async () => {
    parentPort.postMessage('started');
    for (;;) await m.step(images, labels, { lr: 1e-3, lambda: 0.1, r: 0.1, seed: 1 });
  })();
`;
(async () => {
  for (let round = 0; round < 3; round++) {
    const w = new Worker(code, { eval: true });
    await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await new Promise((r) => setTimeout(r, 150 + 100 * round)); // a step is in flight
    await w.terminate();
  }
  // the main thread still works with the addon afterwards
  const addon = require('./load.cjs');
  const m = new addon.NativeModel(addon.micro, { precision: 'float32', seed: 1 });
  const { images, labels } = addon.batch(4);
  await m.forwardBackward(images, labels, 1, true, 0);
  console.log('ok');
})();
