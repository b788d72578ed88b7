/**
 * A topology given as a value (`topologyFromObject`, `startLab({ … })`) must be plain data, as
 * JSON or YAML gives it: maps as plain objects, lists as arrays, strings, numbers, booleans and
 * null. This module walks such a value where the schema looks (the keys it knows, the entries of
 * maps by name, the items of lists) and reports every other value (a function, a symbol, a
 * bigint, a Map, a Set, a Date, an instance of a class, a key that is a symbol, a getter that
 * throws) as a `wrong-type` problem naming its path and what it got. It also returns a copy of
 * the parts it walked, for the loader to set values aside in without touching the caller's
 * object. The walk is iterative and bounded by the schema's depth: a value nested thousands of
 * levels deep under an unknown key is not walked (the schema refuses the key).
 *
 * Called by `load.ts` before every other check, on the thread that validates.
 *
 * @module
 */

import { type PathSegment, pathToString, type Problem } from "./issues.ts";
import { quote } from "../../devices/base/quote.ts";
import { shapeAt } from "./structure.ts";

/** A problem of a value that is not plain data, and whether the value must be set aside. */
export interface ForeignValue {
  /** The `wrong-type` problem, at the value's path. */
  problem: Problem;
  /**
   * Whether the loader must set the value at `problem.path` aside (false for a key that is a
   * symbol: the copy has no such key, and the map itself is fine).
   */
  setAside: boolean;
}

/** What {@linkcode plainCopy} returns. */
export interface PlainCopy {
  /** The value with every map and list the schema looks into copied (the rest is shared). */
  copy: unknown;
  /** Every value that is not plain data, in the order of the walk. */
  foreign: ForeignValue[];
}

/**
 * Most items of a list, or keys of a map, walked: far more than any lab has (4096 links, 1024
 * VMs at most), so that one beyond it is refused by its count (`checkCounts`) without a walk.
 */
const MAX_WALKED_ITEMS = 65_536;

/**
 * Whether `v` is a plain object: made by `{}` or `Object.create(null)`. A `Map`, an
 * `AbortSignal` or a class's instance is not: its entries are no own keys, so read as a map it
 * would be an empty one (a script's options and impairment keys are checked with this too).
 *
 * @example
 * ```ts
 * import { isPlainObject } from "./plain.ts";
 * isPlainObject({ delay: "20ms" }); // true
 * isPlainObject(new Map([["delay", "20ms"]])); // false
 * ```
 */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * What an object that is no plain object is, as a message says it: `a Map`, `a Date` (a class
 * of the runtime, by its name), `an object of class "Vm"`, `an object of a class`.
 *
 * @example
 * ```ts
 * import { objectKind } from "./plain.ts";
 * objectKind(new Map()); // "a Map"
 * objectKind(new (class Vm {})()); // 'an object of class "Vm"'
 * ```
 */
export function objectKind(v: object): string {
  const ctor = (Object.getPrototypeOf(v) as { constructor?: unknown } | null)?.constructor;
  const name = typeof ctor === "function" ? ctor.name : "";
  const builtin = name !== "" && (globalThis as Record<string, unknown>)[name] === ctor;
  return builtin
    ? article(name)
    : name === ""
    ? "an object of a class"
    : `an object of class ${quote(name)}`;
}

/** `a` or `an` for a word. */
function article(word: string): string {
  return /^[aeiou]/i.test(word) ? `an ${word}` : `a ${word}`;
}

/**
 * What a value that is not plain data is, as a message says it (`a function`, `a Map`, `an
 * object of class "Vm"`), with the hint for it; null for plain data.
 */
/**
 * What a YAML file wrote to get a value that is no plain data: one of YAML's own tags the
 * library turns into a class (`!!set` a Set, `!!omap` a Map, `!!binary` bytes, `!!timestamp` a
 * Date). A file's reader is told of the tag, not of a script's conversion (`[...set]`).
 */
function yamlKind(v: object, expected: string): { got: string; hint: string } | null {
  const tag = v instanceof Set
    ? "!!set"
    : v instanceof Map
    ? "!!omap"
    : v instanceof Uint8Array
    ? "!!binary"
    : v instanceof Date
    ? "!!timestamp"
    : null;
  if (tag === null) return null;
  const write = expected === "a list"
    ? "a list, [a, b]"
    : expected === "a map"
    ? "a map, { key: value }"
    : expected;
  return { got: `a YAML ${tag}`, hint: `remove ${tag} and write ${write} here` };
}

