/**
 * The device worker: the host side of one VM, where its virtio-net device models run (the
 * analogue of a vhost thread). For each NIC it:
 *
 * - serves the register mailbox (the trapped MMIO accesses of the guest driver) on the NIC's
 *   virtio-mmio transport;
 * - once the driver set DRIVER_OK, moves frames: transmitq → (impairment stage) → the link ring
 *   towards the peer, and the link ring from the peer → receiveq, raising used-buffer
 *   interrupts as event suppression allows;
 * - copies delivered frames into the link direction's tap ring while a capture is on;
 * - applies control messages: link up/down, a live impairment of its TX direction (`impair`),
 *   and the partitions its TX path filters on (`partitions`).
 *
 * A full link ring stops transmission (back-pressure): the frame stays in the transmitq and the
 * worker sleeps until the consumer frees a slot. A frame that finds no RX buffer waits in the
 * link ring (the ring is the NIC's backlog) until the guest refills.
 *
 * @module
 */

import { DirectDma, GuestMemory } from "../../devices/memory/mod.ts";
import { SharedRingAccess } from "../../devices/virtio/ring_access.ts";
import { resetState } from "../../devices/virtio/state.ts";
import { MmioDeviceTransport } from "../../devices/virtio/mmio_device.ts";
import { NetDevice } from "../../devices/net/device.ts";
import { formatNetFault } from "../../devices/net/errors.ts";
import { controlLayout, nicControl, threadStats } from "../wire/control.ts";
import { ringDoorbell, setThreadState, ThreadState } from "../wire/doorbell.ts";
import { runLoop } from "../wire/loop.ts";
import { serveMailbox } from "../wire/mailbox.ts";
import type { VmStart } from "../wire/messages.ts";
import { onControl, post, runWorker } from "../wire/worker_scope.ts";
import { StatsWriter } from "../wire/stats.ts";
import { LinkIn, LinkOut, nowUs } from "./link_ends.ts";
import { PartitionFilter } from "./partition.ts";

interface Nic {
  name: string;
  device: NetDevice;
  transport: MmioDeviceTransport;
  mailbox: Int32Array;
  out: LinkOut | null;
  in: LinkIn | null;
  faultReported: boolean;
}

