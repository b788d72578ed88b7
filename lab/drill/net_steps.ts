/**
 * The network step kinds of a drill's timeline beyond `link`: `partition` (cut every frame
 * between two sets of VMs, one way or both, across switches, as `vlab partition`), `heal` (heal
 * the partitions in force), and `impair` (change a link's impairment while it runs, netem's
 * `change`, as `vlab link NAME set`). Registered in the step registry (`steps.ts`) when the
 * loader imports this module; checked against the topology before the lab starts.
 *
 * ```yaml
 * - at: 500ms
 *   partition: { a: [h1, h2], b: [h3, h4], heal_after: 1s }
 * - impair: { link: a-b, set: { delay: 20ms, loss: 5% } }
 * - impair: { link: a-b, set: {} } # off again
 * - heal: all
 * ```
 *
 * Runs on the main thread, inside the drill runner.
 *
 * @module
 */

import { z } from "zod";
import { type ImpairmentProblem, parseImpairment, reorderProblem } from "../topology/impairment.ts";
import type { Impairment } from "../topology/types.ts";
import { nonFiniteNumber } from "../topology/schema.ts";
import { vsockImpairmentProblem } from "../topology/vsock_impairment.ts";
import { isPassthrough } from "../host/impair.ts";
import { drillLinks } from "./link_names.ts";
import { didYouMean, type PathSegment, type Problem } from "../topology/issues.ts";
import { quote } from "../../devices/base/quote.ts";
import type { Topology } from "../topology/types.ts";
import { type CheckContext, durationMs, registerStepKind } from "./steps.ts";

function vmProblems(topology: Topology | null, vms: string[], path: PathSegment[]): Problem[] {
  // No topology, no VM names to judge: the topology's own problem is reported.
  if (topology === null) return [];
  const names = topology.vms.map((v) => v.name);
  return vms.flatMap((vm, i) =>
    names.includes(vm) ? [] : [{
      code: "unknown-vm",
      path: [...path, i],
      message: `Unknown VM ${quote(vm)}`,
      hint: didYouMean(vm, names),
    }]
  );
}

/** A side of a partition: a list of at least one VM. */
function side(name: "a" | "b") {
  return z.array(z.string()).refine((vms) => vms.length > 0, {
    message: `partition side ${name} lists no VM`,
    params: {
      code: "empty-list",
      hint: `list the VMs of side ${name}, as in ${name}: [${name}]`,
    },
  });
}

const partitionArgs = z.strictObject({
  a: side("a"),
  b: side("b"),
  one_way: z.boolean().optional(),
  heal_after: durationMs.optional(),
});

/** A partition's problems: unknown VMs on either side that read, a VM on both sides. */
function checkPartition(
  p: Partial<z.output<typeof partitionArgs>>,
  ctx: CheckContext,
  path: PathSegment[],
): Problem[] {
  const problems = [
    ...vmProblems(ctx.topology, p.a ?? [], [...path, "a"]),
    ...vmProblems(ctx.topology, p.b ?? [], [...path, "b"]),
  ];
  const b = p.b ?? [];
  const both = p.a?.find((vm) => b.includes(vm));
  if (both !== undefined) {
    problems.push({
      code: "bad-partition",
      path: [...path, "b", b.indexOf(both)],
      message: `VM ${quote(both)} is on both sides of the partition`,
      hint: "put each VM on one side only",
    });
  }
  return problems;
}

registerStepKind<z.output<typeof partitionArgs>>("partition", {
  schema: partitionArgs,
  lasts: (p) => p.heal_after ?? 0,
  lastsAtMost: (p) => p.heal_after ?? 0,
  describe: (p) =>
    `partition ${p.a.join(",")} ${p.one_way === true ? "→" : "/"} ${p.b.join(",")}${
      p.heal_after === undefined ? "" : ` for ${p.heal_after} ms`
    }`,
  check: (p, ctx, path) => {
    const problems = checkPartition(p, ctx, path);
    // Left in force for a `heal` below.
    if (ctx.partitions !== undefined && p.heal_after === undefined) {
      ctx.partitions.inForce++;
      ctx.partitions.cuts?.push({ index: path[1], a: p.a, b: p.b });
    }
    return problems;
  },
  checkPartial: (p, ctx, path) => checkPartition(p, ctx, path),
  // One that did not read may be left in force, unless its heal_after reads: a `heal` below is
  // then not refused as well.
  unparsedEffects: (v, ctx) => {
    const heal = (v as { heal_after?: unknown } | null)?.heal_after;
    if (ctx.partitions !== undefined && !durationMs.safeParse(heal).success) {
      ctx.partitions.inForce++;
    }
  },
  run: async (p, ctx) => {
    const info = ctx.lab.partition(p.a, p.b, { oneWay: p.one_way === true });
    if (p.heal_after !== undefined) {
      await ctx.sleep(p.heal_after);
      ctx.lab.heal(info.id);
    }
  },
});

