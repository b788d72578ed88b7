/**
 * Impairment keys as written (YAML, or `KEY=VALUE` words of `vlab link NAME set`, or the
 * `impair` object of `POST /links/NAME`) → the {@linkcode Impairment} the stage applies. One
 * reader for the topology builder and for live changes, so both accept and reject the same
 * values with the same messages.
 *
 * @module
 */

import { err, ok, type Result } from "../../devices/base/result.ts";
import { type LossModel, NO_IMPAIRMENT } from "../host/impair.ts";
import { DELAY_DISTRIBUTIONS } from "../host/impair_models.ts";
import type { Impairment } from "./types.ts";
import { IMPAIRMENT_KEYS, impairmentSchema, type RawImpairment } from "./schema.ts";
import { quote } from "../../devices/base/quote.ts";
import { closestName, hintFor } from "./issues.ts";
import { schemaProblems } from "./structure.ts";
import { isPlainObject, objectKind } from "./plain.ts";
import { parseDuration, parsePercent, parsePercentList, parseRate } from "./units.ts";

type Value = string | number | undefined;

function unit(v: Value, parse: (v: string | number) => Result<number, unknown>, d: number): number {
  if (v === undefined) return d;
  const r = parse(v);
  return r.ok ? r.value : d;
}

/**
 * The impairment for the keys that `get` returns (undefined: not set), over
 * {@linkcode NO_IMPAIRMENT}. Values are taken as valid (the schema checked them); an unreadable
 * one falls back to the default. `loss_state` and `loss_gemodel` fill the missing parameters
 * the way `tc` does.
 *
 * @example
 * ```ts
 * import { resolveImpairment } from "./impairment.ts";
 * const keys = new Map<string, string>([["delay", "10ms"], ["loss_gemodel", "1%"]]);
 * resolveImpairment((k) => keys.get(k)).lossModel; // gemodel p 1 r 99 1-h 100 1-k 0
 * ```
 */
export function resolveImpairment(get: (key: string) => Value): Impairment {
  const d = NO_IMPAIRMENT;
  const pct = (k: string, dflt: number) => unit(get(k), parsePercent, dflt);
  const int = (k: string, dflt: number) => {
    const v = get(k);
    return typeof v === "number" ? v : dflt;
  };
  const dist = get("distribution");
  return {
    delayUs: unit(get("delay"), parseDuration, d.delayUs),
    jitterUs: unit(get("jitter"), parseDuration, d.jitterUs),
    delayCorrPct: pct("delay_correlation", 0),
    distribution: DELAY_DISTRIBUTIONS.find((d) => d === dist) ?? "uniform",
    lossPct: pct("loss", 0),
    lossCorrPct: pct("loss_correlation", 0),
    lossModel: lossModel(get("loss_state"), get("loss_gemodel")),
    corruptPct: pct("corrupt", 0),
    corruptCorrPct: pct("corrupt_correlation", 0),
    duplicatePct: pct("duplicate", 0),
    duplicateCorrPct: pct("duplicate_correlation", 0),
    reorderPct: pct("reorder", 0),
    reorderCorrPct: pct("reorder_correlation", 0),
    reorderGap: int("gap", d.reorderGap),
    rateBps: unit(get("rate"), parseRate, d.rateBps),
    overheadBytes: int("overhead", d.overheadBytes),
    limit: int("limit", d.limit),
  };
}

function lossModel(state: Value, gemodel: Value): LossModel | null {
  if (state !== undefined) {
    const r = parsePercentList(state, 5);
    if (!r.ok) return null;
    const [p13, p31 = 100 - p13, p32 = 0, p23 = 100, p14 = 0] = r.value;
    return { kind: "state", p13, p31, p32, p23, p14 };
  }
  if (gemodel !== undefined) {
    const r = parsePercentList(gemodel, 4);
    if (!r.ok) return null;
    const [p, r_ = 100 - p, oneMinusH = 100, oneMinusK = 0] = r.value;
    return { kind: "gemodel", p, r: r_, oneMinusH, oneMinusK };
  }
  return null;
}

/** "did you mean" for a near-miss key (as in a file), else every key. */
function didYouMeanKey(key: string): string {
  const near = closestName(key, IMPAIRMENT_KEYS);
  return near !== undefined ? `did you mean \`${near}\`?` : `Keys: ${IMPAIRMENT_KEYS.join(", ")}`;
}

/** Why live impairment keys were refused: the key at fault, a message and a hint. */
export interface ImpairmentProblem {
  /** The key at fault (or "" for the whole object). */
  key: string;
  /** One line, sentence case. */
  message: string;
  /** What to write instead. */
  hint: string;
}

/**
 * Read live impairment keys (the `impair` object of `POST /links/NAME`, or the words of
 * `vlab link NAME set`): the same schema and units as a topology file. Unknown keys are refused
 * with the list of known ones; loss models conflict with `loss`; a `distribution` needs a `jitter`
 * above 0 (it only shapes the jitter, as a file's `distribution-without-jitter`) and a `delay`
 * above 0 (tc refuses it with delay 0, as a file's `distribution-without-delay`). What a link of
 * one kind refuses is the link's to say, once its kind is known: a net link's `reorder` needs a
 * `delay` ({@linkcode reorderProblem}), a vsock link takes no reorder at all
 * (`vsock_impairment.ts`). `options.link`, the link the keys are for, is named in the problems
 * of keys taken together (as `reorderProblem` names it), so a message read apart from its
 * command (a script's error, a control socket's answer) says which link refused them.
 *
 * @example
 * ```ts
 * import { parseImpairment } from "./impairment.ts";
 * parseImpairment({ delay: "20ms", loss: "1%" }); // { ok: true, value: { delayUs: 20000, … } }
 * parseImpairment({ delay: "20" }).ok; // false: "… expected a duration with a unit"
 * const r = parseImpairment({ distribution: "pareto" }, { link: "a-b" });
 * if (!r.ok) r.error.message; // 'Cannot set a distribution on link "a-b" without a jitter'
 * ```
 */
