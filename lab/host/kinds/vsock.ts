/**
 * The virtio-vsock kind in the device worker: the VM's vsock device model (`devices/vsock/`)
 * behind its virtio-mmio transport, with a backend that carries packets over the VM's vsock
 * link: each packet (44-byte header and payload) goes into one slot of the link ring towards
 * the peer VM's device worker, the same shared-memory rings as frames, with back-pressure (a
 * full ring keeps the packet in the device, which stops its TX queue). Packets from the peer are
 * delivered to the guest; a packet to a CID the VM has no path to is answered with RST. A
 * partition (`partitions` control message, `vsockCuts`) that cuts this VM's CID from a peer's
 * resets the guest's connections with that peer, answers its packets to that peer with RST (a
 * connect is refused) and discards what arrives from that peer, until the partition is healed.
 * Runs on the device worker's thread.
 *
 * @module
 */

import {
  decodeHeader,
  emptyHeader,
  encodeHeader,
  isPeerResetNotice,
  peerResetNotice,
  rstFor,
  VSOCK_COUNTER_COUNT,
  VSOCK_HDR_SIZE,
  type VsockBackend,
  VsockCid,
  VsockCounter,
  VsockDevice,
  type VsockDeviceFault,
  type VsockHeader,
  VsockOp,
  VsockQueue,
  writeConnTable,
} from "../../../devices/vsock/mod.ts";
import { deviceControl } from "../../wire/control.ts";
import { ringDoorbell, ringSelf } from "../../wire/doorbell.ts";
import { serveMailbox } from "../../wire/mailbox.ts";
import type { VsockDeviceSpec } from "../../wire/specs.ts";
import { LinkIn, LinkOut, nowUs } from "../link_ends.ts";
import { VsockmonRecorder } from "../vsockmon.ts";
import { openTransport } from "./transport.ts";
import type { HostContext, HostKind, HostKindInstance } from "./types.ts";
import { HostVsock } from "./vsock_host.ts";
import { linkPieceMax, sendPieces } from "./vsock_link.ts";

/** RSTs for unroutable packets waiting for the guest; beyond this they are counted and dropped. */
const MAX_PENDING_RST = 256;

/** An RST's payload: none. */
const NO_PAYLOAD = new Uint8Array(0);

const faultOf = (d: VsockDevice): VsockDeviceFault | null => d.fault;

const IDLE: HostKindInstance = {
  pump: () => false,
  prepareSleep: () => false,
  nextTimerMs: () => Infinity,
  periodic: () => {},
  control: () => {},
};

