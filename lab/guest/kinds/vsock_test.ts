import assert from "node:assert/strict";
import { createDoorbells, endGeneration, guestsInside } from "../../wire/doorbell.ts";
import { guestFence } from "../../wire/fence.ts";
import {
  emptyHeader,
  VSOCK_COUNTER_COUNT,
  VSOCK_DRIVER_COUNTER_COUNT,
  VsockCounter,
  VsockDevice,
  VsockDriverCounter,
  type VsockHeader,
  VsockOp,
  VsockQueue,
  VsockType,
} from "../../../devices/vsock/mod.ts";
import { fencedSink, VSOCK_GUEST_KIND } from "./vsock.ts";
import { becomes, startInThread } from "./in_thread_testing.ts";
import type { GuestServices } from "./types.ts";
import type { VsockDeviceSpec } from "../../wire/specs.ts";
import { MmioReg, queueConfigOf } from "../../../devices/virtio/mmio.ts";
import { Status } from "../../../devices/virtio/constants.ts";
import { RESET_RETRY_DELAYS_MS } from "./reset_retry.ts";

Deno.test("a guest's vsock sends from a workload are sections of its generation: a crashed guest's write nothing", async () => {
  // Before, the socket table sent straight into the driver: a workload's write or connect, from
  // its own continuation outside the loop's pass, wrote a TX buffer and the ring's entries with
  // no section, so the reboot's wait for the old guest's sections did not hold for it.
  const bells = createDoorbells(1);
  const fence = guestFence(bells, 0, 0);
  const sent: number[] = [];
  const sink = fencedSink({ send: () => sent.push(guestsInside(bells, 0)) > 0 }, fence);
  const h = {} as VsockHeader;
  // A burst of a workload's sends: one section, over when its microtasks have run.
  assert.equal(sink.send(h, null), true);
  assert.equal(sink.send(h, null), true);
  assert.deepEqual(sent, [1, 1]);
  await null;
  assert.equal(guestsInside(bells, 0), 0);
  // Inside the loop's pass: nested, no count of its own.
  assert.equal(fence.guard(() => sink.send(h, null), false), true);
  assert.deepEqual(sent, [1, 1, 1]);
  assert.equal(guestsInside(bells, 0), 0);
  // The guest crashed: its workload's next send writes nothing (the table keeps the packet).
  endGeneration(bells, 0);
  assert.equal(sink.send(h, null), false);
  assert.equal(sent.length, 3);
  assert.equal(guestsInside(bells, 0), 0);
});

/**
 * A guest's vsock device whose device worker runs in this thread, every millisecond: the
 * register accesses the guest queued, a device pass (TX to `sent`, RX and events into the
 * guest's buffers, the interrupts due, DEVICE_NEEDS_RESET for a fault, as the vsock kind's host
 * slice does), then the guest's pump (as its loop does). Its peer is CID 4.
 */
