/**
 * The `fault` step kind of a drill's timeline: inject a backend crash, a guest bug or lost
 * notifications into the running lab (`lab/faults.ts`, the same faults as `vlab fault …`).
 * Registered in the step registry (`steps.ts`) when the loader imports this module. What the
 * lab did about it is in its events: assert on `backend-crash`, `backend-restarted`,
 * `device-needs-reset`, `device-reset`, `vm-crash`, `vm-restarted`.
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
import { type Fault, FAULT_KINDS, parseFault, plannedRefusal } from "../faults.ts";
import { type LabPlan, planLab } from "../plan.ts";
import { didYouMean, type PathSegment, type Problem } from "../topology/issues.ts";
import type { Topology } from "../topology/types.ts";
import { quote } from "../../devices/base/quote.ts";
import { count } from "../../devices/base/plural.ts";
import {
  type CheckContext,
  endVsockServers,
  type Hold,
  registerStepKind,
  vmRebootLeastMs,
} from "./steps.ts";

const faultArgs = z.strictObject({
  kind: z.enum(FAULT_KINDS as [Fault["kind"], ...Fault["kind"][]]),
  vm: z.string(),
  mode: z.enum(["exit", "hang", "slow", "mid-pass"]).optional(),
  // Its least depends on the kind (1 for a backend-crash's duration, 0 for a vm-crash's boot):
  // `checkFault` says it, at the key, naming the kind.
  ms: z.number().int().max(60_000).optional(),
  after: z.number().int().min(1).max(100_000).optional(),
  device: z.string().optional(),
  queue: z.string().optional(),
  bug: z.enum(GUEST_FAULT_KINDS as [string, ...string[]]).optional(),
  count: z.number().int().min(1).max(1_000_000).optional(),
});

type FaultArgs = z.output<typeof faultArgs>;

/** The keys each fault kind reads besides `kind` and `vm`: any other is a mistake. */
const KEYS: ReadonlyMap<Fault["kind"], readonly (keyof FaultArgs)[]> = new Map(
  [
    ["backend-crash", ["mode", "ms", "after"]],
    ["guest-bug", ["device", "queue", "bug"]],
    ["lost-kick", ["device", "queue", "count"]],
    ["lost-irq", ["device", "queue", "count"]],
    ["vm-crash", ["ms"]],
  ] as const,
);

/**
 * How long the supervisor's heartbeat watchdog lets a device worker hang before it replaces it
 * (`Lab.start`'s default, ms): a shorter injected hang ends by itself, with no restart to time.
 */
const HANG_WATCHDOG_MS = 1000;

/**
 * How long an injected hang surely blocks the device worker before the watchdog may replace it,
 * ms: half of {@linkcode HANG_WATCHDOG_MS}. The watchdog times a worker from the last beat it saw,
 * and an idle worker beats only when the watchdog rings it, at half the limit: a hang injected
 * just before that ring is declared at the limit counted from the beat before it, half a second
 * after the hang began (a drill whose crash came 650 ms after such a hang passed).
 */
const HANG_SURE_MS = HANG_WATCHDOG_MS / 2;

/**
 * The longest hang that may still end before the watchdog catches it, ms: the watchdog reads
 * heartbeats every quarter of its limit and counts from the read that saw the last beat, so it
 * declares a hang between one and 1.25 limits after that beat. A hung worker it caught is
 * logged as `backend-crash` for its VM.
 */
const HANG_UNNOTICED_MS = HANG_WATCHDOG_MS * 1.25;

/**
 * How long after a hang's end the drill still waits for the watchdog to have caught it, ms: a
 * worker that wakes beats at its next loop pass, and the watchdog reads it within a quarter of
 * its limit; twice that, for a busy main thread.
 */
const HANG_NOTICE_GRACE_MS = HANG_WATCHDOG_MS / 2;

function describe(a: FaultArgs): string {
  const where = a.device === undefined ? a.vm : `${a.vm} ${a.device} ${a.queue ?? "?"}`;
  const how = a.kind === "backend-crash"
    ? ` --mode ${a.mode ?? "exit"}${a.ms === undefined ? "" : ` --ms ${a.ms}`}${
      a.after === undefined ? "" : ` --after ${a.after}`
    }`
    : a.kind === "guest-bug"
    ? ` ${a.bug ?? "?"}`
    : a.kind === "vm-crash"
    ? a.ms === undefined ? "" : ` --ms ${a.ms}`
    : ` -n ${a.count ?? 1}`;
  return `fault ${a.kind} ${where}${how}`;
}

