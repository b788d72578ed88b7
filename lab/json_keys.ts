/**
 * Duplicate keys in JSON text. `JSON.parse` keeps the last of two equal keys silently, so
 * `{"count": 1, "count": 1000}` would inject a fault the sender may not have meant; the control
 * server (`server.ts`) refuses such a body, as the CLI refuses an option given twice and the
 * topology loader a key given twice. Runs on the main thread, on a body `JSON.parse` accepted.
 *
 * @module
 */

import { quote } from "../devices/base/quote.ts";

/** A key given twice in one object: the key (decoded) and where that object is. */
export interface DuplicateKey {
  /** The key, as `JSON.parse` reads it (`"\u0061"` and `"a"` are the same key). */
  readonly key: string;
  /** The keys and list indexes from the top of the document to the object holding it. */
  readonly path: readonly (string | number)[];
}

interface Frame {
  /** An object's keys so far; null for a list. */
  readonly keys: Set<string> | null;
  /** Object: the key whose value is being read. List: the index of the element. */
  at: string | number;
  /** Object: the next string is a key. */
  expectKey: boolean;
}

/**
 * The first key given twice in one object of `text`, or null. `text` must be JSON that
 * `JSON.parse` accepted; one pass over it, no recursion (a deep document cannot overflow).
 *
 * @example
 * ```ts
 * import { duplicateJsonKey } from "./json_keys.ts";
 * duplicateJsonKey('{"a": 1, "b": {"c": 2, "c": 3}}'); // { key: "c", path: ["b"] }
 * duplicateJsonKey('{"a": 1, "b": 2}'); // null
 * ```
 */
export function duplicateJsonKey(text: string): DuplicateKey | null {
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const top = stack[stack.length - 1];
    if (c === 0x22 /* " */) {
      let j = i + 1;
      // Valid JSON: every string ends; a backslash always escapes the next character.
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) {
          return { key, path: stack.slice(0, -1).map((f) => f.at) };
        }
        top.keys.add(key);
        top.at = key;
        top.expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push({ keys: new Set(), at: "", expectKey: true });
    } else if (c === 0x5b /* [ */) {
      stack.push({ keys: null, at: 0, expectKey: false });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */ && top !== undefined) {
      if (top.keys) top.expectKey = true;
      else top.at = (top.at as number) + 1;
    }
  }
  return null;
}

/**
 * Where a duplicate key is, for a message: `"b"` at the top level, `"c" in b`, `"x" in a[2]`.
 *
 * @example
 * ```ts
 * import { describeDuplicateKey } from "./json_keys.ts";
 * describeDuplicateKey({ key: "delay", path: ["impair"] }); // '"delay" in impair'
 * ```
 */
export function describeDuplicateKey(d: DuplicateKey): string {
  const where = d.path.map((p, i) =>
    typeof p === "number" ? `[${p}]` : i === 0 ? safe(p) : `.${safe(p)}`
  ).join("");
  return where === "" ? quoted(d.key) : `${quoted(d.key)} in ${where}`;
}

/** A key, quoted and safe on one terminal line (control characters escaped, cut at 64). */
function quoted(key: string): string {
  return quote(key, 64);
}

/** A path key as is when it is a plain name, else quoted. */
function safe(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/.test(key) ? key : quoted(key);
}
