/**
 * What the guest's virtio-iommu driver does with its requestq and eventq once it is up, on the
 * guest worker's thread: the iommu kind (`iommu.ts`) brings the device up, then builds this over
 * its `IommuDriver` and calls `collect` and `readFaults` on every loop pass.
 *
 * - `GuestIommu` for the kinds behind the vIOMMU: `prepare` (ATTACH and the mode's MAP before a
 *   NIC's driver starts) and `restore` (the same after `iommu-unmap`, from the NIC's reset).
 * - `revoke` for the `iommu-unmap` workload (an UNMAP of a static window, a DETACH otherwise).
 * - Completions are counted and routed to each strict or lazy endpoint's `GuestDma`; fault reports
 *   are counted and posted as `iommu-fault` events.
 *
 * Every request the kind sends itself (ATTACH, MAP, UNMAP, DETACH) is staged through one
 * mechanism, `stage`: in strict and lazy modes the NICs' own per-buffer MAPs and UNMAPs may fill
 * the requestq (a flood on one NIC while another resets), and room comes back as the device
 * completes them, so a request waits for room (bounded) instead of failing with the queue's
 * `ring-full`. Each staged request is waited for by a ticket of its own, not by its token, which
 * the driver hands out again as soon as the request completed. A window is revocable once its MAP
 * completed and while no reset of its NIC holds it (`hold`).
 *
 * A device that stopped on an error (DEVICE_NEEDS_RESET: a queue the guest broke) answers nothing
 * more, and this driver does not reset it (as Linux's does not): once `needsReset` says so, the
 * kind's requests give up at once, saying why, instead of waiting out their timeout.
 *
 * @module
 */

import { IommuMapper, IommuStatus } from "../../../devices/iommu/mod.ts";
import type { IommuDriver, IommuDriverError } from "../../../devices/iommu/mod.ts";
import type { Result } from "../../../devices/base/result.ts";
import { type DriverError, queueErrorParts } from "../../../devices/virtio/errors.ts";
import { IommuDriverCounter } from "../../wire/iommu.ts";
import { macrotask } from "../../wire/loop.ts";
import { quote } from "../../../devices/base/quote.ts";
import type { FromWorker } from "../../wire/messages.ts";
import type { IommuDeviceSpec } from "../../wire/specs.ts";
import type { IommuWorkloadService } from "../workloads/options.ts";
// RENOTIFY_MS: a waiting request unanswered this long kicks the requestq again (a lost kick).
import { GuestDma, LAZY_BATCH, RENOTIFY_MS } from "./iommu_dma.ts";
import type { GuestIommu } from "./types.ts";

/**
 * Strict and lazy: per-buffer IOVAs start here, above any guest memory the lab plans; each
 * endpoint has the IOVA pages the plan sized for what its queues hold in flight
 * (`IommuEndpointSpec.iovaPages`).
 */
const IOVA_BASE = 2 ** 32;

/** A fault report's reason, by the spec's name (lower case): `iommu-fault`'s `reason`. */
const FAULT_REASONS = ["unknown", "domain", "mapping"];

/**
 * How long a request of the kind's own (`prepare`, `restore`, `revoke`) waits for room in the
 * requestq, and then for its answer, ms.
 */
export const REQUEST_TIMEOUT_MS = 5000;

const REQUESTQ = 0;
const EVENTQ = 1;

/** A NIC's DMA window and, inside it, its rings (what strict and lazy map once). */
interface Window {
  window: { gpa: number; len: number };
  rings: { gpa: number; len: number };
}

/** What {@linkcode guestIommuRequests} needs. */
export interface GuestIommuRequestsOptions {
  /** The driver, over requestq and eventq. */
  driver: IommuDriver;
  /** The device's mode and endpoints (the plan's). */
  spec: Pick<IommuDeviceSpec, "mode" | "endpoints">;
  /** The VM's name (for messages). */
  vm: string;
  /** The driver counters (`IommuDriverCounter`). */
  counters: Float64Array;
  /**
   * Kick queue `q` (0 requestq, 1 eventq), unless a lost-kick fault swallows it; run as a
   * section (`guard`).
   */
  kick: (q: number) => void;
  /** Post a message (an `iommu-fault` event) to the main thread. */
  post: (m: FromWorker) => void;
  /** Clock, ms (default `performance.now`). */
  now?: () => number;
  /**
   * Pause between two polls of a wait that began `waitedMs` ago, yielding to the worker's loop
   * (default {@linkcode pauseInGuest}).
   */
  pause?: (waitedMs: number) => Promise<void>;
  /** How long a request waits for room, then for its answer (default `REQUEST_TIMEOUT_MS`). */
  timeoutMs?: number;
  /** True once the guest must stop (its VM crashed): the NICs' mapping waits give up. */
  stopped?: () => boolean;
  /**
   * True once the device set DEVICE_NEEDS_RESET (read on a configuration interrupt): it answers
   * nothing more until a reset this driver does not do, so the kind's requests give up at once.
   */
  needsReset?: () => boolean;
  /**
   * Run `fn`, which writes the requestq or the eventq, as a section of the guest's generation
   * (`Fence.guard`: `otherwise` once it ended, a crashed guest's request staged nothing);
   * default: run it.
   */
  guard?: <T>(fn: () => T, otherwise: T) => T;
}

