/**
 * Worker statistics in shared memory: a worker keeps counters in plain objects (the guest stack,
 * impairment stages, the switch), and copies them into its Float64 statistics region a few
 * times a second; the main thread reads the values without a message. The names of the slots
 * are announced once (and again when new names appear) through `announce`.
 *
 * @module
 */

/**
 * Writes named values into a statistics region.
 *
 * @example
 * ```ts
 * import { StatsWriter } from "./stats.ts";
 * const names: string[][] = [];
 * const w = new StatsWriter(new Float64Array(8), (n) => names.push(n));
 * w.set("stack_frames_in", 3);
 * w.flush(); // announces ["stack_frames_in"] once, the value lives in slot 0
 * ```
 */
export class StatsWriter {
  #slots: Float64Array;
  #index = new Map<string, number>();
  #names: string[] = [];
  #announce: (names: string[]) => void;
  #dirty = false;

  /**
   * @param slots the statistics region
   * @param announce called with the full name list when it grows
   */
  constructor(slots: Float64Array, announce: (names: string[]) => void) {
    this.#slots = slots;
    this.#announce = announce;
  }

  /** Set one value (names past the region's size are ignored). */
  set(name: string, value: number): void {
    let i = this.#index.get(name);
    if (i === undefined) {
      if (this.#names.length >= this.#slots.length) return;
      i = this.#names.push(name) - 1;
      this.#index.set(name, i);
      this.#dirty = true;
    }
    this.#slots[i] = value;
  }

  /**
   * Set every numeric field of `counters`, each name prefixed; a nested object's fields too, one
   * level down, as `prefix` + field + `_` + its field (`stack_drops_bad_checksum`).
   */
  setAll(prefix: string, counters: object, depth = 0): void {
    for (const [k, v] of Object.entries(counters)) {
      if (typeof v === "number") this.set(`${prefix}${snake(k)}`, v);
      else if (depth === 0 && typeof v === "object" && v !== null && !Array.isArray(v)) {
        this.setAll(`${prefix}${snake(k)}_`, v, 1);
      }
    }
  }

  /** Announce new names, if any. */
  flush(): void {
    if (!this.#dirty) return;
    this.#dirty = false;
    this.#announce([...this.#names]);
  }
}

/** Read a statistics region with its announced names. */
export function readStats(slots: Float64Array, names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  names.forEach((n, i) => out[n] = slots[i]);
  return out;
}

/** camelCase → snake_case. */
export function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
