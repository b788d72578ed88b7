/**
 * Text from a drill file, a guest or a command line, made safe for a terminal: control
 * characters are shown as escapes (never sent), long values are cut. Pure.
 *
 * @module
 */

// Matching control characters is the point here.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * `text` with every control character written as an escape (`\x1b`).
 *
 * @example
 * ```ts
 * import { printable } from "./text.ts";
 * printable("a\u001b[31mb"); // "a\\x1b[31mb"
 * ```
 */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/**
 * A value quoted for a message: in double quotes, printable, cut at `max` characters.
 *
 * @example
 * ```ts
 * import { quote } from "./text.ts";
 * quote("a-b"); // '"a-b"'
 * ```
 */
export function quote(text: string, max = 80): string {
  const cut = text.length > max ? text.slice(0, max) + "…" : text;
  return `"${printable(cut.replace(/\\/g, "\\\\").replace(/"/g, '\\"'))}"`;
}
