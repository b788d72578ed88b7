import assert from "node:assert/strict";
import { StatsWriter } from "../../wire/stats.ts";
import { FakeClock } from "../net/testing.ts";
import type { NetStack } from "../net/stack.ts";
import { NET_GUEST_KIND } from "./net.ts";
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