async function start(msg: VmStart): Promise<void> {
  const mem = GuestMemory.fromBuffer(msg.memory);
  const bells = new Int32Array(msg.doorbells);
  const layout = controlLayout(msg.nics);
  const dma = new DirectDma(mem);
  const ringAccess = new SharedRingAccess(mem);
  const ringByIndex = new Map(msg.rings.map((r) => [r.index, r]));
  const partition = new PartitionFilter();
  const nics: Nic[] = msg.nics.map((spec) => {
    const ctl = nicControl(msg.control, layout, spec.index);
    const device = new NetDevice({
      memory: mem,
      mac: Uint8Array.from(spec.mac.split(":").map((h) => parseInt(h, 16))),
      mtu: spec.mtu,
      queueMaxSize: spec.queueSize,
      linkUp: spec.txRing >= 0,
      ring: {
        packed: spec.layout === "packed",
        eventIdx: spec.features.eventIdx,
        indirect: spec.features.indirect,
        inOrder: spec.features.inOrder,
      },
      mrgRxbuf: spec.features.mrgRxbuf,
      counters: ctl.deviceCounters,
    });
    const transport = new MmioDeviceTransport({
      model: device,
      dma,
      ring: ringAccess,
      regs: ctl.regs,
      queueState: (q, qLayout, size) => {
        const st = ctl.queueState[q];
        resetState(st, qLayout, size);
        return st;
      },
    });
    const tx = ringByIndex.get(spec.txRing);
    const rx = ringByIndex.get(spec.rxRing);
    return {
      name: spec.name,
      device,
      transport,
      mailbox: ctl.mailbox,
      out: tx ? new LinkOut(tx, bells, "backpressure", partition) : null,
      in: rx ? new LinkIn(rx, bells) : null,
      faultReported: false,
    };
  });
  const stats = new StatsWriter(
    threadStats(msg.control, layout, "device"),
    (names) => post({ type: "stats-names", names }),
  );

  const pump = (): boolean => {
    let work = false;
    for (const nic of nics) {
      if (serveMailbox(nic.mailbox, nic.transport)) {
        work = true;
        ringDoorbell(bells, msg.guestThread);
      }
      const { device, transport } = nic;
      if (transport.isLive() && device.fault === null) {
        if (nic.out) {
          const tx = device.transmit(nic.out, 256);
          if (tx.sent + tx.dropped > 0) work = true;
        }
        if (nic.in) {
          const link = nic.in;
          let frame: Uint8Array | null;
          let n = 0;
          while (n < 256 && (frame = link.ring.peek()) !== null) {
            const r = device.receive(frame);
            if (r === "no-buffers") break;
            if (r === "delivered" && link.tap.enabled()) {
              link.tap.capture(frame, { tsUs: nowUs(), direction: 0 });
            }
            link.ring.release();
            n++;
          }
          if (n > 0) {
            link.finish();
            work = true;
          }
        }
        const irq = device.finish();
        if (irq.interruptRx || irq.interruptTx) {
          transport.signalUsed();
          ringDoorbell(bells, msg.guestThread);
        }
        if (device.fault !== null && !nic.faultReported) {
          nic.faultReported = true;
          transport.markNeedsReset(device.fault);
          ringDoorbell(bells, msg.guestThread);
          post({
            type: "event",
            kind: "device-error",
            detail: { nic: nic.name, error: formatNetFault(device.fault) },
          });
        }
      } else if (nic.in) {
        // No driver yet (or a broken device): frames from the link have nowhere to go.
        let n = 0;
        while (n < 256 && nic.in.ring.peek() !== null) {
          nic.in.ring.release();
          n++;
        }
        if (n > 0) nic.in.finish();
      }
      nic.out?.flush();
    }
    return work;
  };

  onControl((m) => {
    if (m.type === "link") {
      const nic = nics[m.nic];
      if (nic && nic.device.setLinkUp(m.up)) {
        nic.transport.signalConfigChange();
        ringDoorbell(bells, msg.guestThread);
      }
    } else if (m.type === "impair") {
      nics.find((n) => n.out?.ringIndex === m.ring)?.out?.setImpairment(m.impair);
      ringDoorbell(bells, msg.thread); // re-plan the next wake-up
    } else if (m.type === "partitions") {
      partition.set(m.cuts);
    }
  });

  // Running before "ready": the supervisor reads the state word as soon as it hears.
  setThreadState(bells, msg.thread, ThreadState.RUNNING);
  post({ type: "ready" });
  await runLoop({ bells, thread: msg.thread, pollUs: msg.pollUs }, {
    pump,
    prepareSleep: () => {
      let pending = false;
      for (const nic of nics) {
        const [rxq, txq] = nic.transport.queues;
        if (nic.out?.blocked) {
          // The link is full: sleep until its consumer frees a slot, not until the guest kicks.
          if (!nic.out.prepareSleep()) pending = true;
        } else if (txq && txq.enableNotifications()) {
          pending = true;
        }
        if (!nic.in) continue;
        const empty = nic.in.prepareSleep();
        if (empty) {
          rxq?.disableNotifications();
        } else if (!rxq || nic.device.fault !== null) {
          pending = true; // frames to discard
        } else if (rxq.enableNotifications()) {
          pending = true; // frames wait and the guest has just added RX buffers
        } // else: frames wait for RX buffers; the guest's RX kick wakes us
      }
      return pending;
    },
    nextTimerMs: () => {
      let t = Infinity;
      for (const nic of nics) if (nic.out) t = Math.min(t, nic.out.nextDueMs());
      return t;
    },
    periodic: () => {
      for (const nic of nics) {
        if (nic.out?.stage) stats.setAll(`${nic.name}_impair_`, nic.out.stage.counters);
        if (nic.out?.partitionDropped) {
          stats.set(`${nic.name}_partition_dropped`, nic.out.partitionDropped);
        }
      }
      stats.flush();
    },
  });
}

runWorker<VmStart>(start);
