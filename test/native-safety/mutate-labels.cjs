// Item 6: labels changed after the call is made cannot reach the kernels (copied, then checked).
const addon = require('./load.cjs');
const m = new addon.NativeModel(addon.micro, { precision: 'float32', seed: 1 });
(async () => {
  const { images, labels } = addon.batch(32);
  const want = await m.forwardBackward(images, labels, 5, true, 0);
  const p = m.forwardBackward(images, labels, 5, true, 0);
  labels.fill(1e9); // out of range: would read outside the logits if it reached the kernel
  images.fill(Number.NaN);
  const r = await p;
  if (r.loss !== want.loss || r.correct !== want.correct) throw new Error(`got ${r.loss}, want ${want.loss}`);
  console.log('ok');
})();
