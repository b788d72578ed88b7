/**
 * The faults a user injects into a running lab (`vlab fault …`, `POST /faults`, `lab.fault`):
 * their plain-data form, its validation (names from outside are looked up, never indexed), and
 * how each reaches the part of the lab it breaks. It runs on the main thread; `Lab.fault` calls
 * {@linkcode injectFault} with the few things it needs from the lab.
 *
 * - `backend-crash VM [--mode exit|hang|slow] [--ms N]`: the VM's device worker throws out
 *   (`exit`), blocks its thread for `ms` (`hang`, default 5000), or slows each loop pass for
 *   `ms` (`slow`, default 1000). The supervisor replaces a dead or hung worker (supervisor.ts).
 *   While an injected hang blocks the worker, another backend crash is refused (`backend-hung`):
 *   the worker would read it only once replaced, that is never. While a `mid-pass` crash is
 *   armed and has not come, another `mid-pass`, `exit` or `hang` is refused
 *   (`backend-crash-armed`): it would replace the armed one, or end the worker with it. So is
 *   any backend crash after an `exit` whose restart has not begun (the worker is ending).
 * - `lost-kick VM DEVICE QUEUE [-n N]` / `lost-irq VM DEVICE QUEUE [-n N]`: the next N guest
 *   kicks (or used-buffer interrupts) of a queue are dropped, through the lost-notification words
 *   of its register file (`armDrops`), which the main thread shares; N more on top of those an
 *   earlier fault armed and that did not come yet (the answer's `armed` then says how many).
 *
 * - `guest-bug VM DEVICE QUEUE BUG`: the VM's guest worker corrupts its own queue of a NIC or
 *   of its vsock device (`guest_faults.ts`: index-jump, head-out-of-range, loop, …); the device
 *   sets DEVICE_NEEDS_RESET and the guest resets it (`device-needs-reset`, `device-reset`; a
 *   vsock device's connections end with `transport-reset`).
 *   On a vhost-pci-net device (VM `b` of a vhost-pci link) the bug is in `b`'s serving driver
 *   (QUEUE names one of the frontend's queues it serves): `b` resets its device (it never
 *   writes a bug into `a`'s rings); lost-kick and lost-irq are refused there (no queues).
 *
 * - `vm-crash VM [--ms N]`: the whole VM crashes and reboots, as under a hypervisor with a restart
 *   policy: its guest worker is terminated at once, its devices are reset (a fresh device worker
 *   at power-on state), vhost-pci peers see their link go down, and the same guest boots again
 *   (`crashAndReboot` in `vm_reboot.ts`), N ms after its devices are back (its firmware and
 *   kernel's boot; 0 by default): meanwhile its devices run with no driver, as a real VM's do
 *   while it boots. A vIOMMU's power-on reset empties its tables, and a vsock device's peers reset
 *   their connections with the VM. Lost kicks and interrupts still
 *   armed, and a mid-pass crash not yet come, end with the old driver and device worker: each is
 *   a `fault-cancelled` event (`reason: "vm-crash"`).
 *
 * Every fault injected is a `fault` event.
 *
 * @module
 */

import { armDrops, droppedNotifications } from "../devices/virtio/mmio.ts";
import {
  formatGuestFaultRefusal,
  GUEST_FAULT_KINDS,
  type GuestFaultKind,
  guestFaultMissing,
} from "../devices/virtio/guest_faults.ts";
import type { Layout } from "../devices/virtio/queue.ts";
import type { LabPlan } from "./plan.ts";
import { FAILED_VM_HINT, vmsHint } from "./errors.ts";
import { quote } from "../devices/base/quote.ts";
import { closestName } from "./topology/issues.ts";
import { isPlainObject, objectKind } from "./topology/plain.ts";
import type { DeviceSpec } from "./wire/specs.ts";
import { deviceControl, epochWord } from "./wire/control.ts";
import type { BackendCrashMode, ToWorker } from "./wire/messages.ts";

/** A fault to inject (the body of `POST /faults`). */
export type Fault =
  | { kind: "backend-crash"; vm: string; mode?: BackendCrashMode; ms?: number; after?: number }
  | { kind: "lost-kick" | "lost-irq"; vm: string; device: string; queue: string; count?: number }
  | { kind: "guest-bug"; vm: string; device: string; queue: string; bug: GuestFaultKind }
  | { kind: "vm-crash"; vm: string; ms?: number };

/** The fault kinds, as the CLI and the control socket spell them. */
export const FAULT_KINDS: readonly Fault["kind"][] = [
  "backend-crash",
  "guest-bug",
  "lost-kick",
  "lost-irq",
  "vm-crash",
];

