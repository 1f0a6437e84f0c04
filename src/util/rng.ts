/**
 * Small deterministic PRNG used everywhere the training run needs randomness on the JS side
 * (data order, augmentation, synthetic data, validation splits).
 *
 * Generator: xoshiro128** (32-bit state words, so everything stays in exact int32 math via
 * Math.imul / >>> 0 and results are bit-identical on every platform and Node version),
 * seeded through SplitMix32 so that nearby seeds (0, 1, 2, ...) give unrelated streams.
 *
 * Everything here is a pure function of its inputs: an `Rng` built from seed s always yields
 * the same sequence, and `deriveSeed` is a fixed hash. That is what makes batch k of epoch e
 * reproducible from (seed, e, k) alone (see src/data/batches.ts).
 */

const TWO_POW_32 = 4294967296;

/** murmur3's 32-bit finaliser: a bijective avalanche mix of one uint32. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function assertSafeInt(x: number, what: string): void {
  if (!Number.isSafeInteger(x)) {
    throw new Error(`${what} must be a safe integer, got ${x}`);
  }
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** `seed` is any safe integer; it is reduced to 64 bits (low and high words) before seeding. */
  constructor(seed: number) {
    assertSafeInt(seed, 'Rng seed');
    // SplitMix32 over the seed's two 32-bit words fills the 128-bit state.
    let sm = (fmix32(seed >>> 0) ^ Math.floor(seed / TWO_POW_32)) | 0;
    const next = (): number => {
      sm = (sm + 0x9e3779b9) | 0;
      return fmix32(sm);
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    // xoshiro's all-zero state is a fixed point; SplitMix makes it practically impossible,
    // but guard anyway so the generator can never get stuck.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /**
   * Generator with an explicit 128-bit state (four uint32 words, not all zero). Lets tests
   * check the core against xoshiro128**'s published reference outputs.
   */
  static fromState(state: readonly [number, number, number, number]): Rng {
    if ((state[0] | state[1] | state[2] | state[3]) === 0) {
      throw new Error('Rng.fromState: the all-zero state is invalid for xoshiro128**');
    }
    const r = new Rng(0);
    [r.s0, r.s1, r.s2, r.s3] = state.map((w) => w | 0);
    return r;
  }

  /** Uniform uint32 in [0, 2^32). */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 32 random bits (never returns 1). */
  nextFloat(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /**
   * Uniform integer in [0, n) without modulo bias: draws below 2^32 mod n are rejected so the
   * remaining range is an exact multiple of n. n must be an integer in [1, 2^32].
   */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new Error(`nextInt: n must be an integer in [1, 2^32], got ${n}`);
    }
    const threshold = TWO_POW_32 % n;
    for (;;) {
      const r = this.nextU32();
      if (r >= threshold) return r % n;
    }
  }

  /** Standard normal sample (Box–Muller; one draw per call so the state advance is fixed). */
  normal(): number {
    // 1 - u keeps the log argument in (0, 1].
    const u1 = 1 - this.nextFloat();
    const u2 = this.nextFloat();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}

/**
 * Hashes a base seed together with integers (epoch, batch index, stream id, ...) into a new
 * uint32 seed. Order and count matter: deriveSeed(s, 1, 2) != deriveSeed(s, 2, 1) and
 * deriveSeed(s, 0) != deriveSeed(s, 0, 0). Each part is absorbed as its low and high 32-bit
 * words, so any safe integer (including negatives) is accepted.
 */
export function deriveSeed(...parts: number[]): number {
  let h = 0x6a09e667;
  for (const p of parts) {
    assertSafeInt(p, 'deriveSeed part');
    const lo = p >>> 0;
    const hi = Math.floor(p / TWO_POW_32) >>> 0;
    h = fmix32((Math.imul(h ^ lo, 0x9e3779b1) + 0x7f4a7c15) | 0);
    h = fmix32((Math.imul(h ^ hi, 0x9e3779b1) + 0x7f4a7c15) | 0);
  }
  return fmix32(h ^ parts.length);
}

/** Uniform random permutation of 0..n-1 (Fisher–Yates), consuming n-1 draws from rng. */
export function permutation(n: number, rng: Rng): Int32Array {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
    throw new Error(`permutation: n must be a non-negative int32, got ${n}`);
  }
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
