/**
 * Counts in words that agree in number: `1 frame`, `2 frames`, `0 frames`. Every count the CLI
 * and the dashboard print as "N noun" goes through {@linkcode count}.
 *
 * @module
 */

/**
 * `n` and its noun, singular for exactly 1 (and -1), plural otherwise (as English counts 0).
 * The plural is `singular + "s"` unless given.
 *
 * @example
 * ```ts
 * import { count } from "./plural.ts";
 * count(1, "frame"); // "1 frame"
 * count(2, "mapping"); // "2 mappings"
 * count(1, "entry", "entries"); // "1 entry"
 * ```
 */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${Math.abs(n) === 1 ? singular : plural}`;
}
