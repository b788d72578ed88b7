/**
 * Checks of an assertion's names and calls before the drill runs: a name is a workload named by
 * an earlier `exec … as:` or a recovery figure; `count(events, key = "value", …)` takes known
 * filters; `metric("selector")` takes one quoted selector. Pure.
 *
 * @module
 */

import { closestName, didYouMean } from "../topology/issues.ts";
import { type Expr, type ExprError, referencesOf } from "./expr.ts";
import { COMPARE_TYPES_HINT, wrongTypeHint } from "./evaluate.ts";
import { selectorProblem } from "./scope.ts";
import { type MetricFamily, metricSelectorProblem } from "./metric_names.ts";
import { nullFieldProblem, resultFieldProblem, resultFieldType } from "./result_fields.ts";
import type { WorkloadRequest } from "../guest/workloads/args.ts";
import { LAB_EVENT_KINDS } from "../event_kinds.ts";
import { quote } from "../../devices/base/quote.ts";

/** The recovery figures an assertion may read (`recovery.p99_ms`). */
export const RECOVERY_FIELDS = [
  "count",
  "unrecovered",
  "min_ms",
  "mean_ms",
  "p50_ms",
  "p99_ms",
  "max_ms",
];

/**
 * The selector the hints show: the frames a link's loss impairment dropped. (Not
 * `vlab_link_frames_dropped_total`, the link ring's own full-ring drops.)
 */
export const METRIC_EXAMPLE = 'vlab_link_drops_total{link="a-b",cause="loss"}';

/** What the drill's topology tells of its lab's names, for {@linkcode checkReferences}. */
export interface LabNames {
  /** The metric families its lab can have (null: its plan could not be made). */
  metrics: ReadonlyMap<string, MetricFamily> | null;
  /**
   * Every subject an event of its lab can have, but a partition's number: its VMs, links,
   * switches and vsock routers, the lab's name and the drill's.
   */
  subjects: readonly string[];
}

/** The filters of `count(events, …)`. */
export const EVENT_FILTERS = ["kind", "subject"];

/**
 * What to do about a name that is no workload and not `recovery`: the close one, else name a
 * workload so (listing those the steps name): "expected one of `recovery`" said nothing of the
 * `as:` the drill lacks.
 */
function unknownNameHint(root: string, workloads: readonly string[]): string {
  const near = closestName(root, [...workloads, "recovery"]);
  if (near !== undefined) return `did you mean \`${near}\`?`;
  const named = workloads.slice(0, 8).map((w) => `\`${w}\``).join(", ");
  return `name a workload with \`as: ${root}\` in an exec step${
    workloads.length === 0
      ? " (no step names one)"
      : ` (the steps name ${named}${workloads.length > 8 ? ", …" : ""})`
  }, or read \`recovery.FIGURE\``;
}

/** The hint for an event kind the lab never logs: the close one, else where the kinds are. */
function eventKindHint(kind: string): string {
  const near = closestName(kind, LAB_EVENT_KINDS);
  return near === undefined
    ? "docs/drills.md lists the kinds the lab logs (link-down, device-reset, fault, …)"
    : `did you mean \`${near}\`?`;
}

/**
 * Every problem of an assertion's names and calls, each with its offset in the assertion.
 * `workloads` is null when the timeline did not read (not a list, missing): which names are
 * workloads is then unknown, so a workload name is not judged; recovery figures, `events` and the
 * calls still are. `results` gives the workload each name runs (`ping` for `as: ping` on
 * `argv: [ping, …]`): its result's fields are known, so a field it does not have is a problem
 * too (a name left out of it, a step that did not read, is judged after the run). An event kind
 * that the lab never logs (`count(events, kind = "link-dwon")`) is one as well, and so is a
 * `metric()` selector no sample of the lab can match, when `lab` gives the metric families its
 * topology's lab can have (a misspelt name, a label the family lacks, a link the topology does
 * not have), and a `subject = "…"` filter no event of the lab can have (`lab.subjects`: its VMs,
 * links and switches, its name, the drill's); null: the topology did not load, and only the
 * selector's syntax is judged. `recovery` false (no step times a recovery) makes a recovery
 * figure with no value then (`recovery.max_ms`, not `count`) a problem; null: not known.
 *
 * @example
 * ```ts
 * import { parseExpr } from "./expr.ts";
 * import { checkReferences } from "./references.ts";
 * const e = parseExpr("pnig.received > 0");
 * e.ok && checkReferences(e.value, ["ping"])[0].message; // 'Unknown name "pnig"'
 * ```
 */
