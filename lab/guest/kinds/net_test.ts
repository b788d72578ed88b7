import assert from "node:assert/strict";
import { StatsWriter } from "../../wire/stats.ts";
import { FakeClock } from "../net/testing.ts";
import type { NetStack } from "../net/stack.ts";
import { kickAfterReset, NET_GUEST_KIND } from "./net.ts";
import { createDoorbells, endGeneration, guestsInside } from "../../wire/doorbell.ts";
import { guestFence } from "../../wire/fence.ts";
import { MmioReg, notifyCount, regFileWords } from "../../../devices/virtio/mmio.ts";
import { Status } from "../../../devices/virtio/constants.ts";
import { RESET_RETRY_DELAYS_MS } from "./reset_retry.ts";
import { NetQueue } from "../../../devices/net/config.ts";
import type { GuestContext, GuestServices } from "./types.ts";
import type { NetDeviceSpec } from "../../wire/specs.ts";
import { NetDevice } from "../../../devices/net/device.ts";
import { NET_COUNTER_COUNT, NET_DRIVER_COUNTER_COUNT } from "../../../devices/net/metrics.ts";
import { becomes, startInThread } from "./in_thread_testing.ts";

Deno.test("the net kind runs the stack's timers from periodic, which a busy loop still calls", async () => {
  // The loop asks `nextTimerMs` (which runs them) only before it sleeps; a flood may keep it
  // from sleeping for seconds, and a stale neighbour's probes and give-up then never came.
  const ctx = {
    vm: "a",
    seed: 1,
    clock: new FakeClock(),
    bells: new Int32Array(new SharedArrayBuffer(64)),
    deviceThread: 1,
    post: () => {},
  } as unknown as GuestContext;
  const kind = await NET_GUEST_KIND.start(ctx, []);
  const services: Partial<GuestServices> = {};
  kind.provide(services);
  const stack = services.net as NetStack;
  let ticks = 0;
  const tick = stack.tick.bind(stack);
  stack.tick = () => {
    ticks++;
    return tick();
  };
  kind.periodic(new StatsWriter(new Float64Array(256), () => {}));
  assert.equal(ticks, 1, "periodic ran the stack's due timers");
});

Deno.test("the end of a NIC's reset kicks its queues as a section of the guest's generation: a crashed guest's writes nothing", () => {
  // Before, the reset's last step (after the awaits of its register accesses) kicked the new
  // queues and rang the device worker outside any section: a guest that crashed during the reset
  // wrote the notify registers of the NIC its successor had taken.
  const bells = createDoorbells(2);
  const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
  const fence = guestFence(bells, 0, 0);
  const o = { bells, deviceThread: 1, fence };
  const kick = { kickRx: true, kickTx: true };
  assert.equal(kickAfterReset(regs, kick, o), true);
  assert.deepEqual([notifyCount(regs, NetQueue.RECEIVEQ), notifyCount(regs, NetQueue.TRANSMITQ)], [
    1,
    1,
  ]);
  assert.equal(guestsInside(bells, 0), 0);
  // The guest crashed during the reset's awaits: nothing written, no register, no doorbell.
  endGeneration(bells, 0);
  const regsBefore = [...regs];
  const bellsBefore = [...bells];
  assert.equal(kickAfterReset(regs, kick, o), false);
  assert.deepEqual([...regs], regsBefore);
  assert.deepEqual([...bells], bellsBefore);
  assert.equal(guestsInside(bells, 0), 0);
});

Deno.test("what the end of a NIC's reset does after its kick runs in the kick's section: a reboot waits for it", () => {
  // Before, the reset's end sent the stack's backlog and rang the guest's own doorbell after the
  // kick's section had ended: a guest descheduled there resumed after its successor started and
  // rang the successor's doorbell line.
  const bells = createDoorbells(2);
  const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
  const fence = guestFence(bells, 0, 0);
  const kick = { kickRx: true, kickTx: false };
  const inside: number[] = [];
  const resume = () => inside.push(guestsInside(bells, 0));
  assert.equal(kickAfterReset(regs, kick, { bells, deviceThread: 1, fence, resume }), true);
  assert.deepEqual(inside, [1], "resumed inside the section, which a reboot waits for");
  assert.equal(guestsInside(bells, 0), 0);
  endGeneration(bells, 0);
  assert.equal(kickAfterReset(regs, kick, { bells, deviceThread: 1, fence, resume }), false);
  assert.deepEqual(inside, [1], "a crashed guest's reset resumes nothing");
});

/**
 * One NIC of a guest whose device worker runs in this thread: `serve` performs the register
 * accesses the guest queued (as a device worker's pass does) and runs the guest's pump (as its
 * loop does); `onStatusWrite` sees each write of the device status register after it took
 * effect. The NIC's link is up at start.
 */
async function nicWithInThreadDevice(onStatusWrite: (value: number) => void) {
  const clock = new FakeClock();
  const spec: NetDeviceSpec = {
    kind: "net",
    name: "eth0",
    index: 0,
    queues: [
      { name: "receiveq", layout: "split", size: 8 },
      { name: "transmitq", layout: "split", size: 8 },
    ],
    deviceCounters: NET_COUNTER_COUNT,
    driverCounters: NET_DRIVER_COUNTER_COUNT,
    mac: [2, 0, 0, 0, 0, 1],
    ip: 0x0a00_0001,
    prefix: 24,
    mtu: 1500,
    layout: "split",
    queueSize: 8,
    features: { eventIdx: true, indirect: false, mrgRxbuf: false, inOrder: false, csum: false },
    txRing: -1,
    rxRing: -1,
    iommu: null,
  };
  const rig = await startInThread({
    guestKind: NET_GUEST_KIND,
    spec,
    memBytes: 1 << 20,
    model: (memory, counters) =>
      new NetDevice({
        memory,
        mac: Uint8Array.from(spec.mac),
        mtu: spec.mtu,
        queueMaxSize: spec.queueSize,
        linkUp: true,
        ring: { packed: false, eventIdx: true, indirect: false, inOrder: false },
        mrgRxbuf: false,
        counters,
      }),
    onStatusWrite,
    clock,
  });
  const { device, transport, events, kind } = rig;
  const linkUp = async () =>
    (await kind.inspect() as { nics: { linkUp: boolean }[] }).nics[0].linkUp;
  return { device, transport, events, linkUp, clock, stop: rig.stop };
}

