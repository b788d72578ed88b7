/**
 * Topology problems as data, and the one printer that renders them.
 *
 * Checks produce {@link Problem}s carrying a path as an array (`["links", 0, "endpoints", 1]`);
 * the loader turns them into {@link TopologyIssue}s with a printable path and a line and column.
 *
 * @module
 */

import { closest, distance } from "fastest-levenshtein";
import type { TopologyIssue } from "./types.ts";

/** One step of a path into the document: a map key or a sequence index. */
export type PathSegment = string | number;

/** A problem before it is located in the source text. */
export interface Problem {
  /** Stable code, e.g. `"unknown-key"`. */
  code: string;
  /** Path of the offending node. */
  path: PathSegment[];
  /** Point at the map key of the last segment rather than at its value. */
  atKey?: boolean;
  /** Sentence-case message without a final period. */
  message: string;
  /** What to do about it, or null. */
  hint: string | null;
}

/**
 * Render a path as `links[0].endpoints[1]` or `vms.a.nics.eth0`; keys that are not plain names
 * are quoted (`vms["A B"]`).
 *
 * @example
 * ```ts
 * import { pathToString } from "./issues.ts";
 * pathToString(["links", 0, "endpoints", 1]); // "links[0].endpoints[1]"
 * ```
 */
export function pathToString(path: readonly PathSegment[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/**
 * The closest candidate to a misspelt word, or null when none is close enough to suggest
 * (edit distance above a third of the word's length, at least 1, and below its length).
 *
 * @example
 * ```ts
 * import { suggest } from "./issues.ts";
 * suggest("lyout", ["layout", "mtu"]); // "layout"
 * ```
 */
export function suggest(word: string, candidates: readonly string[]): string | null {
  if (candidates.length === 0) return null;
  const best = closest(word, candidates as string[]);
  const d = distance(word, best);
  return d <= Math.max(1, Math.floor(word.length / 3)) && d < word.length ? best : null;
}

/**
 * A "did you mean" hint for a misspelt word, or a list of what is allowed when nothing is close.
 *
 * @example
 * ```ts
 * import { didYouMean } from "./issues.ts";
 * didYouMean("sw", ["sw1", "a"]); // "did you mean `sw1`?"
 * ```
 */
export function didYouMean(word: string, candidates: readonly string[]): string | null {
  const unique = [...new Set(candidates)];
  const best = suggest(word, unique);
  if (best !== null) return `did you mean \`${best}\`?`;
  if (unique.length === 0) return null;
  const shown = unique.slice(0, 8).map((c) => `\`${c}\``).join(", ");
  return `expected one of ${shown}${unique.length > 8 ? ", …" : ""}`;
}

/**
 * Render issues for a terminal: `file:line:col: message`, then `  hint: …` when there is a hint;
 * `file: message` when the issue has no line.
 *
 * @example
 * ```ts
 * import { formatIssues } from "./issues.ts";
 * formatIssues([{ code: "unknown-key", path: "vms.a.lyout", line: 4, column: 5,
 *   message: 'Unknown key "lyout" in vms.a', hint: "did you mean `layout`?" }], "lab.yaml");
 * // 'lab.yaml:4:5: Unknown key "lyout" in vms.a\n  hint: did you mean `layout`?'
 * ```
 */
export function formatIssues(issues: readonly TopologyIssue[], source: string): string {
  const lines: string[] = [];
  for (const issue of issues) {
    const where = issue.line === null ? source : `${source}:${issue.line}:${issue.column ?? 1}`;
    lines.push(`${where}: ${issue.message}`);
    if (issue.hint !== null) lines.push(`  hint: ${issue.hint}`);
  }
  return lines.join("\n");
}
