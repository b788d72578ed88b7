/**
 * Checks the shape of a topology document with the zod schema and turns zod issues into lab
 * problems with stable codes, plain messages and "did you mean" hints.
 *
 * @module
 */

import type { z } from "zod";
import { QUEUE_SIZE_RANGE, topologySchema } from "./schema.ts";
import { didYouMean, type PathSegment, pathToString, type Problem } from "./issues.ts";
import { quote, showValue } from "../../devices/base/quote.ts";
import { parseDuration } from "./units.ts";

// deno-lint-ignore no-explicit-any
type AnySchema = any;

/** The schema node at `path`, with optional/nullable wrappers removed, or null. */
function schemaAt(
  path: readonly PathSegment[],
  root: AnySchema = topologySchema,
): AnySchema | null {
  let s: AnySchema = unwrap(root);
  for (const seg of path) {
    const def = s?._zod?.def;
    if (def === undefined) return null;
    if (def.type === "object") s = def.shape[seg as string];
    else if (def.type === "record") s = def.valueType;
    else if (def.type === "array") s = def.element;
    else return null;
    s = unwrap(s);
  }
  return s ?? null;
}

function unwrap(s: AnySchema): AnySchema {
  let cur = s;
  for (let i = 0; i < 8 && cur?._zod?.def?.innerType !== undefined; i++) {
    cur = cur._zod.def.innerType;
  }
  return cur;
}

/**
 * The keys allowed in the map at `path` (empty when `path` is not a map with fixed keys).
 *
 * @example
 * ```ts
 * import { keysAt } from "./structure.ts";
 * keysAt(["defaults"]); // ["vm", "nic", "link"]
 * ```
 */
export function keysAt(path: readonly PathSegment[], root: AnySchema = topologySchema): string[] {
  const s = schemaAt(path, root);
  return s?._zod?.def?.type === "object" ? Object.keys(s._zod.def.shape) : [];
}

/**
 * What the schema takes at `path`: a map with fixed keys (`"map"`), a map by name (`"record"`),
 * a list, or a single value, with how a message says it (`"a map"`, `"a string or a number"`).
 * Null where the schema has no node (under an unknown key, or inside a single value).
 *
 * @example
 * ```ts
 * import { shapeAt } from "./structure.ts";
 * shapeAt(["vms", "a"]); // { kind: "map", expected: "a map" }
 * shapeAt(["vms", "a", "memory"]); // { kind: "value", expected: "a string or a number" }
 * ```
 */
export function shapeAt(
  path: readonly PathSegment[],
  root: AnySchema = topologySchema,
): { kind: "map" | "record" | "list" | "value"; expected: string } | null {
  const s = schemaAt(path, root);
  const type: string | undefined = s?._zod?.def?.type;
  if (type === undefined) return null;
  if (type === "object") return { kind: "map", expected: "a map" };
  if (type === "record") return { kind: "record", expected: "a map" };
  if (type === "array") return { kind: "list", expected: "a list" };
  const expected = type === "union"
    ? "a string or a number"
    : type === "enum"
    ? "a string"
    : EXPECTED[type] ?? "a single value";
  return { kind: "value", expected };
}

/**
 * Whether `key` must be present in the map at `path` (a required key of a fixed-key map; false
 * for optional keys, unknown keys and the entries of maps by name).
 *
 * @example
 * ```ts
 * import { isRequiredKey } from "./structure.ts";
 * isRequiredKey(["links", 0], "endpoints"); // true
 * isRequiredKey(["links", 0], "delay"); // false
 * ```
 */
export function isRequiredKey(
  path: readonly PathSegment[],
  key: string,
  root: AnySchema = topologySchema,
): boolean {
  const s = schemaAt(path, root);
  if (s?._zod?.def?.type !== "object" || !Object.hasOwn(s._zod.def.shape, key)) return false;
  return s._zod.def.shape[key]._zod.optin !== "optional";
}

/** The `examples` the schema gives the value at `path` (`["16MiB", "1GiB"]`), or none. */
function examplesAt(path: readonly PathSegment[], root: AnySchema): unknown[] {
  const meta = schemaAt(path, root)?.meta?.();
  return Array.isArray(meta?.examples) ? meta.examples : [];
}

/** `"a"`, `"a or b"`, `"a, b or c"`. */
function orList(items: readonly string[]): string {
  return items.length <= 1
    ? items.join("")
    : `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}`;
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

/**
 * A short description of a value as found in the file: `a list`, `a map`, `nothing`, `"abc"`.
 *
 * @example
 * ```ts
 * import { describeValue } from "./structure.ts";
 * describeValue([1]); // "a list"
 * ```
 */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a map";
  if (typeof v === "string") return quote(v);
  // A script's `seed: 5n`: "got 5" read as a number refused for no reason.
  if (typeof v === "bigint") return "a bigint";
  return showValue(v);
}

