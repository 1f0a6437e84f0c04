// Item 3: detaching (transferring) the images and labels while a call runs, then collecting
// them, cannot crash: the call works on its own copies. Run with --expose-gc.
const addon = require('./load.cjs');
const m = new addon.NativeModel(addon.micro, { precision: 'float32', seed: 1 });
m.configureOptimizer({ kind: 'adam' });
(async () => {
  const ref = addon.batch(64);
  const want = await m.forwardBackward(ref.images, ref.labels, 3, true, 0);
  for (let round = 0; round < 5; round++) {
    const { images, labels } = addon.batch(64);
    const p = m.forwardBackward(images, labels, 3, true, 0);
    let moved = structuredClone(images.buffer, { transfer: [images.buffer] });
    let movedL = structuredClone(labels.buffer, { transfer: [labels.buffer] });
    if (images.length !== 0 || labels.length !== 0) throw new Error('not detached');
    moved = movedL = null;
    global.gc();
    const r = await p;
    if (r.loss !== want.loss) throw new Error(`loss ${r.loss} != ${want.loss}`);
  }
  const { images, labels } = addon.batch(64);
  const p = m.step(images, labels, { lr: 1e-3, lambda: 0.1, r: 0.1, seed: 2 });
  structuredClone(images.buffer, { transfer: [images.buffer] });
  global.gc();
  await p;
  console.log('ok');
})();