/** The running requests of a guest's virtio-iommu driver (see the module's doc). */
export interface GuestIommuRequests {
  /** What the kinds behind the vIOMMU use (`ctx.iommu`). */
  service: GuestIommu;
  /** The `iommu-unmap` workload's revocation. */
  revoke: IommuWorkloadService["revoke"];
  /** Collect requestq completions (counted, routed to each `GuestDma`); how many. */
  collect(): number;
  /** Read the eventq's fault reports (counted, posted as events); how many. */
  readFaults(): number;
  /** Each strict or lazy endpoint's per-buffer mapping, by endpoint. */
  dmas: ReadonlyMap<number, GuestDma>;
}

/** How long a wait yields by macrotasks before it pauses on timers, ms. */
const YIELD_FIRST_MS = 100;

/**
 * The pause between two polls of the requestq in the guest worker: a macrotask while the wait is
 * young, then a 1 ms timer. The device worker answers in microseconds to milliseconds, but a timer
 * runs 300 ms late or more while the guest's loop is busy (its turns are macrotasks, which come
 * before timers: docs/performance.md), so a reset or an `iommu-unmap` beside a flood took seconds.
 * Timers afterwards, so that a wait for a device that does not answer does not spin an idle thread.
 *
 * @example
 * ```ts ignore
 * await pauseInGuest(0); // one turn of the event loop
 * ```
 */
export function pauseInGuest(waitedMs: number): Promise<void> {
  if (waitedMs < YIELD_FIRST_MS) return macrotask();
  return new Promise<void>((resolve) => setTimeout(resolve, 1));
}

/** A request of the kind's own, staged: its status once it completed (undefined: not yet). */
interface Ticket {
  /** The driver's token (reused once the request completed). */
  token: number;
  /** The device's status; null for a completion without a tail. */
  status: number | null | undefined;
}

/** Why the kind's requests go unanswered once the device asked for a reset (`needsReset`). */
const STOPPED = "device stopped on an error and needs a reset, which this guest's driver " +
  "does not do";

/** The hint of a request refused because the device needs a reset. */
function stoppedHint(vm: string): string {
  return `Its device-error event says why; a reboot of the VM (\`vlab fault vm-crash ${vm}\`) ` +
    "brings the device back";
}

/** The requestq has no room now (no free request, or no free descriptors). */
function busy(e: IommuDriverError): boolean {
  return e.kind === "ring-full" || e.kind === "no-slot";
}

/**
 * Build the requests of a guest's virtio-iommu driver over `opts.driver`.
 *
 * @example
 * ```ts ignore
 * const r = guestIommuRequests({ driver, spec, vm: "a", counters, kick, post });
 * await r.service.prepare(0, { gpa: 0x100000, len: 0x40000 }, { gpa: 0x100000, len: 0x4000 });
 * ```
 */
