/**
 * The lab's seeded pseudo-random number generator: every random decision (impairments, fault
 * schedules, workload payloads) draws from one of these, so the same seed gives the same run.
 *
 * The generator is SplitMix32-seeded xoshiro128** (Blackman and Vigna): small state, fast in
 * 32-bit integer arithmetic, and good enough for simulation (not for cryptography).
 *
 * @module
 */

/** Mix a 32-bit value (the SplitMix32 finaliser); used to derive seeds from labels. */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Hash a label to 32 bits (FNV-1a), to derive an independent stream per link or VM. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}

/**
 * A seeded xoshiro128** generator.
 *
 * @example
 * ```ts
 * import { Prng } from "./prng.ts";
 * const link = Prng.fromSeed(42).fork("link a-b forward");
 * const drop = link.chance(0.01); // the same seed and label give the same decisions
 * ```
 */
export class Prng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  private constructor(s0: number, s1: number, s2: number, s3: number) {
    this.#s0 = s0;
    this.#s1 = s1;
    this.#s2 = s2;
    this.#s3 = s3;
    if ((s0 | s1 | s2 | s3) === 0) this.#s0 = 1; // the all-zero state is a fixed point
  }

  /** A generator whose whole state is derived from a 32-bit seed. */
  static fromSeed(seed: number): Prng {
    let x = seed >>> 0;
    const a = mix32(x);
    x = (x + 0x9e3779b9) >>> 0;
    const b = mix32(x);
    x = (x + 0x9e3779b9) >>> 0;
    const c = mix32(x);
    x = (x + 0x9e3779b9) >>> 0;
    return new Prng(a, b, c, mix32(x));
  }

  /** An independent generator for `label`, derived from this one's current state. */
  fork(label: string): Prng {
    return Prng.fromSeed((this.#s0 ^ hashLabel(label)) >>> 0);
  }

  /** The next 32 random bits as an unsigned integer. */
  nextU32(): number {
    const s0 = this.#s0, s1 = this.#s1, s2 = this.#s2, s3 = this.#s3;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.#s2 = s2 ^ s0;
    this.#s3 = s3 ^ s1;
    this.#s1 = s1 ^ this.#s2;
    this.#s0 = s0 ^ this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return r;
  }

  /** A float in [0, 1) with 32 bits of randomness. */
  float(): number {
    return this.nextU32() / 4294967296;
  }

  /** True with probability `p` (0 ≤ p ≤ 1). */
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  /** An integer in [0, n) for 1 ≤ n ≤ 2^32. */
  below(n: number): number {
    return Math.floor(this.float() * n);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
