/**
 * The random models behind the impairment stage, in netem's vocabulary: the correlated uniform
 * generator that every `… correlation` knob uses, the delay distributions (uniform, normal,
 * pareto, paretonormal) computed from the seeded PRNG (no tables), and the two Markov loss
 * models, the 4-state model (`loss state p13 p31 p32 p23 p14`) and Gilbert-Elliott
 * (`loss gemodel p r 1-h 1-k`).
 *
 * Every function takes the stage's `Prng` and allocates nothing; the stage (`impair.ts`) runs
 * them on the producer's thread, one decision per frame.
 *
 * @module
 */

import type { Prng } from "../../devices/base/prng.ts";

// The types live with the other worker specs (lab/wire/specs.ts), below both topology and host.
export type { DelayDistribution, LossModel } from "../wire/specs.ts";
import type { DelayDistribution, LossModel } from "../wire/specs.ts";

/** Every delay distribution. */
export const DELAY_DISTRIBUTIONS = [
  "uniform",
  "normal",
  "pareto",
  "paretonormal",
] as const satisfies readonly DelayDistribution[];

/**
 * netem's correlated random source: each value is `(1 - ρ)·u + ρ·last` with `u` uniform in
 * [0, 1). With ρ = 0 it is the PRNG's float. Like netem's, it lowers the spread of the values, so
 * a correlated `loss 1% 25%` loses somewhat fewer than 1% of frames. The first `last` is itself
 * uniform (netem's `init_crandom` takes a random one): started from 0, a `loss 10% 99%` lost
 * about the first 20 frames outright and a correlated jitter started at its lowest.
 *
 * @example
 * ```ts
 * import { Prng } from "../../devices/base/prng.ts";
 * import { Correlated } from "./impair_models.ts";
 * const c = new Correlated();
 * c.next(Prng.fromSeed(1), 25); // a float in [0, 1)
 * ```
 */
export class Correlated {
  /** The previous value (NaN until the first: a correlated draw then starts from a uniform one). */
  last = NaN;

  /** The next value, with correlation `rhoPct` (0..100) to the previous one. */
  next(prng: Prng, rhoPct: number): number {
    if (rhoPct > 0 && Number.isNaN(this.last)) this.last = prng.float(); // netem's init_crandom
    const u = prng.float();
    if (rhoPct <= 0) return (this.last = u);
    const rho = rhoPct / 100;
    this.last = (1 - rho) * u + rho * this.last;
    return this.last;
  }

  /** True with probability `pct` % (drawing only when `pct` > 0), correlated by `rhoPct`. */
  chance(prng: Prng, pct: number, rhoPct: number): boolean {
    return pct > 0 && this.next(prng, rhoPct) < pct / 100;
  }
}

const U_MIN = 1e-9;
const U_MAX = 1 - 1e-9;
const PARETO_SHAPE = 3;
const PARETO_MEAN = PARETO_SHAPE / (PARETO_SHAPE - 1); // 1.5 with a minimum of 1
/**
 * netem's scale of its pareto table (iproute2 `netem/pareto.c`, `paretonormal.c`): each entry is
 * `(x - 1.5) * 4/3` in units of the jitter, not the Pareto's own sd (0.866), so a netem user's
 * `jitter` spreads a pareto delay the same here.
 */
const PARETO_SCALE = 4 / 3;

// Acklam's coefficients, module constants: the stage allocates nothing per frame.
const NQ_A = [
  -39.69683028665376,
  220.9460984245205,
  -275.9285104469687,
  138.357751867269,
  -30.66479806614716,
  2.506628277459239,
];
const NQ_B = [
  -54.47609879822406,
  161.5858368580409,
  -155.6989798598866,
  66.80131188771972,
  -13.28068155288572,
];
const NQ_C = [
  -0.007784894002430293,
  -0.3223964580411365,
  -2.400758277161838,
  -2.549732539343734,
  4.374664141464968,
  2.938163982698783,
];
const NQ_D = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];

/**
 * The inverse of the standard normal CDF (Acklam's rational approximation, relative error below
 * 1.2e-9).
 *
 * @example
 * ```ts
 * import { normalQuantile } from "./impair_models.ts";
 * normalQuantile(0.975); // about 1.96
 * ```
 */