export function guestIommuRequests(opts: GuestIommuRequestsOptions): GuestIommuRequests {
  const { driver, spec, counters, post } = opts;
  const now = opts.now ?? (() => performance.now());
  const pause = opts.pause ?? pauseInGuest;
  const timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS;
  const guard = opts.guard ?? (<T>(fn: () => T, _otherwise: T) => fn());
  const needsReset = opts.needsReset ?? (() => false);
  // A kick writes the queue's notify register: a section too. A wait's kick again runs in a
  // continuation after its pause, outside the loop's pass (a reset's `restore`, a workload's
  // `prepare`): a crashed guest's kicked the requestq its successor had taken.
  const kick = (q: number) => guard(() => opts.kick(q), undefined);
  // The kind's own requests not yet completed, by token. A ticket leaves at its request's first
  // completion, with its status: the driver hands the freed token out again at once (to a NIC's
  // MAP, or to another request of the kind's, whose ticket must not take this one's place).
  const waiting = new Map<number, Ticket>();
  // Each strict or lazy endpoint's per-buffer mapping.
  const dmas = new Map<number, GuestDma>();

  const collect = (): number => {
    const done = guard(() => driver.collect(), []);
    if (done.length > 0) { for (const d of dmas.values()) d.complete(done); }
    for (const c of done) {
      if (c.status === IommuStatus.OK) counters[IommuDriverCounter.completedOk]++;
      else counters[IommuDriverCounter.refused]++;
      const ticket = waiting.get(c.token);
      if (ticket !== undefined) {
        ticket.status = c.status;
        waiting.delete(c.token);
      }
    }
    return done.length;
  };

  const readFaults = (): number => {
    const reports = guard(() => driver.readEvents(), []);
    for (const f of reports) {
      counters[IommuDriverCounter.faultReports]++;
      counters[IommuDriverCounter.lastFaultIova] = f.address ?? -1;
      counters[IommuDriverCounter.lastFaultAccess] = f.access === "read" ? 1 : 2;
      counters[IommuDriverCounter.lastFaultEndpoint] = f.endpoint;
      const ep = spec.endpoints.find((e) => e.endpoint === f.endpoint);
      post({
        type: "event",
        kind: "iommu-fault",
        detail: {
          device: ep?.name ?? `endpoint ${f.endpoint}`,
          iova: f.address === null ? null : `0x${f.address.toString(16)}`,
          access: f.access,
          // The spec's reason by name (virtio 1.2 §5.13.6.9: UNKNOWN 0, DOMAIN 1, MAPPING 2).
          reason: FAULT_REASONS[f.reason] ?? "unknown",
        },
      });
    }
    if (reports.length > 0 && guard(() => driver.fillEvents(), false)) kick(EVENTQ);
    return reports.length;
  };

  const publish = () => {
    if (guard(() => (driver.publish(), true), false)) kick(REQUESTQ);
  };

  // Each endpoint's window, as `prepare` set it up, and the windows `revoke` took back.
  const windows = new Map<number, Window>();
  const revoked = new Map<number, Window>();
  // Revocations in flight: the device breaks the NIC's queue (and its driver starts a reset)
  // during the UNMAP's handshake, before the UNMAP completes.
  const revoking = new Map<number, Promise<unknown>>();
  // Endpoints whose driver is resetting (`hold`): how many holds each.
  const held = new Map<number, number>();

  /** Kick the requestq again when the last kick (at `kicked`) went unanswered for RENOTIFY_MS. */
  const renotify = (kicked: number): number => {
    const t = now();
    if (t - kicked < RENOTIFY_MS) return kicked;
    kick(REQUESTQ);
    return t;
  };

  /**
   * Stage one request, waiting (until `deadline`) for room in the requestq: room comes back as
   * the device completes requests (what is staged meanwhile is published, so the device has
   * them). `request` is asked again after each wait (what it stages may have changed), and may
   * give up (null). Resolves with its last answer: a ticket, which the caller's `complete` waits
   * for (its completion is caught even if it comes first), the driver's refusal (still
   * `ring-full` or `no-slot` when the deadline passed), or null.
   */
  const stage = async (
    request: () => Result<number, IommuDriverError> | null,
    deadline: number,
  ): Promise<Result<Ticket, IommuDriverError> | null> => {
    let kicked = now();
    const started = kicked;
    // Bounded by the deadline: room comes back, or the caller hears `ring-full`.
    for (;;) {
      // A crashed guest's request gives up (null): it stages nothing.
      const r = guard(request, null);
      if (r !== null && r.ok) {
        const ticket: Ticket = { token: r.value, status: undefined };
        waiting.set(r.value, ticket);
        return { ok: true, value: ticket };
      }
      if (r === null || !busy(r.error) || now() >= deadline || needsReset()) return r;
      publish();
      await pause(now() - started);
      collect();
      kicked = renotify(kicked);
    }
  };

  /** Forget tickets nobody waits for any more (their requests may still complete). */
  const forget = (tickets: Ticket[]) => {
    for (const t of tickets) if (waiting.get(t.token) === t) waiting.delete(t.token);
  };

  /** Publish staged requests and wait (bounded) for their statuses (null: no answer in time). */
  const complete = async (tickets: Ticket[]): Promise<(number | null)[]> => {
    publish();
    const deadline = now() + timeoutMs;
    const open = () => tickets.some((t) => t.status === undefined);
    let kicked = now();
    const started = kicked;
    // Bounded by the deadline: the device worker answers in time or the caller hears null (at
    // once when the device stopped: it answers nothing more).
    while (open() && now() < deadline && !needsReset()) {
      collect();
      if (!open()) break;
      await pause(now() - started);
      kicked = renotify(kicked);
    }
    forget(tickets);
    return tickets.map((t) => t.status ?? null);
  };

  /** Why a request found no room: the queue stayed full, or the driver refused it (in words). */
  const noRoom = (e: IommuDriverError): string => {
    if (busy(e) && needsReset()) return `the vIOMMU's ${STOPPED}`;
    if (busy(e)) return `the vIOMMU's request queue stayed full for ${timeoutMs / 1000} s`;
    const { action, reason } = queueErrorParts(e as DriverError, "the requestq");
    return `its driver could not ${action}: ${reason}`;
  };

  const revoke: IommuWorkloadService["revoke"] = async (name) => {
    const ep = spec.endpoints.find((e) => e.name === name);
    // The name is the user's: quoted (control characters escaped) and cut.
    const shown = quote(name, 64);
    const gone = () => {
      const nics = spec.endpoints.map((e) => e.name).join(", ");
      const why = !ep
        ? `not a NIC behind this VM's vIOMMU (${nics === "" ? "none is" : `those: ${nics}`})`
        : !windows.has(ep.endpoint)
        ? "its window is revoked already, and its reset has not mapped it again yet"
        : "its NIC is being reset, which needs the window until its queues are live";
      // The name was right: the hint says when to ask again, not to name another NIC.
      const hint = ep
        ? "Its NIC's reset maps the window again: revoke it once the reset is over (event device-reset)"
        : undefined;
      return {
        ok: false as const,
        message: `Cannot revoke ${shown}: ${why}`,
        ...(hint ? { hint } : {}),
      };
    };
    const revocable = (endpoint: number) =>
      windows.has(endpoint) && (held.get(endpoint) ?? 0) === 0;
    if (!ep || !revocable(ep.endpoint)) return gone();
    const stopped = () => ({
      ok: false as const,
      message: `Cannot revoke ${shown}: the vIOMMU's ${STOPPED}`,
      hint: stoppedHint(opts.vm),
    });
    if (needsReset()) return stopped();
    const domain = ep.endpoint + 1;
    const t0 = now();
    // The window is read again after each wait for room: another revocation, or a reset that
    // mapped it anew, may have come meanwhile.
    const seen: { w?: Window } = {};
    const r = await stage(() => {
      const w = seen.w = windows.get(ep.endpoint);
      if (!w || !revocable(ep.endpoint)) return null;
      return spec.mode === "static"
        ? driver.unmap(domain, w.window.gpa, w.window.gpa + w.window.len - 1)
        : driver.detach(domain, ep.endpoint);
    }, t0 + timeoutMs);
    const w = seen.w;
    if (r === null || w === undefined) return gone();
    if (!r.ok && busy(r.error) && needsReset()) return stopped();
    if (!r.ok) {
      return busy(r.error)
        ? {
          ok: false,
          message: `Cannot revoke ${shown}: ${noRoom(r.error)}`,
          hint: "The vIOMMU's device did not complete requests: see `vlab status` and the events",
        }
        : {
          ok: false,
          message: `Cannot revoke ${shown}: ${noRoom(r.error)}`,
          hint: "A bug of vlab's guest virtio-iommu driver: please report it with the lab's " +
            "event log",
        };
    }
    windows.delete(ep.endpoint);
    revoked.set(ep.endpoint, w);
    const pending = complete([r.value]);
    revoking.set(ep.endpoint, pending);
    const [status] = await pending;
    revoking.delete(ep.endpoint);
    if (status === IommuStatus.OK) {
      return { ok: true, ms: now() - t0, request: spec.mode === "static" ? "UNMAP" : "DETACH" };
    }
    if (revoked.get(ep.endpoint) === w) {
      revoked.delete(ep.endpoint);
      windows.set(ep.endpoint, w);
    }
    if (status === null && needsReset()) return stopped();
    return {
      ok: false,
      message: status === null
        ? `Cannot revoke ${shown}: the vIOMMU did not answer within ${timeoutMs / 1000} s`
        : `Cannot revoke ${shown}: the vIOMMU answered status ${status}`,
      hint: "The window is left as it was; `vlab status` shows the vIOMMU's state",
    };
  };

  /**
   * ATTACH (passthrough: in bypass) and the mode's MAP, completed: static maps `window`, strict
   * and lazy map `rings` (their buffers are mapped one by one through `dmas`); the caller makes
   * the window revocable once this resolves. Each waits for room in the requestq (bounded), as a
   * revocation does: a NIC's per-buffer requests may keep it full (another NIC's flood while this
   * one resets).
   */
  const reach = async (endpoint: number, w: Window, attach: boolean): Promise<void> => {
    const domain = endpoint + 1;
    if (needsReset()) {
      throw new Error(
        `The vIOMMU of ${opts.vm} did not set up endpoint ${endpoint}: its ${STOPPED}`,
      );
    }
    const tickets: Ticket[] = [];
    const deadline = now() + timeoutMs;
    /** Stage one request (waiting for room) whose ticket joins `tickets`, or throw. */
    const take = async (what: string, request: () => Result<number, IommuDriverError>) => {
      const r = await stage(request, deadline);
      if (r !== null && r.ok) {
        tickets.push(r.value);
        return;
      }
      forget(tickets);
      throw new Error(`Cannot ${what}: ${r === null ? "no request" : noRoom(r.error)}`);
    };
    if (attach) {
      const bypass = spec.mode === "passthrough";
      await take(`attach endpoint ${endpoint}`, () => driver.attach(domain, endpoint, { bypass }));
    }
    if (spec.mode !== "passthrough") {
      // Static: the whole pool; strict and lazy: the rings (IOVA = GPA both).
      const area = spec.mode === "static" ? w.window : w.rings;
      const range = { start: area.gpa, end: area.gpa + area.len - 1, gpa: area.gpa, flags: 3 };
      await take(`map endpoint ${endpoint}'s pool`, () => driver.map(domain, range));
    }
    const statuses = await complete(tickets);
    if (statuses.some((s) => s === null) && needsReset()) {
      throw new Error(
        `The vIOMMU of ${opts.vm} did not set up endpoint ${endpoint}: its ${STOPPED}`,
      );
    }
    if (statuses.some((s) => s !== IommuStatus.OK)) {
      throw new Error(
        `The vIOMMU of ${opts.vm} did not set up endpoint ${endpoint}: statuses ${
          statuses.map((st) => st ?? `none within ${timeoutMs / 1000} s`).join(", ")
        }`,
      );
    }
  };

  const service: GuestIommu = {
    mode: spec.mode,
    dma: (endpoint) => dmas.get(endpoint) ?? null,
    revoked: (endpoint) => revoked.has(endpoint),
    hold: (endpoint) => {
      held.set(endpoint, (held.get(endpoint) ?? 0) + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        held.set(endpoint, (held.get(endpoint) ?? 1) - 1);
      };
    },
    prepare: (endpoint, window, rings) => {
      const ep = spec.endpoints.find((e) => e.endpoint === endpoint);
      if ((spec.mode === "strict" || spec.mode === "lazy") && !dmas.has(endpoint)) {
        if (ep === undefined) {
          return Promise.reject(
            new Error(`Endpoint ${endpoint} is not behind ${opts.vm}'s vIOMMU`),
          );
        }
        const mapper = new IommuMapper({
          driver,
          mode: spec.mode,
          domain: endpoint + 1,
          endpoint,
          iovaBase: IOVA_BASE,
          iovaPages: ep.iovaPages,
          lazyBatch: LAZY_BATCH,
        });
        const inFlight = () => driver.inFlight;
        const { stopped } = opts;
        dmas.set(endpoint, new GuestDma({ mapper, publish, collect, inFlight, stopped }));
      }
      const w = { window, rings };
      // The window is there to revoke once mapped, not while its MAP is in flight.
      return reach(endpoint, w, true).then(() => void windows.set(endpoint, w));
    },
    restore: async (endpoint) => {
      await revoking.get(endpoint); // the UNMAP first: then map again
      const w = revoked.get(endpoint);
      if (w === undefined) return false;
      // Static mode kept the endpoint attached (UNMAP); the others DETACHed it.
      await reach(endpoint, w, spec.mode !== "static");
      // Revocable again only now: a revocation while the MAP was in flight (it was refused:
      // still revoked) would have unmapped the window under the reset that maps it.
      revoked.delete(endpoint);
      windows.set(endpoint, w);
      return true;
    },
  };

  return { service, revoke, collect, readFaults, dmas };
}
