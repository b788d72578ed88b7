/**
 * What the names and calls of a drill's assertions mean once the drill has run: workload
 * results (`ping.loss_pct` → the field `lossPct` of the result named `ping`), recovery figures
 * (`recovery.p99_ms`), `count(events, kind = "…")` and `metric("name{label=\"v\"}")` over the
 * lab's Prometheus text taken at the end of the run. Pure: it reads a finished run's data.
 *
 * @module
 */

import { err, ok, type Result } from "../../devices/base/result.ts";
import { closestName, didYouMean } from "../topology/issues.ts";
import { type Expr, type ExprError, referencesOf } from "./expr.ts";
import type { EvalScope, Value } from "./evaluate.ts";
import { escapeControl as printable, quote } from "../../devices/base/quote.ts";
import type { RecoverySample } from "./types.ts";
import { KEPT_HEAD } from "../guest/workloads/kept.ts";
import { LAB_EVENT_KINDS } from "../event_kinds.ts";
import { INDEX } from "./result_fields.ts";

/** What a finished run offers to its assertions. */
export interface RunData {
  /** Workload results by name (null while still running). */
  workloads: ReadonlyMap<string, Record<string, unknown> | null>;
  /** Recovery samples. */
  recovery: readonly RecoverySample[];
  /** Lab events during the run. */
  events: readonly { kind: string; subject?: string }[];
  /** The lab's metrics at the end, Prometheus text. */
  metrics: string;
}

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function percentile(sorted: readonly number[], p: number): number {
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/**
 * The recovery figures of a run: count, unrecovered, min/mean/p50/p99/max in ms (nearest-rank
 * percentiles over the samples that recovered).
 *
 * @example
 * ```ts
 * import { recoveryFigures } from "./scope.ts";
 * recoveryFigures([{ subject: "link a-b", atMs: 0, ms: 4 }]).p99_ms; // 4
 * ```
 */
export function recoveryFigures(samples: readonly RecoverySample[]): Record<string, number> {
  const ms = samples.map((s) => s.ms).filter((m): m is number => m !== null).sort((a, b) => a - b);
  const figures: Record<string, number> = {
    count: samples.length,
    unrecovered: samples.length - ms.length,
  };
  if (ms.length > 0) {
    figures.min_ms = ms[0];
    figures.mean_ms = ms.reduce((a, b) => a + b, 0) / ms.length;
    figures.p50_ms = percentile(ms, 50);
    figures.p99_ms = percentile(ms, 99);
    figures.max_ms = ms[ms.length - 1];
  }
  return figures;
}

/**
 * A `metric()` selector read: the metric's name and the labels to match (only `=` matchers), or
 * null when it does not read.
 *
 * @example
 * ```ts
 * import { parseSelector } from "./scope.ts";
 * parseSelector('vlab_link_up{link="a-b"}'); // { name: "vlab_link_up", labels: [["link", "a-b"]] }
 * ```
 */
export function parseSelector(text: string): { name: string; labels: [string, string][] } | null {
  const m = /^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$/.exec(text);
  if (m === null) return null;
  const labels: [string, string][] = [];
  const body = m[2] ?? "";
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/gy;
  let at = 0;
  for (let n = 0; n < 32 && at < body.length; n++) {
    re.lastIndex = at;
    const l = re.exec(body);
    if (l === null) return null;
    labels.push([l[1], l[2].replace(/\\(.)/g, "$1")]);
    at = re.lastIndex;
  }
  if (at < body.trim().length) return null;
  return { name: m[1], labels };
}

/**
 * The problem of a `metric()` selector that does not read (`a{`, `x{l=~"re"}`: matchers other
 * than `=` are not taken), or null: checked when the drill is validated, and again when read.
 *
 * @example
 * ```ts
 * import { selectorProblem } from "./scope.ts";
 * selectorProblem('vlab_link_up{link="a-b"}'); // null
 * selectorProblem("a{")?.message; // 'Cannot read the metric selector "a{"'
 * ```
 */
export function selectorProblem(selector: string): { message: string; hint: string } | null {
  if (parseSelector(selector) !== null) return null;
  return {
    message: `Cannot read the metric selector ${quote(selector, 80)}`,
    hint: 'write a metric\'s name, then the labels to match: name{label="value",…}',
  };
}

/**
 * Sum the samples of a Prometheus text whose name and labels match a selector; an error for a
 * selector that does not parse or a metric the lab does not have.
 *
 * @example
 * ```ts
 * import { metricValue } from "./scope.ts";
 * const text = 'vlab_link_up{lab="x",link="a-b"} 1\n';
 * metricValue(text, 'vlab_link_up{link="a-b"}'); // { ok: true, value: 1 }
 * ```
 */
export function metricValue(
  text: string,
  selector: string,
): Result<number, { message: string; hint: string | null }> {
  const sel = parseSelector(selector);
  if (sel === null) return err(selectorProblem(selector)!);
  const names = new Set<string>();
  // The values each label of the metric takes, for the hint of a selector that matches nothing.
  const values = new Map<string, Set<string>>();
  let found = false;
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$/.exec(line);
    if (m === null) continue;
    names.add(m[1]);
    if (m[1] !== sel.name) continue;
    const labels = new Map<string, string>();
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      const value = l[2].replace(/\\(.)/g, "$1");
      labels.set(l[1], value);
      if (!values.has(l[1])) values.set(l[1], new Set());
      values.get(l[1])!.add(value);
    }
    if (sel.labels.every(([k, v]) => labels.get(k) === v)) {
      found = true;
      sum += Number(m[3]);
    }
  }
  if (!names.has(sel.name)) {
    return err({
      message: `The lab has no metric "${sel.name}"`,
      hint: didYouMean(sel.name, [...names]) ??
        "a running lab lists its metrics at GET /metrics on its control socket (README, " +
          '"The control socket")',
    });
  }
  if (!found) {
    return err({
      message: `No sample of ${sel.name} matches ${quote(selector, 80)}`,
      hint: labelHint(sel.labels, values),
    });
  }
  return ok(sum);
}

