// The global squared L2 norm in exactly the native order (flat_ops.cpp): fixed chunks of
// 16384 elements summed in double, chunk sums added in index order. Same bits as the native
// norm, which the unfused GR step needs to match the fused one exactly.
export const NORM_CHUNK = 1 << 14;

export function sumSquares(x: Float32Array | Float64Array): number {
  let total = 0;
  for (let c = 0; c < x.length; c += NORM_CHUNK) {
    const end = Math.min(x.length, c + NORM_CHUNK);
    let s = 0;
    for (let i = c; i < end; i++) s += x[i] * x[i];
    total += s;
  }
  return total;
}