async function vsockWithInThreadDevice() {
  const spec: VsockDeviceSpec = {
    kind: "vsock",
    name: "vsock0",
    index: 0,
    queues: ["rx", "tx", "event"].map((name) => ({ name, layout: "split", size: 64 })),
    deviceCounters: VSOCK_COUNTER_COUNT,
    driverCounters: VSOCK_DRIVER_COUNTER_COUNT,
    cid: 3,
    peerCid: 4,
    txRing: -1,
    rxRing: -1,
  };
  const sent: VsockHeader[] = [];
  /** The backend takes nothing (full): the device keeps one packet and stops TX. */
  const full = { value: false };
  let reported = false;
  /** Run before each device pass; true: that pass transmits and pumps nothing. */
  const hooks = { beforePass: null as ((device: VsockDevice) => boolean) | null };
  const rig = await startInThread({
    guestKind: VSOCK_GUEST_KIND,
    spec,
    memBytes: 16 << 20,
    model: (memory, counters) =>
      new VsockDevice({
        memory,
        guestCid: 3,
        queueMaxSize: 64,
        ring: { packed: false, eventIdx: true, indirect: true, inOrder: false },
        counters,
        backend: { send: (h) => !full.value && (sent.push({ ...h }), true) },
      }),
    pass: (device, transport) => {
      if (device.fault === null) reported = false;
      if (transport.isLive() && device.fault === null) {
        if (!(hooks.beforePass?.(device) ?? false)) {
          device.transmit(64);
          device.pump();
        }
        const irq = device.finish();
        if (irq.interruptRx) transport.signalUsed(VsockQueue.RX);
        if (irq.interruptTx) transport.signalUsed(VsockQueue.TX);
        if (irq.interruptEvent) transport.signalUsed(VsockQueue.EVENT);
      }
      if (device.fault !== null && !reported) {
        reported = true;
        transport.markNeedsReset(device.fault);
      }
    },
  });
  const { mem, ctl, device, transport, events, kind } = rig;
  const services: Partial<GuestServices> = {};
  kind.provide(services);
  const inspect = () =>
    (kind.inspect() as { vsock: { transportResets: number; deviceResets: number } }).vsock;
  /** A connection of the guest's to CID 4 port `port`, established (the peer answers). */
  const connect = async (port: number) => {
    const conn = services.vsock!.sockets.connect(4, port);
    assert.ok(
      await becomes(() => sent.some((h) => h.op === VsockOp.REQUEST && h.dstPort === port), 2000),
      `the REQUEST to port ${port} reached the device's backend`,
    );
    const response = {
      ...emptyHeader(),
      srcCid: 4,
      dstCid: 3,
      srcPort: port,
      dstPort: conn.localPort,
      type: VsockType.STREAM,
      op: VsockOp.RESPONSE,
      bufAlloc: 65536,
    };
    assert.equal(device.deliver(response, null), "queued");
    assert.ok(await becomes(() => conn.state === "established", 2000), conn.state);
    return conn;
  };
  /** The guest reset its device (`device-reset`) and the device's TRANSPORT_RESET came. */
  const resetOver = async (resets: number) => {
    assert.ok(
      await becomes(() => events.filter((e) => e.kind === "device-reset").length >= resets, 3000),
      `the guest reset its device: ${JSON.stringify(events)}`,
    );
    assert.ok(
      await becomes(() => inspect().transportResets >= resets, 2000),
      "the device's TRANSPORT_RESET came",
    );
  };
  return {
    mem,
    device,
    transport,
    ctl,
    events,
    sent,
    full,
    kind,
    connect,
    resetOver,
    inspect,
    services,
    hooks,
    stop: rig.stop,
  };
}

Deno.test("a vsock device that needs a reset is reset by its guest: its connections end, new ones go through", async () => {
  // Before, the guest acknowledged the configuration interrupt and never read Status: a device
  // that set DEVICE_NEEDS_RESET stayed stopped, every connection hung, until a reboot.
  const v = await vsockWithInThreadDevice();
  try {
    const before = await v.connect(80);
    v.transport.markNeedsReset({ kind: "test" });
    await v.resetOver(1);
    assert.deepEqual(
      v.events.filter((e) => e.kind.startsWith("device-")).map((e) => [e.kind, e.detail?.cause]),
      [
        ["device-needs-reset", "needs-reset"],
        ["device-queues-live", undefined],
        ["device-reset", "needs-reset"],
      ],
    );
    assert.equal(before.state, "closed");
    assert.equal(before.closeReason, "transport-reset");
    assert.equal(v.inspect().deviceResets, 1);
    const after = await v.connect(81);
    assert.equal(after.state, "established");
  } finally {
    v.stop();
  }
});

Deno.test("a guest bug on a vsock queue breaks it at the device, and the guest resets the device", async () => {
  // The device meets an avail index that jumped past the queue size (a guest bug): it stops,
  // sets DEVICE_NEEDS_RESET and raises a configuration interrupt, which the guest now handles.
  const v = await vsockWithInThreadDevice();
  try {
    await v.connect(80);
    const tx = queueConfigOf(v.ctl.regs, VsockQueue.TX, 0n);
    const at = tx.driverAddr + 2; // split avail ring: flags, then idx
    const mem = new DataView(v.mem.u8.buffer);
    mem.setUint16(at, (mem.getUint16(at, true) + 200) & 0xffff, true);
    await v.resetOver(1);
    const needs = v.events.find((e) => e.kind === "device-needs-reset");
    assert.equal(needs?.detail?.cause, "needs-reset", "the device asked for it");
    assert.equal(v.device.fault, null);
    await v.connect(81);
  } finally {
    v.stop();
  }
});

