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
 * overhead a rate), beside which a key's value is judged on its own.
 */
const COMPANIONS: Readonly<Record<string, string>> = { delay: "1ms", jitter: "1ms", rate: "1mbit" };

/**
 * Every problem of an impair step's `set` that `parseImpairment` refused with `first`: each key's
 * own (an unknown key, a value out of range), judged beside valid values of the keys it needs, so
 * that one bad key hides no other and brings no false one; else `first` (keys that do not go
 * together). `parseImpairment` stops at its first problem: `{ dealy: 1ms, loss: 200% }` said only
 * `dealy`, where a topology file's link says both.
 */
function impairmentProblems(
  set: unknown,
  first: ImpairmentProblem,
  link: string | undefined,
): ImpairmentProblem[] {
  if (set === null || typeof set !== "object" || Array.isArray(set)) return [first];
  const own = Object.entries(set).flatMap(([key, value]) => {
    const alone = parseImpairment({ ...COMPANIONS, [key]: value }, { link });
    return alone.ok ? [] : [alone.error];
  });
  return own.length > 0 ? own : [first];
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
  const r = a.set === undefined ? null : parseImpairment(a.set, { link: link?.name });
  if (r !== null && !r.ok) {
    for (const problem of impairmentProblems(a.set, r.error, link?.name)) {
      problems.push({
        code: "bad-impairment",
        path: problem.key === "" ? [...path, "set"] : [...path, "set", problem.key],
        // An unknown key is placed at the key, a bad value at the value.
        atKey: problem.message.startsWith("Unknown impairment key"),
        message: problem.message,
        hint: problem.hint,
      });
    }
  } else if (r !== null && link !== undefined) {
    // What the lab refuses of a vsock stream (a loss would break it), as `vlab link set` does.
    const refused = link.kind === "vsock"
      ? vsockImpairmentProblem(link.name, r.value)
      : link.kind === "vsock-router" && !isPassthrough(r.value)
      ? {
        message: `Cannot impair vsock link ${quote(link.name)}: it goes to a vsock router`,
        hint: "Impair a vsock link between two VMs, or the net links",
      }
      : null;
    // A net link's reorder needs a delay (a vsock link refuses any reorder, above).
    const reorder = link.kind === "net" ? reorderProblem(link.name, r.value) : null;
    if (refused !== null) {
      problems.push({ code: "bad-impairment", path: [...path, "set"], ...refused });
    } else if (reorder !== null) {
      problems.push({
        code: "bad-impairment",
        path: [...path, "set", reorder.key],
        message: reorder.message,
        hint: reorder.hint,
      });
    }
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
