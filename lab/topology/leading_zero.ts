/**
 * Integers written with a leading zero (`cid: 010`): YAML 1.2, which vlab reads, takes `010` as
 * the decimal 10, where YAML 1.1 tools (PyYAML, older linters and generators) take it as the
 * octal 8 (and `09` as a string). The same file meant two numbers, so it is refused with the
 * spellings that mean one: `10`, or `0o10` for octal, as `yes` and `1_500` get theirs. One that
 * means the same number to both (`05`, `007`, `00`) is taken. A `seed` (a topology's, a drill's)
 * is written in decimal digits only, as `--seed` takes it: `0x10`, `0o10`, `1e3` and `+5` are
 * refused (`seed-notation`) with the decimal spelling.
 *
 * Who calls it: the topology loader (`load.ts`) and the drill loader (`../drill/load.ts`), on
 * the parsed document, beside the schema's checks (a key that takes no number reports its own
 * problem instead).
 *
 * @module
 */

import { isMap, isScalar, isSeq, type LineCounter, type Node } from "yaml";
import { type PathSegment, pathToString } from "./issues.ts";
import type { TopologyIssue } from "./types.ts";

/** An integer YAML 1.2 reads as decimal that has a leading zero (`010`, `-07`, `+09`). */
const LEADING_ZERO = /^([-+]?)0+([0-9]+)$/;

/**
 * The `leading-zero` issue of every plain integer scalar under `root` written with a leading
 * zero, at its line and column; `path` is where it is written (an anchor's value once), as
 * `formatPath` writes it (a topology's `vms.a.vsock.cid`; a drill writes its own).
 *
 * @example
 * ```ts
 * import { LineCounter, parseDocument } from "yaml";
 * import { leadingZeroIssues } from "./leading_zero.ts";
 * const lineCounter = new LineCounter();
 * const doc = parseDocument("vms: { a: { vsock: { cid: 010 } } }\n", { lineCounter });
 * leadingZeroIssues(doc.contents, lineCounter)[0].hint; // "write cid: 10 (or cid: 0o10 for octal 8)"
 * ```
 */
export function leadingZeroIssues(
  root: unknown,
  lineCounter: LineCounter,
  formatPath: (path: readonly PathSegment[]) => string = pathToString,
): TopologyIssue[] {
  const out: TopologyIssue[] = [];
  // Depth is bounded by the parse (`MAX_NESTING`); aliases are not followed.
  const walk = (node: unknown, path: PathSegment[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : "?";
        walk(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    } else if (isScalar(node)) {
      const issue = issueOf(node, path, lineCounter, formatPath);
      if (issue !== null) out.push(issue);
    }
  };
  walk(root, []);
  return out;
}

function issueOf(
  node: Node & { value: unknown; source?: string; type?: string },
  path: PathSegment[],
  lineCounter: LineCounter,
  formatPath: (path: readonly PathSegment[]) => string,
): TopologyIssue | null {
  if (typeof node.value !== "number" || node.type !== "PLAIN") return null;
  const key = [...path].reverse().find((s) => typeof s === "string") ?? "the value";
  const written = node.source ?? "";
  const leading = leadingZeroProblem(String(key), written);
  // The document's `seed` (a drill's own, or its inline topology's).
  const seed = path.length <= 2 && path[path.length - 1] === "seed";
  const problem = leading ?? (seed ? seedNotationProblem(node.value, written) : null);
  if (problem === null) return null;
  const at = node.range == null ? null : lineCounter.linePos(node.range[0]);
  return {
    code: leading !== null ? "leading-zero" : "seed-notation",
    path: formatPath(path),
    line: at?.line ?? null,
    column: at?.col ?? null,
    ...problem,
  };
}

/**
 * The problem of `key` written as `written` (the value's text, which YAML read as a number),
 * when that is an integer with a leading zero that YAML 1.1 tools read otherwise (`010`: octal 8;
 * `09`: a string); else null (`05` is 5 to both). `vlab link … set limit=010` asks it too, as a
 * file's `limit: 010`.
 *
 * @example
 * ```ts
 * import { leadingZeroProblem } from "./leading_zero.ts";
 * leadingZeroProblem("cid", "010")?.hint; // "write cid: 10 (or cid: 0o10 for octal 8)"
 * leadingZeroProblem("cid", "10"); // null
 * leadingZeroProblem("cid", "07"); // null: 7 to YAML 1.1 too
 * ```
 */
export function leadingZeroProblem(
  key: string,
  written: string,
): { message: string; hint: string } | null {
  const m = LEADING_ZERO.exec(written);
  if (m === null) return null;
  const [, sign, digits] = m;
  const decimal = `${sign === "-" ? "-" : ""}${digits}`;
  const octal = /^[0-7]+$/.test(digits);
  const octalValue = octal ? `${sign === "-" ? "-" : ""}${parseInt(digits, 8)}` : null;
  // `05`, `007`, `00`: the same number to YAML 1.1 (octal) and to vlab; nothing to refuse.
  if (octalValue === decimal) return null;
  return {
    message: `${key} ${written} is written with a leading zero, which YAML 1.1 tools read as ${
      octal ? `octal (${octalValue})` : "a string"
    } and vlab (YAML 1.2) as ${decimal}`,
    // YAML 1.2's octal (`0o10`) takes no sign; a seed takes decimal digits only.
    hint: octal && octalValue !== decimal && sign !== "-" && key !== "seed"
      ? `write ${key}: ${digits} (or ${key}: 0o${digits} for octal ${octalValue})`
      : `write ${key}: ${decimal}`,
  };
}

/**
 * A seed in range written otherwise than in decimal digits (`0x10`, `0o10`, `1e3`, `+5`, which
 * YAML reads as numbers): refused with its decimal spelling, as `--seed` refuses them. A value out
 * of range or not whole is the schema's problem, not this one.
 */
function seedNotationProblem(
  value: number,
  written: string,
): { message: string; hint: string } | null {
  if (/^[0-9]+$/.test(written) || !Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    return null;
  }
  return {
    message: `seed ${written} is not written in decimal digits`,
    hint: `write seed: ${value}, as --seed takes it`,
  };
}