/** The plan of a topology, computed once per topology (the checks of every fault step share it). */
const plans = new WeakMap<Topology, LabPlan | null>();
function planOf(topology: Topology): LabPlan | null {
  if (!plans.has(topology)) {
    let plan: LabPlan | null = null;
    try {
      plan = planLab(topology);
    } catch {
      // A topology that does not plan is reported when the lab starts; checks here skip it.
    }
    plans.set(topology, plan);
  }
  return plans.get(topology)!;
}

/** Problems with the device and queue a fault names, against the planned VM. */
function deviceProblems(a: Partial<FaultArgs>, topology: Topology, path: PathSegment[]): Problem[] {
  if (a.device === undefined || a.queue === undefined) return [];
  const vm = planOf(topology)?.vms.find((v) => v.name === a.vm);
  if (vm === undefined) return [];
  const device = vm.devices.find((d) => d.name === a.device);
  if (device === undefined) {
    const names = vm.devices.map((d) => d.name);
    return [{
      code: "unknown-device",
      path: [...path, "device"],
      message: `VM ${quote(a.vm!)} has no device ${quote(a.device)}`,
      // A VM with no NIC has no list to give ("devices: " with nothing after it).
      hint: didYouMean(a.device, names) ??
        (names.length > 0 ? `devices: ${names.join(", ")}` : `VM ${quote(a.vm!)} has no devices`),
    }];
  }
  // A vhost-pci-net device serves its frontend NIC's queues (lab/faults.ts says the rest).
  const served = device.kind === "vhost-pci"
    ? planOf(topology)?.vms.find((v) => v.name === device.frontend.vm)?.devices
      .find((d) => d.name === device.frontend.nic)
    : device;
  const queues = served?.queues.map((q) => q.name) ?? [];
  if (queues.length === 0 || queues.includes(a.queue)) return [];
  return [{
    code: "unknown-queue",
    path: [...path, "queue"],
    message: `Device ${quote(`${a.vm}:${a.device}`)} has no queue ${quote(a.queue)}`,
    hint: didYouMean(a.queue, queues) ?? `queues: ${queues.join(", ")}`,
  }];
}

/**
 * A fault step's problems: its VM, keys another kind reads, and its device and queue; and, when
 * the step read as a whole (`whole`), what `parseFault` says of the combination and a guest-bug
 * without a bug. A step its schema refused is judged on the keys that read: its combination is
 * not (a key that did not read would look left out, and its default taken).
 */
function checkFault(
  a: Partial<FaultArgs>,
  ctx: CheckContext,
  path: PathSegment[],
  whole: boolean,
): Problem[] {
  const problems: Problem[] = [];
  const topology = ctx.topology;
  // Without a topology the VM, its devices and queues go unjudged; the rest is checked.
  const vms = topology?.vms.map((v) => v.name) ?? [];
  const vm = topology?.vms.find((v) => v.name === a.vm);
  if (topology !== null && a.vm !== undefined && vm === undefined) {
    problems.push({
      code: "unknown-vm",
      path: [...path, "vm"],
      message: `Unknown VM ${quote(a.vm)}`,
      hint: didYouMean(a.vm, vms),
    });
  }
  const keys = a.kind === undefined ? null : KEYS.get(a.kind) ?? [];
  const stray = keys === null
    ? []
    : (Object.keys(a) as (keyof FaultArgs)[]).filter((k) =>
      k !== "kind" && k !== "vm" && !keys.includes(k)
    );
  for (const k of stray) {
    problems.push({
      code: "invalid",
      path: [...path, k],
      atKey: true,
      message: `A ${a.kind} fault takes no ${k}`,
      hint: `its keys: ${["kind", "vm", ...keys!].join(", ")}`,
    });
  }
  // The schema bounds ms above only: a vm-crash's boot time starts at 0, a backend crash's
  // duration at 1. Said at the key, in the drill's words (parseFault's message names the CLI's
  // --ms), with the kind's own range (a backend-crash's -5 was told "between 0 and 60000").
  const least = a.kind === "backend-crash" ? 1 : 0;
  const lowMs = a.ms !== undefined && a.ms < least && stray.length === 0;
  if (lowMs) {
    problems.push({
      code: "out-of-range",
      path: [...path, "ms"],
      message: `ms must be between ${least} and 60000${
        a.kind === undefined ? "" : ` for a ${a.kind}`
      }, got ${a.ms}`,
      hint: `write a whole number of milliseconds from ${least} to 60000, or leave ms out`,
    });
  }
  if (whole && a.kind === "guest-bug" && a.bug === undefined) {
    problems.push({
      code: "missing-key",
      path,
      message: "A guest-bug fault needs a bug",
      hint: `add bug: one of ${GUEST_FAULT_KINDS.join(", ")}`,
    });
  } else if (whole && stray.length === 0 && !lowMs) {
    const parsed = parseFault(a);
    if (!parsed.ok) {
      problems.push({ code: "invalid", path, message: parsed.message, hint: parsed.hint });
    }
    // A fault the lab would refuse whatever its state (a lost kick on a vhost-pci-net device, a
    // mid-pass crash where no frames move, …) is refused here, before the lab starts.
    const plan = parsed.ok && topology !== null ? planOf(topology) : null;
    const refused = plan === null || !parsed.ok ? null : plannedRefusal(plan, parsed.value);
    if (refused !== null) {
      const key = a.kind === "backend-crash"
        ? "mode"
        : refused.code === "bug-not-applicable"
        ? "bug"
        : "device";
      problems.push({
        code: "invalid",
        path: [...path, key],
        message: refused.message,
        hint: refused.hint,
      });
    }
  }
  if (topology !== null && vm !== undefined) problems.push(...deviceProblems(a, topology, path));
  return problems;
}

