import assert from "node:assert/strict";
import { readFaults } from "../iommu/faults.ts";
import { NetCounter } from "../net/metrics.ts";
import {
  dropNotifications,
  droppedNotifications,
  InterruptBit,
  RegFileWord,
} from "../virtio/mmio.ts";
import { NetQueue } from "../net/config.ts";
import type { Layout } from "../virtio/queue.ts";
import { VhostPciCounter, VhostPciState } from "./config.ts";
import { peerFailed, peerServing, VhostPciFrontend } from "./frontend.ts";
import { CANARY, DOMAIN, type VhostPciRig, vhostPciRig, WINDOW_END } from "./testing.ts";

const HDR = 12;

/** A sink that keeps copies of the frames `transmit` gives it. */
function sink() {
  const frames: Uint8Array[] = [];
  let buf = new Uint8Array(0);
  return {
    frames,
    reserve: (max: number) => (buf = new Uint8Array(max)),
    commit: (len: number) => void frames.push(buf.slice(0, len)),
  };
}

/** a's driver posts one frame of `len` bytes of `fill` at `gpa` (header first). */
function postTx(r: VhostPciRig, gpa: number, len: number, fill: number, token = 1): void {
  r.mem.u8.fill(0, gpa, gpa + HDR);
  r.mem.u8.fill(fill, gpa + HDR, gpa + HDR + len);
  const a = r.tx.add({ readable: [[gpa, HDR + len]], writable: [] }, token);
  assert.ok(a.ok);
  r.tx.publish();
}

function postRx(r: VhostPciRig, gpa: number, len: number, token = 1): void {
  const a = r.rx.add({ readable: [], writable: [[gpa, len]] }, token);
  assert.ok(a.ok);
  r.rx.publish();
}

const frame = (n: number, byte: number) => {
  const f = new Uint8Array(n).fill(byte);
  f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0]); // dst, src, IPv4
  return f;
};