Deno.test("a vsock queue the guest driver finds broken makes it reset the device", async () => {
  // The device returns an event buffer the driver never posted (a device bug): the driver stops
  // (its fault) and, as the net guest does, resets the device.
  const v = await vsockWithInThreadDevice();
  try {
    await v.connect(80);
    const ev = queueConfigOf(v.ctl.regs, VsockQueue.EVENT, 0n);
    const mem = new DataView(v.mem.u8.buffer);
    const idx = mem.getUint16(ev.deviceAddr + 2, true);
    const entry = ev.deviceAddr + 4 + (idx % ev.size) * 8; // split used ring: flags, idx, ring
    mem.setUint32(entry, 63, true); // an id the driver has not in flight
    mem.setUint32(entry + 4, 8, true);
    mem.setUint16(ev.deviceAddr + 2, (idx + 1) & 0xffff, true);
    v.transport.signalUsed(VsockQueue.EVENT);
    await v.resetOver(1);
    const needs = v.events.find((e) => e.kind === "device-needs-reset");
    assert.equal(needs?.detail?.cause, "queue-broken");
    await v.connect(81);
  } finally {
    v.stop();
  }
});

Deno.test("a peer's REQUEST the device wrote before its reset's TRANSPORT_RESET is answered, not reset by that event", async () => {
  // The device's queues are not ordered: after the guest's reset, a peer's REQUEST can land in a
  // new RX buffer before the device's TRANSPORT_RESET is in the event queue. Before, the guest
  // read it at once, accepted it, held its RESPONSE for the event, and the event reset the new
  // connection: the peer got neither RESPONSE nor RST.
  const v = await vsockWithInThreadDevice();
  try {
    const accepted: { state: string; closeReason: string | null }[] = [];
    v.services.vsock!.sockets.listen(9000, (c) => accepted.push(c));
    const request = {
      ...emptyHeader(),
      srcCid: 4,
      dstCid: 3,
      srcPort: 90,
      dstPort: 9000,
      type: VsockType.STREAM,
      op: VsockOp.REQUEST,
      bufAlloc: 65536,
    };
    // The device writes no event until the REQUEST was read: its pump waits (it is also what
    // the kicks of the guest's new queues run), and a pass after the REQUEST lets it go.
    const pump = v.device.pump.bind(v.device);
    let step = 0;
    v.device.pump = () => {
      if (step !== 1 && step !== 2) pump();
    };
    v.hooks.beforePass = (device) => {
      if (step === 1 && v.events.some((e) => e.kind === "device-queues-live")) {
        step = 2;
        assert.equal(device.deliver(request, null), "queued");
        return true; // the REQUEST's RX buffer is used, the event not written yet
      }
      if (step === 2) step = 3;
      return false;
    };
    step = 1;
    v.transport.markNeedsReset({ kind: "test" });
    await v.resetOver(1);
    assert.ok(
      await becomes(() => v.sent.some((h) => h.op === VsockOp.RESPONSE && h.dstPort === 90), 2000),
      `the peer got its RESPONSE: ${JSON.stringify(accepted)}`,
    );
    assert.equal(accepted.length, 1);
    assert.equal(accepted[0].state, "established");
  } finally {
    v.stop();
  }
});

Deno.test("a vsock device reset counts the TX packets it discarded as txDropped", async () => {
  // Before, the packets in the TX queue that a reset discarded were counted nowhere (the net
  // driver counts its frames as txDropped): their connections end, but no counter said so.
  const v = await vsockWithInThreadDevice();
  try {
    const conn = await v.connect(80);
    v.full.value = true; // the device keeps the first RW and leaves the next two in the ring
    for (let i = 0; i < 3; i++) assert.equal(conn.write(new Uint8Array(100)), 100);
    const c = v.ctl.driverCounters;
    assert.ok(await becomes(() => v.ctl.deviceCounters[VsockCounter.txBackpressure] > 0, 2000));
    assert.ok(await becomes(() => c[VsockDriverCounter.txPackets] >= 4, 2000)); // and the REQUEST
    v.transport.markNeedsReset({ kind: "test" });
    await v.resetOver(1);
    // The one the device took (and kept for its backend) is its own `restartDropped`.
    assert.equal(c[VsockDriverCounter.txDropped], 2);
    assert.equal(v.ctl.deviceCounters[VsockCounter.restartDropped], 1);
  } finally {
    v.stop();
  }
});