const EXPECTED: Record<string, string> = {
  object: "a map",
  record: "a map",
  array: "a list",
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
};

function label(path: readonly PathSegment[], what: string): string {
  return path.length === 0 ? what : pathToString(path);
}

function lastKey(path: readonly PathSegment[]): string {
  for (let i = path.length - 1; i >= 0; i--) {
    if (typeof path[i] === "string") return path[i] as string;
  }
  return "value";
}

/** Keys whose rule is narrower than their range in the schema: the range and the rule. */
const RANGE_RULE: ReadonlyMap<string, { min: number; max: number; hint: string }> = new Map([
  ["queue_size", {
    ...QUEUE_SIZE_RANGE,
    hint: `use a power of 2 from ${QUEUE_SIZE_RANGE.min} to ${QUEUE_SIZE_RANGE.max}, or with ` +
      `\`layout: packed\` any size from ${QUEUE_SIZE_RANGE.min} to ${QUEUE_SIZE_RANGE.max}`,
  }],
]);

/** What the whole document must be, when it is something else. */
const ROOT_HINT =
  "a topology is a map that starts with `name: my-lab` and `vms:`; docs/topology.md describes it";

const MISSING_HINT: ReadonlyMap<string, string> = new Map([
  ["name", "add `name: my-lab` (the lab's name)"],
  ["vms", "add `vms:` with at least one VM, such as `vms: { a: {} }`"],
  ["endpoints", "add `endpoints: [a:eth0, b:eth0]`"],
]);

/** Which document a schema describes: its root schema, its name in messages, its docs page. */
interface SchemaDoc {
  root: AnySchema;
  what: string;
  docs: string;
}

/** A required key that is absent; `options` are the values it takes when it is a choice. */
function missingKey(path: PathSegment[], doc: SchemaDoc, options: readonly string[]): Problem {
  const key = String(path[path.length - 1]);
  const parent = path.length > 1 ? ` in ${pathToString(path.slice(0, -1))}` : "";
  const choice = options.length > 0
    ? `add \`${key}\`, one of ${options.map((o) => `\`${o}\``).join(", ")}`
    : undefined;
  return {
    code: "missing-key",
    path,
    message: `Missing key ${quote(key)}${parent}`,
    hint: (doc.root === topologySchema ? MISSING_HINT.get(key) : undefined) ?? choice ??
      `add \`${key}\`; ${doc.docs} lists the keys`,
  };
}

/** "1 item", "3 items", "no items". */
function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

/**
 * A list, set or string that is too short or too long: how many items or characters it needs
 * and has (zod's `too_small` and `too_big` carry one bound: the other is read from the schema,
 * for a string).
 */
function lengthProblem(
  issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig,
  path: PathSegment[],
  value: unknown,
  doc: SchemaDoc,
): Problem {
  const key = lastKey(path);
  const small = issue.code === "too_small";
  const bound = Number(small ? issue.minimum : issue.maximum);
  // An exclusive bound (not made by min, max or length, but possible) counts one more or less.
  const n = issue.inclusive === false ? (small ? bound + 1 : bound - 1) : bound;
  const exact = issue.exact === true;
  if (issue.origin === "string") {
    const s = schemaAt(path, doc.root);
    const min = typeof s?.minLength === "number" ? s.minLength : null;
    const max = typeof s?.maxLength === "number" ? s.maxLength : null;
    const how = exact ? "exactly" : small ? "at least" : "at most";
    return {
      code: "out-of-range",
      path,
      message: `${key} must be ${how} ${count(n, "character")} long, got ${describeValue(value)}`,
      hint: exact || min === max
        ? `write ${count(n, "character")}`
        : min !== null && max !== null
        ? `write ${min} to ${max} characters`
        : `write ${how} ${count(n, "character")}`,
    };
  }
  const where = issue.origin === "set" ? "set" : "list";
  const got = Array.isArray(value) ? value.length : value instanceof Set ? value.size : null;
  const gotText = got === null ? describeValue(value) : got === 0 ? "none" : String(got);
  const message = exact
    ? `${key} needs exactly ${count(n, "item")}, got ${gotText}`
    : small
    ? `${key} needs at least ${count(n, "item")}, got ${gotText}`
    : `${key} takes at most ${count(n, "item")}, got ${gotText}`;
  const hint = exact || got === null
    ? `write a ${where} of ${count(n, "item")}`
    : small
    ? `add ${count(n - got, "item")} to the ${where}`
    : `remove ${count(got - n, "item")} from the ${where}`;
  return { code: "out-of-range", path, message, hint };
}