for (const layout of ["split", "packed"] as Layout[]) {
  for (const iommu of [true, false]) {
    const tag = `${layout}, ${iommu ? "vIOMMU window" : "all of a"}`;

    Deno.test(`b serves a's transmitq and receiveq after the handover and interrupts a (${tag})`, () => {
      const r = vhostPciRig(layout, { iommu });
      assert.equal(r.backend.poll(), "none", "nothing handed over yet");
      r.handOver(1);
      assert.equal(r.backend.poll(), "connected");
      assert.equal(Atomics.load(r.regs, RegFileWord.VHOST_PEER), 1, "b acknowledged connection 1");
      postTx(r, 0x10000, 60, 0x11);
      const s = sink();
      assert.equal(r.backend.transmit(s, 8).sent, 1);
      assert.equal(s.frames.length, 1);
      assert.deepEqual(s.frames[0], new Uint8Array(60).fill(0x11));
      postRx(r, 0x20000, 2048);
      assert.equal(r.backend.receive(frame(64, 0x22)), "delivered");
      assert.equal(r.backend.finish(), "none");
      assert.ok(r.interrupts.count > 0, "a was interrupted");
      assert.ok((Atomics.load(r.regs, RegFileWord.INTERRUPT_STATUS) & InterruptBit.USED) !== 0);
      const used = r.rx.getUsed();
      assert.ok(used.ok && used.value !== null);
      assert.equal(used.value.len, HDR + 64);
      assert.equal(r.mem.u8[0x20000 + HDR + 20], 0x22);
      assert.equal(r.netCounters[NetCounter.txFrames], 1, "a's NIC counters keep counting");
      assert.equal(r.counters[VhostPciCounter.framesIn], 1);
      assert.equal(r.counters[VhostPciCounter.framesOut], 1);
      assert.equal(r.counters[VhostPciCounter.state], VhostPciState.UP);
    });

    Deno.test(`a lost-irq armed on a's receiveq drops b's interrupt for it, as a's own device would (${tag})`, () => {
      const r = vhostPciRig(layout, { iommu });
      r.handOver(1);
      assert.equal(r.backend.poll(), "connected");
      dropNotifications(r.regs, NetQueue.RECEIVEQ, { kicks: 0, interrupts: 1 });
      postRx(r, 0x20000, 2048, 1);
      postRx(r, 0x20800, 2048, 2);
      assert.equal(r.backend.receive(frame(64, 0x22)), "delivered");
      assert.equal(r.backend.finish(), "none");
      assert.equal(r.interrupts.count, 0, "the interrupt was lost: a's guest was not rung");
      assert.equal(Atomics.load(r.regs, RegFileWord.INTERRUPT_STATUS) & InterruptBit.USED, 0);
      assert.equal(r.counters[VhostPciCounter.interrupts], 0, "counted as raised only when raised");
      assert.deepEqual(droppedNotifications(r.regs, NetQueue.RECEIVEQ).interrupts, 1);
      // a's guest finds the frame at its next wake-up and asks for interrupts again.
      const got = r.rx.getUsed();
      assert.ok(got.ok && got.value !== null);
      r.rx.enableInterrupts();
      assert.equal(r.backend.receive(frame(64, 0x23)), "delivered");
      assert.equal(r.backend.finish(), "none");
      assert.equal(r.interrupts.count, 1, "the next one is raised");
      assert.ok((Atomics.load(r.regs, RegFileWord.INTERRUPT_STATUS) & InterruptBit.USED) !== 0);
    });

    Deno.test(`a frame that finds no RX buffer in a waits and is counted as a wait, not a drop (${tag})`, () => {
      const r = vhostPciRig(layout, { iommu });
      assert.equal(r.backend.receive(frame(64, 0x22)), "not-live", "nothing handed over yet");
      assert.equal(r.counters[VhostPciCounter.framesDropped], 1);
      r.handOver(1);
      assert.equal(r.backend.poll(), "connected");
      assert.equal(r.backend.receive(frame(64, 0x22)), "no-buffers");
      assert.equal(r.counters[VhostPciCounter.rxWaits], 1);
      assert.equal(r.counters[VhostPciCounter.framesDropped], 1, "not a drop: the sender keeps it");
      postRx(r, 0x20000, 2048);
      assert.equal(r.backend.receive(frame(64, 0x22)), "delivered", "sent again after the refill");
      assert.equal(r.counters[VhostPciCounter.framesOut], 0, "not out before it is published");
      assert.equal(r.backend.finish(), "none");
      assert.equal(r.counters[VhostPciCounter.framesOut], 1);
    });

    Deno.test(`b's link set down drops and counts frames both ways, none delivered later (${tag})`, () => {
      const r = vhostPciRig(layout, { iommu });
      r.handOver(1);
      assert.equal(r.backend.poll(), "connected");
      assert.ok(peerServing(r.regs), "a's link up");
      assert.equal(r.backend.setLinkUp(false), true, "the link frames see changed");
      assert.equal(r.backend.up && !r.backend.linkUp, true, "served, with its link down");
      assert.equal(peerServing(r.regs), false, "a's link down");
      assert.equal(r.counters[VhostPciCounter.state], VhostPciState.DOWN);
      postTx(r, 0x10000, 60, 0x11);
      const s = sink();
      assert.equal(r.backend.transmit(s, 8).dropped, 1);
      postRx(r, 0x20000, 2048);
      assert.equal(r.backend.receive(frame(64, 0x22)), "link-down");
      assert.equal(r.backend.finish(), "none");
      // a's frame is completed (its transmit watchdog sees progress), and nothing reaches a.
      const done = r.tx.getUsed();
      assert.ok(done.ok && done.value !== null, "a's frame completed");
      const rx = r.rx.getUsed();
      assert.ok(rx.ok && rx.value === null, "nothing written into a's receiveq");
      assert.equal(r.counters[VhostPciCounter.linkDownIn], 1);
      assert.equal(r.counters[VhostPciCounter.linkDownOut], 1);
      assert.equal(r.netCounters[NetCounter.txLinkDown], 1, "a's NIC counts it as its own does");
      assert.equal(r.backend.setLinkUp(true), true);
      assert.ok(peerServing(r.regs), "a's link up again, the same connection");
      assert.equal(r.backend.transmit(s, 8).sent, 0, "the frame sent while down is not delivered");
      assert.equal(s.frames.length, 0);
      assert.equal(r.backend.receive(frame(64, 0x23)), "delivered");
      assert.equal(r.counters[VhostPciCounter.framesIn], 0);
    });

    Deno.test(`a connection taken while b's link is set down starts with the link down (${tag})`, () => {
      const r = vhostPciRig(layout, { iommu });
      assert.equal(r.backend.setLinkUp(false), false, "no connection: frames saw nothing change");
      r.handOver(1);
      assert.equal(r.backend.poll(), "connected");
      assert.equal(Atomics.load(r.regs, RegFileWord.VHOST_PEER), 1, "acknowledged");
      assert.equal(peerServing(r.regs), false, "a's link down");
      assert.equal(r.backend.receive(frame(64, 0x22)), "link-down");
    });

    Deno.test(`frames the connection's end leaves unpublished count as dropped, not out (${tag})`, () => {
      const r = vhostPciRig(layout, { iommu });
      r.handOver(1);
      assert.equal(r.backend.poll(), "connected");
      postRx(r, 0x20000, 2048);
      assert.equal(r.backend.receive(frame(64, 0x33)), "delivered");
      // a resets its NIC before b published the used entry: a's driver never sees the frame.
      Atomics.store(r.regs, RegFileWord.VHOST_CONN, 0);
      assert.equal(r.backend.poll(), "disconnected");
      assert.equal(r.counters[VhostPciCounter.framesOut], 0, "never shown to a");
      assert.equal(r.counters[VhostPciCounter.framesDropped], 1, "lost, and counted");
    });

    Deno.test(`b acknowledges a revocation and never touches a's rings after it (${tag})`, () => {
      const r = vhostPciRig(layout, { iommu });
      r.handOver(1);
      assert.equal(r.backend.poll(), "connected");
      Atomics.store(r.regs, RegFileWord.VHOST_CONN, 0); // a reset its NIC
      assert.equal(r.backend.poll(), "disconnected");
      assert.equal(Atomics.load(r.regs, RegFileWord.VHOST_PEER), 0, "acknowledged");
      const before = r.mem.u8.slice(0x1000, 0x7000);
      postTx(r, 0x10000, 60, 0x11);
      const after = r.mem.u8.slice(0x1000, 0x7000);
      const s = sink();
      assert.equal(r.backend.transmit(s, 8).sent, 0);
      assert.equal(r.backend.receive(frame(64, 1)), "not-live");
      assert.equal(r.backend.finish(), "none");
      assert.deepEqual(r.mem.u8.slice(0x1000, 0x7000), after, "b wrote nothing");
      assert.notDeepEqual(before, after, "(the driver's own post did change the ring)");
      assert.equal(r.counters[VhostPciCounter.state], VhostPciState.DOWN);
      // A new handover (a's NIC is up again) is served.
      r.handOver(2);
      assert.equal(r.backend.poll(), "connected");
      assert.equal(r.backend.connection, 2);
    });
  }

  Deno.test(`b's rebooted backend keeps the last refused access with the fault count (${layout})`, () => {
    const r = vhostPciRig(layout, { iommu: true });
    r.handOver(1);
    assert.equal(r.backend.poll(), "connected");
    assert.ok(r.tx.add({ readable: [[CANARY.start, 128]], writable: [] }, 1).ok);
    r.tx.publish();
    r.backend.transmit(sink(), 8);
    assert.equal(r.backend.finish(), "disconnected");
    r.reboot(); // vm-crash b: its new guest builds a new backend over the same counters
    assert.equal(r.counters[VhostPciCounter.faults], 1, "counters carry on across a reboot");
    assert.equal(
      r.counters[VhostPciCounter.lastFaultAddr],
      CANARY.start,
      "and so does the last one",
    );
    assert.equal(r.counters[VhostPciCounter.lastFaultAccess], 1, "a read");
  });

  Deno.test(`a fresh backend shows no last refused access (${layout})`, () => {
    const r = vhostPciRig(layout, { iommu: true });
    assert.equal(r.counters[VhostPciCounter.lastFaultAddr], -1);
    assert.equal(r.counters[VhostPciCounter.lastFaultAccess], 0);
  });

  Deno.test(`an access outside the window is refused, counted and logged, and ends the connection (${layout})`, () => {
    const r = vhostPciRig(layout, { iommu: true });
    r.handOver(1);
    assert.equal(r.backend.poll(), "connected");
    // a's driver (or a bug in it) points a TX buffer at a canary page, outside the window.
    const a = r.tx.add({ readable: [[CANARY.start, 128]], writable: [] }, 1);
    assert.ok(a.ok);
    r.tx.publish();
    const s = sink();
    r.backend.transmit(s, 8);
    assert.equal(s.frames.length, 0, "nothing of the canary page reached b");
    assert.equal(r.backend.finish(), "disconnected");
    assert.equal(r.counters[VhostPciCounter.state], VhostPciState.FAILED);
    assert.equal(r.counters[VhostPciCounter.faults], 1);
    assert.equal(r.counters[VhostPciCounter.lastFaultAddr], CANARY.start);
    assert.equal(r.counters[VhostPciCounter.lastFaultAccess], 1, "a read");
    assert.equal(r.backend.downReason.kind, "window-fault");
    const log = readFaults(r.viommu!.views, 0, 0).records;
    assert.equal(log.length, 1, "a's vIOMMU logged it");
    assert.equal(log[0].iova, CANARY.start);
    assert.equal(log[0].access, "read");
    assert.equal(Atomics.load(r.regs, RegFileWord.VHOST_PEER), -1, "a sees the device error");
    assert.equal(peerFailed(r.regs), true, "a's device worker will ask its driver for a reset");
    // The failed connection is not taken again; a's reset and a new handover are.
    assert.equal(r.backend.poll(), "none");
    r.handOver(2);
    assert.equal(r.backend.poll(), "connected");
  });

  Deno.test(`revocation while b moves frames: after a's unmap returns, b's next access is refused and counted (${layout})`, () => {
    const r = vhostPciRig(layout, { iommu: true });
    const v = r.viommu!;
    r.handOver(1);
    assert.equal(r.backend.poll(), "connected");
    for (let i = 0; i < 4; i++) postTx(r, 0x10000 + i * 0x800, 60, 0x11, i);
    const s = sink();
    assert.equal(r.backend.transmit(s, 2).sent, 2, "b is moving frames");
    // a unmaps the NIC's buffers (not its rings): UNMAP completes once b acknowledged.
    assert.ok(v.unmap(DOMAIN, 0, WINDOW_END - 1).ok);
    assert.ok(v.map(DOMAIN, { start: 0, end: 0xffff, gpa: 0, perms: 3 }).ok, "rings stay");
    const gen = v.invalidate();
    assert.deepEqual(v.unacked(gen), [0], "b has not acknowledged yet");
    assert.equal(r.backend.poll(), "none", "the rings are still mapped");
    assert.deepEqual(v.unacked(gen), [], "b acknowledged: the UNMAP may return");
    r.backend.transmit(s, 8);
    assert.equal(s.frames.length, 2, "no frame read through the stale mapping");
    assert.equal(r.backend.finish(), "disconnected");
    assert.equal(r.counters[VhostPciCounter.faults], 1);
    assert.equal(r.counters[VhostPciCounter.lastFaultAddr], 0x10000 + 2 * 0x800);
    // The refused frame goes back to a's driver unsent (its rings are still mapped), counted by
    // a's NIC as a TX chain it could not send (`txMalformed`: unreachable buffer): a frame a's
    // driver reclaims is sent, or counted link down or malformed, never lost uncounted.
    const tokens: number[] = [];
    for (let i = 0; i < 8; i++) {
      const u = r.tx.getUsed();
      assert.ok(u.ok);
      if (u.value === null) break;
      tokens.push(u.value.token);
    }
    assert.deepEqual(tokens, [0, 1, 2], "the two sent and the refused one");
    assert.equal(r.netCounters[NetCounter.txFrames], 2);
    assert.equal(r.netCounters[NetCounter.txMalformed], 1, "the refused one, counted");
    assert.equal(r.counters[VhostPciCounter.framesIn], 2);
    // Every completion b published into a's used ring is counted (`txUsedPublished`), and is one
    // of the sent, the link-down and the refused ones: the equation the e2e test checks.
    assert.equal(r.netCounters[NetCounter.txUsedPublished], tokens.length);
    assert.equal(
      r.netCounters[NetCounter.txUsedPublished],
      r.counters[VhostPciCounter.framesIn] + r.counters[VhostPciCounter.linkDownIn] +
        r.netCounters[NetCounter.txMalformed],
    );
  });

  Deno.test(`unmapping a's rings under b ends the connection at b's next pass (${layout})`, () => {
    const r = vhostPciRig(layout, { iommu: true });
    const v = r.viommu!;
    r.handOver(1);
    assert.equal(r.backend.poll(), "connected");
    assert.ok(v.unmap(DOMAIN, 0, WINDOW_END - 1).ok);
    v.invalidate();
    assert.equal(r.backend.poll(), "disconnected");
    assert.equal(r.counters[VhostPciCounter.revoked], 1);
    assert.equal(r.backend.downReason.kind, "ring-revoked");
    const s = sink();
    assert.equal(r.backend.transmit(s, 8).sent, 0);
  });

  Deno.test(`a revoked ring is one refused access of b: the link counts the fault a's vIOMMU logged (${layout})`, () => {
    const r = vhostPciRig(layout, { iommu: true });
    const v = r.viommu!;
    r.handOver(1);
    assert.equal(r.backend.poll(), "connected");
    assert.ok(v.unmap(DOMAIN, 0, WINDOW_END - 1).ok);
    v.invalidate();
    assert.equal(r.backend.poll(), "disconnected");
    // b's re-check of the receiveq's descriptor table was refused: a's vIOMMU logged it for
    // b's IOTLB and reports it to a's guest; the link says the same, not "0 faults".
    const log = readFaults(v.views, 0, 0).records;
    assert.equal(log.length, 1, "one refused access, logged once");
    assert.equal(log[0].iova, 0x1000, "the receiveq's descriptor table");
    // A packed ring's descriptor area is written by the device, a split one's only read.
    const access = layout === "packed" ? "write" : "read";
    assert.equal(log[0].access, access);
    assert.equal(r.counters[VhostPciCounter.faults], log.length);
    assert.equal(r.counters[VhostPciCounter.lastFaultAddr], log[0].iova);
    assert.equal(r.counters[VhostPciCounter.lastFaultAccess], access === "read" ? 1 : 2);
    assert.equal(r.counters[VhostPciCounter.revoked], 1);
    assert.deepEqual(r.backend.downReason, {
      kind: "ring-revoked",
      queue: 0,
      addr: 0x1000,
      access,
    });
  });

  Deno.test(`a refused access is counted once on the link, whatever asks the window why (${layout})`, () => {
    const r = vhostPciRig(layout, { iommu: true });
    r.handOver(1);
    assert.equal(r.backend.poll(), "connected");
    const a = r.tx.add({ readable: [[CANARY.start, 128]], writable: [] }, 1);
    assert.ok(a.ok);
    r.tx.publish();
    r.backend.transmit(sink(), 8);
    assert.equal(r.backend.finish(), "disconnected");
    const log = readFaults(r.viommu!.views, 0, 0).records;
    assert.equal(r.counters[VhostPciCounter.faults], log.length);
    assert.equal(r.window.refusals, log.length);
  });
}

