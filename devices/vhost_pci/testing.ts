/**
 * A vhost-pci rig for the tests of this folder: VM `a`'s side as its driver and device worker
 * leave it at DRIVER_OK (a register file with the queue configuration and the negotiated
 * features, queue state records at power-on, the driver halves of receiveq and transmitq over
 * `a`'s memory), a vIOMMU whose domain maps only a window of `a`'s memory, canary pages outside
 * it, and VM `b`'s backend over its window.
 *
 * Memory map of `a` (1 MiB): receiveq areas at 0x1000, transmitq areas at 0x4000, buffers from
 * 0x10000; the window (mapped IOVA = GPA, read-write) is [0, 0x80000); the canary pages
 * [0x80000, 0x90000) hold `CANARY` bytes and are never mapped.
 *
 * @module
 */

import { DirectDma } from "../memory/dma.ts";
import { GuestMemory } from "../memory/memory.ts";
import { IommuDma } from "../iommu/dma.ts";
import { Iotlb } from "../iommu/iotlb.ts";
import { Viommu } from "../iommu/viommu.ts";
import { NET_COUNTER_COUNT } from "../net/metrics.ts";
import { NetQueue } from "../net/config.ts";
import { Feature } from "../virtio/constants.ts";
import { featureSet } from "../virtio/features.ts";
import { initRegFile, QueueWord, queueWord, RegFileWord, regFileWords } from "../virtio/mmio.ts";
import { createDriverQueue } from "../virtio/pair.ts";
import type { DriverQueue, Layout, QueueConfig } from "../virtio/queue.ts";
import { SharedRingAccess } from "../virtio/ring_access.ts";
import { createState, resetState } from "../virtio/state.ts";
import { VhostPciBackend } from "./backend.ts";
import { VHOST_PCI_COUNTER_COUNT } from "./config.ts";
import { PeerWindow } from "./window.ts";

/** End of the window (exclusive). */
export const WINDOW_END = 0x80000;
/** The canary pages: never mapped, never to be read or written by `b`. */
export const CANARY = { start: 0x80000, end: 0x90000, byte: 0xa5 } as const;
/** The domain of `a`'s NIC in the rig's vIOMMU. */
export const DOMAIN = 1;

/** The rig's pieces. */
export interface VhostPciRig {
  /** `a`'s memory. */
  mem: GuestMemory;
  /** `a`'s register file of the NIC. */
  regs: Int32Array;
  /** `a`'s driver halves. */
  rx: DriverQueue;
  /** `a`'s driver halves. */
  tx: DriverQueue;
  /** The vIOMMU (null: no IOMMU, the window is all of `a`'s memory). */
  viommu: Viommu | null;
  /** `b`'s window. */
  window: PeerWindow;
  /** `b`'s backend. */
  backend: VhostPciBackend;
  /** `b`'s link counters. */
  counters: Float64Array;
  /** `a`'s NIC counters (written by the backend's model). */
  netCounters: Float64Array;
  /** Interrupts the backend raised in `a`. */
  interrupts: { count: number };
  /** Hand the queues over as connection `conn` (as `a`'s device worker does at DRIVER_OK). */
  handOver(conn: number): void;
  /**
   * `a`'s driver resets its NIC: fresh rings (new `rx` and `tx`) and queue state records at
   * power-on, as before `a` hands its queues over again.
   */
  resetQueues(): void;
  /**
   * A new backend over the same memory, window and counters, as `b`'s rebooted guest builds
   * (`vm-crash b`); it replaces `backend`.
   */
  reboot(): VhostPciBackend;
}

/**
 * Build a rig.
 *
 * @example
 * ```ts
 * import { vhostPciRig } from "./testing.ts";
 * const r = vhostPciRig("split", { iommu: true });
 * r.handOver(1);
 * r.backend.poll(); // "connected"
 * ```
 */
export function vhostPciRig(
  layout: Layout,
  opts: { iommu: boolean; size?: number },
): VhostPciRig {
  const size = opts.size ?? 16;
  const mem = GuestMemory.create(1 << 20);
  mem.u8.fill(CANARY.byte, CANARY.start, CANARY.end);
  const ring = new SharedRingAccess(mem);
  const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
  initRegFile(regs, 2);
  const bits: number[] = [Feature.VERSION_1, Feature.EVENT_IDX];
  if (layout === "packed") bits.push(Feature.RING_PACKED);
  if (opts.iommu) bits.push(Feature.ACCESS_PLATFORM);
  const negotiated = featureSet(bits);
  regs[RegFileWord.DRIVER_FEATURES_LO] = Number(negotiated & 0xffff_ffffn) | 0;
  regs[RegFileWord.DRIVER_FEATURES_HI] = Number(negotiated >> 32n) | 0;
  regs[RegFileWord.STATUS] = 0x0f;
  const queue = (q: number, base: number): DriverQueue => {
    const config: QueueConfig = {
      layout,
      size,
      descAddr: base,
      driverAddr: base + 0x1000,
      deviceAddr: base + 0x2000,
      features: { eventIdx: true, indirect: false, inOrder: false },
    };
    const w = (f: number, v: number) => regs[queueWord(q, f as never)] = v;
    w(QueueWord.SIZE, size);
    w(QueueWord.DESC_LO, config.descAddr);
    w(QueueWord.DRIVER_LO, config.driverAddr);
    w(QueueWord.DEVICE_LO, config.deviceAddr);
    w(QueueWord.READY, 1);
    const d = createDriverQueue(mem, ring, config);
    if (!d.ok) throw new Error(`setup failed: ${d.error.kind}`);
    return d.value;
  };
  const rx = queue(NetQueue.RECEIVEQ, 0x1000);
  const tx = queue(NetQueue.TRANSMITQ, 0x4000);
  const queueState = [createState(layout, size), createState(layout, size)];
  let viommu: Viommu | null = null;
  let window: PeerWindow;
  if (opts.iommu) {
    viommu = Viommu.create({ mappings: 64, endpoints: 1, consumers: 1, faults: 16 });
    viommu.attach(DOMAIN, 0);
    const m = viommu.map(DOMAIN, { start: 0, end: WINDOW_END - 1, gpa: 0, perms: 3 });
    if (!m.ok) throw new Error(`map failed: ${m.error.kind}`);
    const slot = viommu.registerConsumer("b:eth0");
    window = new PeerWindow(new IommuDma(mem, new Iotlb(viommu.buffer, { slot, endpoint: 0 })));
  } else {
    window = new PeerWindow(new DirectDma(mem));
  }
  const counters = new Float64Array(VHOST_PCI_COUNTER_COUNT);
  const netCounters = new Float64Array(NET_COUNTER_COUNT);
  const interrupts = { count: 0 };
  const build = () =>
    new VhostPciBackend({
      memory: mem,
      regs,
      queueState,
      window,
      ring,
      netCounters,
      counters,
      mtu: 1500,
      queueMaxSize: size,
      interrupt: () => interrupts.count++,
      notifyFrontend: () => {},
    });
  const rig: VhostPciRig = {
    mem,
    regs,
    rx,
    tx,
    viommu,
    window,
    backend: build(),
    counters,
    netCounters,
    interrupts,
    handOver: (conn) => Atomics.store(regs, RegFileWord.VHOST_CONN, conn),
    resetQueues: () => {
      rig.rx = queue(NetQueue.RECEIVEQ, 0x1000);
      rig.tx = queue(NetQueue.TRANSMITQ, 0x4000);
      for (const st of queueState) resetState(st, layout, size);
    },
    reboot: () => rig.backend = build(),
  };
  return rig;
}