function foreignKind(
  v: unknown,
  expected: string,
  yaml: boolean,
): { got: string; hint: string } | null {
  const generic = `write ${expected} here: a topology is plain data, as JSON or YAML gives it`;
  switch (typeof v) {
    case "function":
      return { got: "a function", hint: "write the value itself, not a function that gives it" };
    case "symbol":
      return { got: "a symbol", hint: generic };
    case "bigint":
      return { got: "a bigint", hint: `${generic} (Number() makes a number of a bigint)` };
    case "object":
      break;
    default:
      return null;
  }
  if (v === null || Array.isArray(v) || isPlainObject(v)) return null;
  if (yaml) {
    const tagged = yamlKind(v, expected);
    if (tagged !== null) return tagged;
  }
  // The conversions fit where a map or a list belongs; elsewhere (a Set for a map, as a YAML
  // `!!set` gives one) they would name the wrong shape.
  if (v instanceof Map) {
    return {
      got: "a Map",
      hint: expected === "a map"
        ? "write a plain object ({ key: value }); Object.fromEntries(map) makes one"
        : generic,
    };
  }
  if (v instanceof Set) {
    return {
      got: "a Set",
      hint: expected === "a list" ? "write an array; [...set] makes one" : generic,
    };
  }
  // A class of the runtime (Date, RegExp, Uint8Array, …) by its name; others quoted.
  return { got: objectKind(v as object), hint: generic };
}

/** The problem of a value that a getter or a proxy's trap refused to give. */
function cannotRead(path: PathSegment[], e: unknown): ForeignValue {
  const why = e instanceof Error ? e.message : String(e);
  return {
    problem: {
      code: "wrong-type",
      path,
      message: `Cannot read ${label(path)}: ${quote(why)}`,
      hint: "give plain data: a getter or proxy that throws cannot be checked",
    },
    setAside: true,
  };
}

/** Set `key` as an own data property (a key `__proto__` stays a key). */
function put(target: object, key: PathSegment, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function label(path: readonly PathSegment[]): string {
  return path.length === 0 ? "The topology" : pathToString(path);
}

function lastKey(path: readonly PathSegment[]): string {
  for (let i = path.length - 1; i >= 0; i--) {
    if (typeof path[i] === "string") return path[i] as string;
  }
  return "value";
}

/**
 * Walk `raw` where the topology schema looks: report every value that is not plain data and
 * copy the maps and lists walked (see the module's documentation). With `options.yaml` (the
 * value was read from a YAML file) such a value came from one of YAML's own tags, and its
 * problem names the tag (`got a YAML !!set`, hint `remove !!set and write a list, [a, b] here`)
 * rather than a script's class and conversion.
 *
 * @example
 * ```ts
 * import { plainCopy } from "./plain.ts";
 * const r = plainCopy({ name: "x", vms: { a: () => 1 } });
 * r.foreign[0].problem.message; // "vms.a must be a map, got a function"
 * ```
 */
export function plainCopy(raw: unknown, options: { yaml?: boolean } = {}): PlainCopy {
  const foreign: ForeignValue[] = [];
  const holder = { root: undefined as unknown };
  // Each entry: where the value goes in the copy, and the value's path.
  const todo: { value: unknown; path: PathSegment[]; into: object; key: PathSegment }[] = [
    { value: raw, path: [], into: holder, key: "root" },
  ];
  // Bounded: each value walked is an own key of a map or list the schema looks into.
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    // A proxy may throw from any trap: its value cannot be checked.
    try {
      const { value, path, into, key } = next;
      const shape = shapeAt(path);
      // A key the schema does not know is refused as a key (unknown-key), whatever its value.
      if (shape === null) {
        put(into, key, value);
        continue;
      }
      const kind = foreignKind(value, shape.expected, options.yaml === true);
      if (kind !== null) {
        foreign.push({
          problem: {
            code: "wrong-type",
            path,
            message: `${label(path)} must be ${shape.expected}, got ${kind.got}`,
            hint: kind.hint,
          },
          setAside: true,
        });
        continue;
      }
      if (shape.kind === "value" || value === null || typeof value !== "object") {
        put(into, key, value);
        continue;
      }
      // A list where a map belongs, or the reverse, is the schema's to refuse; a list or map far
      // longer than a lab holds is the counts' (`links: new Array(1e9)` is not walked).
      const list = Array.isArray(value);
      const size = list ? value.length : Object.keys(value).length;
      if (list !== (shape.kind === "list") || size > MAX_WALKED_ITEMS) {
        put(into, key, value);
        continue;
      }
      const copy: object = list ? [] : {};
      put(into, key, copy);
      for (const sym of list ? [] : Object.getOwnPropertySymbols(value)) {
        foreign.push({
          problem: {
            code: "wrong-type",
            path,
            message: `${label(path)} has a key that is a symbol, ${
              quote(sym.description ?? "")
            }: a map's keys are strings`,
            hint: `write the key as a string; docs/topology.md describes \`${lastKey(path)}\``,
          },
          setAside: false,
        });
      }
      const keys: PathSegment[] = list
        ? Array.from({ length: size }, (_, i) => i)
        : Object.keys(value);
      const children: typeof todo = [];
      for (const k of keys) {
        const at = [...path, k];
        let child: unknown;
        try {
          child = (value as Record<PathSegment, unknown>)[k];
        } catch (e) {
          foreign.push(cannotRead(at, e));
          continue;
        }
        children.push({ value: child, path: at, into: copy, key: k });
      }
      // Last pushed, first walked: the children in the document's order.
      todo.push(...children.reverse());
    } catch (e) {
      foreign.push(cannotRead(next.path, e));
    }
  }
  return { copy: holder.root, foreign };
}