for (const layout of ["split", "packed"] as Layout[]) {
  Deno.test(`b gone and back: a's rings are intact, and what a sent meanwhile is dropped as on a down link (${layout})`, () => {
    const r = vhostPciRig(layout, { iommu: true });
    r.handOver(1);
    assert.equal(r.backend.poll(), "connected");
    for (let i = 0; i < 3; i++) postTx(r, 0x10000 + i * 0x800, 60, 0x30 + i, i);
    const s = sink();
    assert.equal(r.backend.transmit(s, 1).sent, 1);
    r.backend.finish();
    r.backend.stop(); // b goes away (its driver resets its device)
    assert.equal(Atomics.load(r.regs, RegFileWord.VHOST_PEER), 0, "a sees its link down");
    assert.equal(r.backend.poll(false), "none", "a stopped backend takes no connection");
    postTx(r, 0x10000 + 3 * 0x800, 60, 0x33, 3);
    assert.equal(r.backend.poll(true), "connected", "back: the same connection");
    assert.equal(r.backend.connection, 1);
    assert.equal(r.backend.transmit(s, 8).sent, 0, "nothing left to send");
    r.backend.finish();
    assert.deepEqual(s.frames.map((f) => f[0]), [0x30], "only the frame sent while served");
    assert.equal(r.counters[VhostPciCounter.linkDownIn], 3, "the others dropped, and counted");
    assert.equal(r.netCounters[NetCounter.txLinkDown], 3, "by a's NIC too");
    const tokens: number[] = [];
    for (let i = 0; i < 8; i++) {
      const u = r.tx.getUsed();
      assert.ok(u.ok, "a's driver finds its rings consistent");
      if (u.value === null) break;
      tokens.push(u.value.token);
    }
    assert.deepEqual(tokens, [0, 1, 2, 3], "each buffer returned once, in order");
    assert.equal(r.netCounters[NetCounter.txUsedPublished], 4, "each completion counted");
    assert.equal(
      r.netCounters[NetCounter.txUsedPublished],
      r.counters[VhostPciCounter.framesIn] + r.counters[VhostPciCounter.linkDownIn],
      "one sent while served, three dropped as on a down link",
    );
    postTx(r, 0x10000 + 4 * 0x800, 60, 0x34, 4);
    assert.equal(r.backend.transmit(s, 8).sent, 1, "a frame sent once b is back crosses");
    assert.equal(s.frames[1][0], 0x34);
  });

  Deno.test(`a rebooted b's new stack gets none of the frames a sent to the old one (${layout})`, () => {
    const r = vhostPciRig(layout, { iommu: true });
    r.handOver(1);
    assert.equal(r.backend.poll(), "connected");
    // vm-crash b: the lab takes b's service down (VHOST_PEER 0) and b's guest is gone.
    Atomics.store(r.regs, RegFileWord.VHOST_PEER, 0);
    for (let i = 0; i < 2; i++) postTx(r, 0x10000 + i * 0x800, 60, 0x50 + i, i);
    r.reboot();
    assert.equal(r.interrupts.count, 0);
    assert.equal(r.backend.poll(), "connected", "the new b resumes the same connection");
    assert.equal(r.interrupts.count, 1, "a was told its TX buffers came back");
    const s = sink();
    assert.equal(r.backend.transmit(s, 8).sent, 0);
    assert.equal(s.frames.length, 0, "no frame sent to the old b reaches the new one");
    assert.equal(r.counters[VhostPciCounter.linkDownIn], 2);
    assert.equal(r.counters[VhostPciCounter.framesIn], 0);
  });
}

