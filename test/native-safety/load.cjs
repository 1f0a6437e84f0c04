// Loads the built addon for the crash-safety child scripts (plain Node, no TypeScript).
const path = require('node:path');
const root = path.join(__dirname, '..', '..');
module.exports = require('node-gyp-build')(root);
module.exports.micro = { imageSize: 32, channels: 3, patchSize: 4, numClasses: 10, width: 64, depth: 4, heads: 2, mlpHidden: 256, dropout: 0.1 };
module.exports.batch = (n, cfg = module.exports.micro) => {
  const images = new Float32Array(n * cfg.channels * cfg.imageSize * cfg.imageSize);
  if (n <= 4096) for (let i = 0; i < images.length; i++) images[i] = Math.sin(i * 0.37); // huge batches stay zero
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = i % cfg.numClasses;
  return { images, labels };
};