/** The keys of each fault kind's JSON object (a request body, `Lab.fault`'s argument). */
const FAULT_KEYS: Readonly<Record<Fault["kind"], readonly string[]>> = {
  "backend-crash": ["kind", "vm", "mode", "ms", "after"],
  "guest-bug": ["kind", "vm", "device", "queue", "bug"],
  "lost-kick": ["kind", "vm", "device", "queue", "count"],
  "lost-irq": ["kind", "vm", "device", "queue", "count"],
  "vm-crash": ["kind", "vm", "ms"],
};

/** What injecting a fault resolves to. */
export type FaultOutcome =
  | { ok: true; detail: Record<string, unknown> }
  | { ok: false; code: string; message: string; hint: string };

/** What {@linkcode injectFault} needs of the lab. */
export interface FaultTarget {
  /** The plan. */
  plan: LabPlan;
  /** The state of a VM. */
  vmState(vm: string): string;
  /** Post to a VM's worker; false if it has none. */
  post(vm: string, kind: "guest" | "device", m: ToWorker): boolean;
  /** The control block of a VM, by plan index. */
  control(index: number): SharedArrayBuffer;
  /** Record an event. */
  emit(kind: string, subject: string | undefined, detail: Record<string, unknown>): void;
  /**
   * Ask a VM's guest to write a guest bug into queue `queue` of device slot `device`; resolves to
   * null when it was written, else the guest's reason for refusing (with a hint of its own when
   * the guest could not answer: it crashed, or the lab stopped), or `{ busy }` when the queue
   * has no room for the bug now but may in a moment (`injectFault` asks again, for a while).
   */
  askGuestBug(
    vm: string,
    bug: { device: number; queue: number; bug: GuestFaultKind },
  ): Promise<string | { message: string; hint: string } | { busy: string } | null>;
  /**
   * The injected hangs still in force, and the exits not yet answered, by VM: kept by the lab
   * from one fault to the next (see {@linkcode InjectedHang}). `injectFault` adds and removes
   * entries.
   */
  hangs: Map<string, InjectedHang>;
  /** The clock of `InjectedHang.until`, ms (default `performance.now`). */
  now?: () => number;
  /**
   * The `mid-pass` crashes armed and not yet come, by VM: the epoch of the device worker armed
   * (it crashes, or is replaced, with the next epoch). `injectFault` adds entries; absent, none
   * is tracked.
   */
  midPass?: Map<string, number>;
  /**
   * Crash VM `vm` and reboot it (`vm-crash`), its guest booting `bootMs` after its devices are
   * back: returns once the crash is done (guest gone, peers told), while the reboot goes on;
   * absent: the lab cannot (refused).
   */
  crashVm?(vm: string, bootMs: number): void;
  /**
   * How long VM `vm`'s guest still boots after a `vm-crash` with a boot time, as words for a
   * refusal's hint (`; its guest boots in 8.2 s`), or "" (absent: never said).
   */
  bootLeft?(vm: string): string;
}

/**
 * A `backend-crash --mode hang` in force: the device worker's thread is blocked until `until`
 * (ms on `FaultTarget.now`'s clock), or until the supervisor replaces it (its control block's
 * epoch moves past `epoch`). Meanwhile it reads no message, so another backend crash asked of it
 * (an `exit` above all) would be answered "injected" and never happen: the hang's restart would
 * come instead. Such a crash is refused (`backend-hung`) until the worker wakes or is replaced.
 */
export interface InjectedHang {
  /** The device worker's epoch when the hang was injected. */
  readonly epoch: number;
  /** When the hang ends by itself, ms (`Infinity` for an exit: it ends only with the worker). */
  readonly until: number;
  /**
   * An injected `exit` the supervisor has not yet answered (the epoch has not moved): the worker
   * ends at that message, so another crash posted to it would never be read, and a `vm-crash`
   * ends it first (`fault-cancelled`). Absent: a hang.
   */
  readonly exit?: true;
}

const CRASH_MODES: readonly BackendCrashMode[] = ["exit", "hang", "slow", "mid-pass"];
const DEFAULT_MS: Record<BackendCrashMode, number> = {
  exit: 0,
  hang: 5000,
  slow: 1000,
  "mid-pass": 0,
};
/** Most descriptors a `mid-pass` crash waits for. */
const MAX_AFTER = 100_000;
const MAX_MS = 60_000;
const MAX_COUNT = 1_000_000;
/** Most notifications armed to drop on one queue at once (a register word's room). */
const MAX_ARMED = 0x7fff_ffff;

// The CLI (`vlab fault`), the control API (`POST /faults`), `lab.fault` and drill steps all read
// faults with `parseFault`, so a message names a value both ways: the command's option, and the
// key of a request body, a script's object or a drill's `fault` step.
const MS = '--ms, or key "ms"';
const AFTER = '--after, or key "after"';
const COUNT = '-n/--count, or key "count"';

/**
 * A fault's value as a refusal shows it after "got": a string in quotes, a number, boolean or
 * null as itself (`"vm": 1` read as got "1", a name in quotes), a list or an object by its kind.
 */
