/**
 * The argument checks of the drill helpers a script calls with a value it built or read back (a
 * run's result, a list of problems): a value of the wrong shape is one `TypeError` at the call,
 * naming the call, the argument and what was expected (`markdownReport: result.steps[0].startedMs
 * must be a number, got undefined`), as the lab API refuses a script's arguments; never a
 * property access failing deep inside, nor a report of nothing.
 *
 * @module
 */

import { typeName } from "../api.ts";

/** What a checked field holds. */
type Kind = "string" | "number" | "boolean" | "map" | "list";

/** A field of a result, and for a list the fields each of its entries needs. */
type Field = readonly [name: string, kind: Kind, entry?: Readonly<Record<string, Kind>>];

/** The fields of a `DrillResult` that the reports, the chart and a replay read. */
const RESULT_FIELDS: readonly Field[] = [
  ["name", "string"],
  ["source", "string"],
  ["seed", "number"],
  ["startedAt", "string"],
  ["durationMs", "number"],
  ["steps", "list", {
    step: "number",
    run: "number",
    kind: "string",
    what: "string",
    plannedMs: "number",
    jitterMs: "number",
    startedMs: "number",
    endedMs: "number",
  }],
  ["workloads", "map"],
  ["recovery", "list", { subject: "string", atMs: "number" }],
  ["links", "list", { link: "string" }],
  ["events", "list", { kind: "string" }],
  ["assertions", "list", { text: "string", verdict: "string", measured: "list" }],
  ["passed", "boolean"],
  ["document", "map"],
];

const EXPECTED: Readonly<Record<Kind, string>> = {
  string: "a string",
  number: "a number",
  boolean: "true or false",
  map: "an object",
  list: "an array",
};

function isKind(value: unknown, kind: Kind): boolean {
  switch (kind) {
    case "list":
      return Array.isArray(value);
    case "map":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    default:
      return typeof value === kind;
  }
}

function expectKind(call: string, what: string, value: unknown, kind: Kind): void {
  if (!isKind(value, kind)) {
    throw new TypeError(`${call}: ${what} must be ${EXPECTED[kind]}, got ${typeName(value)}`);
  }
}

/**
 * Refuse anything but a drill run's result (what `runDrill` returns, or its `report.json` read
 * back), or the part of one that `fields` names: a `TypeError` naming `call` and the first field
 * that is missing or of the wrong type.
 *
 * @example
 * ```ts
 * import { checkDrillResult } from "./check.ts";
 * try {
 *   checkDrillResult("markdownReport", null);
 * } catch (e) {
 *   String(e); // "TypeError: markdownReport: result must be a drill result (what runDrill returns), got null"
 * }
 * ```
 */
export function checkDrillResult(
  call: string,
  result: unknown,
  fields?: readonly string[],
): void {
  if (!isKind(result, "map")) {
    throw new TypeError(
      `${call}: result must be a drill result (what runDrill returns), got ${typeName(result)}`,
    );
  }
  const r = result as Record<string, unknown>;
  for (const [name, kind, entry] of RESULT_FIELDS) {
    if (fields !== undefined && !fields.includes(name)) continue;
    expectKind(call, `result.${name}`, r[name], kind);
    if (entry === undefined) continue;
    for (const [i, item] of (r[name] as unknown[]).entries()) {
      expectKind(call, `result.${name}[${i}]`, item, "map");
      for (const [key, k] of Object.entries(entry)) {
        expectKind(call, `result.${name}[${i}].${key}`, (item as Record<string, unknown>)[key], k);
      }
    }
  }
}

/**
 * Refuse a path (or a text) that is no string: a `TypeError` naming `call` and the argument.
 *
 * @example
 * ```ts
 * import { checkString } from "./check.ts";
 * checkString("readReport", "path", "out/report.json"); // fine
 * ```
 */
export function checkString(call: string, what: string, value: unknown): void {
  expectKind(call, what, value, "string");
}
