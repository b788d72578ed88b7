import assert from "node:assert/strict";
import {
  Changes,
  sleepAfterPending,
  waitAtMostAfterPending,
  waitFor,
  waitUntil,
  type WorkloadOptions,
} from "./options.ts";
import { NetStack } from "../net/stack.ts";
import { FakeInterface } from "../net/testing.ts";
import { parseWorkload, runWorkload, type WorkloadRequest } from "./mod.ts";
import { realTimeOptions } from "./testing_opts.ts";

Deno.test("a workload's sleep arms its timer after the kick its send queued", async () => {
  const order: string[] = [];
  queueMicrotask(() => order.push("kick")); // what a send while the loop waits queues
  await sleepAfterPending(1, (fn, ms) => {
    order.push("timer");
    return setTimeout(fn, ms);
  });
  assert.deepEqual(order, ["kick", "timer"]);
});

Deno.test("a workload's sleep lasts at least its milliseconds", async () => {
  const t0 = performance.now();
  await sleepAfterPending(5);
  assert.ok(performance.now() - t0 >= 4.5, "the timer ran early");
});

Deno.test("waitAtMost: the promise that settles first wins, and no timer is left behind", async () => {
  // Settled after the timer was armed: true, and the 10-second timer is cleared.
  let settle!: () => void;
  const armed: ReturnType<typeof setTimeout>[] = [];
  const cleared: ReturnType<typeof setTimeout>[] = [];
  const t0 = performance.now();
  const waiting = waitAtMostAfterPending(
    10_000,
    new Promise<void>((r) => settle = r),
    (fn, ms) => {
      const id = setTimeout(fn, ms);
      armed.push(id);
      return id;
    },
    (id) => {
      cleared.push(id);
      clearTimeout(id);
    },
  );
  await new Promise((r) => setTimeout(r, 1));
  settle();
  assert.equal(await waiting, true);
  assert.equal(armed.length, 1, "the timer was not armed before the promise settled");
  assert.deepEqual(cleared, armed, "the losing timer was left armed");
  assert.ok(performance.now() - t0 < 1_000, "the settled promise did not end the wait");
  // Settled before the timer would be armed: none is.
  let timers = 0;
  const quick = waitAtMostAfterPending(10_000, Promise.resolve(), (fn, ms) => {
    timers++;
    return setTimeout(fn, ms);
  });
  assert.equal(await quick, true);
  assert.equal(timers, 0);
  // A rejection settles it too.
  assert.equal(await waitAtMostAfterPending(10_000, Promise.reject(new Error("x"))), true);
  // Never settled: false once the time is out.
  const t1 = performance.now();
  assert.equal(await waitAtMostAfterPending(5, new Promise(() => {})), false);
  assert.ok(performance.now() - t1 >= 4.5, "the timer ran early");
});

/** Options on a fake clock whose waits pass their whole time at once, recording each wait. */
function fakeClockOptions(signal: AbortSignal) {
  let t = 0;
  const waits: number[] = [];
  const opts: WorkloadOptions = {
    signal,
    clock: { now: () => t },
    yield: () => Promise.resolve(),
    sleep: (ms) => {
      waits.push(ms);
      t += ms;
      return Promise.resolve();
    },
    waitAtMost: (ms, settled) => {
      waits.push(ms);
      const timedOut = new Promise<boolean>((r) =>
        setTimeout(() => {
          t += ms;
          r(false);
        }, 0)
      );
      return Promise.race([settled.then(() => true), timedOut]);
    },
  };
  return { opts, waits };
}

Deno.test("waitUntil sleeps once to its deadline, and an abort ends a wait without one", async () => {
  const ctl = new AbortController();
  const { opts, waits } = fakeClockOptions(ctl.signal);
  await waitUntil(opts, 1000);
  // One wait a second apart, not ten of 100 ms (a sleeping guest woke for each).
  assert.deepEqual(waits, [1000]);
  waits.length = 0;
  const listeners: string[] = [];
  const add = ctl.signal.addEventListener.bind(ctl.signal);
  const remove = ctl.signal.removeEventListener.bind(ctl.signal);
  ctl.signal.addEventListener = (...a: Parameters<typeof add>) => {
    listeners.push(`+${a[0]}`);
    add(...a);
  };
  ctl.signal.removeEventListener = (...a: Parameters<typeof remove>) => {
    listeners.push(`-${a[0]}`);
    remove(...a);
  };
  const forever = waitUntil(opts, null);
  await new Promise((r) => setTimeout(r, 5));
  ctl.abort();
  await forever;
  assert.ok(waits.length >= 1 && waits.every((ms) => ms === 60_000), JSON.stringify(waits));
  assert.deepEqual(listeners, ["+abort", "-abort"], "the abort listener is removed");
  waits.length = 0;
  await waitUntil(opts, 10_000);
  assert.deepEqual(waits, [], "aborted already: no wait");
});