export function parseImpairment(
  raw: unknown,
  options: { link?: string } = {},
): Result<Impairment, ImpairmentProblem> {
  const onLink = options.link === undefined ? "" : ` on link ${quote(options.link)}`;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return err({
      key: "",
      message: "Impairment must be an object of netem keys",
      hint: 'For example {"delay": "20ms", "loss": "1%"}',
    });
  }
  // A Map (or a class's instance) has no own keys: read as one, it cleared the link's impairment.
  if (!isPlainObject(raw)) {
    return err({
      key: "",
      message: `Impairment must be an object of netem keys, got ${objectKind(raw)}`,
      hint: raw instanceof Map
        ? "write a plain object ({ key: value }); Object.fromEntries(map) makes one"
        : 'For example {"delay": "20ms", "loss": "1%"}',
    });
  }
  const keys = new Set<string>(IMPAIRMENT_KEYS);
  for (const k of Object.keys(raw)) {
    if (!keys.has(k)) {
      return err({
        key: k,
        message: `Unknown impairment key ${quote(k)}`,
        hint: didYouMeanKey(k),
      });
    }
  }
  // The same reading of zod's issues as a topology file's, so both fail with one message.
  const [problem] = schemaProblems(impairmentSchema, raw, {
    what: "The impairment",
    docs: "docs/topology.md",
  });
  if (problem !== undefined) {
    return err({
      key: String(problem.path[0] ?? ""),
      message: problem.message,
      hint: hintFor(problem.code, problem.hint) ?? "docs/topology.md lists the impairment keys",
    });
  }
  // The schema accepted it, and it transforms nothing.
  const v = raw as RawImpairment;
  const models = [v.loss, v.loss_state, v.loss_gemodel].filter((x) => x !== undefined).length;
  if (models > 1) {
    return err({
      key: v.loss_state !== undefined ? "loss_state" : "loss_gemodel",
      message: `Cannot use more than one of loss, loss_state and loss_gemodel${onLink}`,
      hint: "netem takes one loss model per direction: keep one of them",
    });
  }
  const map = new Map(Object.entries(v));
  const imp = resolveImpairment((k) => map.get(k) as Value);
  if (v.distribution !== undefined && imp.jitterUs === 0) {
    return err({
      key: "distribution",
      message: `Cannot set a distribution${onLink} without a jitter`,
      hint: "distribution shapes the jitter: set `jitter` above 0 too",
    });
  }
  // tc: "distribution specified but no latency and jitter values" (q_netem.c refuses a table
  // with delay 0 too); the jitter is spread around the delay.
  if (v.distribution !== undefined && imp.delayUs === 0) {
    return err({
      key: "distribution",
      message: `Cannot set a distribution${onLink} without a delay`,
      hint: DISTRIBUTION_DELAY_HINT,
    });
  }
  // It was taken and did nothing; netem's overhead is a part of its `rate`.
  if (imp.overheadBytes !== 0 && imp.rateBps === 0) {
    return err({
      key: "overhead",
      message: `Cannot set an overhead${onLink} without a rate`,
      hint: OVERHEAD_HINT,
    });
  }
  return ok(imp);
}

/** The hint of a `distribution` with a jitter but no `delay` (a file's `distribution-without-delay`). */
export const DISTRIBUTION_DELAY_HINT =
  "distribution shapes the jitter around the delay (tc refuses it with delay 0): set `delay` above 0 too";

/** The hint of an `overhead` without a `rate` (a file's `overhead-without-rate`). */
export const OVERHEAD_HINT =
  "overhead counts toward the rate limit (netem's rate RATE PACKETOVERHEAD): set `rate` too";

/** The hint of a `gap` without a `reorder` (a file's `gap-without-reorder`). */
export const GAP_HINT =
  "gap says which frames a reorder may send early: set `reorder` above 0 too (tc refuses a gap without one)";

/**
 * Why a net link (`link`) cannot take `imp`, or null: it reorders without a delay (netem reorders
 * by sending some frames without the delay, so with none there is nothing to send early), as a
 * topology file's `reorder-without-delay`. A vsock link refuses any reorder instead
 * (`vsockImpairmentProblem`), so only a link known to be a net link is asked this.
 *
 * @example
 * ```ts
 * import { parseImpairment, reorderProblem } from "./impairment.ts";
 * const r = parseImpairment({ reorder: "5%" });
 * if (r.ok) reorderProblem("a-b", r.value)?.message; // "Cannot reorder on link \"a-b\" without a delay"
 * ```
 */
export function reorderProblem(link: string, imp: Readonly<Impairment>): ImpairmentProblem | null {
  // A gap other than 1 without a reorder did nothing (tc: "gap specified without reorder
  // probability"); 1, the default, cannot be told from none.
  if (imp.reorderPct === 0 && imp.reorderGap !== NO_IMPAIRMENT.reorderGap) {
    return {
      key: "gap",
      message: `Cannot set a gap on link ${quote(link)} without a reorder`,
      hint: GAP_HINT,
    };
  }
  if (imp.reorderPct === 0 || imp.delayUs > 0) return null;
  return {
    key: "reorder",
    message: `Cannot reorder on link ${quote(link)} without a delay`,
    hint: "Set `delay` above 0 too: netem reorders by sending some frames without the delay",
  };
}
