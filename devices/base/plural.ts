/**
 * Counts in words that agree in number: `1 frame`, `2 frames`, `0 frames`. Every count vlab
 * prints as "N noun" (the CLI, the dashboard, the guests' workloads) goes through
 * {@linkcode count}.
 *
 * @module
 */

/** Options of {@linkcode count}. */
export interface CountOptions {
  /** The plural noun, when it is not the singular + "s" ("misses", "switches"). */
  plural?: string;
  /** How the number is shown, when not as `String(n)` (the dashboard's "1.2k"). */
  shown?: string;
}

/**
 * `n` and its noun, singular for exactly 1 (and -1), plural otherwise (as English counts 0).
 *
 * @example
 * ```ts
 * import { count } from "./plural.ts";
 * count(1, "frame"); // "1 frame"
 * count(2, "mapping"); // "2 mappings"
 * count(1, "miss", { plural: "misses" }); // "1 miss"
 * count(1200, "fault", { shown: "1.2k" }); // "1.2k faults"
 * ```
 */
export function count(n: number, singular: string, options: CountOptions = {}): string {
  const noun = Math.abs(n) === 1 ? singular : options.plural ?? `${singular}s`;
  return `${options.shown ?? String(n)} ${noun}`;
}