/**
 * The hint for a scalar YAML read as the other type than the key takes: `name: 123` (a number,
 * where a string goes) is quoted, `poll_us: "5"` (a string that is a number, where a number goes)
 * unquoted. Null for any other value: the generic hint says what to write.
 */
function retypeHint(value: unknown, expected: string, key: string): string | null {
  if ((expected === "a number" || expected === "an integer") && typeof value === "bigint") {
    return `write a number here: Number() makes a number of a bigint (${key}: ${value})`;
  }
  if (expected === "a string" && (typeof value === "number" || typeof value === "boolean")) {
    // Not the value echoed back: YAML read `1.10` as 1.1, so "1.1" is not what was written.
    return `YAML reads it as a ${typeof value}: put it in double quotes`;
  }
  if (
    (expected === "a number" || expected === "an integer") && typeof value === "string" &&
    /^-?\d+(\.\d+)?$/.test(value.trim())
  ) {
    return `write the number without quotes: ${key}: ${value.trim()}`;
  }
  // A key in milliseconds (a drill fault's `ms`) given a duration with its unit, as durations are
  // written elsewhere (`wait: 2s`): the number it means.
  if ((expected === "a number" || expected === "an integer") && typeof value === "string") {
    const us = /(^|_)ms$/.test(key) ? parseDuration(value) : null;
    if (us?.ok === true && us.value > 0 && us.value % 1000 === 0) {
      return `write it in milliseconds, without a unit: ${key}: ${us.value / 1000}`;
    }
  }
  if (expected === "true or false" && typeof value === "string") {
    const word = value.trim().toLowerCase();
    if (word === "true" || word === "false") {
      return `write it without quotes: ${key}: ${word}`;
    }
    // YAML 1.1's booleans; YAML 1.2, which vlab reads, takes them as strings.
    if (["yes", "no", "on", "off", "y", "n"].includes(word)) {
      const bool = ["yes", "on", "y"].includes(word);
      return `YAML 1.2 reads ${quote(value)} as a string: write ${key}: ${bool}`;
    }
  }
  // YAML 1.1 read `1_500` as 1500; YAML 1.2, which vlab reads, as the string "1_500".
  if (
    (expected === "a number" || expected === "an integer") && typeof value === "string" &&
    /^[-+]?\d[\d_]*_\d+$/.test(value.trim())
  ) {
    return `write the number without "_" (YAML 1.2 has no digit separators): ${key}: ${
      value.trim().replaceAll("_", "")
    }`;
  }
  return null;
}

/** A number outside its key's range (too small or too big, or infinite or NaN). */
function rangeProblem(path: PathSegment[], value: unknown, doc: SchemaDoc): Problem {
  const s = schemaAt(path, doc.root);
  const key = lastKey(path);
  const rule = doc.root === topologySchema ? RANGE_RULE.get(key) : undefined;
  const min = rule?.min ?? s?.minValue ?? "?";
  const max = rule?.max ?? s?.maxValue ?? "?";
  // An integer bounded on one side only has zod's safe-integer limit on the other, which is no
  // bound to tell: a drill fault's `ms: 60001` read "between -9007199254740991 and 60000".
  const open = (bound: number | string) =>
    typeof bound === "number" && Math.abs(bound) >= Number.MAX_SAFE_INTEGER;
  const got = describeValue(value);
  if (open(min) !== open(max)) {
    return {
      code: "out-of-range",
      path,
      message: open(min)
        ? `${key} must be at most ${max}, got ${got}`
        : `${key} must be at least ${min}, got ${got}`,
      hint: rule?.hint ??
        (open(min) ? `write a number no larger than ${max}` : `write a number of ${min} or more`),
    };
  }
  return {
    code: "out-of-range",
    path,
    message: `${key} must be between ${min} and ${max}, got ${got}`,
    hint: rule?.hint ?? `write a whole number from ${min} to ${max}`,
  };
}