/**
 * Whether a `backend-crash` is timed as a recovery: one that restarts the backend (`exit`,
 * `mid-pass`, or a `hang` the watchdog may end: longer than {@linkcode HANG_SURE_MS}), not
 * `slow` or a shorter `hang`. A hang of up to {@linkcode HANG_UNNOTICED_MS} may also end before
 * the watchdog catches it: see {@linkcode unnoticed}.
 */
function timed(a: FaultArgs): boolean {
  const mode = a.mode ?? "exit";
  return a.kind === "backend-crash" &&
    mode !== "slow" && (mode !== "hang" || (a.ms ?? 5000) > HANG_SURE_MS);
}

/**
 * For a hang that may end before the watchdog catches it (up to {@linkcode HANG_UNNOTICED_MS}):
 * by when the watchdog has caught it (`backend-crash` for the VM) if it does at all. One it did
 * not catch ended by itself, with no restart: not a recovery, and not timed. Likewise a
 * `mid-pass` crash comes only once the worker moved its frames: one that has not come by the
 * end of the watch (no traffic) never happened, and is not timed either.
 */
function unnoticed(
  a: FaultArgs,
): { withinMs: number; noticed: { kind: string; cause: string }; said: string } | undefined {
  const ms = a.ms ?? 5000;
  if (a.mode === "mid-pass") {
    return {
      // The whole watch (the runner's).
      withinMs: Infinity,
      // The worker's death mid-pass, as any exit's.
      noticed: { kind: "backend-crash", cause: "exit" },
      said: `the mid-pass crash never came (the worker did not move ${
        count(a.after ?? 1, "frame")
      } in time)`,
    };
  }
  return a.mode === "hang" && ms <= HANG_UNNOTICED_MS
    ? {
      withinMs: ms + HANG_NOTICE_GRACE_MS,
      // The watchdog's: an exit's is another fault's.
      noticed: { kind: "backend-crash", cause: "hang" },
      said: "the hang ended before the watchdog caught it (no restart)",
    }
    : undefined;
}

/**
 * What a backend crash holds in its VM's device worker once its step moved on: a hang blocks it
 * (surely for {@linkcode HANG_SURE_MS}, or its `ms` if shorter); an exit ends it, and a second
 * crash before its restart begins (some milliseconds later) is refused ("backend-crash-armed");
 * a `mid-pass` crash armed and still to come refuses any crash but a `slow` one the same way.
 * The last two are sure only for a crash right after it.
 */
function crashHold(a: FaultArgs): Hold | null {
  const mode = a.mode ?? "exit";
  if (mode === "hang") {
    return {
      ms: Math.min(a.ms ?? 5000, HANG_SURE_MS),
      verb: "blocks the worker",
      what: `backend-crash hang ${a.ms ?? 5000} ms`,
    };
  }
  if (mode === "exit") {
    return {
      ms: 0,
      instant: true,
      verb: "ends the worker, whose restart begins some milliseconds later",
      what: "backend-crash exit",
      fails: "backend-crash-armed",
      hint: "give it an at after the worker's restart (backend-ready, a fraction of a second " +
        "after the exit), or crash the whole VM instead (vm-crash)",
    };
  }
  if (mode === "mid-pass") {
    return {
      ms: 0,
      instant: true,
      verb: "arms a crash that comes once the worker moves frames",
      what: "backend-crash mid-pass",
      fails: "backend-crash-armed",
      lets: ["slow"],
      hint: `give it an at after the armed crash came (backend-restarted), with traffic through ${
        quote(a.vm)
      }'s NICs in between, or make it a slow one (mode: slow)`,
    };
  }
  return null;
}

