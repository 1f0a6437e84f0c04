// Item 7: setThreads reaches the kernels, which run on libuv worker threads: count the
// distinct threads that did kernel work for each setting.
const addon = require('./load.cjs');
const m = new addon.NativeModel(addon.micro, { precision: 'float32', seed: 1 });
(async () => {
  const { images, labels } = addon.batch(16);
  const seen = {};
  for (const n of [1, 2, 4, 3, 1]) {
    addon.setThreads(n);
    addon.threadCensus();
    await m.forwardBackward(images, labels, 1, true, 0);
    seen[n] = addon.threadCensus();
    if (seen[n] !== n) throw new Error(`setThreads(${n}): ${seen[n]} threads did work`);
  }
  console.log('ok', JSON.stringify(seen));
})();