Deno.test("b's driver resets its device: it stops serving with reason reset, writes nothing of a's, and serves the same connection again", () => {
  const r = vhostPciRig("split", { iommu: true });
  r.handOver(1);
  assert.equal(r.backend.poll(), "connected");
  postTx(r, 0x10000, 60, 0x40, 0);
  r.backend.stop({ kind: "reset" });
  assert.deepEqual(r.backend.downReason, { kind: "reset" });
  assert.equal(Atomics.load(r.regs, RegFileWord.VHOST_PEER), 0, "a sees its link down");
  const s = sink();
  assert.equal(r.backend.transmit(s, 8).sent, 0, "nothing popped while resetting");
  assert.equal(r.backend.receive(new Uint8Array(60)), "not-live", "nothing written into a");
  const u = r.tx.getUsed();
  assert.ok(u.ok, "a's driver finds its rings consistent");
  assert.equal(u.value, null, "no used entry written after the reset began");
  assert.equal(r.backend.poll(true), "connected");
  assert.equal(r.backend.connection, 1);
  assert.equal(r.backend.transmit(s, 8).sent, 0, "sent while a's link was down: dropped");
  assert.equal(r.counters[VhostPciCounter.linkDownIn], 1, "and counted");
  postTx(r, 0x10800, 60, 0x41, 1);
  assert.equal(r.backend.transmit(s, 8).sent, 1, "the next one crosses");
});