export function checkReferences(
  expr: Expr,
  workloads: readonly string[] | null,
  results: ReadonlyMap<string, string> = new Map(),
  lab: LabNames | null = null,
  recovery: boolean | null = null,
  requests: ReadonlyMap<string, WorkloadRequest> = new Map(),
): ExprError[] {
  const metrics = lab?.metrics ?? null;
  const errors: ExprError[] = [];
  const refs = referencesOf(expr);
  // A call's arguments (`events`, a selector) are the call's to check, not references, and so
  // is every name inside one: in `count(events, kind == "x")` the call says the filter is
  // miswritten, and `kind` is no unknown workload besides.
  const inArgs = new Set(
    refs.flatMap((r) => r.type === "call" ? r.args.flatMap((a) => referencesOf(a.value)) : [])
      .filter((e) => e.type === "name"),
  );
  for (const r of refs) {
    if (r.type === "name" && inArgs.has(r)) continue;
    if (r.type === "name") {
      const root = r.parts[0];
      if (root === "events") {
        errors.push({
          code: "unknown-name",
          at: r.at,
          message: "events is not a value on its own",
          hint: 'count them: count(events, kind = "link-down")',
        });
      } else if (root === "recovery") {
        const field = r.parts[1];
        if (r.parts.length !== 2 || !RECOVERY_FIELDS.includes(field)) {
          errors.push({
            code: "unknown-name",
            at: r.at,
            message: `Unknown recovery figure "${r.text}"`,
            hint: didYouMean(field ?? "", RECOVERY_FIELDS),
          });
        } else if (recovery === false && field !== "count" && field !== "unrecovered") {
          // No step times a recovery: the figure has no value whatever the run does.
          errors.push({
            code: "no-recovery",
            at: r.at,
            message: `${r.text} has no value in this drill: no step of it times a recovery`,
            hint: "a link brought back up (state: up, or up_after) and a backend-crash (exit, " +
              "mid-pass, or a hang of more than 500 ms), guest-bug or vm-crash fault are timed; " +
              "recovery.count is 0 without them",
          });
        }
      } else if (workloads === null) {
        // Whether it names a workload, and so whether it needs a field, only the timeline says.
        continue;
      } else if (!workloads.includes(root)) {
        errors.push({
          code: "unknown-name",
          at: r.at,
          message: `Unknown name "${root}"`,
          hint: unknownNameHint(root, workloads),
        });
      } else if (r.parts.length < 2) {
        errors.push({
          code: "unknown-name",
          at: r.at,
          message: `"${root}" is a workload result: read one of its fields`,
          hint: `for example ${root}.received`,
        });
      } else {
        // Its workload's result has known fields: `ping.nope` was an ERROR after the run.
        const workload = results.get(root);
        const bad = workload === undefined ? null : resultFieldProblem(workload, r.parts);
        if (bad !== null) errors.push({ code: "unknown-field", at: r.at, ...bad });
        // A field its workload's words leave null on every run (a sink's expected without -n).
        const req = requests.get(root);
        const none = bad !== null || req === undefined ? null : nullFieldProblem(req, r.parts);
        if (none !== null) errors.push({ code: "no-value", at: r.at, ...none });
      }
      continue;
    }
    if (r.fn === "count") {
      const [first, ...rest] = r.args;
      if (
        first === undefined || first.key !== null || first.value.type !== "name" ||
        first.value.text !== "events"
      ) {
        errors.push({
          code: "bad-call",
          at: first?.at ?? r.at,
          message: "count() counts events: its first argument is `events`",
          hint: 'write count(events, kind = "link-down")',
        });
      }
      const given = new Set<string>();
      for (const a of rest) {
        if (a.key !== null && given.has(a.key)) {
          // An event has one kind and one subject: both filters would have to hold, and the
          // count would be 0 whatever happened.
          errors.push({
            code: "bad-call",
            at: a.at,
            message: `The ${a.key} filter is given twice: an event has one ${a.key}`,
            hint: `count each on its own and add them: count(events, ${a.key} = "…") + ` +
              `count(events, ${a.key} = "…")`,
          });
          continue;
        }
        if (a.key !== null) given.add(a.key);
        if (a.key === null || !EVENT_FILTERS.includes(a.key)) {
          errors.push({
            code: "bad-call",
            at: a.at,
            message: a.key === null
              ? "count() takes filters written key = value"
              : `Unknown event filter "${a.key}"`,
            hint: a.key === null
              ? 'write count(events, kind = "link-down")'
              : didYouMean(a.key, EVENT_FILTERS),
          });
        } else if (a.value.type !== "string") {
          errors.push({
            code: "bad-call",
            at: a.value.at,
            message: `The ${a.key} filter takes a quoted string`,
            hint: `write ${a.key} = "…"`,
          });
        } else if (
          a.key === "subject" && lab !== null && !lab.subjects.includes(a.value.value) &&
          !/^[0-9]+$/.test(a.value.value)
        ) {
          // A subject no event of the lab can have: the count is 0 whatever the run does.
          const near = closestName(a.value.value, lab.subjects);
          errors.push({
            code: "unknown-subject",
            at: a.value.at,
            message: `No event of this drill's lab can have subject ${quote(a.value.value)}`,
            hint: near !== undefined
              ? `did you mean \`${near}\`?`
              : "an event's subject is one of the lab's VMs, links or switches, the lab's name " +
                "or the drill's, or a partition's number",
          });
        } else if (a.key === "kind" && !LAB_EVENT_KINDS.includes(a.value.value)) {
          // Known before the run (a subject, a VM or link name, is judged after it).
          errors.push({
            code: "unknown-event-kind",
            at: a.value.at,
            message: `The lab logs no event of kind ${quote(a.value.value)}`,
            hint: eventKindHint(a.value.value),
          });
        }
      }
    } else if (r.fn === "metric") {
      if (r.args.length !== 1 || r.args[0].key !== null || r.args[0].value.type !== "string") {
        errors.push({
          code: "bad-call",
          at: r.args[0]?.at ?? r.at,
          message: "metric() takes one quoted Prometheus selector",
          hint: `write metric('${METRIC_EXAMPLE}')`,
        });
      } else {
        // Its syntax is known before the run, and so are the metrics its topology's lab can
        // have (which of them have samples, only at its end).
        const selector = r.args[0].value.value;
        const bad = selectorProblem(selector);
        const none = bad === null && metrics !== null
          ? metricSelectorProblem(selector, metrics)
          : null;
        if (bad !== null) errors.push({ code: "bad-call", at: r.args[0].at, ...bad });
        else if (none !== null) errors.push({ code: "unknown-metric", at: r.args[0].at, ...none });
      }
    } else {
      errors.push({
        code: "unknown-function",
        at: r.at,
        message: `Unknown function "${r.fn}"`,
        hint: didYouMean(r.fn, ["count", "metric"]),
      });
    }
  }
  return errors;
}

