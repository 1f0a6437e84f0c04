// Item 1: buffers read before configureOptimizer stay valid JS memory afterwards (they are
// copies), and reading a slot that no longer exists is a clear error, not a crash.
const addon = require('./load.cjs');
const m = new addon.NativeModel(addon.micro, { precision: 'float32', seed: 1 });
const n = m.layout().reduce((s, t) => s + t.size, 0);
m.configureOptimizer({ kind: 'adam' });
const slot1 = new Float32Array(n);
m.readBuffer('optimizer', 1, slot1);
m.configureOptimizer({ kind: 'sgd', momentum: 0.9 });
slot1[0] = 42; // our own memory: nothing native is touched
let msg = '';
try {
  m.readBuffer('optimizer', 1, slot1);
} catch (e) {
  msg = e.message;
}
if (!/readBuffer: optimizer slot 1 does not exist \(this optimizer has 1: momentum_buffer\)/.test(msg)) throw new Error('unexpected: ' + msg);
m.writeBuffer('optimizer', 0, slot1);
console.log('ok');
