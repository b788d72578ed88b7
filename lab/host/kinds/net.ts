/**
 * The virtio-net kind in the device worker (the analogue of a vhost thread). For each NIC it:
 *
 * - serves the register mailbox (the trapped MMIO accesses of the guest driver) on the NIC's
 *   virtio-mmio transport;
 * - once the driver set DRIVER_OK, moves frames: transmitq → (impairment stage) → the link ring
 *   towards the peer, and the link ring from the peer → receiveq, raising used-buffer
 *   interrupts as event suppression allows (the transport's `onInterrupt` rings the guest);
 * - copies delivered frames into the link direction's tap ring while a capture is on;
 * - flips the config-space link status on a `link` control message (a link going down also
 *   drops what the TX impairment stage holds, counted as `NIC_link_down_dropped`), changes a TX
 *   direction's impairment on `impair` (netem's `change`), and filters its TX path by the
 *   partitions in force (`partitions`: cut source/destination MAC pairs).
 *
 * A full link ring stops transmission (back-pressure): the frame stays in the transmitq and the
 * worker sleeps until the consumer frees a slot. A frame that finds no RX buffer waits in the
 * link ring (the ring is the NIC's backlog) until the guest refills.
 *
 * @module
 */

import { CSUM_PARTIAL, settleChecksum } from "../../../devices/net/checksum.ts";
import type { MmioDeviceTransport } from "../../../devices/virtio/mmio_device.ts";
import { notifyCount } from "../../../devices/virtio/mmio.ts";
import { NetQueue } from "../../../devices/net/config.ts";
import { type FrameSink, NetDevice } from "../../../devices/net/device.ts";
import { formatNetFault } from "../../../devices/net/errors.ts";
import { deviceControl } from "../../wire/control.ts";
import { ringDoorbell, ringSelf } from "../../wire/doorbell.ts";
import { serveMailbox } from "../../wire/mailbox.ts";
import type { NetDeviceSpec } from "../../wire/specs.ts";
import { LinkIn, LinkOut, nowUs } from "../link_ends.ts";
import { IommuDma } from "../../../devices/iommu/dma.ts";
import { Iotlb } from "../../../devices/iommu/iotlb.ts";
import { PartitionFilter } from "../../wire/partition.ts";
import { VhostPciFrontend } from "../../../devices/vhost_pci/frontend.ts";
import { openTransport } from "./transport.ts";
import type { HostContext, HostKind, HostKindInstance } from "./types.ts";

interface Nic {
  name: string;
  /** The NIC's view through the vIOMMU (ACCESS_PLATFORM offered), or null. */
  iommu: IommuDma | null;
  device: NetDevice;
  transport: MmioDeviceTransport;
  mailbox: Int32Array;
  out: LinkOut | null;
  in: LinkIn | null;
  faultReported: boolean;
  /** The NIC's queues are served by another VM (a vhost-pci link), or null. */
  frontend: VhostPciFrontend | null;
  /** The NIC's register file. */
  regs: Int32Array;
  /**
   * TX notifications were armed before the worker slept (nothing was pending): the transmitq is
   * looked at again only once the guest kicked it (`lastTxKicks` moved). The worker also wakes
   * for frames from its link, a peer's credit, a register access; polling the transmitq then
   * would recover a lost kick that a real device never sees, and the guest's transmit watchdog
   * would not fire.
   */
  txArmed: boolean;
  lastTxKicks: number;
  /** Set the NIC's link status, with a config interrupt if it changed (a vhost-pci peer's). */
  setLink: (up: boolean) => void;
}