/** What a static look at an expression knows of its type: `unknown` for a workload's field. */
type StaticType = "a number" | "a string" | "true or false" | "unknown";

const COMPARE = new Set(["<", "<=", ">", ">="]);
const ARITHMETIC = new Set(["+", "-", "*", "/"]);

/**
 * Type mistakes an assertion makes whatever the run measures, each at its operand: an assertion
 * that is not a condition (`count(events, …)` alone, `ping.received + 1`), a comparison of a
 * number with a string, `&&` on a number. A field of a workload `results` names (name → the
 * workload it runs) has its result's type (`ping.text > 1` compares a string); another is judged
 * when the drill has run.
 *
 * @example
 * ```ts
 * import { parseExpr } from "./expr.ts";
 * import { checkTypes } from "./references.ts";
 * const e = parseExpr('count(events, kind = "link-down")');
 * e.ok && checkTypes(e.value)[0].message; // "The assertion is not a condition: it gives a number"
 * ```
 */
export function checkTypes(
  expr: Expr,
  results: ReadonlyMap<string, string> = new Map(),
): ExprError[] {
  const errors: ExprError[] = [];
  const wrong = (at: number, message: string, hint: string | null = null) =>
    errors.push({ code: "wrong-type", at, message, hint });
  const want = (e: Expr, t: StaticType, expected: StaticType, op: string) => {
    if (t === "unknown" || t === expected) return;
    const hint = expected === "a number" || expected === "true or false"
      ? wrongTypeHint(op, expected)
      : null;
    wrong(e.at, `"${op}" needs ${expected}, got ${t}`, hint);
  };
  const typeOf = (e: Expr): StaticType => {
    switch (e.type) {
      case "number":
        return "a number";
      case "string":
        return "a string";
      case "bool":
        return "true or false";
      case "name": {
        if (e.parts[0] === "recovery") return "a number";
        // A field of a known workload's result has its type (`ping.text` is a string).
        const workload = results.get(e.parts[0]);
        return workload === undefined ? "unknown" : resultFieldType(workload, e.parts);
      }
      case "call":
        return "a number";
      case "unary": {
        const t = typeOf(e.operand);
        want(e.operand, t, e.op === "-" ? "a number" : "true or false", e.op);
        // `-"x"` is reported above; what it gives is not judged again (one mistake, one problem).
        if (e.op === "-") return t === "unknown" || t === "a number" ? "a number" : "unknown";
        return "true or false";
      }
      case "binary": {
        const l = typeOf(e.left), r = typeOf(e.right);
        if (e.op === "&&" || e.op === "||") {
          want(e.left, l, "true or false", e.op);
          want(e.right, r, "true or false", e.op);
          return "true or false";
        }
        if (e.op === "==" || e.op === "!=") {
          if (l !== "unknown" && r !== "unknown" && l !== r) {
            wrong(e.at, `Cannot compare ${l} with ${r}`, COMPARE_TYPES_HINT);
          }
          return "true or false";
        }
        const expected = "a number";
        want(e.left, l, expected, e.op);
        want(e.right, r, expected, e.op);
        // Arithmetic on a string is reported above; its value is not judged again: `"a" + "b"
        // == "ab"` is one problem, not also "Cannot compare a number with a string".
        const bad = [l, r].some((t) => t !== "unknown" && t !== expected);
        return COMPARE.has(e.op)
          ? "true or false"
          : ARITHMETIC.has(e.op) && !bad
          ? "a number"
          : "unknown";
      }
    }
  };
  const top = typeOf(expr);
  // A binary expression's offset is its operator's: the whole assertion starts at its left end.
  const start = (e: Expr): number => e.type === "binary" ? start(e.left) : e.at;
  if (top !== "unknown" && top !== "true or false") {
    wrong(
      start(expr),
      `The assertion is not a condition: it gives ${top}`,
      'compare it: for example `count(events, kind = "link-down") == 2`',
    );
  }
  return errors;
}