function given(value: unknown): string {
  return typeof value === "string" || typeof value === "object" && value !== null
    ? quote(value)
    : String(value);
}

function refuse(code: string, message: string, hint: string): FaultOutcome {
  return { ok: false, code, message, hint };
}

/**
 * How long a guest bug waits for room in its queue, ms: under a flood every descriptor of a
 * transmitq can be the device's at the moment the guest looks, and one comes back within a pass.
 */
export const GUEST_BUG_ROOM_MS = 2000;

/**
 * Ask the guest to write a guest bug, again every few milliseconds while its queue has no room
 * (`{ busy }`), up to {@linkcode GUEST_BUG_ROOM_MS}: a bug injected under a flood was refused
 * whenever the device held every buffer at that moment. Still busy then: refused, and logged
 * (`guest-bug-refused`) as the guest logs its other refusals.
 */
async function askUntilRoom(
  target: FaultTarget,
  vm: string,
  bug: { device: number; queue: number; bug: GuestFaultKind },
  names: { device: DeviceSpec; queue: string },
): Promise<string | { message: string; hint: string } | null> {
  const now = target.now ?? (() => performance.now());
  const until = now() + GUEST_BUG_ROOM_MS;
  for (;;) {
    const r = await target.askGuestBug(vm, bug);
    if (r === null || typeof r === "string" || !("busy" in r)) return r;
    if (now() >= until) {
      // Named as the guest names the device in its own events: `nic`, or `device` (vsock).
      const subject = names.device.kind === "vsock"
        ? { device: names.device.name }
        : { nic: names.device.name };
      target.emit("guest-bug-refused", vm, {
        ...subject,
        queue: names.queue,
        bug: bug.bug,
        message: r.busy,
      });
      return {
        message: r.busy,
        hint: `The device held every buffer of ${names.device.name}'s ${names.queue} for ${
          GUEST_BUG_ROOM_MS / 1000
        } s (traffic keeps it full): inject it between bursts`,
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * A guest bug's refusal in the words the user typed: the guest, the lab's worker plumbing and
 * the device layer name only the bug ("Cannot inject loop: …", "Cannot tell whether loop was
 * written: …"), which reads as if `loop` were a fault kind; the user asked for a `guest-bug`
 * whose bug is `loop`, in one VM's device's queue. The bug's name right after the verb becomes
 * "guest-bug loop on a's eth0 receiveq"; a message without it (from a guest that words its
 * refusals otherwise) keeps its own words after "Cannot inject guest-bug … :".
 *
 * @example
 * ```ts ignore
 * bugRefusalLine({ kind: "guest-bug", vm: "a", device: "eth0", queue: "receiveq", bug: "loop" },
 *   "Cannot inject loop: eth0 is being reset");
 * // "Cannot inject guest-bug loop on a's eth0 receiveq: eth0 is being reset"
 * ```
 */
export function bugRefusalLine(f: Fault & { kind: "guest-bug" }, message: string): string {
  const named = `guest-bug ${f.bug} on ${f.vm}'s ${f.device} ${f.queue}`;
  for (const verb of ["Cannot inject", "Cannot tell whether"]) {
    const said = `${verb} ${f.bug} `;
    const colon = `${verb} ${f.bug}: `;
    if (message.startsWith(colon)) return `${verb} ${named}: ${message.slice(colon.length)}`;
    if (message.startsWith(said)) return `${verb} ${named} ${message.slice(said.length)}`;
  }
  return `Cannot inject ${named}: ${message}`;
}

/**
 * A guest's refusal of guest bug `f`, as the fault's answer (the event log has it too, in the
 * guest's words); one that comes with its own hint (the guest crashed before it answered, or its
 * queue had no room) keeps it.
 */
function guestRefused(
  f: Fault & { kind: "guest-bug" },
  refused: string | { message: string; hint: string },
): FaultOutcome {
  if (typeof refused !== "string") {
    return refuse("guest-bug-refused", bugRefusalLine(f, refused.message), refused.hint);
  }
  return refuse(
    "guest-bug-refused",
    bugRefusalLine(f, refused),
    "A queue being reset or broken by an earlier bug takes none until its reset; docs/cli.md says what each bug needs",
  );
}

/**
 * The refusal of guest bug `f` when a `layout` ring cannot have it, or null (see
 * `guestFaultMissing`).
 */
function missingBug(f: Fault & { kind: "guest-bug" }, layout: Layout): FaultOutcome | null {
  const missing = guestFaultMissing(f.bug, layout);
  if (missing === null) return null;
  const bugs = GUEST_FAULT_KINDS.filter((k) => guestFaultMissing(k, layout) === null);
  return refuse(
    "bug-not-applicable",
    bugRefusalLine(f, formatGuestFaultRefusal(missing)),
    `A ${layout} ring's bugs: ${bugs.join(", ")}`,
  );
}

/**
 * Read a fault from untrusted JSON (a request body): a `Fault`, or a refusal with a code.
 *
 * @example
 * ```ts
 * import { parseFault } from "./faults.ts";
 * parseFault({ kind: "backend-crash", vm: "a", mode: "exit" }).ok; // true
 * parseFault({ kind: "meteor", vm: "a" }).ok; // false
 * ```
 */
export function parseFault(
  body: unknown,
): { ok: true; value: Fault } | FaultOutcome & { ok: false } {
  if (!isPlainObject(body)) {
    // Words for a request's body and a script's value alike (parseFault is exported): "the body
    // is not a JSON object" told a script of a body it never sent.
    return refuse(
      "bad-fault",
      `Cannot inject a fault: a fault is an object with its kind and VM, got ${
        body === undefined
          ? "nothing"
          : Array.isArray(body)
          ? "a list"
          : typeof body === "object" && body !== null
          ? objectKind(body)
          : given(body)
      }`,
      `For example {"kind": "backend-crash", "vm": "a"}`,
    ) as FaultOutcome & { ok: false };
  }
  const o = body as Record<string, unknown>;
  const get = (k: string) => Object.hasOwn(o, k) ? o[k] : undefined;
  const kind = get("kind");
  const vm = get("vm");
  const bad = (message: string, hint: string) =>
    refuse("bad-fault", message, hint) as FaultOutcome & { ok: false };
  if (typeof kind !== "string" || !(FAULT_KINDS as readonly string[]).includes(kind)) {
    return bad(
      kind === undefined
        ? "Cannot inject a fault: it names no kind"
        : `Cannot inject a fault: unknown kind ${given(kind)}`,
      `Kinds: ${FAULT_KINDS.join(", ")}`,
    );
  }
  if (vm === undefined) return bad(`Cannot inject ${kind}: it names no VM`, `Add "vm": "<name>"`);
  if (typeof vm !== "string") {
    return bad(
      `Cannot inject ${kind}: "vm" must be a VM's name, got ${given(vm)}`,
      `Write the name as a string: "vm": "a"`,
    );
  }
  // A key the kind does not take (a typo such as "cout") is refused, not ignored: the user meant
  // something by it, and the fault would run with the default in its place.
  const keys = FAULT_KEYS[kind as Fault["kind"]];
  const extra = Object.keys(o).find((k) => !keys.includes(k) && o[k] !== undefined);
  if (extra !== undefined) {
    const near = closestName(extra, keys);
    return bad(
      `Cannot inject ${kind}: it takes no key ${quote(extra)}`,
      near !== undefined ? `Did you mean "${near}"?` : `Its keys: ${keys.join(", ")}`,
    );
  }
  if (kind === "vm-crash") {
    const ms = get("ms");
    if (
      ms !== undefined && (!Number.isInteger(ms) || (ms as number) < 0 || (ms as number) > MAX_MS)
    ) {
      return bad(
        `Cannot inject vm-crash: the boot time (${MS}) must be an integer 0 to ${MAX_MS}, got ${
          given(ms)
        }`,
        `Give how long the guest takes to boot once its devices are back, in milliseconds: --ms 2000, or "ms": 2000`,
      );
    }
    return { ok: true, value: { kind, vm, ...(ms === undefined ? {} : { ms: ms as number }) } };
  }
  if (kind === "backend-crash") {
    const mode = get("mode") ?? "exit";
    if (typeof mode !== "string" || !(CRASH_MODES as readonly string[]).includes(mode)) {
      return bad(
        `Cannot inject backend-crash: unknown mode ${given(mode)}`,
        `Modes: ${CRASH_MODES.join(", ")}`,
      );
    }
    const ms = get("ms");
    if (
      ms !== undefined && (!Number.isInteger(ms) || (ms as number) < 1 || (ms as number) > MAX_MS)
    ) {
      return bad(
        `Cannot inject backend-crash: the duration (${MS}) must be an integer 1 to ${MAX_MS}, got ${
          given(ms)
        }`,
        `Give it in milliseconds: --ms 500, or "ms": 500`,
      );
    }
    // An option the mode does not use is refused, not ignored: the user meant something by it.
    if (ms !== undefined && mode !== "hang" && mode !== "slow") {
      return bad(
        `Cannot inject backend-crash: a duration (${MS}) is how long a hang or a slow-down lasts, not ${mode}'s`,
        mode === "exit"
          ? `Leave the duration out, or use mode hang or slow (--mode hang, or "mode": "hang")`
          : `Leave the duration out for mid-pass, which counts frames instead (${AFTER})`,
      );
    }
    const after = get("after");
    if (
      after !== undefined &&
      (!Number.isInteger(after) || (after as number) < 1 || (after as number) > MAX_AFTER)
    ) {
      return bad(
        `Cannot inject backend-crash: the frame count (${AFTER}) must be an integer 1 to ${MAX_AFTER}, got ${
          given(after)
        }`,
        `Give how many frames the worker moves before it crashes (mode mid-pass): --after 3, or "after": 3`,
      );
    }
    if (after !== undefined && mode !== "mid-pass") {
      return bad(
        `Cannot inject backend-crash: a frame count (${AFTER}) counts the frames before a mid-pass crash, not ${mode}'s`,
        `Leave the frame count out, or use mode mid-pass (--mode mid-pass, or "mode": "mid-pass")`,
      );
    }
    return {
      ok: true,
      value: {
        kind,
        vm,
        mode: mode as BackendCrashMode,
        ms: ms as number | undefined,
        after: after as number | undefined,
      },
    };
  }
  const device = get("device");
  const queue = get("queue");
  const count = get("count");
  if (device === undefined || queue === undefined) {
    return bad(
      `Cannot inject ${kind}: name the device and the queue`,
      `Add "device": "eth0", "queue": "transmitq"`,
    );
  }
  // Given, but not as names: say which (a queue's index is no name).
  const notName = (key: string, value: unknown, example: string) =>
    bad(
      `Cannot inject ${kind}: "${key}" must be a ${key}'s name, got ${given(value)}`,
      `Write the name as a string: "${key}": "${example}"`,
    );
  if (typeof device !== "string") return notName("device", device, "eth0");
  if (typeof queue !== "string") return notName("queue", queue, "transmitq");
  if (kind === "guest-bug") {
    const bug = get("bug");
    if (bug === undefined) {
      return bad(
        `Cannot inject guest-bug: it names no bug`,
        `Add "bug": "loop" (bugs: ${GUEST_FAULT_KINDS.join(", ")})`,
      );
    }
    if (typeof bug !== "string" || !(GUEST_FAULT_KINDS as readonly string[]).includes(bug)) {
      return bad(
        `Cannot inject guest-bug: unknown bug ${given(bug)}`,
        `Bugs: ${GUEST_FAULT_KINDS.join(", ")}`,
      );
    }
    return { ok: true, value: { kind, vm, device, queue, bug: bug as GuestFaultKind } };
  }
  if (
    count !== undefined &&
    (!Number.isInteger(count) || (count as number) < 1 || (count as number) > MAX_COUNT)
  ) {
    return bad(
      `Cannot inject ${kind}: the number to drop (${COUNT}) must be an integer 1 to ${MAX_COUNT}, got ${
        given(count)
      }`,
      `Give how many notifications to drop: -n 3, or "count": 3`,
    );
  }
  return {
    ok: true,
    value: {
      kind: kind as "lost-kick" | "lost-irq",
      vm,
      device,
      queue,
      count: count as number | undefined,
    },
  };
}

/**
 * Inject a fault into a running lab (called by `Lab.fault`).
 *
 * @example
 * ```ts ignore
 * injectFault({ kind: "backend-crash", vm: "a" }, target);
 * ```
 */
export async function injectFault(f: Fault, target: FaultTarget): Promise<FaultOutcome> {
  const vm = target.plan.vms.find((v) => v.name === f.vm);
  if (!vm) {
    return refuse(
      "unknown-vm",
      `Cannot inject ${f.kind}: the lab has no VM ${quote(f.vm)}`,
      vmsHint(target.plan.vms.map((v) => v.name)),
    );
  }
  const state = target.vmState(vm.name);
  if (state === "failed") {
    // A failed VM never runs again: waiting, as the hint below says, would be for ever.
    return refuse(
      "vm-not-running",
      `Cannot inject ${f.kind}: VM "${vm.name}" has failed`,
      FAILED_VM_HINT,
    );
  }
  if (state !== "running") {
    return refuse(
      "vm-not-running",
      `Cannot inject ${f.kind}: VM "${vm.name}" is ${state}`,
      `Wait until it runs again (see \`vlab status\`${target.bootLeft?.(vm.name) ?? ""})`,
    );
  }
  if (f.kind === "vm-crash") return crashVm(vm, f.ms ?? 0, target);
  if (f.kind === "backend-crash") {
    const mode = f.mode ?? "exit";
    const ms = Math.min(f.ms ?? DEFAULT_MS[mode], MAX_MS);
    const now = target.now?.() ?? performance.now();
    const epoch = Atomics.load(epochWord(target.control(vm.index), vm.control), 0);
    const hang = target.hangs.get(vm.name);
    if (hang?.exit && hang.epoch === epoch) {
      // Posted after the exit, it would reach a worker that is ending (or has ended and the
      // supervisor has not yet noticed): "injected", and then never done.
      return refuse(
        "backend-crash-armed",
        `Cannot inject backend-crash (${mode}): VM "${vm.name}"'s device worker is ending already (an injected exit) and its restart has not begun`,
        "Wait for its restart (event backend-ready, a fraction of a second after the exit), then inject again",
      );
    }
    if (hang !== undefined && !hang.exit && hang.epoch === epoch && hang.until > now) {
      // The hung worker reads no message before the supervisor replaces it (after a second
      // without heartbeat) or the hang ends: refused, not "injected" and then never done.
      return refuse(
        "backend-hung",
        `Cannot inject backend-crash (${mode}): VM "${vm.name}"'s device worker hangs (an injected hang, ${
          Math.ceil(hang.until - now)
        } ms left) and reads nothing until it wakes or is replaced`,
        "Wait for its restart (event backend-restarted, about a second after the hang began) or for the hang to end, then inject again",
      );
    }
    if (mode === "mid-pass") {
      const refused = midPassRefused(vm);
      if (refused !== null) return refused;
    }
    const armed = target.midPass?.get(vm.name);
    if (armed !== undefined && armed !== epoch) target.midPass!.delete(vm.name);
    else if (armed !== undefined && mode !== "slow") {
      // The worker would count a second one from anew (the first never came), or end with
      // an exit or a hang's restart, its armed crash with it: either way "injected" and lost.
      return refuse(
        "backend-crash-armed",
        `Cannot inject backend-crash (${mode}): VM "${vm.name}"'s device worker has a mid-pass crash armed, still to come`,
        `It comes once the worker has moved its frames: send traffic through ${vm.name}'s NICs (or crash the whole VM: vm-crash), then inject again`,
      );
    }
    if (hang !== undefined) target.hangs.delete(vm.name);
    if (mode === "hang") target.hangs.set(vm.name, { epoch, until: now + ms });
    if (mode === "exit") target.hangs.set(vm.name, { epoch, until: Infinity, exit: true });
    if (mode === "mid-pass") {
      const after = Math.min(f.after ?? 1, MAX_AFTER);
      target.emit("fault", vm.name, { fault: f.kind, mode, after });
      target.post(vm.name, "device", { type: "crash", mode, ms, after });
      target.midPass?.set(vm.name, epoch);
      return { ok: true, detail: { fault: f.kind, vm: vm.name, mode, after } };
    }
    // An exit has no duration: its event and answer say only what the user can act on.
    const timed = mode === "exit" ? {} : { ms };
    target.emit("fault", vm.name, { fault: f.kind, mode, ...timed });
    target.post(vm.name, "device", { type: "crash", mode, ms });
    return { ok: true, detail: { fault: f.kind, vm: vm.name, mode, ...timed } };
  }
  const device = vm.devices.find((d) => d.name === f.device);
  if (!device) {
    return refuse(
      "unknown-device",
      `Cannot inject ${f.kind}: VM "${vm.name}" has no device ${quote(f.device)}`,
      vm.devices.length > 0
        ? `Devices: ${vm.devices.map((d) => d.name).join(", ")}`
        : `VM ${quote(vm.name)} has no devices`,
    );
  }
  if (device.kind === "vhost-pci") return vhostPciFault(f, vm.name, device, target);
  const q = device.queues.findIndex((x) => x.name === f.queue);
  if (q < 0) {
    return refuse(
      "unknown-queue",
      `Cannot inject ${f.kind}: device "${device.name}" has no queue ${quote(f.queue)}`,
      `Queues: ${device.queues.map((x) => x.name).join(", ")}`,
    );
  }
  if (f.kind === "guest-bug") {
    if (!GUEST_BUG_DEVICES.has(device.kind)) return noGuestBugs(vm, device);
    const missing = missingBug(f, device.queues[q].layout);
    if (missing !== null) return missing;
    const detail = { fault: f.kind, vm: vm.name, device: device.name, queue: f.queue, bug: f.bug };
    target.emit("fault", vm.name, detail);
    const refused = await askUntilRoom(
      target,
      vm.name,
      { device: device.index, queue: q, bug: f.bug },
      { device, queue: f.queue },
    );
    return refused === null ? { ok: true, detail } : guestRefused(f, refused);
  }
  const count = f.count ?? 1;
  const regs = deviceControl(target.control(vm.index), vm.control.devices[device.index]).regs;
  const kind = f.kind === "lost-kick" ? "kick" : "interrupt";
  const before = droppedNotifications(regs, q);
  const still = kind === "kick" ? before.armedKicks : before.armedInterrupts;
  if (still + count > MAX_ARMED) {
    return refuse(
      "too-many-armed",
      `Cannot inject ${f.kind}: ${still} ${kind}s of ${vm.name}:${device.name} ${f.queue} are armed to drop already, and ${count} more would pass ${MAX_ARMED}`,
      "Let the queue's notifications consume them first (send traffic through it), or crash the VM (vm-crash) to cancel them",
    );
  }
  // Added to what an earlier fault armed and has not dropped yet (of either kind): never
  // cancelled by this one.
  const armed = armDrops(regs, q, kind, count);
  const detail = {
    fault: f.kind,
    vm: vm.name,
    device: device.name,
    queue: f.queue,
    count,
    ...(armed > count ? { armed } : {}),
  };
  target.emit("fault", vm.name, detail);
  return { ok: true, detail };
}

/**
 * `vm-crash`: handed to the lab (refused only by a target that cannot crash a VM). Every device
 * kind has its reboot modelled: a vIOMMU's power-on device resets its tables
 * (lab/host/kinds/iommu.ts), a vsock device's peers reset their connections with it
 * (lab/host/kinds/vsock.ts).
 */
function crashVm(
  vm: LabPlan["vms"][number],
  bootMs: number,
  target: FaultTarget,
): FaultOutcome {
  if (target.crashVm === undefined) {
    return refuse(
      "vm-crash-unsupported",
      `Cannot inject vm-crash: VM "${vm.name}" cannot be crashed and rebooted here`,
      `Crash its device worker instead (\`vlab fault backend-crash ${vm.name}\`)`,
    );
  }
  // Named as the user gave it (--ms, "ms"), as a backend crash's duration is: it said bootMs.
  const boot = bootMs > 0 ? { ms: bootMs } : {};
  target.emit("fault", vm.name, { fault: "vm-crash", ...boot });
  // A mid-pass crash armed and not yet come ends with the device worker (the reboot starts one
  // at power-on state): said, not lost silently. (Lost kicks and interrupts still armed are
  // reported by the reboot, once the old worker is fenced: `vm_reboot.ts`.)
  const armed = target.midPass?.get(vm.name);
  if (armed !== undefined) {
    target.midPass!.delete(vm.name);
    const epoch = Atomics.load(epochWord(target.control(vm.index), vm.control), 0);
    if (armed === epoch) {
      target.emit("fault-cancelled", vm.name, {
        fault: "backend-crash",
        mode: "mid-pass",
        reason: "vm-crash",
      });
    }
  }
  // Likewise an exit asked and not yet answered: the reboot ends the worker first.
  const exit = target.hangs.get(vm.name);
  if (exit?.exit) {
    target.hangs.delete(vm.name);
    const epoch = Atomics.load(epochWord(target.control(vm.index), vm.control), 0);
    if (exit.epoch === epoch) {
      target.emit("fault-cancelled", vm.name, {
        fault: "backend-crash",
        mode: "exit",
        reason: "vm-crash",
      });
    }
  }
  target.crashVm(vm.name, bootMs);
  return { ok: true, detail: { fault: "vm-crash", vm: vm.name, ...boot } };
}

/**
 * The refusal of a `mid-pass` crash on a VM whose device worker moves no NIC's frames (a crash
 * that counts them would stay armed for ever, "injected" and never done), or null. Only a NIC
 * whose queues the VM's own device worker serves counts: a vhost-pci frontend's are served by
 * the peer's guest, and vsock and iommu devices carry no frames a pass could crash among.
 */
function midPassRefused(vm: LabPlan["vms"][number]): FaultOutcome | null {
  const nics = vm.devices.filter((d) => d.kind === "net");
  if (nics.some((d) => (d.vhostPci ?? null) === null)) return null;
  const served = nics.find((d) => d.vhostPci);
  return refuse(
    "no-queues",
    `Cannot inject backend-crash (mid-pass): VM "${vm.name}"'s device worker moves no NIC's frames, and a mid-pass crash comes after one`,
    served?.vhostPci
      ? `${vm.name}:${served.name}'s queues are served by ${served.vhostPci.peerVm}'s guest (vhost-pci link ${served.vhostPci.link}); use --mode exit, hang or slow`
      : "Use --mode exit, hang or slow",
  );
}

/**
 * The device kinds whose guest driver writes guest bugs into its own queues (each kind's guest
 * slice answers `guest-bug`: `lab/guest/kinds/guest_bug.ts`); a vhost-pci-net device takes them
 * too, in `b`'s serving driver (`vhostPciFault`).
 */
const GUEST_BUG_DEVICES: ReadonlySet<DeviceSpec["kind"]> = new Set(["net", "vsock"]);

/**
 * The refusal of a guest bug asked of a device whose driver writes none (a virtio-iommu
 * device): only a NIC's and a vsock device's drivers do (and `b`'s driver of a vhost-pci link);
 * a bug asked of another driver must not be answered "injected" and then never happen.
 */
function noGuestBugs(vm: LabPlan["vms"][number], device: DeviceSpec): FaultOutcome {
  const other = vm.devices.find((d) => GUEST_BUG_DEVICES.has(d.kind));
  return refuse(
    "no-guest-bugs",
    `Cannot inject guest-bug: ${vm.name}:${device.name} is ${
      device.kind === "iommu" ? "an" : "a"
    } ${device.kind} device, and only a NIC's or a vsock device's driver writes guest bugs`,
    other
      ? `Try a queue of ${other.name}: \`vlab fault guest-bug ${vm.name} ${other.name} ${
        other.kind === "vsock" ? "tx" : "transmitq"
      } loop\``
      : "Guest bugs go to a NIC's queues (receiveq, transmitq) or a vsock device's (rx, tx, event)",
  );
}

/** The refusal of a lost kick or interrupt asked of a vhost-pci-net device (no queues of its own). */
function vhostPciNoQueues(
  f: Fault & { kind: "lost-kick" | "lost-irq" },
  vm: string,
  device: Extract<DeviceSpec, { kind: "vhost-pci" }>,
): FaultOutcome {
  const at = device.frontend;
  return refuse(
    "no-queues",
    `Cannot inject ${f.kind}: ${vm}:${device.name} is a vhost-pci-net device with no queues of its own`,
    `Its queues are ${at.vm}:${at.nic}'s: try \`vlab fault ${f.kind} ${at.vm} ${at.nic} ${f.queue}\``,
  );
}

/**
 * Why a lab of `plan` refuses fault `f` whatever its state, judged on the plan alone, or null:
 * a `mid-pass` crash of a VM whose device worker moves no NIC's frames, a lost kick or
 * interrupt on a vhost-pci-net device, a guest bug asked of a device whose driver writes none
 * (a virtio-iommu device) or that its ring's layout cannot have. `injectFault` answers these the same way; a drill checks its fault
 * steps with this before the lab starts. An unknown VM, device or queue is left to the caller
 * (null here).
 *
 * @example
 * ```ts ignore
 * plannedRefusal(plan, { kind: "lost-kick", vm: "b", device: "eth0", queue: "transmitq" });
 * // { ok: false, code: "no-queues", message: "Cannot inject lost-kick: b:eth0 is a vhost-pci-net …", hint }
 * ```
 */
export function plannedRefusal(
  plan: LabPlan,
  f: Fault,
): (FaultOutcome & { ok: false }) | null {
  const vm = plan.vms.find((v) => v.name === f.vm);
  if (vm === undefined || f.kind === "vm-crash") return null;
  const refusal = (r: FaultOutcome | null) => r === null || r.ok ? null : r;
  if (f.kind === "backend-crash") return f.mode === "mid-pass" ? refusal(midPassRefused(vm)) : null;
  const device = vm.devices.find((d) => d.name === f.device);
  if (device === undefined) return null;
  if (device.kind === "vhost-pci") {
    if (f.kind !== "guest-bug") return refusal(vhostPciNoQueues(f, vm.name, device));
    const served = plan.vms.find((v) => v.name === device.frontend.vm)
      ?.devices[device.frontend.device];
    const q = served?.queues.find((x) => x.name === f.queue);
    return q === undefined ? null : refusal(missingBug(f, q.layout));
  }
  const q = device.queues.find((x) => x.name === f.queue);
  if (q === undefined || f.kind !== "guest-bug") return null;
  return refusal(
    GUEST_BUG_DEVICES.has(device.kind) ? missingBug(f, q.layout) : noGuestBugs(vm, device),
  );
}

/**
 * A fault on a vhost-pci-net device (VM `b` of a vhost-pci link), which has no queues of its
 * own: a guest bug is a bug of `b`'s driver serving one of the frontend NIC's queues, and `b`'s
 * driver resets its device; lost kicks and interrupts have no queue of `b`'s to drop from.
 */
async function vhostPciFault(
  f: Fault & { kind: "guest-bug" | "lost-kick" | "lost-irq" },
  vm: string,
  device: Extract<DeviceSpec, { kind: "vhost-pci" }>,
  target: FaultTarget,
): Promise<FaultOutcome> {
  const at = device.frontend;
  if (f.kind !== "guest-bug") return vhostPciNoQueues(f, vm, device);
  const served = target.plan.vms.find((v) => v.name === at.vm)?.devices[at.device];
  const names = served?.queues.map((x) => x.name) ?? [];
  if (!names.includes(f.queue)) {
    return refuse(
      "unknown-queue",
      `Cannot inject ${f.kind}: ${vm}:${device.name} serves no queue ${quote(f.queue)}`,
      `Queues it serves (${at.vm}:${at.nic}'s): ${names.join(", ")}`,
    );
  }
  const missing = missingBug(f, served!.queues[names.indexOf(f.queue)].layout);
  if (missing !== null) return missing;
  const detail = { fault: f.kind, vm, device: device.name, queue: f.queue, bug: f.bug };
  target.emit("fault", vm, detail);
  const queue = names.indexOf(f.queue);
  const refused = await askUntilRoom(
    target,
    vm,
    { device: device.index, queue, bug: f.bug },
    { device, queue: f.queue },
  );
  return refused === null ? { ok: true, detail } : guestRefused(f, refused);
}
