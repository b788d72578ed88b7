/**
 * The argument checks of the drill helpers a script calls with a value it built or read back (a
 * run's result, a list of problems): a value of the wrong shape is one `TypeError` at the call,
 * naming the call, the argument and what was expected (`markdownReport: result.steps[0].startedMs
 * must be a number, got undefined`), as the lab API refuses a script's arguments; never a
 * property access failing deep inside, nor a report of nothing.
 *
 * @module
 */

import { optionsProblem, typeName } from "../api.ts";
import { closestName } from "../topology/issues.ts";
import { quote } from "../../devices/base/quote.ts";

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
  ["links", "list", {
    link: "string",
    impaired: "boolean",
    forwardLost: "number",
    reverseLost: "number",
    forwardCorrupted: "number",
    reverseCorrupted: "number",
    forwardOtherDrops: "number",
    reverseOtherDrops: "number",
    forwardFrames: "number",
    reverseFrames: "number",
  }],
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
    case "string":
      return typeof value === "string";
    case "number":
      return typeof value === "number";
    case "boolean":
      return typeof value === "boolean";
  }
}

/** `what must be …, got …` when `value` is not of `kind`, else null. */
function kindProblem(what: string, value: unknown, kind: Kind): string | null {
  return isKind(value, kind) ? null : `${what} must be ${EXPECTED[kind]}, got ${typeName(value)}`;
}

/**
 * What makes `result` no drill run's result (what `runDrill` returns, or its `report.json` read
 * back), or the part of one that `fields` names: the first field that is missing or of the wrong
 * type (`result.steps[0].startedMs must be a number, got undefined`), or null when there is none.
 *
 * @example
 * ```ts
 * import { drillResultProblem } from "./check.ts";
 * drillResultProblem({ seed: 1, steps: [null], links: [] }, ["seed", "steps", "links"]);
 * // "result.steps[0] must be an object, got null"
 * ```
 */
export function drillResultProblem(result: unknown, fields?: readonly string[]): string | null {
  if (!isKind(result, "map")) {
    return `result must be a drill result (what runDrill returns), got ${typeName(result)}`;
  }
  const r = result as Record<string, unknown>;
  for (const [name, kind, entry] of RESULT_FIELDS) {
    if (fields !== undefined && !fields.includes(name)) continue;
    const problem = kindProblem(`result.${name}`, r[name], kind);
    if (problem !== null) return problem;
    if (entry === undefined) continue;
    for (const [i, item] of (r[name] as unknown[]).entries()) {
      const what = `result.${name}[${i}]`;
      const notMap = kindProblem(what, item, "map");
      if (notMap !== null) return notMap;
      for (const [key, k] of Object.entries(entry)) {
        const p = kindProblem(`${what}.${key}`, (item as Record<string, unknown>)[key], k);
        if (p !== null) return p;
      }
    }
  }
  return null;
}

/**
 * Refuse anything but a drill run's result, or the part of one that `fields` names: a
 * `TypeError` naming `call` and {@linkcode drillResultProblem}'s field.
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
  const problem = drillResultProblem(result, fields);
  if (problem !== null) throw new TypeError(`${call}: ${problem}`);
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
  const problem = kindProblem(what, value, "string");
  if (problem !== null) throw new TypeError(`${call}: ${problem}`);
}

/**
 * Refuse options that are no plain object (`optionsProblem`), or that hold a key the call does
 * not take (a misspelt one would be ignored without a word): a `TypeError` naming `call`, the key
 * and the near one.
 *
 * @example
 * ```ts
 * import { checkOptionKeys } from "./check.ts";
 * try {
 *   checkOptionKeys("compareRuns", { note: [] }, ["notes"]);
 * } catch (e) {
 *   String(e); // 'TypeError: compareRuns: options has no key "note" (did you mean notes?); it takes notes'
 * }
 * ```
 */
export function checkOptionKeys(call: string, options: unknown, keys: readonly string[]): void {
  // A plain object: an AbortSignal given in its place was taken as one with no keys.
  const problem = optionsProblem(call, options, keys);
  if (problem !== null) throw new TypeError(problem);
  const unknown = Object.keys(options as object).find((k) => !keys.includes(k));
  if (unknown === undefined) return;
  const near = closestName(unknown, keys);
  throw new TypeError(
    `${call}: options has no key ${quote(unknown)}${
      near === undefined ? "" : ` (did you mean ${near}?)`
    }; it takes ${keys.join(", ")}`,
  );
}