registerStepKind<"all">("heal", {
  schema: z.literal("all", {
    error: () => ({
      message: "heal takes `all`: it heals every partition in force",
      params: { code: "invalid", hint: "write `heal: all`, or give the partition a heal_after" },
    }),
  }),
  describe: () => "heal all partitions",
  lastsAtMost: () => 0,
  // Nothing in force: a step out of order (it healed nothing, and the partition below it stayed).
  check: (_, ctx, path) => {
    if (ctx.partitions === undefined) return [];
    const none = ctx.partitions.inForce === 0;
    ctx.partitions.inForce = 0;
    ctx.partitions.cuts?.splice(0);
    return none
      ? [{
        code: "out-of-order",
        path,
        message: "No partition is in force here: no step above leaves one (without heal_after)",
        hint: "move it below the partition step it heals, or leave it out (a partition with " +
          "heal_after heals itself)",
      }]
      : [];
  },
  run: (_, ctx) => {
    ctx.lab.heal();
    return Promise.resolve();
  },
});

const impairArgs = z.strictObject({
  link: z.string(),
  direction: z.enum(["forward", "reverse", "both"]).optional(),
  // 1e400 or .inf reaches the impairment's reader, which says it is out of range.
  set: z.unknown().superRefine(refuseProtoKey).pipe(
    z.record(z.string(), z.union([z.string(), z.number(), nonFiniteNumber])),
  ),
});

/**
 * A `__proto__` key of an impair step's `set` is refused as the unknown impairment key it is. The
 * record's schema builds its output by assignment, where `__proto__` sets the prototype: the key
 * was dropped without a word (`{ __proto__: 5, delay: 2ms }` ran as `delay=2ms`), and
 * `{ __proto__: { delay: 1ms } }` ran as no impairment.
 */
function refuseProtoKey(value: unknown, ctx: z.RefinementCtx): void {
  if (value === null || typeof value !== "object" || !Object.hasOwn(value, "__proto__")) return;
  const r = parseImpairment({ ["__proto__"]: 0 });
  ctx.addIssue({
    code: "custom",
    path: ["__proto__"],
    message: r.ok ? 'Unknown impairment key "__proto__"' : r.error.message,
    params: { code: "bad-impairment", hint: r.ok ? null : r.error.hint },
  });
}

/**
 * Valid values of the keys that other keys need (a distribution needs a delay and a jitter, an
 * overhead a rate, a gap a reorder), beside which a key's value is judged on its own, and which
 * stand in for a refused one when the keys are judged together.
 */
const COMPANIONS: Readonly<Record<string, string>> = {
  delay: "1ms",
  jitter: "1ms",
  rate: "1mbit",
  reorder: "1%",
};

/** A link a drill can impair, as `drillLinks` lists it. */
type DrillLink = ReturnType<typeof drillLinks>[number];

/**
 * Every problem of an impair step's `set` on `link` (when the topology has it). First each key's
 * own (an unknown key, a value out of range), judged beside valid values of the keys it needs, so
 * that one bad key hides no other and brings no false one (`parseImpairment` stops at its first
 * problem: `{ dealy: 1ms, loss: 200% }` said only `dealy`, where a topology file's link says
 * both). Then the problems of the other keys taken together ({@linkcode togetherProblems}: a
 * distribution without a jitter, two loss models, what the link refuses), said beside the bad
 * keys rather than after they are fixed, as a topology file's link says them, except where a
 * refused key's value decides: with `{ rate: fast, overhead: 5 }` no "overhead without a rate".
 */
function impairmentProblems(set: unknown, link: DrillLink | undefined): ImpairmentProblem[] {
  if (set === null || typeof set !== "object" || Array.isArray(set)) {
    const r = parseImpairment(set, { link: link?.name });
    return r.ok ? [] : [r.error];
  }
  const own = Object.entries(set).flatMap(([key, value]) => {
    const alone = parseImpairment({ ...COMPANIONS, [key]: value }, { link: link?.name });
    return alone.ok ? [] : [alone.error];
  });
  const bad = new Set(own.map((p) => p.key));
  const good = Object.fromEntries(Object.entries(set).filter(([key]) => !bad.has(key)));
  const together = togetherProblems(good, link);
  if (bad.size === 0) return together;
  // A problem that a refused key's value decides is said once the key reads: it is one only when
  // the keys are found wanting with valid values in place of the refused ones too.
  const standIns = Object.fromEntries(
    [...bad].flatMap((key) => Object.hasOwn(COMPANIONS, key) ? [[key, COMPANIONS[key]]] : []),
  );
  const still = new Set(togetherProblems({ ...good, ...standIns }, link).map(problemId));
  return [...own, ...together.filter((p) => still.has(problemId(p)))];
}

