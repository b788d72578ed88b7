/**
 * Test rigs for virtio-vsock (tests only): one VM's side (guest memory, the three queue pairs,
 * the device, the driver and the socket table over real rings), a raw TX injector for
 * malformed packets, and a two-VM lab wired through an in-memory router.
 *
 * @module
 */

import { PageAllocator } from "../memory/allocator.ts";
import { GuestMemory } from "../memory/memory.ts";
import { Feature } from "../virtio/constants.ts";
import { featureSet } from "../virtio/features.ts";
import { createQueuePair, type QueuePair } from "../virtio/pair.ts";
import type { Layout } from "../virtio/queue.ts";
import { VsockDevice } from "./device.ts";
import { VsockDriver } from "./driver.ts";
import { copyHeader, emptyHeader, type VsockHeader } from "./header.ts";
import { VSOCK_COUNTER_COUNT, VSOCK_DRIVER_COUNTER_COUNT } from "./metrics.ts";
import { VsockSockets } from "./sockets.ts";

/** A packet captured by a test backend. */
export interface Captured {
  /** Header copy. */
  h: VsockHeader;
  /** Payload copy. */
  payload: Uint8Array;
}

/** One VM's vsock side over real rings. */
export interface VsockRig {
  /** Guest memory. */
  mem: GuestMemory;
  /** rx, tx, event queue pairs. */
  rx: QueuePair;
  /** tx pair. */
  tx: QueuePair;
  /** event pair. */
  ev: QueuePair;
  /** The device. */
  device: VsockDevice;
  /** The guest driver. */
  driver: VsockDriver;
  /** The guest socket table. */
  sockets: VsockSockets;
  /** Device counters. */
  dc: Float64Array;
  /** Driver counters. */
  gc: Float64Array;
  /** Packets the device handed to the backend (when `backend` was not given). */
  sent: Captured[];
  /** The test clock (ms) the socket table reads. */
  clock: { now: number };
  /** Events the driver saw. */
  events: number[];
  /**
   * New queue pairs at the rings' addresses (their memory zeroed), as a guest's reset of the
   * device makes them: the rig's `rx`, `tx` and `ev` become them; the driver and the device are
   * left to the test (`VsockDriver.reattach`, `VsockDevice.activate`).
   */
  renewQueues: () => void;
}

/** Options of `vsockRig`. */
export interface RigOptions {
  /** Ring layout. */
  layout: Layout;
  /** Guest CID. */
  cid: number;
  /** Queue size (default 64). */
  queueSize?: number;
  /** Where the device sends; default: capture into `sent`, always room. */
  backend?: { send(h: Readonly<VsockHeader>, payload: Uint8Array): boolean; held?(): boolean };
  /** Socket buffer per connection. */
  bufAlloc?: number;
  /** Device connection bound. */
  maxConnections?: number;
  /** Device pending bound. */
  maxPendingRx?: number;
  /** RX buffer size. */
  rxBufferSize?: number;
  /** TX buffer size. */
  txBufferSize?: number;
  /** TX buffer count. */
  txBuffers?: number;
}

/** Scratch area for raw packets (below the allocator's range). */
export const RAW_GPA = 0xb000;

/**
 * Build one VM side, activated and with RX and event buffers posted.
 *
 * @example
 * ```ts
 * import { vsockRig } from "./testing.ts";
 * const r = vsockRig({ layout: "split", cid: 3 });
 * r.device.readConfig(0, 4); // 3
 * ```
 */
export function vsockRig(o: RigOptions): VsockRig {
  const size = o.queueSize ?? 64;
  const mem = GuestMemory.create(16 << 20);
  const q = (base: number) => {
    const r = createQueuePair(mem, {
      layout: o.layout,
      size,
      descAddr: base,
      driverAddr: base + 0x1000,
      deviceAddr: base + 0x2000,
      features: { eventIdx: true, indirect: false, inOrder: false },
    });
    if (!r.ok) throw new Error(`setup failed: ${r.error.kind}`);
    return r.value;
  };
  const bases = [0x1000, 0x4000, 0x7000];
  const [rx, tx, ev] = bases.map(q);
  const dc = new Float64Array(VSOCK_COUNTER_COUNT);
  const gc = new Float64Array(VSOCK_DRIVER_COUNTER_COUNT);
  const sent: Captured[] = [];
  const backend = o.backend ?? {
    send(h: Readonly<VsockHeader>, payload: Uint8Array) {
      sent.push({ h: copyHeader(h, emptyHeader()), payload: payload.slice() });
      return true;
    },
  };
  const device = new VsockDevice({
    memory: mem,
    guestCid: o.cid,
    queueMaxSize: size,
    ring: { packed: o.layout === "packed", eventIdx: true, indirect: false, inOrder: false },
    counters: dc,
    backend,
    maxConnections: o.maxConnections,
    maxPendingRx: o.maxPendingRx,
  });
  const bits: number[] = [Feature.VERSION_1, Feature.EVENT_IDX];
  if (o.layout === "packed") bits.push(Feature.RING_PACKED);
  const act = device.activate({
    negotiated: featureSet(bits),
    queues: [rx.device, tx.device, ev.device],
  });
  if (!act.ok) throw new Error("activate failed");
  const driver = new VsockDriver({
    mem,
    alloc: new PageAllocator(0x10000, (16 << 20) - 0x10000),
    rx: rx.driver,
    tx: tx.driver,
    event: ev.driver,
    counters: gc,
    rxBufferSize: o.rxBufferSize,
    txBufferSize: o.txBufferSize,
    txBuffers: o.txBuffers,
  });
  const clock = { now: 0 };
  const sockets = new VsockSockets({
    cid: o.cid,
    sink: driver,
    now: () => clock.now,
    bufAlloc: o.bufAlloc,
    maxPayload: driver.maxPayload,
    counters: gc,
  });
  driver.fillRx();
  driver.fillEvents();
  driver.flush();
  device.pump();
  device.finish();
  const rig: VsockRig = {
    mem,
    rx,
    tx,
    ev,
    device,
    driver,
    sockets,
    dc,
    gc,
    sent,
    clock,
    events: [],
    renewQueues: () => {
      for (const base of bases) mem.u8.fill(0, base, base + 0x3000);
      [rig.rx, rig.tx, rig.ev] = bases.map(q);
    },
  };
  return rig;
}