function startNic(ctx: HostContext, spec: NetDeviceSpec, partition: PartitionFilter): Nic {
  const { bells } = ctx;
  const ctl = deviceControl(ctx.control, ctx.layout.devices[spec.index]);
  const device = new NetDevice({
    memory: ctx.mem,
    mac: Uint8Array.from(spec.mac),
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
    accessPlatform: spec.iommu !== null,
    // Off for a vhost-pci frontend (its peer completes no checksums): the plan says so.
    csum: spec.features.csum,
  });
  // Behind the vIOMMU: the view used once the driver accepts ACCESS_PLATFORM (the consumer
  // slot was registered by the iommu kind, started before this one).
  const iommu = spec.iommu !== null && ctx.iommu !== null
    ? new IommuDma(
      ctx.mem,
      new Iotlb(ctx.iommu, { slot: spec.iommu.consumer, endpoint: spec.iommu.endpoint }),
    )
    : null;
  // On a vhost-pci link another VM serves the queues: the model hands them over at DRIVER_OK.
  const vp = spec.vhostPci ?? null;
  const frontend = vp === null ? null : new VhostPciFrontend(device, {
    regs: ctl.regs,
    peerThread: vp.peerThread,
    ringPeer: () => ringDoorbell(bells, vp.peerThread),
  });
  const transport = openTransport(ctx, ctl, frontend ?? device, spec.name, {
    platformDma: iommu ?? undefined,
  });
  // A restored transport hands over what the previous worker had popped and not completed.
  const inFlight = transport.restoredInFlight;
  if (inFlight.length > 0) {
    device.adoptInFlight(inFlight[NetQueue.RECEIVEQ] ?? [], inFlight[NetQueue.TRANSMITQ] ?? []);
  }
  const tx = ctx.rings.get(spec.txRing);
  const rx = ctx.rings.get(spec.rxRing);
  return {
    name: spec.name,
    iommu,
    device,
    transport,
    mailbox: ctl.mailbox,
    // An Ethernet link: after a live change, new frames pass the ones held before it (netem).
    out: tx
      ? new LinkOut(tx, bells, "backpressure", partition, settleChecksum, true, ctx.gate)
      : null,
    in: rx ? new LinkIn(rx, bells, ctx.gate) : null,
    faultReported: false,
    txArmed: false,
    lastTxKicks: 0,
    frontend,
    regs: ctl.regs,
    setLink: (up) => {
      if (device.setLinkUp(up)) transport.signalConfigChange();
    },
  };
}