/** One problem of keys taken together, whatever the values beside it. */
const problemId = (p: ImpairmentProblem) => `${p.key}\n${p.message}`;

/**
 * The problems of impairment keys that each read on their own, taken together: each that
 * `parseImpairment` finds (it stops at its first, so the key at fault is set aside and the rest
 * judged again), then, when the topology has the link, what the link refuses of the impairment
 * (a vsock stream takes no loss, a vsock router's link no impairment, a net link no reorder
 * without a delay), as `vlab link NAME set` refuses it.
 */
function togetherProblems(
  keys: Record<string, unknown>,
  link: DrillLink | undefined,
): ImpairmentProblem[] {
  const rest = { ...keys };
  const problems: ImpairmentProblem[] = [];
  // Each round sets one key aside: bounded by the number of keys.
  for (let round = 0; round <= Object.keys(keys).length; round++) {
    const r = parseImpairment(rest, { link: link?.name });
    if (r.ok) return [...problems, ...linkRefusals(r.value, link)];
    // Two loss models of three are said once.
    if (!problems.some((p) => p.message === r.error.message)) problems.push(r.error);
    if (!Object.hasOwn(rest, r.error.key)) break;
    delete rest[r.error.key];
  }
  return problems;
}

/** What `link` refuses of an impairment that reads, or nothing when the topology lacks it. */
function linkRefusals(imp: Impairment, link: DrillLink | undefined): ImpairmentProblem[] {
  if (link === undefined) return [];
  // What the lab refuses of a vsock stream (a loss would break it), as `vlab link set` does.
  const refused = link.kind === "vsock"
    ? vsockImpairmentProblem(link.name, imp)
    : link.kind === "vsock-router" && !isPassthrough(imp)
    ? {
      message: `Cannot impair vsock link ${quote(link.name)}: it goes to a vsock router`,
      hint: "Impair a vsock link between two VMs, or the net links",
    }
    : null;
  if (refused !== null) return [{ key: "", message: refused.message, hint: refused.hint }];
  // A net link's reorder needs a delay (a vsock link refuses any reorder, above).
  const reorder = link.kind === "net" ? reorderProblem(link.name, imp) : null;
  return reorder === null ? [] : [reorder];
}

/** An impair step's problems: its link (when the topology loaded) and its impairment keys. */
function checkImpair(
  a: Partial<z.output<typeof impairArgs>>,
  ctx: CheckContext,
  path: PathSegment[],
): Problem[] {
  const problems: Problem[] = [];
  // Without a topology the link goes unjudged; the impairment is checked all the same. Every
  // link `vlab link NAME set` takes: vsock links too.
  const links = ctx.topology === null ? [] : drillLinks(ctx.topology);
  const names = links.map((l) => l.name);
  const link = links.find((l) => l.name === a.link);
  if (ctx.topology !== null && a.link !== undefined && link === undefined) {
    problems.push({
      code: "unknown-link",
      path: [...path, "link"],
      message: `Unknown link ${quote(a.link)}`,
      hint: didYouMean(a.link, names),
    });
  } else if (link?.kind === "vhost-pci") {
    problems.push({
      code: "invalid",
      path: [...path, "link"],
      message: `Link ${quote(link.name)} is a vhost-pci link: it has no impairment stage`,
      hint: "impair a link between a NIC and a switch or between two NICs",
    });
  }
  // The link named, when the topology has it, as in the lab's own refusals.
  const found = a.set === undefined ? [] : impairmentProblems(a.set, link);
  for (const problem of found) {
    problems.push({
      code: "bad-impairment",
      path: problem.key === "" ? [...path, "set"] : [...path, "set", problem.key],
      // An unknown key is placed at the key, a bad value at the value.
      atKey: problem.message.startsWith("Unknown impairment key"),
      message: problem.message,
      hint: problem.hint,
    });
  }
  return problems;
}

registerStepKind<z.output<typeof impairArgs>>("impair", {
  schema: impairArgs,
  describe: (a) => {
    const keys = Object.entries(a.set).map(([k, v]) => `${k}=${v}`).join(" ");
    const way = a.direction === undefined || a.direction === "both" ? "" : ` (${a.direction})`;
    return `impair ${a.link}${way}: ${keys === "" ? "no impairment" : keys}`;
  },
  check: (a, ctx, path) => checkImpair(a, ctx, path),
  checkPartial: (a, ctx, path) => checkImpair(a, ctx, path),
  lastsAtMost: () => 0,
  run: (a, ctx) => {
    ctx.lab.setImpairment(a.link, a.set, { direction: a.direction ?? "both" });
    return Promise.resolve();
  },
});