Deno.test("a link that goes down while the guest resets its NIC is seen down once the reset is over", async () => {
  // Before, a link change while the driver reset the device raised no configuration interrupt
  // (none before DRIVER_OK, §2.1; the reset also clears InterruptStatus), and the guest did not
  // read the link status again after its reset: its link stayed up, its stack sent into a link
  // that was down, its transmit watchdog ran (on a vhost-pci link nobody served: a reset again).
  let armed = false;
  const nic = await nicWithInThreadDevice((status) => {
    // The link goes down right after the driver's reset (status 0), before DRIVER_OK.
    if (armed && status === 0) {
      armed = false;
      if (nic.device.setLinkUp(false)) nic.transport.signalConfigChange();
    }
  });
  try {
    assert.equal(await nic.linkUp(), true);
    armed = true;
    nic.transport.markNeedsReset({ kind: "vhost-pci-peer-failed" });
    assert.ok(
      await becomes(() => nic.events.some((e) => e.kind === "device-queues-live"), 2000),
      JSON.stringify(nic.events),
    );
    assert.equal(armed, false, "the link went down during the reset");
    assert.ok(await becomes(async () => !(await nic.linkUp()), 500), "the guest sees it down");
    assert.deepEqual(nic.events.filter((e) => e.kind.startsWith("link-")).map((e) => e.kind), [
      "link-down",
    ]);
  } finally {
    nic.stop();
  }
});

Deno.test("a NIC reset that failed is tried again after a back-off, and the NIC comes back", async () => {
  // Before, a reset that failed (here: the device would not read back Status 0; in a lab, a
  // register read that timed out because the device worker crashed mid-reset) left the NIC
  // `resetting` for good: dead until the VM rebooted, though its restarted device was fine.
  let failReads = 0;
  const nic = await nicWithInThreadDevice((status) => {
    if (status === 0 && failReads === -1) failReads = 16; // the first reset's read-backs
  });
  const read = nic.transport.read.bind(nic.transport);
  nic.transport.read = (offset, size) => {
    if (offset === MmioReg.STATUS && failReads > 0) {
      failReads--;
      return Status.DEVICE_NEEDS_RESET; // not reset yet
    }
    return read(offset, size);
  };
  try {
    failReads = -1;
    nic.transport.markNeedsReset({ kind: "vhost-pci-peer-failed" });
    const failed = () => nic.events.filter((e) => e.kind === "device-reset-failed");
    assert.ok(await becomes(() => failed().length === 1, 2000), JSON.stringify(nic.events));
    assert.equal(failed()[0].detail?.error, "reset-timeout");
    assert.equal(failed()[0].detail?.retryInMs, RESET_RETRY_DELAYS_MS[0]);
    // Not before its back-off is over (the guest's clock).
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(nic.events.filter((e) => e.kind === "device-needs-reset").length, 1);
    nic.clock.t += RESET_RETRY_DELAYS_MS[0];
    assert.ok(
      await becomes(() => nic.events.some((e) => e.kind === "device-queues-live"), 2000),
      JSON.stringify(nic.events),
    );
    assert.deepEqual(
      nic.events.filter((e) => e.kind.startsWith("device-")).map((
        e,
      ) => [e.kind, e.detail?.attempt]),
      [
        ["device-needs-reset", undefined],
        ["device-reset-failed", 1],
        ["device-needs-reset", 2],
        ["device-queues-live", undefined],
      ],
    );
  } finally {
    nic.stop();
  }
});

Deno.test("a NIC reset that keeps failing gives up once, with a hint", async () => {
  const nic = await nicWithInThreadDevice(() => {});
  const read = nic.transport.read.bind(nic.transport);
  let broken = false;
  nic.transport.read = (offset, size) =>
    broken && offset === MmioReg.STATUS ? Status.DEVICE_NEEDS_RESET : read(offset, size);
  try {
    broken = true;
    nic.transport.markNeedsReset({ kind: "vhost-pci-peer-failed" });
    const failed = () => nic.events.filter((e) => e.kind === "device-reset-failed");
    for (let i = 0; i < RESET_RETRY_DELAYS_MS.length; i++) {
      assert.ok(await becomes(() => failed().length === i + 1, 2000), JSON.stringify(nic.events));
      nic.clock.t += RESET_RETRY_DELAYS_MS[i];
    }
    const last = RESET_RETRY_DELAYS_MS.length + 1;
    assert.ok(await becomes(() => failed().length === last, 2000), JSON.stringify(nic.events));
    nic.clock.t += 10_000;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(failed().length, last, "no attempt after the give-up");
    assert.deepEqual(
      failed().map((e) => e.detail?.hint !== undefined),
      [...RESET_RETRY_DELAYS_MS.map(() => false), true],
    );
    assert.match(String(failed()[last - 1].detail?.hint), /vlab fault vm-crash a/);
  } finally {
    nic.stop();
  }
});