Deno.test("waitFor checks its condition when a change rings, not on a timer", async () => {
  // A fake clock whose waits time out only when the test says so.
  let t = 0;
  const waits: number[] = [];
  let expire = () => {};
  const opts: WorkloadOptions = {
    signal: new AbortController().signal,
    clock: { now: () => t },
    yield: () => Promise.resolve(),
    sleep: () => Promise.reject(new Error("waitFor must not sleep")),
    waitAtMost: (ms, settled) => {
      waits.push(ms);
      const timedOut = new Promise<boolean>((r) => expire = () => (t += ms, r(false)));
      return Promise.race([settled.then(() => true), timedOut]);
    },
  };
  const tick = () => new Promise((r) => setTimeout(r, 1));
  const changes = new Changes();
  let state = "connecting";
  const waiting = waitFor(opts, () => state === "closed", 5000, changes);
  await tick();
  state = "established";
  changes.ring(); // checked, still waiting: a second wait to the same deadline
  await tick();
  state = "closed";
  changes.ring();
  await waiting;
  // Two waits in all, each to the deadline: a 1 ms poll made one per millisecond.
  assert.deepEqual(waits, [5000, 5000]);
  assert.equal(t, 0, "a wait timed out: the ring did not end it");
  // Done already: no wait at all; a ring with nobody waiting is dropped.
  changes.ring();
  waits.length = 0;
  await waitFor(opts, () => true, 5000, changes);
  assert.deepEqual(waits, []);
  // Not done and nothing rings: it ends at the deadline.
  const atDeadline = waitFor(opts, () => false, 300, changes);
  await tick();
  expire();
  await atDeadline;
  assert.deepEqual(waits, [300]);
});

Deno.test("a network workload in a VM with no NIC says so, not 'no interface's subnet holds it'", async () => {
  // A vsock-only VM: ping and udp-flood sent the user to addresses the VM has none of, and a sink
  // or udp-echo waited its time for datagrams that could never come.
  const stack = new NetStack({ interfaces: [], clock: { now: () => 0 }, seed: 1 });
  const { opts, clear } = realTimeOptions();
  try {
    const runs = [
      runWorkload(stack, parsed(["ping", "10.0.0.2"]), opts),
      runWorkload(stack, parsed(["udp-flood", "10.0.0.2", "-n", "1"]), opts),
      runWorkload(stack, parsed(["sink", "-t", "5"]), opts),
      runWorkload(stack, parsed(["udp-echo", "-t", "5"]), opts),
    ];
    const messages = (await Promise.all(runs)).map((r) => r.kind === "error" ? r.message : r.kind);
    assert.deepEqual(messages, [
      "Cannot ping 10.0.0.2: this VM has no network interface",
      "Cannot flood 10.0.0.2: this VM has no network interface",
      "Cannot bind UDP port 9: this VM has no network interface",
      "Cannot bind UDP port 7: this VM has no network interface",
    ]);
  } finally {
    clear();
  }
});

Deno.test("a ping or flood to a broadcast address is refused at once, with nothing sent", async () => {
  // Both asked ARP for 10.0.0.255, waited and said "ARP got no reply; check that the peer is up".
  const iface = new FakeInterface({ mac: 1, ip: 0x0a000001, prefix: 24 });
  const stack = new NetStack({ interfaces: [iface], clock: { now: () => 0 }, seed: 1 });
  const { opts, clear } = realTimeOptions();
  try {
    const runs = [
      runWorkload(stack, parsed(["ping", "10.0.0.255", "-c", "1"]), opts),
      runWorkload(stack, parsed(["udp-flood", "10.0.0.255", "-n", "1"]), opts),
      runWorkload(stack, parsed(["ping", "255.255.255.255", "-c", "1"]), opts),
    ];
    const said = (await Promise.all(runs)).map((r) =>
      r.kind === "error" ? `${r.message} / ${r.hint}` : r.kind
    );
    const hint = "vlab's guests send to one address at a time: give one VM's address";
    assert.deepEqual(said, [
      `Cannot ping 10.0.0.255: it is the broadcast address of eth0's subnet 10.0.0.0/24 / ${hint}`,
      `Cannot flood 10.0.0.255: it is the broadcast address of eth0's subnet 10.0.0.0/24 / ${hint}`,
      `Cannot ping 255.255.255.255: it is the limited broadcast address / ${hint}`,
    ]);
    assert.equal(iface.outbox.length, 0, "an ARP request went out");
  } finally {
    clear();
  }
});

function parsed(argv: string[]): WorkloadRequest {
  const r = parseWorkload(argv);
  assert.ok(r.ok, JSON.stringify(r));
  return r.value;
}