function start(ctx: HostContext, specs: NetDeviceSpec[]): HostKindInstance {
  const { bells, guestThread, post } = ctx;
  const partition = new PartitionFilter();
  const nics = specs.map((spec) => startNic(ctx, spec, partition));
  const bySlot = new Map(specs.map((spec, i) => [spec.index, nics[i]]));
  /**
   * `vlab fault backend-crash --mode mid-pass --after N`: descriptors still to move before the
   * worker throws out of its pass (0: not armed), after a frame went into a link ring or a
   * receiveq and before the pass publishes the used ring or the link ring.
   */
  let crashAfter = 0;
  const countDescriptor = () => {
    if (crashAfter > 0 && --crashAfter === 0) {
      throw new Error("backend crash injected (mid-pass)");
    }
  };
  const crashingSink = (out: LinkOut): FrameSink => ({
    held: () => out.held(),
    reserve: (maxLen) => out.reserve(maxLen),
    commit: (len, meta) => {
      out.commit(len, meta);
      countDescriptor();
    },
  });
  return {
    pump: () => {
      let work = false;
      for (const nic of nics) {
        // The consumer's half of the invalidation handshake, every pass (live or not): drop the
        // IOTLB, acknowledge, and translate the rings again before touching them. A vhost-pci
        // frontend only acknowledges: its rings are the peer's to touch, and the peer checks
        // them through its own window (its refusal is the one a's guest must hear of; a
        // second one here, for an access nobody made, was counted on a's NIC and reported).
        if (
          nic.iommu !== null && nic.iommu.beginBatch() && nic.frontend === null &&
          !nic.transport.recheckQueues()
        ) {
          post({
            type: "event",
            kind: "device-error",
            detail: { nic: nic.name, error: "A ring area of the NIC was unmapped while in use" },
          });
        }
        if (serveMailbox(nic.mailbox, nic.transport) > 0) {
          work = true;
          ringDoorbell(bells, guestThread);
        }
        const { device, transport } = nic;
        if (nic.frontend !== null) {
          // vhost-pci: no data path here; the link is up while the peer serves the connection,
          // and goes down and up when the peer stopped and served again since the last pass.
          nic.frontend.followPeer(nic.setLink);
          if (nic.frontend.takePeerFailure() !== 0) {
            // The peer hit a device error on this connection: the guest resets, hands over anew.
            transport.markNeedsReset({ kind: "vhost-pci-peer-failed" });
            post({
              type: "event",
              kind: "device-error",
              detail: { nic: nic.name, error: "The vhost-pci peer stopped serving the NIC" },
            });
          }
          continue;
        }
        // A reset (Status 0, served above) cleared the fault: report the next one too.
        if (device.fault === null) nic.faultReported = false;
        if (transport.isLive() && device.fault === null) {
          if (nic.txArmed && notifyCount(nic.regs, NetQueue.TRANSMITQ) !== nic.lastTxKicks) {
            nic.txArmed = false;
          }
          if (nic.out && !nic.txArmed) {
            const tx = device.transmit(crashAfter > 0 ? crashingSink(nic.out) : nic.out, 256);
            if (tx.sent + tx.dropped > 0) work = true;
          }
          if (nic.in) {
            const link = nic.in;
            let frame: Uint8Array | null;
            let n = 0;
            // One atomic load a batch, not one a frame: a capture turned on starts with the next.
            const capturing = link.tap.enabled();
            while (n < 256 && (frame = link.ring.peek()) !== null) {
              const meta = link.ring.peekedMeta();
              const r = device.receive(frame, meta);
              if (r === "no-buffers") break;
              if (r === "delivered" && (meta & CSUM_PARTIAL) !== 0 && device.completesChecksums) {
                // Its checksum was completed in the slot: a successor reading it again after a
                // crash in this pass must not complete it twice (a bad checksum, a lost frame).
                link.ring.settlePeekedMeta();
              }
              if (r === "delivered" && capturing) {
                // Staged: published with the pass (`link.finish`), not before a crash in it.
                link.tap.stage(frame, { tsUs: nowUs(), direction: 0 });
              }
              if (r === "delivered") countDescriptor();
              link.ring.release();
              n++;
            }
            if (n > 0) {
              link.finish();
              work = true;
            }
          }
          const irq = device.finish();
          // One signal per queue that is due: a lost-irq fault of that queue drops only its own.
          if (irq.interruptRx) transport.signalUsed(NetQueue.RECEIVEQ);
          if (irq.interruptTx) transport.signalUsed(NetQueue.TRANSMITQ);
          if (device.fault !== null && !nic.faultReported) {
            nic.faultReported = true;
            transport.markNeedsReset(device.fault);
            post({
              type: "event",
              kind: "device-error",
              detail: { nic: nic.name, error: formatNetFault(device.fault) },
            });
          }
        } else {
          nic.txArmed = false; // a reset, or a driver not live yet: start afresh
          if (nic.in) {
            // No driver yet (or a broken device): frames from the link have nowhere to go, and
            // each is a drop with its cause, as a NIC that is down drops what reaches it.
            let n = 0;
            while (n < 256 && nic.in.ring.peek() !== null) {
              nic.in.ring.release();
              n++;
            }
            if (n > 0) {
              device.dropNotLive(n);
              nic.in.finish();
            }
          }
        }
        nic.out?.flush();
      }
      return work;
    },
    prepareSleep: () => {
      let pending = false;
      for (const nic of nics) {
        nic.iommu?.endBatch(); // the IOTLB's hits reach its counter before the worker sleeps
        if (nic.frontend !== null) continue; // the peer arms a's notifications
        const rxq = nic.transport.queues[NetQueue.RECEIVEQ];
        const txq = nic.transport.queues[NetQueue.TRANSMITQ];
        if (nic.out?.blocked) {
          // The link is full: sleep until its consumer frees a slot, not until the guest kicks.
          nic.txArmed = false;
          if (!nic.out.prepareSleep()) pending = true;
        } else if (txq && !nic.txArmed) {
          // (Armed and not kicked since: notifications are still on, and a re-check now would
          // find a buffer whose kick was lost.) The kick count first: a kick after this read
          // moves it, whatever the re-check saw.
          const kicks = notifyCount(nic.regs, NetQueue.TRANSMITQ);
          if (txq.enableNotifications()) {
            pending = true;
            nic.txArmed = false;
          } else if (nic.transport.isLive() && nic.device.fault === null) {
            nic.txArmed = true;
            nic.lastTxKicks = kicks;
          }
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
    periodic: (stats) => {
      for (const nic of nics) {
        if (nic.out?.stage) stats.setAll(`${nic.name}_impair_`, nic.out.stage.counters);
        if (nic.out?.partitionDropped) {
          stats.set(`${nic.name}_partition_dropped`, nic.out.partitionDropped);
        }
        if (nic.out?.linkDownDropped) {
          stats.set(`${nic.name}_link_down_dropped`, nic.out.linkDownDropped);
        }
      }
    },
    control: (m) => {
      if (m.type === "link") {
        const nic = bySlot.get(m.device);
        // Down: what the TX impairment stage holds is dropped (counted as link down), as Linux
        // purges a device's qdisc when it goes down; nothing sent before the down leaves after.
        nic?.out?.setLinkUp(m.up);
        // The config interrupt (after DRIVER_OK) rings the guest through onInterrupt.
        if (nic && nic.device.setLinkUp(m.up)) nic.transport.signalConfigChange();
      } else if (m.type === "impair") {
        const nic = nics.find((n) => n.out?.ringIndex === m.ring);
        if (!nic) return;
        nic.out!.setImpairment(m.impair);
        ringSelf(bells, ctx.thread); // re-plan the next wake-up
      } else if (m.type === "partitions") {
        partition.set(m.cuts);
      } else if (m.type === "crash" && m.mode === "mid-pass") {
        crashAfter = Math.max(1, m.after ?? 1);
        ringSelf(bells, ctx.thread);
      }
    },
  };
}

/** The net kind's host slice. */
export const NET_HOST_KIND: HostKind = {
  kind: "net",
  start: (ctx, devices) => start(ctx, devices.filter((d): d is NetDeviceSpec => d.kind === "net")),
};