registerStepKind<FaultArgs>("fault", {
  schema: faultArgs,
  describe,
  check: (a, ctx, path) => {
    // A vm-crash ends the VM's workloads: its vsock servers listen no more (the new guest's none).
    if (a.kind === "vm-crash") {
      endVsockServers(ctx, a.vm, `timeline[${path[1]}] crashed VM ${quote(a.vm)} since`);
    }
    return checkFault(a, ctx, path, true);
  },
  checkPartial: (a, ctx, path) => checkFault(a, ctx, path, false),
  timesRecovery: (a) => timed(a) || a.kind === "vm-crash" || a.kind === "guest-bug",
  // The drill waits for a vm-crash's reboot at its end (its recovery watch), and the reboot lasts
  // its shortest at least, the guest's boot time when it has one (`vmRebootLeastMs`).
  outlives: (a) =>
    a.kind === "vm-crash"
      ? {
        ms: vmRebootLeastMs(a.ms ?? 0),
        key: (a.ms ?? 0) > 0 ? "ms" : "kind",
        what: describe(a),
        verb: `reboots VM ${quote(a.vm)} for`,
        shorter: (a.ms ?? 0) > 0 ? "the vm-crash a shorter ms" : "the vm-crash an earlier start",
      }
      : null,
  // The lab refuses every fault while the VM reboots from a vm-crash, restarts its backend or
  // resets a device.
  needsRunning: (a) => ({
    vm: a.vm,
    doing: a.kind === "vm-crash"
      ? `crashes VM ${quote(a.vm)}`
      : `injects a ${a.kind} in VM ${quote(a.vm)}`,
    recoveries: true,
  }),
  // A hang blocks the device worker until it ends or the watchdog replaces the worker (half a
  // second after the hang began, at the soonest): another backend crash meanwhile is refused
  // ("backend-hung").
  binds: (a) =>
    a.kind === "vm-crash"
      // The VM's new device worker is not the hung one: it ends the hang, and is never refused.
      ? {
        vm: a.vm,
        what: "device worker",
        doing: `crashes VM ${quote(a.vm)}`,
        key: "kind",
        holds: null,
        fails: "",
        kind: "worker",
        takes: false,
        downMs: a.ms ?? 0,
      }
      : a.kind !== "backend-crash"
      ? null
      : {
        vm: a.vm,
        what: "device worker",
        doing: `crashes VM ${quote(a.vm)}'s device worker`,
        key: "kind",
        holds: crashHold(a),
        fails: "backend-hung",
        how: a.mode ?? "exit",
        kind: "worker",
      },
  run: async (a, ctx) => {
    const parsed = parseFault(a);
    if (!parsed.ok) throw new Error(parsed.message);
    // The recovery the lab logs (a backend restarted, a device reset and moving frames again) is
    // timed from the injection, as one recovery sample; the drill waits for it before its verdict.
    const forget = timed(a)
      ? ctx.watchEvents(`backend ${a.vm}`, a.vm, {
        recovered: ["backend-restarted"],
        failed: ["backend-restart-failed"],
        ...(unnoticed(a) === undefined ? {} : { unnoticed: unnoticed(a) }),
      })
      : a.kind === "vm-crash"
      ? ctx.watchEvents(`vm ${a.vm}`, a.vm, {
        recovered: ["vm-restarted"],
        failed: ["vm-restart-failed"],
        extraMs: a.ms ?? 0,
      })
      : a.kind === "guest-bug"
      ? ctx.watchEvents(`device ${a.vm}:${a.device}`, a.vm, {
        recovered: ["device-reset"],
        failed: ["device-reset-failed"],
        nic: a.device,
      })
      : null;
    const r = await ctx.lab.lab.fault(parsed.value);
    if (!r.ok) {
      forget?.();
      // One level of parentheses: a hint often holds its own ("(see `vlab status`)").
      throw new Error(`${r.message}; hint: ${r.hint}`);
    }
  },
});
