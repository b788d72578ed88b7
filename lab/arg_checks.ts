/**
 * The checks of a script's arguments to the lab's methods (`lab.lab.setLink`, `lab.lab.fault`,
 * `lab.lab.links.partition`, …, and the `LabHandle` of `api.ts`): an argument of the wrong type
 * is the script's bug, refused at once with a one-line `TypeError` (`RangeError` for a value out
 * of range) that names the method and the argument and shows what to pass, never taken for
 * something else (`setLink("a-b", "down")` brought the link up) nor left to fail deep inside with
 * the engine's words (`Cannot read properties of null`).
 *
 * Who calls it: `lab.ts`, `link_control.ts` and `api.ts`, on the main thread, at the top of each
 * public method a script may call.
 *
 * @module
 */

/**
 * What a script passed, for a `TypeError`'s message: its type, never its (maybe long) text.
 *
 * @example
 * ```ts
 * import { typeName } from "./arg_checks.ts";
 * typeName(null); // "null"
 * typeName([1]); // "an array"
 * ```
 */
export function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? (v.constructor?.name ?? "an object") : typeof v;
}

/**
 * Throw a `TypeError` (or `make`'s error) with `message` unless `ok`.
 *
 * @example
 * ```ts
 * import { expectArg } from "./arg_checks.ts";
 * expectArg(true, "never thrown");
 * ```
 */
export function expectArg(
  ok: boolean,
  message: string,
  make: (m: string) => Error = (m) => new TypeError(m),
): void {
  if (!ok) throw make(message);
}

/**
 * Refuse `v` unless it is a string: `TypeError` `call: what must be a string (example), got …`.
 *
 * @example
 * ```ts
 * import { expectString } from "./arg_checks.ts";
 * expectString("lab.setLink", "link", "a-b", "a link's name");
 * ```
 */
export function expectString(call: string, what: string, v: unknown, example: string): void {
  expectArg(
    typeof v === "string",
    `${call}: ${what} must be a string (${example}), got ${typeName(v)}`,
  );
}

/**
 * Refuse `v` unless it is a boolean: `TypeError` naming the call and the argument.
 *
 * @example
 * ```ts
 * import { expectBoolean } from "./arg_checks.ts";
 * expectBoolean("lab.setLink", "up", true);
 * ```
 */
export function expectBoolean(call: string, what: string, v: unknown): void {
  expectArg(
    typeof v === "boolean",
    `${call}: ${what} must be true or false, got ${
      typeof v === "string" ? JSON.stringify(v.slice(0, 40)) : typeName(v)
    }`,
  );
}

/**
 * Refuse a `signal` that is neither absent nor an `AbortSignal` (anything else would fail deep
 * inside, or never abort): `TypeError` naming the call.
 *
 * @example
 * ```ts
 * import { expectSignal } from "./arg_checks.ts";
 * expectSignal("lab.exec", undefined);
 * ```
 */
export function expectSignal(call: string, signal: unknown): void {
  expectArg(
    signal === undefined || signal instanceof AbortSignal,
    `${call}: signal must be an AbortSignal (an AbortController's signal) or nothing, got ${
      typeName(signal)
    }`,
  );
}

/**
 * The options of `lab.exec` and `lab.spawn` as a script passed them: nothing, an `AbortSignal`
 * (the older form, `exec(vm, argv, signal)`), or a plain object with `signal` and `onLine`, each
 * checked (`onLine` a function, `signal` an `AbortSignal`). Anything else, or a key neither
 * (`{ onLines }`), is a `TypeError` naming the call: a misspelt listener would hear nothing.
 *
 * @example
 * ```ts
 * import { expectExecOptions } from "./arg_checks.ts";
 * expectExecOptions("lab.exec", { onLine: (line: string) => console.log(line) }).onLine; // the function
 * ```
 */
export function expectExecOptions(
  call: string,
  options: unknown,
): { signal?: AbortSignal; onLine?: (line: string) => void } {
  if (options === undefined || options instanceof AbortSignal) {
    return { signal: options };
  }
  const plain = typeof options === "object" && options !== null &&
    [Object.prototype, null].includes(Object.getPrototypeOf(options));
  expectArg(
    plain,
    `${call}: signal must be an AbortSignal (an AbortController's signal), options ` +
      `{ signal?, onLine? } or nothing, got ${typeName(options)}`,
  );
  const o = options as Record<string, unknown>;
  const unknown = Object.keys(o).find((k) => k !== "signal" && k !== "onLine");
  expectArg(
    unknown === undefined,
    `${call}: options has no key ${JSON.stringify(unknown?.slice(0, 40))}; it takes signal, onLine`,
  );
  expectSignal(call, o.signal);
  expectArg(
    o.onLine === undefined || typeof o.onLine === "function",
    `${call}: onLine must be a function (line: string) => void or nothing, got ${
      typeName(o.onLine)
    }`,
  );
  return o as { signal?: AbortSignal; onLine?: (line: string) => void };
}