/** One guest-worker pass: events, receive, refill, send, kick (events first, as the lab's). */
export function guestStep(r: VsockRig): void {
  r.driver.pollEvents((id) => {
    r.events.push(id);
    if (id === 0) r.sockets.transportReset();
  });
  r.driver.receive((h, p) => r.sockets.handle(h, p), 1024);
  r.driver.fillRx();
  r.driver.reclaimTx();
  r.sockets.tick();
  r.sockets.flush();
  r.driver.flush();
}

/** One device-worker pass: transmit, pump, publish. */
export function deviceStep(r: VsockRig): void {
  r.device.transmit(1024);
  r.device.pump();
  r.device.finish();
}

/** Post one raw TX chain of `bytes` (header + payload as the test wrote them) and run the device. */
export function rawTx(r: VsockRig, bytes: Uint8Array): void {
  r.mem.u8.set(bytes, RAW_GPA);
  const a = r.tx.driver.add({ readable: [[RAW_GPA, bytes.length]], writable: [] }, 0xffff & 63);
  if (!a.ok) throw new Error(`raw add failed: ${a.error.kind}`);
  r.tx.driver.publish();
  deviceStep(r);
  // Reclaim the raw chain so the driver's own tokens stay consistent.
  for (let i = 0; i < 64; i++) {
    const u = r.tx.driver.getUsed();
    if (!u.ok || u.value === null) break;
  }
}

/** Packets the guest received (header copies and payloads), through the driver. */
export function received(r: VsockRig): Captured[] {
  const out: Captured[] = [];
  r.driver.receive(
    (h, p) => out.push({ h: copyHeader(h, emptyHeader()), payload: p.slice() }),
    1024,
  );
  r.driver.fillRx();
  r.driver.flush();
  return out;
}

/** Two VMs joined by a bounded in-memory router (the lab's vsock router, in miniature). */
export interface VsockPairLab {
  /** VM a. */
  a: VsockRig;
  /** VM b. */
  b: VsockRig;
  /** Run guest and device passes and route until `done` or `maxRounds`; rounds used. */
  run(done: () => boolean, maxRounds: number): number;
}

/**
 * Build two rigs (CIDs 3 and 4) whose backends feed a router queue of at most `routerSlots`
 * packets each way; a packet for an unknown CID is answered with RST.
 *
 * @example
 * ```ts
 * import { vsockPair } from "./testing.ts";
 * const lab = vsockPair("split");
 * lab.a.sockets.listen(5, () => {});
 * ```
 */
export function vsockPair(
  layout: Layout,
  o: { bufAlloc?: number; routerSlots?: number } = {},
): VsockPairLab {
  const slots = o.routerSlots ?? 64;
  const queues = new Map<number, Captured[]>([[3, []], [4, []]]);
  const backendFor = (self: number) => ({
    send(h: Readonly<VsockHeader>, payload: Uint8Array): boolean {
      const q = queues.get(h.dstCid);
      if (q === undefined) {
        // No path: answer with RST (never an RST for an RST), as the lab's router will.
        if (h.op !== 3) {
          queues.get(self)!.push({
            h: {
              ...copyHeader(h, emptyHeader()),
              srcCid: h.dstCid,
              dstCid: h.srcCid,
              srcPort: h.dstPort,
              dstPort: h.srcPort,
              op: 3,
              len: 0,
              flags: 0,
              bufAlloc: 0,
              fwdCnt: 0,
            },
            payload: new Uint8Array(0),
          });
        }
        return true;
      }
      if (q.length >= slots) return false;
      q.push({ h: copyHeader(h, emptyHeader()), payload: payload.slice() });
      return true;
    },
  });
  const a = vsockRig({ layout, cid: 3, backend: backendFor(3), bufAlloc: o.bufAlloc });
  const b = vsockRig({ layout, cid: 4, backend: backendFor(4), bufAlloc: o.bufAlloc });
  const rigs = new Map<number, VsockRig>([[3, a], [4, b]]);
  const route = () => {
    for (const [cid, q] of queues) {
      const dev = rigs.get(cid)!.device;
      let i = 0;
      for (; i < q.length; i++) {
        if (dev.deliver(q[i].h, q[i].h.len === 0 ? null : q[i].payload) === "busy") break;
      }
      q.splice(0, i);
    }
  };
  return {
    a,
    b,
    run(done, maxRounds) {
      for (let i = 0; i < maxRounds; i++) {
        if (done()) return i;
        for (const r of [a, b]) guestStep(r);
        for (const r of [a, b]) deviceStep(r);
        route();
        for (const r of [a, b]) deviceStep(r);
      }
      return maxRounds;
    },
  };
}