export function normalQuantile(u: number): number {
  const p = Math.min(U_MAX, Math.max(U_MIN, u));
  const a = NQ_A, b = NQ_B, c = NQ_C, d = NQ_D;
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/**
 * Pareto (shape 3, minimum 1) quantile, shifted to mean 0 and scaled as netem's pareto table is:
 * `(x - 1.5) · 4/3` (so it starts at -2/3; cut to the table's range its sd is about 0.82).
 *
 * @example
 * ```ts
 * import { paretoQuantile } from "./impair_models.ts";
 * paretoQuantile(0.5); // about -0.32: most values are small, the tail is long
 * ```
 */
export function paretoQuantile(u: number): number {
  const p = Math.min(U_MAX, Math.max(U_MIN, u));
  return ((1 - p) ** (-1 / PARETO_SHAPE) - PARETO_MEAN) * PARETO_SCALE;
}

/**
 * The range of a table distribution's factor, as netem's: its tables hold 16-bit values in units
 * of 1/8192 sd (`NETEM_DIST_SCALE`), so no draw lies beyond -4 or 32767/8192 sd. Without it a
 * pareto draw could reach 1000 sd (a 5 ms jitter: 5 s), and since a frame is never due before the
 * one before it, one such draw would hold up the whole link.
 */
export const JITTER_FACTOR_RANGE: readonly [number, number] = [-32768 / 8192, 32767 / 8192];

/**
 * A jitter factor for a uniform `u` in [0, 1): the value multiplies the jitter and is added to
 * the delay, as netem's table entries do. `uniform` gives [-1, 1); `normal` a standard normal;
 * `pareto` a heavy right tail (mean about 0, netem's scale: {@linkcode paretoQuantile});
 * `paretonormal` netem's mix, a quarter normal and three quarters pareto (taken at the same
 * quantile, the pareto part cut first, as iproute2's `paretonormal.c` builds its table). The last
 * three are cut to `JITTER_FACTOR_RANGE`, as netem's tables are.
 *
 * @example
 * ```ts
 * import { jitterFactor } from "./impair_models.ts";
 * jitterFactor("uniform", 0.75); // 0.5
 * ```
 */
export function jitterFactor(dist: DelayDistribution, u: number): number {
  switch (dist) {
    case "uniform":
      return u * 2 - 1;
    case "normal":
      return tableRange(normalQuantile(u));
    case "pareto":
      return tableRange(paretoQuantile(u));
    case "paretonormal":
      return tableRange(0.25 * normalQuantile(u) + 0.75 * tableRange(paretoQuantile(u)));
  }
}

function tableRange(x: number): number {
  return Math.min(JITTER_FACTOR_RANGE[1], Math.max(JITTER_FACTOR_RANGE[0], x));
}

/**
 * The state of a Markov loss model (netem's `clgstate`): 1..4 for the 4-state model, 1 = good
 * and 3 = bad for Gilbert-Elliott.
 *
 * @example
 * ```ts
 * import { Prng } from "../../devices/base/prng.ts";
 * import { MarkovLoss } from "./impair_models.ts";
 * const m = new MarkovLoss();
 * m.lose({ kind: "gemodel", p: 1, r: 10, oneMinusH: 100, oneMinusK: 0 }, Prng.fromSeed(1));
 * ```
 */
export class MarkovLoss {
  /** Current state. */
  state = 1;

  /** Decide the next frame's fate: true when it is lost. */
  lose(model: LossModel, prng: Prng): boolean {
    return model.kind === "state"
      ? this.#fourState(model, prng)
      : this.#gilbertElliott(model, prng);
  }

  #fourState(m: LossModel & { kind: "state" }, prng: Prng): boolean {
    const rnd = prng.float() * 100;
    switch (this.state) {
      case 1: // good reception
        if (rnd < m.p14) {
          this.state = 4;
          return true;
        }
        if (rnd < m.p14 + m.p13) {
          this.state = 3;
          return true;
        }
        return false;
      case 2: // good reception inside a burst
        if (rnd < m.p23) {
          this.state = 3;
          return true;
        }
        return false;
      case 3: // loss inside a burst
        if (rnd < m.p32) {
          this.state = 2;
          return false;
        }
        if (rnd < m.p32 + m.p31) {
          this.state = 1;
          return false;
        }
        return true;
      default: // 4, isolated loss: back to good reception
        this.state = 1;
        return false;
    }
  }

  #gilbertElliott(m: LossModel & { kind: "gemodel" }, prng: Prng): boolean {
    if (this.state === 1) {
      if (prng.float() * 100 < m.p) this.state = 3;
    } else if (prng.float() * 100 < m.r) {
      this.state = 1;
    }
    const lossPct = this.state === 1 ? m.oneMinusK : m.oneMinusH;
    return lossPct > 0 && prng.float() * 100 < lossPct;
  }
}