/**
 * What to do about a selector whose labels match no sample: the first label the metric does not
 * have, or whose value none of its samples has (with the close value, or the values it takes);
 * when each matches some sample but no sample has them all, that.
 */
function labelHint(
  wanted: readonly (readonly [string, string])[],
  values: ReadonlyMap<string, ReadonlySet<string>>,
): string {
  const shown = (list: string[]) =>
    list.slice(0, 8).map((v) => `\`${printable(v)}\``).join(", ") + (list.length > 8 ? ", …" : "");
  for (const [key, value] of wanted) {
    const taken = values.get(key);
    if (taken === undefined) {
      const keys = [...values.keys()];
      return `it has no label ${quote(key)}${
        keys.length === 0 ? " (it has no labels)" : `: its labels are ${shown(keys)}`
      }`;
    }
    if (!taken.has(value)) {
      const near = closestName(value, [...taken]);
      return `no sample has ${printable(key)}=${quote(value)}: ${
        near === undefined ? `${key} takes ${shown([...taken])}` : `did you mean \`${near}\`?`
      }`;
    }
  }
  return "each label matches some sample, but no sample has them all: check the label values";
}

/** What to do about a workload's field that is null (nothing measured). */
const NULL_HINT = "the workload had nothing to measure it by, no reply or no datagram: assert on " +
  "a count instead, such as its received";

/**
 * A list of a result that a long run keeps in part (kept.ts): its first {@linkcode KEPT_HEAD}
 * items, then its last `length - head` ones, of `total` in the run. A ping's `replies` (its
 * `received` counts them all).
 */
interface KeptList {
  /** Items in the run. */
  total: number;
  /** Items kept from its start. */
  head: number;
  /** Items kept in all (the head, then the tail). */
  length: number;
}

/**
 * The list at `fields` of `result` (`list`) when the run had more items than it kept (a ping of
 * more than 1000 replies keeps its first and last 500), or null for a list kept whole: an index
 * into it would read the kept list's 600th item, a reply near the run's end, as the run's 600th.
 */
function keptList(
  result: Record<string, unknown>,
  fields: readonly string[],
  list: readonly unknown[],
): KeptList | null {
  if (result.kind !== "ping" || fields.length !== 1 || fields[0] !== "replies") return null;
  const total = result.received;
  if (typeof total !== "number" || total <= list.length || list.length < KEPT_HEAD) return null;
  return { total, head: KEPT_HEAD, length: list.length };
}

/**
 * Where the run's item `n` is in a kept list: its index there, `not-kept` (between the head and
 * the tail), or `missing` (past the run's end).
 *
 * @example
 * ```ts ignore
 * keptItem({ total: 1200, head: 500, length: 1000 }, 1199); // 999
 * keptItem({ total: 1200, head: 500, length: 1000 }, 600); // "not-kept"
 * ```
 */
function keptItem(kept: KeptList, n: number): number | "not-kept" | "missing" {
  if (n >= kept.total) return "missing";
  if (n < kept.head) return n;
  const tailFrom = kept.total - (kept.length - kept.head);
  return n >= tailFrom ? kept.head + (n - tailFrom) : "not-kept";
}

/** What a kept list holds, for an error: `ping.replies had 1200 items in this run; …`. */
function keptWords(at: string, kept: KeptList): string {
  const tailFrom = kept.total - (kept.length - kept.head);
  return `${at} had ${kept.total} items in this run, and a long run keeps only its first ` +
    `${kept.head} and last ${kept.length - kept.head} (indices 0 to ${kept.head - 1} and ` +
    `${tailFrom} to ${kept.total - 1})`;
}

/** What to read instead of a reply a long ping did not keep. */
function keptHint(root: string): string {
  return `read an index that was kept; ${root}.received, ${root}.loss_pct and ${root}.rtt_ms ` +
    "(min, avg, max, median, p99) count every reply";
}

/**
 * The scope assertions are evaluated in, for a finished run.
 *
 * @example
 * ```ts ignore
 * import { runScope } from "./scope.ts";
 * const scope = runScope({ workloads: new Map(), recovery: [], events: [], metrics: "" });
 * ```
 */
export function runScope(data: RunData): EvalScope {
  const fail = (at: number, message: string, hint: string | null = null) =>
    err<ExprError>({ code: "no-value", at, message, hint });
  return {
    name: (e): Result<Value, ExprError> => {
      const [root, ...fields] = e.parts;
      if (root === "recovery") {
        const figures = recoveryFigures(data.recovery);
        const field = fields[0];
        // How many faults were timed, and how many went unrecovered, are 0 when none was (a drill
        // whose timed steps did not run fails on its own); a time with no sample has no value.
        if (data.recovery.length === 0 && field !== "count" && field !== "unrecovered") {
          return fail(
            e.at,
            "No recovery time was measured in this drill",
            "recovery is measured when a link comes back up under traffic, and after a backend-crash (exit, mid-pass, or a hang the watchdog caught), guest-bug or vm-crash fault",
          );
        }
        if (!Object.hasOwn(figures, field)) {
          return fail(
            e.at,
            `${e.text} has no value: no fault recovered`,
            "every fault it timed went unrecovered: assert on recovery.unrecovered, or give the " +
              "lab traffic that crosses the link again after the fault",
          );
        }
        return ok(figures[field]);
      }
      if (!data.workloads.has(root)) {
        return fail(
          e.at,
          `No workload named "${root}" ran`,
          "the drill stopped before its step: its verdict says why",
        );
      }
      const result = data.workloads.get(root);
      if (result === null || result === undefined) {
        return fail(e.at, `Workload "${root}" had not ended`, "wait for it with wait_for");
      }
      if (result.kind === "error") {
        return fail(
          e.at,
          `Workload "${root}" failed: ${printable(String(result.message))}`,
          typeof result.hint === "string"
            ? printable(result.hint)
            : "it could not run or it broke: its message says why",
        );
      }
      let cur: unknown = result;
      for (const [i, f] of fields.entries()) {
        if (cur === null) {
          const at = [root, ...fields.slice(0, i)].join(".");
          return fail(e.at, `${at} is null (nothing measured), so it has no ${f}`, NULL_HINT);
        }
        // A list the result keeps in part (a long ping's replies): its items are read by their
        // index in the run, never by their place in what was kept.
        const kept = Array.isArray(cur) ? keptList(result, fields.slice(0, i), cur) : null;
        if (kept !== null && INDEX.test(f)) {
          const at = [root, ...fields.slice(0, i)].join(".");
          const item = keptItem(kept, Number(f));
          if (item === "missing") {
            return fail(
              e.at,
              `${at}.${f} does not exist: ${at} had ${kept.total} items in this run`,
              `read an index from 0 to ${kept.total - 1}`,
            );
          }
          if (item === "not-kept") {
            return fail(e.at, `${at}.${f} was not kept: ${keptWords(at, kept)}`, keptHint(root));
          }
          cur = (cur as unknown[])[item];
          continue;
        }
        const key = typeof cur === "object" && Object.hasOwn(cur, f) ? f : camel(f);
        // A list's item past its end (`sink.senders.0` of a sink that heard no sender): how many
        // it had this run, not a did-you-mean among its indices.
        if (Array.isArray(cur) && INDEX.test(f) && Number(f) >= cur.length) {
          const at = [root, ...fields.slice(0, i)].join(".");
          return fail(
            e.at,
            `${at}.${f} does not exist: ${at} had ${
              cur.length === 0 ? "no items" : cur.length === 1 ? "1 item" : `${cur.length} items`
            } in this run`,
            cur.length === 0
              ? "the run had nothing to list there: assert on a count instead"
              : `read an index from 0 to ${cur.length - 1}`,
          );
        }
        if (typeof cur !== "object" || !Object.hasOwn(cur, key)) {
          const keys = cur !== null && typeof cur === "object" ? Object.keys(cur) : [];
          const snake = keys.map((k) => k.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase()));
          return fail(
            e.at,
            `${[root, ...fields.slice(0, i + 1)].join(".")} does not exist`,
            didYouMean(f, snake),
          );
        }
        cur = (cur as Record<string, unknown>)[key];
      }
      if (typeof cur === "number" || typeof cur === "string" || typeof cur === "boolean") {
        return ok(cur);
      }
      return fail(
        e.at,
        `${e.text} is ${
          cur === null ? "null (nothing measured)" : "not a number, string or boolean"
        }`,
        cur === null
          ? NULL_HINT
          : Array.isArray(cur)
          ? (cur.length === 0
            ? "it is an empty list: nothing to read in it"
            : keptList(result, fields, cur) !== null
            ? `read one of its items by its index, as in ${e.text}.0: ${
              keptWords(e.text, keptList(result, fields, cur)!)
            }`
            : `read one of its ${cur.length} items by its index, as in ${e.text}.0`)
          : typeof cur === "object"
          ? `read one of its fields: ${Object.keys(cur).join(", ")}`
          : null,
      );
    },
    call: (e: Extract<Expr, { type: "call" }>): Result<Value, ExprError> => {
      if (e.fn === "count") {
        const filters = e.args.slice(1).map((a) => [
          a.key,
          a.value.type === "string" ? a.value.value : "",
        ]);
        const n = data.events.filter((ev) =>
          filters.every(([k, v]) =>
            (k === "kind" ? ev.kind : ev.subject) === v
          )
        ).length;
        return ok(n);
      }
      if (e.fn === "metric") {
        const arg = e.args[0]?.value;
        const r = metricValue(data.metrics, arg?.type === "string" ? arg.value : "");
        return r.ok ? ok(r.value) : fail(arg?.at ?? e.at, r.error.message, r.error.hint);
      }
      return fail(e.at, `Unknown function "${e.fn}"`, "the functions are count and metric");
    },
  };
}

/**
 * The hint an assertion's verdict line carries: {@linkcode countFilterHint}'s typo, for a failed
 * assertion and for one that holds (`count(events, kind = "link-dwon") == 0` held whatever the
 * run did: it may hold only by the typo), or null. `known` is as {@linkcode countFilterHint}'s.
 *
 * @example
 * ```ts
 * import { parseExpr } from "./expr.ts";
 * import { assertionHint } from "./scope.ts";
 * const e = parseExpr('count(events, kind = "link-dwon") == 0');
 * e.ok && assertionHint(e.value, true, [{ kind: "link-down", subject: "a-b" }]);
 * // 'it may hold only by a typo: no kind "link-dwon" in this run: did you mean `link-down`?'
 * ```
 */
export function assertionHint(
  expr: Expr,
  holds: boolean,
  events: readonly { kind: string; subject?: string }[],
  known: KnownNames = {},
): string | null {
  const typo = countFilterHint(expr, events, known);
  return typo === null ? null : holds ? `it may hold only by a typo: ${typo}` : typo;
}

/** The names a count's filter may take that are no typo, whatever the run logged. */
export interface KnownNames {
  /**
   * The subjects the drill's lab can log (its VMs, links, switches, vsock routers, its name and
   * the drill's), which validation took: `subject = "h1"` counts h1's events, none or some.
   */
  subjects?: readonly string[];
}

/**
 * Why an assertion's count may be off by a typo: each `count(events, kind = "…")` or
 * `subject = "…"` filter whose value no event of the run had, though one close to it did, and
 * that is no name the lab logs (a kind of `LAB_EVENT_KINDS`, a subject of
 * `known.subjects`): `count(events, kind = "device-reset-failed") == 0` after a run that had
 * `device-reset` events is what it says, no typo. Null when there is none (a count of events that
 * did not happen is a fine assertion: `== 0`).
 *
 * @example
 * ```ts
 * import { parseExpr } from "./expr.ts";
 * import { countFilterHint } from "./scope.ts";
 * const e = parseExpr('count(events, kind = "link-dwon") == 2');
 * e.ok && countFilterHint(e.value, [{ kind: "link-down", subject: "a-b" }]);
 * // 'no kind "link-dwon" in this run: did you mean `link-down`?'
 * ```
 */
export function countFilterHint(
  expr: Expr,
  events: readonly { kind: string; subject?: string }[],
  known: KnownNames = {},
): string | null {
  const names = new Map<string, readonly string[]>([
    ["kind", LAB_EVENT_KINDS],
    ["subject", known.subjects ?? []],
  ]);
  const seen = new Map<string, Set<string>>([["kind", new Set()], ["subject", new Set()]]);
  for (const e of events) {
    seen.get("kind")!.add(e.kind);
    if (e.subject !== undefined) seen.get("subject")!.add(e.subject);
  }
  const hints: string[] = [];
  for (const r of referencesOf(expr)) {
    if (r.type !== "call" || r.fn !== "count") continue;
    for (const a of r.args) {
      const values = a.key === null ? undefined : seen.get(a.key);
      if (values === undefined || a.value.type !== "string" || values.has(a.value.value)) continue;
      if (a.key !== null && names.get(a.key)?.includes(a.value.value)) continue;
      const near = closestName(a.value.value, [...values]);
      if (near !== undefined) {
        hints.push(
          `no ${a.key} ${quote(a.value.value)} in this run: did you mean \`${near}\`?`,
        );
      }
    }
  }
  return hints.length === 0 ? null : printable(hints.join("; "));
}
