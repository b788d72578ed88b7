/**
 * Quoting text that comes from outside (a topology file, a command line, a request) before it
 * reaches a message: control characters are escaped, so a file's escape sequences never reach
 * the terminal raw, and long values are cut with an ellipsis. Every message that shows a name or
 * a value taken from a file or a user goes through {@linkcode quote}; the printers
 * (`formatIssues`, the CLI's `formatError`) pass whole messages through {@linkcode escapeControl}
 * as a last guard.
 *
 * @module
 */

/** Longest quoted value, in characters (before the quotes and the ellipsis). */
export const QUOTE_MAX_CHARS = 64;

// C0 controls, DEL, C1 controls, and the Unicode line and paragraph separators and bidi
// controls that can reorder or hide what a terminal shows, and the invisible characters (zero
// width space, joiners, word joiner, BOM, soft hyphen) that hide why a value is refused: a
// `memory` refused for a zero width space after "16MiB" that the terminal does not show.
const CONTROL =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escapeOne(ch: string): string {
  const named = NAMED[ch];
  if (named !== undefined) return named;
  const code = ch.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * The text with every control character written as an escape (`\x1b`, `\n`, `\u202e`); the rest
 * is unchanged.
 *
 * @example
 * ```ts
 * import { escapeControl } from "./quote.ts";
 * escapeControl("a\x1b]0;x\x07"); // "a\\x1b]0;x\\x07"
 * ```
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, escapeOne);
}

/**
 * A value from outside as it may appear in a message: in double quotes, control characters and
 * `"`/`\` escaped, cut after {@linkcode QUOTE_MAX_CHARS} characters with an ellipsis. Numbers and
 * other plain values are shown through `String()` first; a list, an object or a function is named
 * by its kind, unquoted (`a list`).
 *
 * @example
 * ```ts
 * import { quote } from "./quote.ts";
 * quote('x\x1b]0;title\x07'); // '"x\\x1b]0;title\\x07"'
 * quote("a".repeat(100)).length; // 67
 * quote([[1]]); // "a list"
 * ```
 */
export function quote(value: unknown, max: number = QUOTE_MAX_CHARS): string {
  // A list or an object from a request is named by its kind: String() of one nested 250,000
  // deep overflowed the stack (a 500 from the control socket), and "[object Object]" says nothing.
  if (Array.isArray(value)) return "a list";
  if (typeof value === "function") return "a function";
  if (typeof value === "object" && value !== null) return "an object";
  const text = typeof value === "string" ? value : String(value);
  // Cut by code points, so that a surrogate pair is never split.
  const chars = Array.from(text.length > max * 2 + 8 ? text.slice(0, max * 2 + 8) : text);
  const cut = chars.length > max;
  const shown = (cut ? chars.slice(0, max) : chars).join("");
  const escaped = escapeControl(shown.replace(/[\\"]/g, (c) => `\\${c}`));
  return `"${escaped}${cut ? "…" : ""}"`;
}

/**
 * An argument of a command a hint shows (`vlab drill run PATH`), as a shell takes it back: bare
 * when plain, else in single quotes; control characters escaped.
 *
 * @example
 * ```ts
 * import { shellArg } from "./quote.ts";
 * shellArg("/tmp/out/report.json"); // "/tmp/out/report.json"
 * shellArg("/tmp/my drills/d.yaml"); // "'/tmp/my drills/d.yaml'"
 * ```
 */
export function shellArg(arg: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(arg)
    ? arg
    : `'${escapeControl(arg).replace(/'/g, "'\\''")}'`;
}

/**
 * A value as a message shows it after "got": a short plain token (`150%`, `10 parsecs`, `300`)
 * as it is, anything else through {@linkcode quote}.
 *
 * @example
 * ```ts
 * import { showValue } from "./quote.ts";
 * showValue("150%"); // "150%"
 * showValue("9".repeat(400)).length; // 67
 * ```
 */
export function showValue(value: unknown): string {
  if (typeof value === "object" && value !== null || typeof value === "function") {
    return quote(value); // its kind, as quote names it
  }
  const text = typeof value === "string" ? value : String(value);
  return /^[\w.%µ+-]{1,24}$/.test(text) ? text : quote(text);
}