function start(ctx: HostContext, spec: VsockDeviceSpec): HostKindInstance {
  const { bells, guestThread, post } = ctx;
  const ctl = deviceControl(ctx.control, ctx.layout.devices[spec.index]);
  const txRing = ctx.rings.get(spec.txRing);
  const rxRing = ctx.rings.get(spec.rxRing);
  // No control gate on `out` itself (`LinkOut.held`, which only a NIC asks), and none on the
  // host's side, by design (`control_gate.ts`): the gate keeps a packet revealed after a control
  // message was posted from going under the state that message replaces, and here every such
  // packet is gated where it is revealed: the guest's TX chains by `backend.held` (below), the
  // link's packets by `inn`'s gate. What this worker writes on its own is no such packet: an RST
  // answers a packet judged when it was taken (or the worker's own restart or transport reset, no
  // gated message), the peer-reset notice was due at the worker's start, and what the impairment
  // stage holds may go either way (docs/design.md). The host (CID 2, `vsock.sock`) is under no
  // link state, impairment or partition, so its data to the guest has no old state to go under.
  const out = txRing ? new LinkOut(txRing, bells, "backpressure") : null;
  const inn = rxRing ? new LinkIn(rxRing, bells, ctx.gate) : null;
  const rsts: VsockHeader[] = [];
  const pieceMax = out === null ? 0 : linkPieceMax(out.ring.slotBytes);
  const piece = emptyHeader();
  /**
   * The vsock link is up (`link` control message); while down, every packet gets RST, and
   * going down resets the guest's connections over it.
   */
  let linkUp = true;
  /** The peer CIDs a partition cuts from this VM's CID (`vsockCuts`), empty when none. */
  let cutPeers = new Set<number>();
  let rstDropped = 0;
  const answer = (h: Readonly<VsockHeader>) => {
    if (h.op === VsockOp.RST) return; // never an RST for an RST
    if (rsts.length < MAX_PENDING_RST) rsts.push(rstFor(h));
    else rstDropped++;
  };
  /** The host (CID 2) behind the VM's `vsock.sock`, when the lab has a state folder. */
  let host: HostVsock | null = null;
  /**
   * A packet from the link that the device cannot take (no driver yet, as while the VM reboots,
   * or a broken device) is answered with RST to its sender, as a link down answers it: a connect
   * is refused at once instead of waiting out its 2 s timeout (whose hint blamed a link delay).
   */
  const refuse = (p: Readonly<VsockHeader>) => {
    if (p.op === VsockOp.RST || isPeerResetNotice(p) || cutPeers.has(p.srcCid)) return;
    if (!backend.send(rstFor(p), NO_PAYLOAD)) rstDropped++;
  };
  const backend: VsockBackend = {
    // A packet the guest published after a partition or a link change was posted to this worker
    // waits in the transmitq until the loop has read it (`control_gate.ts`).
    held: () => ctx.gate.pending(),
    send(h, payload) {
      if (host !== null && h.dstCid === VsockCid.HOST) {
        host.handle(h, payload.subarray(0, h.len));
        return true;
      }
      // `peerCid` ANY: the link goes to a vsock router, which routes (or answers RST) itself.
      const noPath = spec.peerCid !== VsockCid.ANY && h.dstCid !== spec.peerCid;
      if (cutPeers.has(h.dstCid)) {
        // Cut by a partition: refused as a link down refuses it, never dropped silently.
        ctl.deviceCounters[VsockCounter.partitionRefused]++;
        answer(h);
        return true;
      }
      if (out === null || !linkUp || noPath || pieceMax <= 0) {
        answer(h); // no path to that CID
        return true;
      }
      // A packet larger than a slot (a 64 KiB TX buffer) goes as several; a full link keeps
      // the packet in the device (back-pressure).
      return sendPieces(out, h, payload, pieceMax, piece);
    },
  };
  const device = new VsockDevice({
    memory: ctx.mem,
    guestCid: spec.cid,
    queueMaxSize: spec.queues[VsockQueue.RX].size,
    ring: { packed: false, eventIdx: true, indirect: true, inOrder: false },
    counters: ctl.deviceCounters,
    backend,
  });
  const transport = openTransport(ctx, ctl, device, spec.name);
  /**
   * Restored (a replaced worker): the previous worker's connection table died with it, so, as
   * Firecracker after a snapshot restore, the device resets the transport: TRANSPORT_RESET to
   * the guest, and a `peerResetNotice` over the link makes every peer VM's backend reset its
   * guest's connections with this CID (RST). Host clients of `vsock.sock` were connected to the
   * previous worker, and its end ended their connections. The chains it had popped are adopted
   * (docs/design.md, Recovery).
   *
   * At power-on after a VM crash (`reboot`) the device starts at reset state, and the guest that
   * had the connections is gone: the same notice makes every peer VM reset its connections with
   * this CID (RST) before the new guest can connect again; host clients were connected to the
   * ended worker, whose end closed their connections.
   */
  let noticePending = ctx.restore || ctx.reboot;
  if (ctx.restore && transport.isLive()) {
    device.adoptInFlight(transport.restoredInFlight);
    device.transportReset();
  }
  const sendNotice = () => {
    if (out === null || !linkUp) {
      noticePending = false; // no link, or a link down: its peers reset their side already
      return;
    }
    const slot = out.reserve(VSOCK_HDR_SIZE);
    if (slot === null) return; // the link is full: next pass
    encodeHeader(slot, 0, peerResetNotice(spec.cid));
    out.commit(VSOCK_HDR_SIZE);
    noticePending = false;
  };
  if (ctx.vsockSocket !== null) {
    try {
      host = new HostVsock({
        path: ctx.vsockSocket,
        guestCid: spec.cid,
        // Also called from the host end's promises (a client's bytes, a connect's answer),
        // outside the loop's pass: a section of its own there (nested in a pass, it costs none).
        // enter/exit, not guard: a packet's delivery allocates no closure.
        deliver: (hh, p) => {
          if (!ctx.fence.enter()) return "busy";
          try {
            const outcome = device.deliver(hh, p);
            // Not live: counted as the link's packets are; the host end RSTs its sender.
            if (outcome === "not-live") ctl.deviceCounters[VsockCounter.rxNotLive]++;
            return outcome;
          } finally {
            ctx.fence.exit();
          }
        },
        wake: () => ringSelf(bells, ctx.thread),
        now: () => performance.now(),
      });
    } catch (e) {
      // No host end (a path too long for a Unix socket, a folder not writable): the VM runs on,
      // its packets to CID 2 get RST, and the event log says why.
      post({
        type: "event",
        kind: "vsock-host-error",
        detail: {
          device: spec.name,
          path: ctx.vsockSocket,
          error: e instanceof Error ? e.message : String(e),
        },
      });
    }
  }
  const connTable = ctl.deviceCounters.subarray(VSOCK_COUNTER_COUNT);
  const h = emptyHeader();
  let busy = false;
  let faultReported = false;

  // A capture's record of a packet: vsockmon's header in front of it (see `vsockmon.ts`).
  const monitor = new VsockmonRecorder();
  const capture = (link: LinkIn, packet: Uint8Array): void =>
    monitor.record(link.tap, packet, nowUs());

  /** Packets from the peer into the device; false when the device is full. */
  const receive = (): number => {
    if (inn === null) return 0;
    let n = 0;
    let frame: Uint8Array | null;
    busy = false;
    while (n < 256 && (frame = inn.ring.peek()) !== null) {
      // Nothing from the link is discarded uncounted: a packet that arrives while the link is
      // down (it was in flight when the link went down) or whose slot is malformed is counted.
      const whole = frame.length >= VSOCK_HDR_SIZE &&
        VSOCK_HDR_SIZE + decodeHeader(frame, 0, h).len <= frame.length;
      if (!linkUp) {
        ctl.deviceCounters[VsockCounter.rxLinkDown]++;
      } else if (whole && cutPeers.has(h.srcCid) && !isPeerResetNotice(h)) {
        // Sent before the peer heard of the partition: our side of it is reset already.
        ctl.deviceCounters[VsockCounter.partitionRefused]++;
      } else if (!whole) {
        ctl.deviceCounters[VsockCounter.rxBadSlot]++;
      } else if (isPeerResetNotice(h)) {
        // The peer's device worker restarted: its guest's connections with ours are gone.
        if (spec.peerCid === VsockCid.ANY || h.srcCid === spec.peerCid) {
          const src = h.srcCid;
          ctl.deviceCounters[VsockCounter.peerResets] += device.resetPeers((cid) => cid === src);
        }
      } else {
        const payload = h.len === 0 ? null : frame.subarray(VSOCK_HDR_SIZE, VSOCK_HDR_SIZE + h.len);
        const outcome = device.deliver(h, payload);
        if (outcome === "busy") {
          busy = true;
          break;
        }
        if (outcome === "not-live") {
          ctl.deviceCounters[VsockCounter.rxNotLive]++;
          refuse(h);
        } // What the link delivered to the device, as a vsockmon device would show it.
        else if (inn.tap.enabled()) capture(inn, frame.subarray(0, VSOCK_HDR_SIZE + h.len));
      }
      inn.ring.release();
      n++;
    }
    if (n > 0) inn.finish();
    return n;
  };

  return {
    pump: () => {
      let work = false;
      if (noticePending) sendNotice();
      if (serveMailbox(ctl.mailbox, transport) > 0) {
        work = true;
        ringDoorbell(bells, guestThread);
      }
      // A reset (Status 0, served above) cleared the fault: report the next one too.
      if (faultOf(device) === null) faultReported = false;
      if (transport.isLive() && device.fault === null) {
        while (rsts.length > 0 && device.deliver(rsts[0], null) !== "busy") rsts.shift();
        if (host !== null && host.pump()) work = true;
        const tx = device.transmit(256);
        if (tx.sent + tx.dropped > 0) work = true;
        if (receive() > 0) work = true;
        device.pump();
        const irq = device.finish();
        // One signal per queue that is due: a lost-irq fault of that queue drops only its own.
        if (irq.interruptRx) transport.signalUsed(VsockQueue.RX);
        if (irq.interruptTx) transport.signalUsed(VsockQueue.TX);
        if (irq.interruptEvent) transport.signalUsed(VsockQueue.EVENT);
        // Re-read: transmit, deliver or pump may have broken a queue.
        const fault = faultOf(device);
        if (fault !== null && !faultReported) {
          faultReported = true;
          transport.markNeedsReset(fault);
          post({
            type: "event",
            kind: "device-error",
            detail: { device: spec.name, error: fault.kind },
          });
        }
      } else if (inn) {
        // No driver yet (or a broken device): packets from the link have nowhere to go, and
        // each is a drop with its cause, as the NIC counts its own.
        let n = 0;
        let frame: Uint8Array | null;
        while (n < 256 && (frame = inn.ring.peek()) !== null) {
          if (frame.length >= VSOCK_HDR_SIZE && linkUp) refuse(decodeHeader(frame, 0, h));
          inn.ring.release();
          n++;
        }
        if (n > 0) {
          ctl.deviceCounters[VsockCounter.rxNotLive] += n;
          inn.finish();
        }
      }
      out?.flush();
      return work;
    },
    prepareSleep: () => {
      let pending = false;
      const rxq = transport.queues[VsockQueue.RX];
      const txq = transport.queues[VsockQueue.TX];
      if (out?.blocked) {
        if (!out.prepareSleep()) pending = true;
      } else if (txq && txq.enableNotifications()) {
        pending = true;
      }
      if (device.pendingRx > 0 || rsts.length > 0 || (host?.pendingOut ?? 0) > 0) {
        // Packets wait for RX buffers: the guest's RX kick wakes us.
        if (rxq && rxq.enableNotifications()) pending = true;
      }
      if (inn && !inn.prepareSleep() && !busy) pending = true;
      return pending;
    },
    nextTimerMs: () =>
      Math.min(
        host !== null && host.sockets.size > 0 ? 100 : Infinity,
        out?.nextDueMs() ?? Infinity, // packets an impairment (delay, rate) holds
      ),
    periodic: (stats) => {
      // `vsock_host_refused`: host clients of vsock.sock refused at the connection limit.
      stats.setAll("vsock_", { rstDropped, hostRefused: host?.refusedConnections ?? 0 });
      if (out?.stage) stats.setAll("vsock_impair_", out.stage.counters);
      if (out?.linkDownDropped) stats.set("vsock_link_down_dropped", out.linkDownDropped);
      writeConnTable(connTable, device.connections());
    },
    control: (m) => {
      if (m.type === "link" && m.device === spec.index) {
        linkUp = m.up;
        // Down: what the impairment stage holds is dropped (counted as link down), not sent later.
        out?.setLinkUp(m.up);
        if (!m.up) {
          // The link carries every peer but the host: reset the guest's connections to them at
          // once (a connect in flight is refused, not left to time out).
          device.resetPeers((cid) => cid !== VsockCid.HOST);
          ringSelf(bells, ctx.thread);
        }
      }
      if (m.type === "partitions") {
        cutPeers = new Set(
          (m.vsockCuts ?? []).filter(([src]) => src === spec.cid).map(([, dst]) => dst),
        );
        // Connections with a newly cut peer end now (RST to the guest), as on a link down; the
        // peer's device worker does the same with its side. The host (CID 2) is never cut.
        const cut = cutPeers;
        ctl.deviceCounters[VsockCounter.partitionResets] += device.resetPeers((cid) =>
          cut.has(cid)
        );
        ringSelf(bells, ctx.thread);
      }
      if (m.type === "impair" && m.ring === spec.txRing && out !== null) {
        // delay (with jitter), rate, overhead and limit only: the lab refused the rest before
        // sending it
        out.setImpairment(m.impair);
        ringSelf(bells, ctx.thread);
      }
      if (m.type === "transport-reset" && m.device === spec.index) {
        device.transportReset(); // RST to every peer (and the host), TRANSPORT_RESET to the guest
        ringSelf(bells, ctx.thread);
      }
    },
  };
}

/** The vsock kind's host slice. */
export const VSOCK_HOST_KIND: HostKind = {
  kind: "vsock",
  start: (ctx, devices) => {
    const spec = devices.find((d): d is VsockDeviceSpec => d.kind === "vsock");
    return spec ? start(ctx, spec) : IDLE;
  },
};
