/**
 * The virtio-iommu kind in the guest worker: brings the VM's virtio-iommu driver up through the
 * generic virtio-mmio init, reads its config space, and offers the other kinds `GuestIommu`
 * (`ctx.iommu`), through which a NIC with `iommu: true` makes its DMA window reachable before
 * its own driver starts: `passthrough` attaches the endpoint in bypass; `static` attaches it and
 * maps the NIC's whole buffer pool (its rings and buffers, one window of guest pages) once, with
 * IOVA = GPA, as DPDK's virtio PMD does in IOVA-as-PA mode; `strict` and `lazy` attach it, map
 * only its rings once (IOVA = GPA, Linux's coherent allocation) and give the NIC's driver a
 * `GuestDma` (iommu_dma.ts) that maps each buffer before it is posted and unmaps it on completion,
 * at IOVAs above guest memory. On every loop pass it acknowledges
 * interrupts, collects completions (routed to each endpoint's `GuestDma`), sends the UNMAPs that
 * wait (strict: each; lazy: the flush queue when full or old), refills the event queue and reads
 * fault reports (counted in
 * the driver counters with the last fault's IOVA, access and endpoint, and posted as an
 * `iommu-fault` event). Started before the net kind.
 *
 * @module
 */

import {
  FAULT_REPORT_SIZE,
  IOMMU_CONFIG_SIZE,
  IommuDriver,
  IommuFeature,
  IommuMapper,
  IommuStatus,
  parseIommuConfig,
} from "../../../devices/iommu/mod.ts";
import { Feature, VIRTIO_ID_IOMMU } from "../../../devices/virtio/constants.ts";
import { featureSet } from "../../../devices/virtio/features.ts";
import { kickQueue, MmioReg } from "../../../devices/virtio/mmio.ts";
import {
  ackInterrupt,
  initDevice,
  readConfigStable,
  readInterruptStatus,
} from "../../../devices/virtio/mmio_driver.ts";
import { IommuDriverCounter } from "../../wire/iommu.ts";
import { deviceControl } from "../../wire/control.ts";
import { ringDoorbell } from "../../wire/doorbell.ts";
import { MailboxPort } from "../../wire/mailbox.ts";
import type { IommuDeviceSpec } from "../../wire/specs.ts";
import type { GuestContext, GuestIommu, GuestKind, GuestKindInstance } from "./types.ts";
import type { IommuWorkloadService } from "../workloads/options.ts";
import { GuestDma, LAZY_BATCH } from "./iommu_dma.ts";

/** Strict and lazy: per-buffer IOVAs start here, above any guest memory the lab plans. */
const IOVA_BASE = 2 ** 32;
/** Strict and lazy: IOVA pages per endpoint (64 MiB: every buffer in flight, many times over). */
const IOVA_PAGES = 16384;

const DRIVER_FEATURES = featureSet([
  Feature.VERSION_1,
  Feature.EVENT_IDX,
  IommuFeature.INPUT_RANGE,
  IommuFeature.DOMAIN_RANGE,
  IommuFeature.MAP_UNMAP,
  IommuFeature.PROBE,
  IommuFeature.BYPASS_CONFIG,
]);

/** A fault report's reason, by the spec's name (lower case): `iommu-fault`'s `reason`. */
const FAULT_REASONS = ["unknown", "domain", "mapping"];

/** How long `prepare` waits for the device to complete its requests. */
const PREPARE_TIMEOUT_MS = 5000;
/**
 * How long `prepare`, `iommu-unmap` and a reset wait for an answer before they kick the
 * requestq again: a kick that was lost (`vlab fault lost-kick VM iommu0 requestq`) delays the
 * request by this much per lost kick instead of until the device worker wakes by itself.
 */
const RENOTIFY_MS = 10;

/**
 * Kick queue `q` of the virtio-iommu device and ring its worker's doorbell (`ring`), unless an
 * armed lost-kick fault swallowed the kick: then the device hears nothing, as after a lost
 * notification. True when the kick went through.
 *
 * @example
 * ```ts
 * import { notifyIommu } from "./iommu.ts";
 * import { dropNotifications, regFileWords } from "../../../devices/virtio/mmio.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
 * let rung = 0;
 * dropNotifications(regs, 0, { kicks: 1, interrupts: 0 });
 * notifyIommu(regs, 0, () => rung++); // false: swallowed, rung === 0
 * notifyIommu(regs, 0, () => rung++); // true, rung === 1
 * ```
 */
