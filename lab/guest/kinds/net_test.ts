import assert from "node:assert/strict";
import { StatsWriter } from "../../wire/stats.ts";
import { FakeClock } from "../net/testing.ts";
import type { NetStack } from "../net/stack.ts";
import { kickAfterReset, NET_GUEST_KIND } from "./net.ts";
import { createDoorbells, endGeneration, guestsInside } from "../../wire/doorbell.ts";
import { guestFence } from "../../wire/fence.ts";
import { notifyCount, regFileWords } from "../../../devices/virtio/mmio.ts";
import { NetQueue } from "../../../devices/net/config.ts";
import type { GuestContext, GuestServices } from "./types.ts";

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
