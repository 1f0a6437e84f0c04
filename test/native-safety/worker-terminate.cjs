// Item 4: terminating a worker thread while its step runs must not take the process down.
// A round counts only if a step was in flight when the worker went away: the worker raises a
// shared flag when it starts a step and lowers it when the step has resolved; after terminate()
// no JS runs in the worker, so the flag says whether the teardown met a step in flight. No
// sleep: the main thread terminates as soon as the worker says its first step has started.
const { Worker } = require('node:worker_threads');
const path = require('node:path');
const code = `
  const { parentPort, workerData } = require('node:worker_threads');
  const flag = new Int32Array(workerData);
  const addon = require(${JSON.stringify(path.join(__dirname, 'load.cjs'))});
  const wide = { ...addon.micro, width: 256, depth: 6, heads: 4, mlpHidden: 1024 };
  const m = new addon.NativeModel(wide, { precision: 'float32', seed: 1 });
  m.configureOptimizer({ kind: 'adam' });
  const { images, labels } = addon.batch(32, wide);
  (async () => {
    for (let i = 0; ; i++) {
      const p = m.step(images, labels, { lr: 1e-3, lambda: 0.1, r: 0.1, seed: 1 });
      Atomics.store(flag, 0, 1);
      if (i === 0) parentPort.postMessage('step started');
      await p;
      Atomics.store(flag, 0, 0);
    }
  })();
`;
(async () => {
  let torn = 0;
  for (let attempt = 0; attempt < 10 && torn < 3; attempt++) {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const w = new Worker(code, { eval: true, workerData: flag.buffer });
    await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await w.terminate();
    if (Atomics.load(flag, 0) === 1) torn++; // the worker went away with a step in flight
  }
  if (torn < 3) throw new Error(`only ${torn} of 10 workers were terminated with a step in flight`);
  // the main thread still works with the addon afterwards
  const addon = require('./load.cjs');
  const m = new addon.NativeModel(addon.micro, { precision: 'float32', seed: 1 });
  const { images, labels } = addon.batch(4);
  await m.forwardBackward(images, labels, 1, true, 0);
  console.log('ok');
})();