for (
  const [queue, bug] of [
    ["tx", "loop"],
    ["event", "head-out-of-range"],
    ["rx", "index-jump"],
  ] as const
) {
  Deno.test(`vlab fault guest-bug on the vsock ${queue} queue (${bug}): the device meets it, the guest resets the device, its connections end`, async () => {
    const v = await vsockWithInThreadDevice();
    try {
      const before = await v.connect(80);
      const q = ["rx", "tx", "event"].indexOf(queue);
      const ask = () => v.kind!.guestBug!({ type: "guest-bug", id: 1, device: 0, queue: q, bug });
      assert.equal(
        v.kind!.guestBug!({ type: "guest-bug", id: 1, device: 1, queue: q, bug }),
        undefined,
      );
      assert.equal(ask(), null);
      // A second bug waits for the reset.
      assert.equal(
        ask(),
        `Cannot inject ${bug}: vsock0's ${queue} queue already holds a guest bug, and waits for its reset`,
      );
      // The device meets an RX bug at the next packet for the guest.
      if (queue === "rx") {
        v.device.deliver({
          ...emptyHeader(),
          srcCid: 4,
          dstCid: 3,
          srcPort: 90,
          dstPort: 9000,
          type: VsockType.STREAM,
          op: VsockOp.REQUEST,
          bufAlloc: 65536,
        }, null);
      }
      await v.resetOver(1);
      const seen = v.events.filter((e) =>
        e.kind.startsWith("guest-bug") || e.kind.startsWith("device-")
      );
      assert.deepEqual(seen.map((e) => e.kind), [
        "guest-bug",
        "guest-bug-refused",
        "device-needs-reset",
        "device-queues-live",
        "device-reset",
      ]);
      assert.deepEqual(
        { device: seen[0].detail?.device, queue: seen[0].detail?.queue, bug: seen[0].detail?.bug },
        { device: "vsock0", queue, bug },
      );
      assert.equal(seen[2].detail?.cause, "needs-reset", "the device asked for it");
      assert.equal(before.closeReason, "transport-reset");
      // The reset ended the freeze: a new connection goes through, and the queue takes a bug again.
      await v.connect(81);
      assert.equal(ask(), null);
    } finally {
      v.stop();
    }
  });
}

Deno.test("a vsock reset that failed is tried again after a back-off, and new connections go through", async () => {
  // Before, a reset that failed (here: the device would not read back Status 0; in a lab, a
  // register read that timed out because the device worker crashed mid-reset) left the guest
  // `resetting` for good: every connection refused until the VM rebooted.
  const v = await vsockWithInThreadDevice();
  let failReads = 0;
  const { read, write } = { read: v.transport.read, write: v.transport.write };
  v.transport.write = (offset, value, size) => {
    write.call(v.transport, offset, value, size);
    if (offset === MmioReg.STATUS && value === 0 && failReads === -1) failReads = 16;
  };
  v.transport.read = (offset, size) => {
    if (offset === MmioReg.STATUS && failReads > 0) {
      failReads--;
      return Status.DEVICE_NEEDS_RESET; // not reset yet
    }
    return read.call(v.transport, offset, size);
  };
  try {
    failReads = -1;
    v.transport.markNeedsReset({ kind: "test" });
    await v.resetOver(1);
    assert.deepEqual(
      v.events.filter((e) => e.kind.startsWith("device-")).map((e) => [
        e.kind,
        e.detail?.attempt,
        e.detail?.retryInMs,
      ]),
      [
        ["device-needs-reset", undefined, undefined],
        ["device-reset-failed", 1, RESET_RETRY_DELAYS_MS[0]],
        ["device-needs-reset", 2, undefined],
        ["device-queues-live", undefined, undefined],
        ["device-reset", undefined, undefined],
      ],
    );
    assert.equal(v.inspect().deviceResets, 1);
    const after = await v.connect(81);
    assert.equal(after.state, "established");
  } finally {
    v.stop();
  }
});
