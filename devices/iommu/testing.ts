/**
 * A virtio-iommu device and its driver over real rings in one process, plus a consumer (a
 * device's `IommuDma`), for tests of this folder.
 *
 * @module
 */

import { PageAllocator } from "../memory/allocator.ts";
import { GuestMemory } from "../memory/memory.ts";
import { createQueuePair, type QueuePair } from "../virtio/pair.ts";
import type { Layout } from "../virtio/queue.ts";
import { parseIommuConfig } from "./config.ts";
import { IommuDevice, type IommuDeviceOptions } from "./device.ts";
import { IommuDma } from "./dma.ts";
import { IommuDriver } from "./driver.ts";
import { Iotlb } from "./iotlb.ts";
import { Viommu } from "./viommu.ts";

/** The pieces of an in-process virtio-iommu rig. */
export interface IommuRig {
  /** Guest memory (1 MiB). */
  mem: GuestMemory;
  /** The vIOMMU. */
  viommu: Viommu;
  /** requestq (both halves). */
  requestq: QueuePair;
  /** eventq (both halves). */
  eventq: QueuePair;
  /** The device model. */
  device: IommuDevice;
  /** The guest driver. */
  driver: IommuDriver;
  /** A consumer translating for endpoint 0 (slot named "nic0"). */
  dma: IommuDma;
  /** A fake clock in ms for `service`. */
  clock: { now: number };
}

/**
 * Build a rig: queues of `size` at 0x1000 (requestq) and 0x4000 (eventq), buffers from 0x10000.
 *
 * @example
 * ```ts
 * import { iommuRig } from "./testing.ts";
 * const r = iommuRig("split");
 * r.driver.attach(1, 0);
 * r.driver.publish();
 * r.device.service(r.clock.now);
 * r.driver.collect(); // [{ token: 0, type: 1, status: 0 }]
 * ```
 */
export function iommuRig(
  layout: Layout,
  opts: { size?: number; negotiated?: bigint } & Partial<IommuDeviceOptions> = {},
): IommuRig {
  const size = opts.size ?? 8;
  const mem = GuestMemory.create(1 << 20);
  const q = (base: number) => {
    const r = createQueuePair(mem, {
      layout,
      size,
      descAddr: base,
      driverAddr: base + 0x1000,
      deviceAddr: base + 0x2000,
      features: { eventIdx: true, indirect: false, inOrder: false },
    });
    if (!r.ok) throw new Error(`setup failed: ${r.error.kind}`);
    return r.value;
  };
  const requestq = q(0x1000);
  const eventq = q(0x4000);
  const viommu = opts.viommu ??
    Viommu.create({ mappings: 64, endpoints: 4, consumers: 3, faults: 8 });
  const device = new IommuDevice({
    queueMaxSize: 256,
    ring: { packed: layout === "packed", eventIdx: true, indirect: false },
    ...opts,
    viommu,
    memory: mem,
  });
  const a = device.activate({
    negotiated: opts.negotiated ?? device.offered,
    queues: [requestq.device, eventq.device],
  });
  if (!a.ok) throw new Error(`activate failed: ${a.error.kind}`);
  const config = new Uint8Array(device.configSize);
  for (let i = 0; i < config.length; i++) config[i] = device.readConfig(i, 1);
  const driver = new IommuDriver({
    mem,
    alloc: new PageAllocator(0x10000, (1 << 20) - 0x10000),
    requestq: requestq.driver,
    eventq: eventq.driver,
    config: parseIommuConfig(config),
  });
  const dma = new IommuDma(
    mem,
    new Iotlb(viommu.buffer, { slot: viommu.registerConsumer("nic0"), endpoint: 0 }),
  );
  return { mem, viommu, requestq, eventq, device, driver, dma, clock: { now: 0 } };
}