export function notifyIommu(regs: Int32Array, q: number, ring: () => void): boolean {
  if (kickQueue(regs, q) <= 0) return false;
  ring();
  return true;
}

const IDLE: GuestKindInstance = {
  pump: () => false,
  prepareSleep: () => false,
  nextTimerMs: () => Infinity,
  periodic: () => {},
  inspect: () => ({}),
  provide: () => {},
};

const REQUESTQ = 0;
const EVENTQ = 1;

/** A NIC's DMA window and, inside it, its rings (what strict and lazy map once). */
interface Window {
  window: { gpa: number; len: number };
  rings: { gpa: number; len: number };
}

async function start(ctx: GuestContext, spec: IommuDeviceSpec): Promise<GuestKindInstance> {
  const ctl = deviceControl(ctx.control, ctx.layout.devices[spec.index]);
  const port = new MailboxPort(ctl.mailbox, ctx.bells, ctx.deviceThread);
  const init = await initDevice(port, {
    deviceId: VIRTIO_ID_IOMMU,
    supported: DRIVER_FEATURES,
    queues: spec.queues.map((q) => ({ size: q.size })),
    mem: ctx.mem,
    alloc: ctx.alloc,
    ring: ctx.ring,
  });
  if (!init.ok) {
    throw new Error(`Cannot start the virtio-iommu driver of ${ctx.vm}: ${init.error.kind}`);
  }
  const raw = new Uint8Array(IOMMU_CONFIG_SIZE);
  const read = await readConfigStable(port, async () => {
    for (let o = 0; o < IOMMU_CONFIG_SIZE; o += 4) {
      const v = await port.read(MmioReg.CONFIG + o, 4);
      for (let i = 0; i < 4; i++) raw[o + i] = (v >>> (8 * i)) & 0xff;
    }
    return 0;
  });
  if (!read.ok) throw new Error(`The virtio-iommu config space of ${ctx.vm} kept changing`);
  const [requestq, eventq] = init.value.queues;
  const driver = new IommuDriver({
    mem: ctx.mem,
    alloc: ctx.alloc,
    requestq,
    eventq,
    config: parseIommuConfig(raw),
  });
  const counters = ctl.driverCounters;
  counters[IommuDriverCounter.lastFaultIova] = -1;
  const { regs } = ctl;
  const { bells, deviceThread, post } = ctx;
  const kick = (q: number) => notifyIommu(regs, q, () => ringDoorbell(bells, deviceThread));
  if (driver.fillEvents()) kick(EVENTQ);
  // Tokens a `prepare` waits for, and the statuses that came back.
  const awaited = new Map<number, number | null>();

  // Each strict or lazy endpoint's per-buffer mapping.
  const dmas = new Map<number, GuestDma>();

  const collect = (): number => {
    const done = driver.collect();
    if (done.length > 0) { for (const d of dmas.values()) d.complete(done); }
    for (const c of done) {
      if (c.status === IommuStatus.OK) counters[IommuDriverCounter.completedOk]++;
      else counters[IommuDriverCounter.refused]++;
      // The first completion only: the token may be reused (by a NIC's MAP) before the waiter
      // looks at its status.
      if (awaited.get(c.token) === null) awaited.set(c.token, c.status);
    }
    return done.length;
  };

  const readFaults = (): number => {
    const reports = driver.readEvents();
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
    if (reports.length > 0 && driver.fillEvents()) kick(EVENTQ);
    return reports.length;
  };

  // Each endpoint's window, as `prepare` set it up, and the windows `revoke` took back.
  const windows = new Map<number, Window>();
  const revoked = new Map<number, Window>();
  // Revocations in flight: the device breaks the NIC's queue (and its driver starts a reset)
  // during the UNMAP's handshake, before the UNMAP completes.
  const revoking = new Map<number, Promise<unknown>>();

  /** Kick the requestq again when the last kick (at `kicked`) went unanswered for RENOTIFY_MS. */
  const renotify = (kicked: number): number => {
    const now = performance.now();
    if (now - kicked < RENOTIFY_MS) return kicked;
    kick(REQUESTQ);
    return now;
  };

  /** Publish staged requests and wait (bounded) for their statuses (null: no answer in time). */
  const complete = async (tokens: number[]): Promise<(number | null)[]> => {
    for (const t of tokens) awaited.set(t, null);
    driver.publish();
    kick(REQUESTQ);
    const deadline = performance.now() + PREPARE_TIMEOUT_MS;
    const open = () => tokens.some((t) => awaited.get(t) === null);
    let kicked = performance.now();
    // Bounded by the deadline: the device worker answers in time or the caller hears null.
    while (open() && performance.now() < deadline) {
      collect();
      if (!open()) break;
      await new Promise((r) => setTimeout(r, 1));
      kicked = renotify(kicked);
    }
    const statuses = tokens.map((t) => awaited.get(t) ?? null);
    for (const t of tokens) awaited.delete(t);
    return statuses;
  };

  /** Publish what is staged and wait (bounded) until no request is in flight. */
  const idle = async (): Promise<void> => {
    if (driver.inFlight === 0) return;
    publish();
    const deadline = performance.now() + PREPARE_TIMEOUT_MS;
    let kicked = performance.now();
    // Bounded by the deadline: the device worker answers in time or the caller goes on.
    while (driver.inFlight > 0 && performance.now() < deadline) {
      collect();
      if (driver.inFlight === 0) break;
      await new Promise((r) => setTimeout(r, 1));
      kicked = renotify(kicked);
    }
  };

  const revoke: IommuWorkloadService["revoke"] = async (name) => {
    const ep = spec.endpoints.find((e) => e.name === name);
    // The name is the user's: quoted (control characters escaped) and cut.
    const shown = JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
    const gone = () => {
      const nics = spec.endpoints.map((e) => e.name).join(", ");
      const why = ep
        ? "its window is revoked already, and its reset has not mapped it again yet"
        : `not a NIC behind this VM's vIOMMU (${nics === "" ? "none is" : `those: ${nics}`})`;
      return { ok: false as const, message: `Cannot revoke ${shown}: ${why}` };
    };
    if (!ep || !windows.has(ep.endpoint)) return gone();
    const domain = ep.endpoint + 1;
    const t0 = performance.now();
    const deadline = t0 + PREPARE_TIMEOUT_MS;
    let kicked = t0;
    // Under traffic, strict and lazy fill the requestq with the NIC's own per-buffer MAPs and
    // UNMAPs: room comes back as the device completes them, so the revocation waits for it
    // (bounded) instead of failing with the queue's `ring-full`. The window is read again after
    // each wait: another revocation, or a reset that mapped it anew, may have come meanwhile.
    for (;;) {
      const w = windows.get(ep.endpoint);
      if (!w) return gone();
      const r = spec.mode === "static"
        ? driver.unmap(domain, w.window.gpa, w.window.gpa + w.window.len - 1)
        : driver.detach(domain, ep.endpoint);
      if (r.ok) {
        windows.delete(ep.endpoint);
        revoked.set(ep.endpoint, w);
        const pending = complete([r.value]);
        revoking.set(ep.endpoint, pending);
        const [status] = await pending;
        revoking.delete(ep.endpoint);
        if (status === IommuStatus.OK) return { ok: true, ms: performance.now() - t0 };
        if (revoked.get(ep.endpoint) === w) {
          revoked.delete(ep.endpoint);
          windows.set(ep.endpoint, w);
        }
        return {
          ok: false,
          message: status === null
            ? `Cannot revoke ${shown}: the vIOMMU did not answer within ${
              PREPARE_TIMEOUT_MS / 1000
            } s`
            : `Cannot revoke ${shown}: the vIOMMU answered status ${status}`,
          hint: "The window is left as it was; `vlab status` shows the vIOMMU's state",
        };
      }
      const busy = r.error.kind === "ring-full" || r.error.kind === "no-slot";
      if (!busy) return { ok: false, message: `Cannot revoke ${shown}: ${r.error.kind}` };
      if (performance.now() >= deadline) {
        return {
          ok: false,
          message: `Cannot revoke ${shown}: the vIOMMU's request queue stayed full for ${
            PREPARE_TIMEOUT_MS / 1000
          } s`,
          hint: "The vIOMMU's device did not complete requests: see `vlab status` and the events",
        };
      }
      publish();
      await new Promise((res) => setTimeout(res, 1));
      collect();
      kicked = renotify(kicked);
    }
  };

  const publish = () => {
    driver.publish();
    kick(REQUESTQ);
  };

  /**
   * ATTACH (passthrough: in bypass) and the mode's MAP, completed: static maps `window`, strict
   * and lazy map `rings` (their buffers are mapped one by one through `dmas`).
   */
  const reach = async (endpoint: number, w: Window, attach: boolean): Promise<void> => {
    const domain = endpoint + 1;
    const tokens: number[] = [];
    // A NIC's per-buffer requests may fill the requestq (a reset after a revocation): let them
    // complete first (bounded), so that the ATTACH and MAP find room.
    await idle();
    if (attach) {
      const a = driver.attach(domain, endpoint, { bypass: spec.mode === "passthrough" });
      if (!a.ok) throw new Error(`Cannot attach endpoint ${endpoint}: ${a.error.kind}`);
      tokens.push(a.value);
    }
    if (spec.mode !== "passthrough") {
      // Static: the whole pool; strict and lazy: the rings (IOVA = GPA both).
      const area = spec.mode === "static" ? w.window : w.rings;
      const m = driver.map(domain, {
        start: area.gpa,
        end: area.gpa + area.len - 1,
        gpa: area.gpa,
        flags: 3,
      });
      if (!m.ok) throw new Error(`Cannot map endpoint ${endpoint}'s pool: ${m.error.kind}`);
      tokens.push(m.value);
    }
    windows.set(endpoint, w);
    const statuses = await complete(tokens);
    if (statuses.some((s) => s !== IommuStatus.OK)) {
      windows.delete(endpoint);
      throw new Error(
        `The vIOMMU of ${ctx.vm} did not set up endpoint ${endpoint}: statuses ${
          statuses.join(", ")
        }`,
      );
    }
  };

  const service: GuestIommu = {
    mode: spec.mode,
    dma: (endpoint) => dmas.get(endpoint) ?? null,
    revoked: (endpoint) => revoked.has(endpoint),
    prepare: (endpoint, window, rings) => {
      if ((spec.mode === "strict" || spec.mode === "lazy") && !dmas.has(endpoint)) {
        const mapper = new IommuMapper({
          driver,
          mode: spec.mode,
          domain: endpoint + 1,
          endpoint,
          iovaBase: IOVA_BASE,
          iovaPages: IOVA_PAGES,
          lazyBatch: LAZY_BATCH,
        });
        const inFlight = () => driver.inFlight;
        dmas.set(endpoint, new GuestDma({ mapper, publish, collect, inFlight }));
      }
      return reach(endpoint, { window, rings }, true);
    },
    restore: async (endpoint) => {
      await revoking.get(endpoint); // the UNMAP first: then map again
      const w = revoked.get(endpoint);
      if (w === undefined) return false;
      // Static mode kept the endpoint attached (UNMAP); the others DETACHed it.
      await reach(endpoint, w, spec.mode !== "static");
      revoked.delete(endpoint);
      return true;
    },
  };
  ctx.iommu = service;

  return {
    pump: () => {
      const isr = readInterruptStatus(regs);
      if (isr !== 0) ackInterrupt(regs, isr);
      const n = collect() + readFaults();
      let sent = false;
      for (const d of dmas.values()) if (d.tick()) sent = true;
      return n > 0 || isr !== 0 || sent;
    },
    prepareSleep: () => {
      let pending = false;
      for (const d of dmas.values()) if (d.dueMs() === 0) pending = true;
      for (const q of init.value.queues) if (q.enableInterrupts()) pending = true;
      return pending;
    },
    nextTimerMs: () => {
      let t = Infinity;
      for (const d of dmas.values()) t = Math.min(t, d.dueMs());
      return t;
    },
    periodic: () => {},
    inspect: () => ({
      iommu: {
        mode: spec.mode,
        endpoints: spec.endpoints.length,
        faultReports: counters[IommuDriverCounter.faultReports],
        fault: driver.broken,
        reportSize: FAULT_REPORT_SIZE,
      },
    }),
    provide: (services) => {
      services.iommu = { revoke };
    },
  };
}

/** The iommu kind's guest slice (started first: NICs behind it use `ctx.iommu`). */
export const IOMMU_GUEST_KIND: GuestKind = {
  kind: "iommu",
  start: (ctx, devices) => {
    const spec = devices.find((d): d is IommuDeviceSpec => d.kind === "iommu");
    return spec ? start(ctx, spec) : Promise.resolve(IDLE);
  },
};
