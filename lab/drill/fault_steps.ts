/**
 * The `fault` step kind of a drill's timeline: inject a backend crash, a guest bug or lost
 * notifications into the running lab (`lab/faults.ts`, the same faults as `vlab fault …`).
 * Registered in the step registry (`steps.ts`) when the loader imports this module. What the
 * lab did about it is in its events: assert on `backend-crash`, `backend-restarted`,
 * `device-needs-reset`, `device-reset`.
 *
 * ```yaml
 * - at: 500ms
 *   fault: { kind: backend-crash, vm: a, mode: exit }
 * - fault: { kind: guest-bug, vm: a, device: eth0, queue: transmitq, bug: loop }
 * - fault: { kind: lost-kick, vm: a, device: eth0, queue: transmitq, count: 1 }
 * ```
 *
 * Runs on the main thread, inside the drill runner.
 *
 * @module
 */

import { z } from "zod";
import { GUEST_FAULT_KINDS } from "../../devices/virtio/guest_faults.ts";
import { type Fault, FAULT_KINDS, parseFault } from "../faults.ts";
import { didYouMean, type Problem } from "../topology/issues.ts";
import { quote } from "../topology/quote.ts";
import { registerStepKind } from "./steps.ts";

const faultArgs = z.strictObject({
  kind: z.enum(FAULT_KINDS as [Fault["kind"], ...Fault["kind"][]]),
  vm: z.string(),
  mode: z.enum(["exit", "hang", "slow"]).optional(),
  ms: z.number().int().min(1).max(60_000).optional(),
  device: z.string().optional(),
  queue: z.string().optional(),
  bug: z.enum(GUEST_FAULT_KINDS as [string, ...string[]]).optional(),
  count: z.number().int().min(1).max(1_000_000).optional(),
});

type FaultArgs = z.output<typeof faultArgs>;

function describe(a: FaultArgs): string {
  const where = a.device === undefined ? a.vm : `${a.vm} ${a.device} ${a.queue ?? "?"}`;
  const how = a.kind === "backend-crash"
    ? ` --mode ${a.mode ?? "exit"}`
    : a.kind === "guest-bug"
    ? ` ${a.bug ?? "?"}`
    : a.kind === "vm-crash"
    ? ""
    : ` -n ${a.count ?? 1}`;
  return `fault ${a.kind} ${where}${how}`;
}

registerStepKind<FaultArgs>("fault", {
  schema: faultArgs,
  describe,
  check: (a, ctx, path) => {
    const problems: Problem[] = [];
    const vms = ctx.topology.vms.map((v) => v.name);
    const vm = ctx.topology.vms.find((v) => v.name === a.vm);
    if (vm === undefined) {
      problems.push({
        code: "unknown-vm",
        path: [...path, "vm"],
        message: `Unknown VM ${quote(a.vm)}`,
        hint: didYouMean(a.vm, vms),
      });
    }
    const parsed = parseFault(a);
    if (!parsed.ok) {
      problems.push({ code: "invalid", path, message: parsed.message, hint: parsed.hint });
    }
    return problems;
  },
  run: async (a, ctx) => {
    const parsed = parseFault(a);
    if (!parsed.ok) throw new Error(parsed.message);
    const r = await ctx.lab.lab.fault(parsed.value);
    if (!r.ok) throw new Error(`${r.message} (${r.hint})`);
  },
});