function fromZodIssue(issue: z.core.$ZodIssue, raw: unknown, doc: SchemaDoc): Problem[] {
  const path = issue.path as PathSegment[];
  const value = valueAt(raw, path);
  switch (issue.code) {
    case "invalid_type": {
      if (value === undefined && path.length > 0) return [missingKey(path, doc, [])];
      // A number YAML reads as infinite or NaN (`1e400`, `.inf`, `.nan`): out of range, not
      // of the wrong type.
      if (typeof value === "number" && !Number.isFinite(value) && path.length > 0) {
        return [rangeProblem(path, value, doc)];
      }
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      const integer = issue.expected === "int" ||
        (typeof value === "number" && expected === "a number");
      // The document itself (or, for a part checked on its own, that part) has no key to name.
      const root = doc.root === topologySchema
        ? ROOT_HINT
        : `write ${expected} here; ${doc.docs} describes it`;
      return [{
        code: "wrong-type",
        path,
        message: `${label(path, doc.what)} must be ${integer ? "an integer" : expected}, got ${
          describeValue(value)
        }`,
        hint: path.length === 0
          ? root
          // A list's item (an assertion, an endpoint) keeps the generic hint: quoting `- 1`
          // makes no assertion of it.
          : (typeof path[path.length - 1] === "string"
            ? retypeHint(value, expected, lastKey(path))
            : null) ??
            `write ${integer ? "an integer" : expected} here; ${doc.docs} describes \`${
              lastKey(path)
            }\``,
      }];
    }
    case "invalid_union": {
      // A number fails a string-or-number value only for being NaN or infinite.
      const number = typeof value === "number" ? "a finite number" : "a number";
      const examples = examplesAt(path, doc.root);
      return [{
        code: "wrong-type",
        path,
        message: `${label(path, doc.what)} must be a string or ${number}, got ${
          describeValue(value)
        }`,
        hint: examples.length > 0
          ? `write ${lastKey(path)} as ${orList(examples.map((e) => JSON.stringify(e)))}`
          : `write a value with its unit, such as "10ms", "1%" or "100mbit"`,
      }];
    }
    case "too_small":
    case "too_big": {
      if (issue.origin === "array" || issue.origin === "set" || issue.origin === "string") {
        return [lengthProblem(issue, path, value, doc)];
      }
      return [rangeProblem(path, value, doc)];
    }
    case "invalid_value": {
      // A required choice (`iommu: {}` without `mode`) is missing, not an unknown value.
      if (value === undefined) return [missingKey(path, doc, issue.values.map(String))];
      const key = lastKey(path);
      const what = key === "features" ? "feature" : key;
      const options = issue.values.map(String);
      return [{
        code: "unknown-value",
        path,
        // `layout:` with nothing after it is no unknown layout "nothing".
        message: value === null ? `No ${what} given` : `Unknown ${what} ${describeValue(value)}`,
        hint: typeof value === "string" ? didYouMean(value, options) : didYouMean("", options),
      }];
    }
    case "unrecognized_keys": {
      const known = keysAt(path, doc.root);
      const where = path.length === 0 ? "at the top level" : `in ${pathToString(path)}`;
      return issue.keys.map((key) => ({
        code: "unknown-key",
        path: [...path, key],
        atKey: true,
        message: `Unknown key ${quote(key)} ${where}`,
        // Every key: the one the user wanted may be the ninth (`vsock` of a VM, `count` of a
        // drill's fault).
        hint: didYouMean(key, known, Infinity),
      }));
    }
    case "custom": {
      const params = (issue.params ?? {}) as { code?: string; hint?: string | null };
      return [{
        code: params.code ?? "invalid",
        path,
        message: issue.message,
        hint: params.hint ?? null,
      }];
    }
    default:
      return [{
        code: "invalid",
        path,
        message: `${label(path, doc.what)}: ${issue.message}`,
        hint: null,
      }];
  }
}

/**
 * Check `raw` against the topology schema; return its problems (empty when the shape is right).
 *
 * @example
 * ```ts
 * import { checkStructure } from "./structure.ts";
 * checkStructure({ name: "x", vms: {}, lnks: [] })[0].hint; // "did you mean `links`?"
 * ```
 */
export function checkStructure(raw: unknown): Problem[] {
  return schemaProblems(topologySchema, raw, { what: "The topology", docs: "docs/topology.md" });
}

/**
 * Check `raw` against any zod schema built like the topology's (strict objects, records,
 * arrays): the same problem codes, messages and hints. `what` names the root in messages and
 * `docs` is the page hints point to. Other YAML formats (drills) validate with it.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { schemaProblems } from "./structure.ts";
 * const schema = z.strictObject({ seed: z.number() });
 * schemaProblems(schema, { seed: 1, sed: 2 }, { what: "The drill", docs: "docs/drills.md" })[0]
 *   .hint; // "did you mean `seed`?"
 * ```
 */
export function schemaProblems(
  schema: z.ZodType,
  raw: unknown,
  options: { what: string; docs: string },
): Problem[] {
  const r = schema.safeParse(raw);
  if (r.success) return [];
  const doc: SchemaDoc = { root: schema, ...options };
  return r.error.issues.flatMap((issue) => fromZodIssue(issue, raw, doc));
}
