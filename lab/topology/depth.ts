/**
 * How deeply a YAML text nests, found before the `yaml` library parses it. The library composes
 * nodes recursively and, when the stack runs out (a document nested a thousand levels deep),
 * reports the RangeError as a syntax error at whatever node it had reached, which changes from
 * run to run. This module reads the library's lexer tokens (an iterative state machine, so any
 * depth is safe) and returns the offset where the nesting first passes a limit: a stable place,
 * and the one to fix.
 *
 * Depth counts flow collections (`{`, `[`) and block levels (by the column of each entry: a `-`,
 * a `?`, or the first node of a line). It is an estimate: a block list written at its key's
 * indentation counts as the key's level, and a value on a line of its own counts as a level.
 * The limit is far above what a topology or a drill needs and far below what overflows.
 *
 * Called by `parseYamlDocument` (`load.ts`) for topology and drill files.
 *
 * @module
 */

import { CST, Lexer } from "yaml";

/** Most levels of nesting a YAML document may have: a topology needs fewer than 10. */
export const MAX_NESTING = 64;

/** Lexer markers that stand for no text. */
const MARKERS: ReadonlySet<string> = new Set([CST.DOCUMENT, CST.SCALAR, CST.FLOW_END]);

/** Tokens that start a node: a scalar's text (plain ones have no type), alias, anchor, tag. */
const NODE_TYPES: ReadonlySet<string | null> = new Set([
  null,
  "single-quoted-scalar",
  "double-quoted-scalar",
  "block-scalar-header",
  "alias",
  "anchor",
  "tag",
]);

/**
 * The offset in `text` where its nesting first passes `limit` levels, or null when it never
 * does (see the module's documentation for how levels are counted).
 *
 * @example
 * ```ts
 * import { tooDeepAt } from "./depth.ts";
 * tooDeepAt("a: [[[1]]]\n", 3); // 6
 * tooDeepAt("a:\n  b:\n    c: 1\n", 3); // null
 * ```
 */
export function tooDeepAt(text: string, limit: number = MAX_NESTING): number | null {
  let offset = 0;
  let flow = 0;
  // Columns of the open block levels, innermost last.
  const columns: number[] = [];
  let lineStart = 0;
  // Whether the next node starts a block entry: first on its line, or after `-` or `?`.
  let entry = true;
  for (const token of new Lexer().lex(text)) {
    if (MARKERS.has(token)) continue;
    const start = offset;
    offset += token.length;
    const type = CST.tokenType(token);
    switch (type) {
      case "newline":
      case "space":
      case "comment":
      case "byte-order-mark":
      case "directive-line":
        break;
      case "doc-start":
      case "doc-end":
        flow = 0;
        columns.length = 0;
        entry = true;
        break;
      case "flow-map-start":
      case "flow-seq-start":
        flow++;
        entry = false;
        if (columns.length + flow > limit) return start;
        break;
      case "flow-map-end":
      case "flow-seq-end":
        flow = Math.max(0, flow - 1);
        break;
      case "seq-item-ind":
      case "explicit-key-ind":
        if (flow > 0) break;
        if (enter(columns, start - lineStart) > limit) return start;
        entry = true;
        break;
      default:
        if (flow === 0 && entry && NODE_TYPES.has(type)) {
          if (enter(columns, start - lineStart) > limit) return start;
        }
        entry = false;
    }
    // A token may hold line breaks (a newline, a multi-line scalar or comment).
    const lastBreak = token.lastIndexOf("\n");
    if (lastBreak >= 0) {
      lineStart = start + lastBreak + 1;
      if (flow === 0) entry = true;
    }
  }
  return null;
}

/** Open a block level at `column` (closing the deeper ones); the number of open levels. */
function enter(columns: number[], column: number): number {
  while (columns.length > 0 && columns[columns.length - 1] > column) columns.pop();
  if (columns.length === 0 || columns[columns.length - 1] < column) columns.push(column);
  return columns.length;
}