/**
 * a's device worker as `lab/host/kinds/net.ts` runs it: once a pass, `followPeer` sets the link
 * of a's NIC (a config interrupt each time it changes, recorded here as `changes`).
 */
function watcher(r: VhostPciRig) {
  const model = {
    deviceId: 1,
    queueCount: 2,
    queueMaxSize: 256,
    offered: 0n,
    configSize: 0,
    readConfig: () => 0,
    activate: () => ({ ok: true as const, value: undefined }),
    reset: () => {},
  };
  const frontend = new VhostPciFrontend(model, { regs: r.regs, peerThread: 3, ringPeer: () => {} });
  let link = false;
  const changes: boolean[] = [];
  const setLink = (up: boolean) => {
    if (up === link) return;
    link = up;
    changes.push(up);
  };
  return { changes, pass: () => frontend.followPeer(setLink) };
}

Deno.test("b stops and serves again between two passes of a's device worker: a's link goes down and up all the same", () => {
  const r = vhostPciRig("split", { iommu: false });
  const a = watcher(r);
  a.pass(); // a's worker starts: the count is read, nothing to act on
  r.handOver(1);
  assert.equal(r.backend.poll(), "connected");
  a.pass();
  assert.deepEqual(a.changes, [true], "a's link up");
  a.pass();
  assert.deepEqual(a.changes, [true], "nothing changed: no flap");
  // b's driver resets its device and serves again, all between two of a's passes.
  r.backend.stop({ kind: "reset" });
  assert.equal(r.backend.poll(true), "connected");
  assert.ok(peerServing(r.regs), "a's next pass finds b serving, as at its last one");
  a.pass();
  assert.deepEqual(a.changes, [true, false, true], "a's link went down and up: acted on");
  // b's link set down and up again between two passes (`vlab link a-b down`, `up`).
  assert.ok(r.backend.setLinkUp(false));
  assert.ok(r.backend.setLinkUp(true));
  a.pass();
  assert.deepEqual(a.changes, [true, false, true, false, true], "the link flap is seen too");
  // Several stops between two passes are one flap; a's own reset is a down, then an up.
  r.backend.stop({ kind: "reset" });
  assert.equal(r.backend.poll(true), "connected");
  r.backend.stop({ kind: "reset" });
  assert.equal(r.backend.poll(true), "connected");
  a.pass();
  assert.equal(a.changes.length, 7);
  Atomics.store(r.regs, RegFileWord.VHOST_CONN, 0);
  assert.equal(r.backend.poll(), "disconnected");
  a.pass();
  assert.deepEqual(a.changes.slice(7), [false]);
  // A down seen down is acted on once: the count moved, and the link was down already.
  a.pass();
  assert.deepEqual(a.changes.slice(7), [false]);
});

Deno.test("a's restarted device worker does not take the peer's past stops for a flap", () => {
  const r = vhostPciRig("split", { iommu: false });
  r.handOver(1);
  assert.equal(r.backend.poll(), "connected");
  r.backend.stop({ kind: "reset" });
  assert.equal(r.backend.poll(true), "connected");
  const a = watcher(r); // started after the flap (a backend-crash of a's device worker)
  a.pass();
  assert.deepEqual(a.changes, [true]);
});
