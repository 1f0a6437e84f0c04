/**
 * Per-channel mean/std (in [0,1] units) of channel-planar uint8 images, for data sets without
 * published constants (MNIST-like, synthetic). Always computed on the training split only,
 * and the same numbers are then used for the test split, as for CIFAR.
 */
export function channelStats(
  images: Uint8Array,
  count: number,
  channels: number,
  pixelsPerChannel: number,
): { mean: number[]; std: number[] } {
  // Histogram per channel: exact integer counts, so no float accumulation error over
  // tens of millions of pixels, and one cheap pass.
  const hist = new Float64Array(channels * 256);
  const imgSize = channels * pixelsPerChannel;
  for (let n = 0; n < count; n++) {
    for (let c = 0; c < channels; c++) {
      const base = n * imgSize + c * pixelsPerChannel;
      const h = c * 256;
      for (let i = 0; i < pixelsPerChannel; i++) hist[h + images[base + i]]++;
    }
  }
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < channels; c++) {
    let total = 0;
    let s1 = 0;
    for (let v = 0; v < 256; v++) {
      const k = hist[c * 256 + v];
      total += k;
      s1 += k * v;
    }
    const m = total > 0 ? s1 / total : 0;
    let s2 = 0;
    for (let v = 0; v < 256; v++) s2 += hist[c * 256 + v] * (v - m) * (v - m);
    const sd = total > 0 ? Math.sqrt(s2 / total) : 0;
    mean.push(m / 255);
    // A constant channel would divide by zero in normalisation; fall back to 1.
    std.push(sd > 0 ? sd / 255 : 1);
  }
  return { mean, std };
}
