import assert from "node:assert/strict";
import {
  bugRefusalLine,
  type Fault,
  type FaultTarget,
  injectFault,
  parseFault,
  plannedRefusal,
} from "./faults.ts";
import { type LabPlan, planLab } from "./plan.ts";
import { parseTopology } from "./topology/load.ts";
import type { ToWorker } from "./wire/messages.ts";
import { deviceControl } from "./wire/control.ts";
import { droppedNotifications } from "../devices/virtio/mmio.ts";
import { faultRoute } from "./server_links.ts";
import type { Lab } from "./lab.ts";

/** The plan of a shipped topology (`topologies/NAME.yaml`), for a fault target's `plan`. */
function shippedPlan(name: string): LabPlan {
  const file = `${name}.yaml`;
  const t = parseTopology(
    Deno.readTextFileSync(new URL(`../topologies/${file}`, import.meta.url)),
    file,
  );
  assert.ok(t.ok, file);
  return planLab(t.value);
}

/**
 * A fault target over `plan` whose hooks all succeed and record nothing (every VM running, every
 * post taken, no control block, no guest refusing a bug); `over` replaces the hooks a test watches.
 */
function fakeTarget(plan: LabPlan, over: Partial<FaultTarget> = {}): FaultTarget {
  return {
    plan,
    vmState: () => "running",
    post: () => true,
    control: () => new SharedArrayBuffer(0),
    emit: () => {},
    hangs: new Map(),
    askGuestBug: () => Promise.resolve(null),
    ...over,
  };
}

Deno.test("a mid-pass backend crash names how many descriptors come first, 1 to 100000", () => {
  const ok = parseFault({ kind: "backend-crash", vm: "a", mode: "mid-pass", after: 17 });
  assert.ok(ok.ok);
  assert.deepEqual(ok.value, {
    kind: "backend-crash",
    vm: "a",
    mode: "mid-pass",
    ms: undefined,
    after: 17,
  });
  for (const after of [0, 1.5, "3", 100_001]) {
    const bad = parseFault({ kind: "backend-crash", vm: "a", mode: "mid-pass", after });
    assert.ok(!bad.ok);
    assert.equal(bad.code, "bad-fault");
    assert.match(
      bad.message,
      /^Cannot inject backend-crash: the frame count \(--after, or key "after"\) must be an integer 1 to 100000/,
    );
  }
  const mode = parseFault({ kind: "backend-crash", vm: "a", mode: "toString" });
  assert.ok(!mode.ok);
  assert.match(mode.hint, /exit, hang, slow, mid-pass/);
});

Deno.test("a backend crash refuses a duration of 0 and an option its mode does not use", () => {
  const hang = parseFault({ kind: "backend-crash", vm: "a", mode: "hang", ms: 1 });
  assert.ok(hang.ok);
  const cases: [Record<string, unknown>, RegExp, RegExp][] = [
    [{ mode: "slow", ms: 0 }, /duration .* must be an integer 1 to 60000, got 0$/, /milliseconds/],
    [
      { mode: "exit", ms: 500 },
      /is how long a hang or a slow-down lasts, not exit's/,
      /hang or slow/,
    ],
    [{ ms: 500 }, /not exit's/, /hang or slow/],
    [{ mode: "mid-pass", ms: 5 }, /not mid-pass's/, /Leave the duration out/],
    [
      { mode: "hang", after: 3 },
      /counts the frames before a mid-pass crash, not hang's/,
      /mid-pass/,
    ],
  ];
  for (const [args, message, hint] of cases) {
    const r = parseFault({ kind: "backend-crash", vm: "a", ...args });
    assert.ok(!r.ok, JSON.stringify(args));
    assert.equal(r.code, "bad-fault");
    assert.match(r.message, message);
    assert.match(r.hint, hint);
  }
});

Deno.test("a refused fault option is named as the CLI writes it and as a request spells it", () => {
  // `vlab fault` and `POST /faults` share these messages: each must make sense to both users.
  const cases: [Record<string, unknown>, string, string][] = [
    [{ kind: "backend-crash", mode: "slow", ms: 0 }, "--ms", '"ms"'],
    [{ kind: "backend-crash", mode: "exit", ms: 5 }, "--ms", '"ms"'],
    [{ kind: "backend-crash", mode: "mid-pass", after: 0 }, "--after", '"after"'],
    [{ kind: "backend-crash", mode: "hang", after: 3 }, "--after", '"after"'],
    [{ kind: "lost-kick", device: "eth0", queue: "transmitq", count: 0 }, "--count", '"count"'],
  ];
  for (const [body, option, key] of cases) {
    const r = parseFault({ vm: "a", ...body });
    assert.ok(!r.ok, JSON.stringify(body));
    assert.ok(r.message.includes(option), `${r.message}: names ${option}`);
    assert.ok(r.message.includes(`or key ${key}`), `${r.message}: names ${key}`);
    assert.doesNotMatch(`${r.message}\n${r.hint}`, /\b(Leave|use) (ms|after|count)\b/, r.hint);
  }
});

Deno.test("a guest bug on b's vhost-pci-net device reaches b's driver; lost kicks and interrupts are refused with a hint", async () => {
  const plan = shippedPlan("vhost-pci");
  const posted: { vm: string; kind: string; m: ToWorker }[] = [];
  const events: Record<string, unknown>[] = [];
  const target = fakeTarget(plan, {
    post: (vm, kind, m) => (posted.push({ vm, kind, m }), true),
    emit: (_k, _s, d) => void events.push(d),
    askGuestBug: (vm, bug) => {
      posted.push({ vm, kind: "guest", m: { type: "guest-bug", id: 0, ...bug } });
      return Promise.resolve(null);
    },
  });
  const bug = await injectFault(
    { kind: "guest-bug", vm: "b", device: "eth0", queue: "transmitq", bug: "loop" },
    target,
  );
  assert.ok(bug.ok, bug.ok ? "" : bug.message);
  assert.deepEqual(posted, [{
    vm: "b",
    kind: "guest",
    m: { type: "guest-bug", id: 0, device: 0, queue: 1, bug: "loop" },
  }]);
  assert.equal(events.length, 1);
  const badQueue = await injectFault(
    { kind: "guest-bug", vm: "b", device: "eth0", queue: "rx", bug: "loop" },
    target,
  );
  assert.ok(!badQueue.ok);
  assert.equal(badQueue.code, "unknown-queue");
  assert.match(badQueue.hint, /receiveq, transmitq/);
  for (const kind of ["lost-kick", "lost-irq"] as const) {
    const r = await injectFault({ kind, vm: "b", device: "eth0", queue: "transmitq" }, target);
    assert.ok(!r.ok);
    assert.equal(r.code, "no-queues");
    assert.match(r.message, /^Cannot inject lost-(kick|irq): b:eth0 is a vhost-pci-net device/);
    assert.match(r.hint, new RegExp(`vlab fault ${kind} a eth0 transmitq`));
  }
  assert.equal(posted.length, 1, "nothing posted for a refusal");
});

Deno.test("a guest bug the queue's ring layout cannot have is refused before any guest hears of it", async () => {
  const plan = shippedPlan("split-vs-packed");
  const posted: ToWorker[] = [];
  const events: Record<string, unknown>[] = [];
  const target = fakeTarget(plan, {
    post: (_vm, _kind, m) => (posted.push(m), true),
    emit: (_k, _s, d) => void events.push(d),
    askGuestBug: (_vm, bug) => {
      posted.push({ type: "guest-bug", id: 0, ...bug });
      return Promise.resolve(null);
    },
  });
  const nicOf = (layout: string) => {
    for (const vm of plan.vms) {
      for (const d of vm.devices) {
        if (d.kind === "net" && d.queues[0].layout === layout) return { vm: vm.name, nic: d.name };
      }
    }
    throw new Error(`no ${layout} NIC in split-vs-packed.yaml`);
  };
  const cases: [string, string, RegExp, RegExp][] = [
    ["split", "wrap-flip", /a split ring has no such fault/, /A split ring's bugs: index-jump, /],
    ["packed", "index-jump", /a packed ring has no such fault/, /A packed ring's bugs: head-out/],
    ["packed", "next-out-of-range", /a packed ring has no such fault/, /wrap-flip/],
  ];
  for (const [layout, bug, message, hint] of cases) {
    const { vm, nic } = nicOf(layout);
    const r = await injectFault(
      { kind: "guest-bug", vm, device: nic, queue: "transmitq", bug: bug as "loop" },
      target,
    );
    assert.ok(!r.ok, `${bug} on ${layout}`);
    assert.equal(r.code, "bug-not-applicable");
    assert.ok(r.message.startsWith(`Cannot inject guest-bug ${bug} on ${vm}'s ${nic} transmitq: `));
    assert.match(r.message, message);
    assert.match(r.hint, hint);
  }
  assert.equal(posted.length, 0, "nothing posted for a refusal");
  assert.equal(events.length, 0, "no fault event for a refusal");
  const { vm, nic } = nicOf("packed");
  const flip = await injectFault(
    { kind: "guest-bug", vm, device: nic, queue: "transmitq", bug: "wrap-flip" },
    target,
  );
  assert.ok(flip.ok, flip.ok ? "" : flip.message);
  assert.equal(posted.length, 1);
});

Deno.test("a guest bug asked of a virtio-iommu driver is refused, not answered 'injected'; a vsock device's goes to its guest", async () => {
  for (const file of ["vsock-pair.yaml", "iommu-pair.yaml"]) {
    const plan = shippedPlan(file.replace(/\.yaml$/, ""));
    const posted: { device: number; queue: number; bug: string }[] = [];
    const target = fakeTarget(plan, {
      askGuestBug: (_vm, bug) => {
        posted.push(bug);
        return Promise.resolve(null);
      },
    });
    const vm = plan.vms[0];
    const other = vm.devices.find((d) => d.kind !== "net");
    assert.ok(other, `${file}: a device other than a NIC`);
    const f = {
      kind: "guest-bug" as const,
      vm: vm.name,
      device: other.name,
      queue: other.queues[other.queues.length - 1].name,
      bug: "loop" as const,
    };
    const r = await injectFault(f, target);
    if (other.kind === "vsock") {
      assert.ok(r.ok, r.ok ? "" : r.message);
      const { kind: _kind, ...named } = f;
      assert.deepEqual(r.detail, { fault: "guest-bug", ...named });
      // The event queue (its last) of the vsock device's slot.
      assert.deepEqual(posted, [{ device: other.index, queue: 2, bug: "loop" }]);
      assert.equal(plannedRefusal(plan, f), null, "a drill's step is not refused either");
      continue;
    }
    assert.ok(!r.ok, file);
    assert.equal(r.code, "no-guest-bugs");
    assert.match(
      r.message,
      /is an iommu device, and only a NIC's or a vsock device's driver writes guest bugs/,
    );
    assert.equal(posted.length, 0);
  }
});

Deno.test("a fault aimed at a lab with no VMs, or a VM with no devices, says so in its hint", async () => {
  const planOf = (text: string) => {
    const t = parseTopology(text, "t.yaml");
    assert.ok(t.ok);
    return planLab(t.value);
  };
  // The hints were "VMs: " and "Devices: ", with nothing after them.
  const none = await injectFault(
    { kind: "backend-crash", vm: "a" },
    fakeTarget(planOf("name: empty\nvms: {}\n")),
  );
  assert.ok(!none.ok);
  assert.equal(none.code, "unknown-vm");
  assert.equal(none.hint, "The lab has no VMs");
  const bare = await injectFault(
    { kind: "lost-kick", vm: "a", device: "eth0", queue: "transmitq" },
    fakeTarget(planOf("name: bare\nvms: { a: {} }\n")),
  );
  assert.ok(!bare.ok);
  assert.equal(bare.code, "unknown-device");
  assert.equal(bare.hint, 'VM "a" has no devices');
});

Deno.test("a guest's refusal of a guest bug is the fault's answer, not 'injected'", async () => {
  const target = fakeTarget(shippedPlan("pair"), {
    askGuestBug: () =>
      Promise.resolve("Cannot inject loop: eth0's transmitq already holds a guest bug"),
  });
  const r = await injectFault(
    { kind: "guest-bug", vm: "a", device: "eth0", queue: "transmitq", bug: "loop" },
    target,
  );
  assert.ok(!r.ok);
  assert.equal(r.code, "guest-bug-refused");
  // In the words the user typed (a guest-bug whose bug is loop), not as if loop were a fault.
  assert.equal(
    r.message,
    "Cannot inject guest-bug loop on a's eth0 transmitq: eth0's transmitq already holds a guest bug",
  );
  assert.match(r.hint, /until its reset/);
});

Deno.test("a guest bug's refusal names the fault the user typed, whoever worded it", () => {
  const f = { kind: "guest-bug", vm: "a", device: "eth0", queue: "receiveq", bug: "loop" } as const;
  const cases: [string, string][] = [
    // The guest's and the lab's answers name only the bug.
    [
      "Cannot inject loop: eth0 is being reset",
      "Cannot inject guest-bug loop on a's eth0 receiveq: eth0 is being reset",
    ],
    [
      'Cannot tell whether loop was written: VM "a"\'s guest did not answer within 2000 ms',
      "Cannot tell whether guest-bug loop on a's eth0 receiveq was written: VM \"a\"'s guest did " +
      "not answer within 2000 ms",
    ],
    // A reason with no prefix, or another bug's prefix, is kept whole after the user's words.
    ["no room", "Cannot inject guest-bug loop on a's eth0 receiveq: no room"],
    [
      "Cannot inject loopy: x",
      "Cannot inject guest-bug loop on a's eth0 receiveq: Cannot inject loopy: x",
    ],
  ];
  for (const [given, line] of cases) assert.equal(bugRefusalLine(f, given), line);
});

Deno.test("a backend crash asked of a worker an injected hang blocks is refused until it wakes or is replaced", async () => {
  const plan = shippedPlan("pair");
  const a = plan.vms[0];
  const control = new SharedArrayBuffer(a.control.bytes);
  const epoch = new Int32Array(control, a.control.epoch, 1);
  let now = 1000;
  const posted: ToWorker[] = [];
  const target = fakeTarget(plan, {
    post: (_vm, _kind, m) => (posted.push(m), true),
    control: () => control,
    now: () => now,
  });
  const crash = (mode: "exit" | "hang" | "slow" | "mid-pass", ms?: number) =>
    injectFault({ kind: "backend-crash", vm: a.name, mode, ms }, target);
  assert.ok((await crash("hang", 5000)).ok);
  for (const mode of ["exit", "hang", "slow", "mid-pass"] as const) {
    const r = await crash(mode);
    assert.ok(!r.ok, `${mode} was taken by a hung worker`);
    assert.equal(r.code, "backend-hung");
    assert.match(r.message, /device worker hangs \(an injected hang, 5000 ms left\)/);
  }
  assert.equal(posted.length, 1, "only the hang reached the worker");
  // The supervisor replaced the worker (its epoch moved): the new one takes a crash.
  Atomics.add(epoch, 0, 1);
  assert.ok((await crash("exit")).ok);
  // The exit's restart: the next worker.
  Atomics.add(epoch, 0, 1);
  // A short hang the worker wakes from by itself: refused during it, taken after it.
  assert.ok((await crash("hang", 200)).ok);
  now += 199;
  assert.equal((await crash("exit")).ok, false);
  now += 1;
  assert.ok((await crash("exit")).ok);
  assert.deepEqual(posted.map((m) => m.type === "crash" && m.mode), [
    "hang",
    "exit",
    "hang",
    "exit",
  ]);
});

Deno.test("a mid-pass crash armed and not yet come refuses another mid-pass, exit or hang until its worker's epoch moves", async () => {
  const plan = shippedPlan("pair");
  const a = plan.vms[0];
  const control = new SharedArrayBuffer(a.control.bytes);
  const epoch = new Int32Array(control, a.control.epoch, 1);
  const posted: ToWorker[] = [];
  const target = fakeTarget(plan, {
    post: (_vm, _kind, m) => (posted.push(m), true),
    control: () => control,
    midPass: new Map(),
  });
  const crash = (mode: "exit" | "hang" | "slow" | "mid-pass") =>
    injectFault({ kind: "backend-crash", vm: a.name, mode }, target);
  assert.ok((await crash("mid-pass")).ok);
  for (const mode of ["mid-pass", "exit", "hang"] as const) {
    const r = await crash(mode);
    assert.ok(!r.ok, `${mode} was taken beside an armed mid-pass crash`);
    assert.equal(r.code, "backend-crash-armed");
    assert.match(r.message, /has a mid-pass crash armed, still to come/);
    assert.match(r.hint, /send traffic through a's NICs/);
  }
  assert.ok((await crash("slow")).ok, "a slow-down leaves the worker, and its armed crash, be");
  // The armed crash came (or the worker was replaced): its successor takes any crash.
  Atomics.add(epoch, 0, 1);
  assert.ok((await crash("exit")).ok);
  assert.deepEqual(posted.map((m) => m.type === "crash" && m.mode), ["mid-pass", "slow", "exit"]);
});

Deno.test("a guest bug that names no bug says so, not 'unknown bug \"undefined\"'", () => {
  const r = parseFault({ kind: "guest-bug", vm: "a", device: "eth0", queue: "transmitq" });
  assert.ok(!r.ok);
  assert.equal(r.code, "bad-fault");
  assert.equal(r.message, "Cannot inject guest-bug: it names no bug");
  assert.match(r.hint, /^Add "bug": "loop" \(bugs: index-jump, /);
});

Deno.test("a vm crash names its VM and its guest's boot time (ms); any other key is refused, not ignored", () => {
  const ok = parseFault({ kind: "vm-crash", vm: "b" });
  assert.ok(ok.ok);
  assert.deepEqual(ok.value, { kind: "vm-crash", vm: "b" });
  // A drill step's parsed object may carry absent options as undefined.
  assert.ok(parseFault({ kind: "vm-crash", vm: "b", mode: undefined }).ok);
  for (const extra of [{ mode: "exit" }, { after: 5 }, { device: "eth0" }, { toString: 1 }]) {
    const r = parseFault({ kind: "vm-crash", vm: "b", ...extra });
    assert.ok(!r.ok, JSON.stringify(extra));
    assert.equal(r.code, "bad-fault");
    assert.match(r.message, /^Cannot inject vm-crash: it takes no key "/);
    assert.equal(r.hint, "Its keys: kind, vm, ms");
  }
  for (const ms of [0, 1, 2000, 60_000]) {
    const r = parseFault({ kind: "vm-crash", vm: "b", ms });
    assert.ok(r.ok, String(ms));
    assert.deepEqual(r.value, { kind: "vm-crash", vm: "b", ms });
  }
  for (const ms of [-1, 60_001, 1.5, "500", null, Infinity]) {
    const r = parseFault({ kind: "vm-crash", vm: "b", ms });
    assert.ok(!r.ok, String(ms));
    assert.match(
      r.message,
      /^Cannot inject vm-crash: the boot time \(--ms, or key "ms"\) must be an integer 0 to 60000, got /,
    );
    assert.match(r.hint, /--ms 2000, or "ms": 2000/);
  }
  const noVm = parseFault({ kind: "vm-crash" });
  assert.ok(!noVm.ok);
  assert.match(noVm.hint, /"vm"/);
});

Deno.test("a vm crash reaches the lab for a VM with a vsock device (its peers reset their connections)", async () => {
  const crashed: string[] = [];
  const target = fakeTarget(shippedPlan("vsock-pair"), {
    crashVm: (vm) => void crashed.push(vm),
  });
  const b = await injectFault({ kind: "vm-crash", vm: "b" }, target);
  assert.deepEqual(b, { ok: true, detail: { fault: "vm-crash", vm: "b" } });
  assert.deepEqual(crashed, ["b"]);
  // A boot time reaches the lab, and the answer and the fault event say it.
  const boots: number[] = [];
  const said: Record<string, unknown>[] = [];
  const slow = await injectFault({ kind: "vm-crash", vm: "b", ms: 1500 }, {
    ...target,
    emit: (_k, _s, d) => void said.push(d),
    crashVm: (_vm, bootMs) => void boots.push(bootMs),
  });
  assert.deepEqual(slow, { ok: true, detail: { fault: "vm-crash", vm: "b", ms: 1500 } });
  assert.deepEqual(boots, [1500]);
  assert.deepEqual(said, [{ fault: "vm-crash", ms: 1500 }]);
  // A target that cannot crash a VM refuses, naming what can be done.
  const none = await injectFault({ kind: "vm-crash", vm: "a" }, { ...target, crashVm: undefined });
  assert.ok(!none.ok);
  assert.equal(none.code, "vm-crash-unsupported");
  assert.match(none.hint, /vlab fault backend-crash a/);
});

Deno.test("a vm crash reaches the lab for a plain VM, a vIOMMU VM, and is refused for a restarting VM or an unknown one", async () => {
  const crashed: string[] = [];
  const events: string[] = [];
  const states = new Map([["a", "running"], ["b", "running"]]);
  const target = fakeTarget(shippedPlan("vhost-pci"), {
    vmState: (vm) => states.get(vm) ?? "stopped",
    emit: (k) => void events.push(k),
    crashVm: (vm) => void crashed.push(vm),
  });
  const b = await injectFault({ kind: "vm-crash", vm: "b" }, target);
  assert.deepEqual(b, { ok: true, detail: { fault: "vm-crash", vm: "b" } });
  assert.deepEqual(crashed, ["b"]);
  assert.deepEqual(events, ["fault"]);
  // a has a vIOMMU: its power-on device resets the tables (lab/host/kinds/iommu.ts).
  const a = await injectFault({ kind: "vm-crash", vm: "a" }, target);
  assert.deepEqual(a, { ok: true, detail: { fault: "vm-crash", vm: "a" } });
  assert.deepEqual(crashed, ["b", "a"]);
  states.set("b", "restarting");
  const again = await injectFault({ kind: "vm-crash", vm: "b" }, target);
  assert.ok(!again.ok);
  assert.equal(again.code, "vm-not-running");
  assert.match(again.message, /VM "b" is restarting/);
  // A failed VM never runs again: the hint said to wait until it does.
  states.set("b", "failed");
  const failed = await injectFault({ kind: "vm-crash", vm: "b" }, target);
  assert.ok(!failed.ok);
  assert.equal(failed.code, "vm-not-running");
  assert.equal(failed.message, 'Cannot inject vm-crash: VM "b" has failed');
  assert.match(
    failed.hint,
    /^`vlab status` says why; a failed VM does not run again: stop the lab/,
  );
  const unknown = await injectFault({ kind: "vm-crash", vm: "__proto__" }, target);
  assert.ok(!unknown.ok);
  assert.equal(unknown.code, "unknown-vm");
  assert.deepEqual(crashed, ["b", "a"], "nothing crashed for a refusal");
});

Deno.test("a key a fault kind does not take is refused with did-you-mean, for every kind", () => {
  // `"cout": 5` injected a lost-kick of the default count, 1, and said nothing.
  const cases: [Record<string, unknown>, string, string][] = [
    [
      { kind: "lost-kick", vm: "a", device: "eth0", queue: "transmitq", cout: 5 },
      'Cannot inject lost-kick: it takes no key "cout"',
      'Did you mean "count"?',
    ],
    [
      { kind: "backend-crash", vm: "a", extra: 1 },
      'Cannot inject backend-crash: it takes no key "extra"',
      "Its keys: kind, vm, mode, ms, after",
    ],
    [
      { kind: "guest-bug", vm: "a", device: "eth0", queue: "transmitq", bug: "loop", count: 2 },
      'Cannot inject guest-bug: it takes no key "count"',
      "Its keys: kind, vm, device, queue, bug",
    ],
    [
      { kind: "lost-irq", vm: "a", device: "eth0", queue: "receiveq", count: 1, mode: "exit" },
      'Cannot inject lost-irq: it takes no key "mode"',
      "Its keys: kind, vm, device, queue, count",
    ],
  ];
  for (const [body, message, hint] of cases) {
    const r = parseFault(body);
    assert.ok(!r.ok, JSON.stringify(body));
    assert.deepEqual([r.code, r.message], ["bad-fault", message]);
    assert.equal(r.hint, hint);
  }
  // Absent options given as undefined (a drill step's parsed object) are no keys.
  assert.ok(
    parseFault({ kind: "lost-kick", vm: "a", device: "d", queue: "q", count: undefined }).ok,
  );
});

Deno.test("a mid-pass crash is refused on a VM whose device worker moves no NIC's frames", async () => {
  // vhost-pci.yaml: b's guest serves a's NIC, and b's only device is served in its own guest; a
  // mid-pass crash of either device worker said "injected" and never came.
  const plan = shippedPlan("vhost-pci");
  const posted: ToWorker[] = [];
  const target = fakeTarget(plan, {
    post: (_vm, _kind, m) => (posted.push(m), true),
    control: (i) => new SharedArrayBuffer(plan.vms[i].control.bytes),
  });
  const a = await injectFault({ kind: "backend-crash", vm: "a", mode: "mid-pass" }, target);
  assert.ok(!a.ok);
  assert.equal(a.code, "no-queues");
  assert.match(
    a.message,
    /^Cannot inject backend-crash \(mid-pass\): VM "a"'s device worker moves no NIC's frames/,
  );
  assert.match(
    a.hint,
    /^a:eth0's queues are served by b's guest \(vhost-pci link [^)]+\); use --mode exit, hang or slow$/,
  );
  const b = await injectFault({ kind: "backend-crash", vm: "b", mode: "mid-pass" }, target);
  assert.ok(!b.ok);
  assert.equal(b.hint, "Use --mode exit, hang or slow");
  assert.equal(posted.length, 0);
  // The other modes still reach the worker.
  assert.ok((await injectFault({ kind: "backend-crash", vm: "a", mode: "exit" }, target)).ok);
  // A VM with a NIC of its own takes it.
  const pairPlan = shippedPlan("pair");
  const ok = await injectFault({ kind: "backend-crash", vm: "a", mode: "mid-pass" }, {
    ...target,
    plan: pairPlan,
    control: (i) => new SharedArrayBuffer(pairPlan.vms[i].control.bytes),
    hangs: new Map(),
  });
  assert.ok(ok.ok);
});

Deno.test("a fault whose kind or VM is a deeply nested list is refused, naming what it got", () => {
  let deep: unknown = [];
  for (let i = 0; i < 250_000; i++) deep = [deep];
  const kind = parseFault({ kind: deep, vm: "a" });
  assert.ok(!kind.ok);
  assert.equal(kind.message, "Cannot inject a fault: unknown kind a list");
});

Deno.test("a fault whose VM, device or queue is missing or no name says which, for its kind", () => {
  // A VM given as a list was "Cannot inject a fault: no VM named"; a queue's index was "name the
  // device and the queue", though both were named.
  const cases: [Record<string, unknown>, string][] = [
    [{ kind: "vm-crash" }, "Cannot inject vm-crash: it names no VM"],
    [
      { kind: "vm-crash", vm: ["a"] },
      `Cannot inject vm-crash: "vm" must be a VM's name, got a list`,
    ],
    [
      { kind: "lost-irq", vm: "a", device: "eth0", queue: 1 },
      // A number is shown as one: got "1" read as a name in quotes.
      `Cannot inject lost-irq: "queue" must be a queue's name, got 1`,
    ],
    [
      { kind: "lost-kick", vm: "a", device: 0, queue: "transmitq" },
      `Cannot inject lost-kick: "device" must be a device's name, got 0`,
    ],
    [
      { kind: "lost-kick", vm: "a", device: "0", queue: "transmitq", count: "3" },
      `Cannot inject lost-kick: the number to drop (-n/--count, or key "count") must be an integer 1 to 1000000, got "3"`,
    ],
    [{ vm: "a" }, "Cannot inject a fault: it names no kind"],
    [
      { kind: null, vm: "a" },
      "Cannot inject a fault: unknown kind null",
    ],
    [
      { kind: "lost-kick", vm: "a", device: "eth0" },
      "Cannot inject lost-kick: name the device and the queue",
    ],
  ];
  for (const [body, message] of cases) {
    const r = parseFault(body);
    assert.ok(!r.ok, JSON.stringify(body));
    assert.equal(r.message, message);
    assert.ok(r.hint.length > 0);
  }
});

Deno.test("a lost kick or interrupt adds to those still armed on the queue; one kind never cancels the other", async () => {
  const plan = shippedPlan("pair");
  const a = plan.vms[0];
  const control = new SharedArrayBuffer(a.control.bytes);
  const emitted: Record<string, unknown>[] = [];
  const target = fakeTarget(plan, {
    control: () => control,
    emit: (_k, _s, d) => void emitted.push(d),
  });
  const at = { vm: "a", device: "eth0", queue: "transmitq" } as const;
  const kick = (count: number) => injectFault({ kind: "lost-kick", ...at, count }, target);
  assert.deepEqual(await kick(3), { ok: true, detail: { fault: "lost-kick", ...at, count: 3 } });
  // An interrupt fault on the same queue used to store 0 armed kicks: the 3 vanished.
  assert.ok((await injectFault({ kind: "lost-irq", ...at, count: 1 }, target)).ok);
  const more = await kick(2);
  assert.deepEqual(more, { ok: true, detail: { fault: "lost-kick", ...at, count: 2, armed: 5 } });
  const regs = deviceControl(control, a.control.devices[0]).regs;
  assert.deepEqual(droppedNotifications(regs, 1), {
    kicks: 0,
    interrupts: 0,
    armedKicks: 5,
    armedInterrupts: 1,
  });
  assert.deepEqual(emitted.at(-1), more.ok ? more.detail : null, "the event says so too");
});

Deno.test("an exit not yet answered refuses every other backend crash until its worker's epoch moves, and a vm-crash cancels it", async () => {
  const plan = shippedPlan("pair");
  const a = plan.vms[0];
  const control = new SharedArrayBuffer(a.control.bytes);
  const epoch = new Int32Array(control, a.control.epoch, 1);
  const posted: ToWorker[] = [];
  const events: { kind: string; detail: Record<string, unknown> }[] = [];
  const target = fakeTarget(plan, {
    post: (_vm, _kind, m) => (posted.push(m), true),
    control: () => control,
    emit: (kind, _subject, detail) => events.push({ kind, detail }),
    midPass: new Map(),
    crashVm: () => {},
  });
  const crash = (mode: "exit" | "hang" | "slow" | "mid-pass") =>
    injectFault({ kind: "backend-crash", vm: a.name, mode }, target);
  assert.ok((await crash("exit")).ok);
  for (const mode of ["exit", "hang", "slow", "mid-pass"] as const) {
    const r = await crash(mode);
    assert.ok(!r.ok, `${mode} was taken by a worker that an exit ends`);
    assert.equal(r.code, "backend-crash-armed");
    assert.match(r.message, /is ending already \(an injected exit\)/);
    assert.match(r.hint, /Wait for its restart/);
  }
  // The supervisor replaced it: its successor takes any crash.
  Atomics.add(epoch, 0, 1);
  assert.ok((await crash("exit")).ok);
  assert.deepEqual(posted.map((m) => m.type === "crash" && m.mode), ["exit", "exit"]);
  // A vm-crash before the supervisor answered the exit ends the worker first: said.
  assert.ok((await injectFault({ kind: "vm-crash", vm: a.name }, target)).ok);
  assert.deepEqual(events.filter((e) => e.kind === "fault-cancelled").map((e) => e.detail), [
    { fault: "backend-crash", mode: "exit", reason: "vm-crash" },
  ]);
  // Its reboot moved the epoch: a crash is taken again.
  Atomics.add(epoch, 0, 1);
  assert.ok((await crash("hang")).ok);
});

Deno.test("a fault that is no object is refused in words for a script's value and a request's body alike", async () => {
  // It said "the body is not a JSON object" to a script that called parseFault(null).
  const cases: [unknown, string][] = [
    [null, "got null"],
    [undefined, "got nothing"],
    ["backend-crash", 'got "backend-crash"'],
    [["vm-crash", "a"], "got a list"],
    [3, "got 3"],
    // A Map's entries are no keys: it read as a fault that "names no kind".
    [new Map([["kind", "vm-crash"]]), "got a Map"],
  ];
  for (const [value, got] of cases) {
    const r = parseFault(value);
    assert.ok(!r.ok);
    assert.equal(r.code, "bad-fault");
    assert.equal(
      r.message,
      `Cannot inject a fault: a fault is an object with its kind and VM, ${got}`,
    );
    assert.equal(r.hint, 'For example {"kind": "backend-crash", "vm": "a"}');
  }
  // A body that is no JSON at all is the route's to say.
  const res = await faultRoute(null as unknown as Lab, { ok: false });
  assert.equal(res.status, 400);
  const { error } = await res.json();
  assert.deepEqual([error.code, error.message], [
    "bad-fault",
    "Cannot inject a fault: the body is not JSON",
  ]);
});

Deno.test("a guest bug whose queue has no room now is asked again until it has, for up to 2 s, then refused and logged", async () => {
  // Under a flood every descriptor of a transmitq can be the device's at the moment the guest
  // looks: the bug was refused then ("no free descriptor"), one time in a few.
  const full =
    "Cannot inject loop: the queue has no free descriptor, and nothing it posted is still waiting";
  const asked: number[] = [];
  const events: [string, Record<string, unknown>][] = [];
  let clock = 0;
  let busyFor = 3;
  const target = fakeTarget(shippedPlan("pair"), {
    emit: (k, _s, d) => void events.push([k, d]),
    now: () => clock,
    askGuestBug: () => {
      asked.push(clock);
      clock += 100;
      return Promise.resolve(asked.length <= busyFor ? { busy: full } : null);
    },
  });
  const bug = { kind: "guest-bug", vm: "a", device: "eth0", queue: "transmitq", bug: "loop" };
  const r = await injectFault(bug as Fault, target);
  assert.ok(r.ok, r.ok ? "" : r.message);
  assert.equal(asked.length, 4, "asked again while busy, then written");
  assert.deepEqual(events.map(([k]) => k), ["fault"]);
  // Busy for longer than the wait: refused with the guest's reason, a hint that says why, and
  // the refusal logged once (not once an ask).
  asked.length = 0;
  events.length = 0;
  busyFor = Infinity;
  const refused = await injectFault(bug as Fault, target);
  assert.ok(!refused.ok);
  assert.equal(refused.code, "guest-bug-refused");
  assert.equal(
    refused.message,
    "Cannot inject guest-bug loop on a's eth0 transmitq: the queue has no free descriptor, and " +
      "nothing it posted is still waiting",
  );
  assert.match(refused.hint, /^The device held every buffer of eth0's transmitq for 2 s/);
  assert.equal(asked.length, 20, "asked every 100 ms (this guest's answer time) for 2 s");
  assert.deepEqual(events.map(([k]) => k), ["fault", "guest-bug-refused"]);
  assert.deepEqual(events[1][1], { nic: "eth0", queue: "transmitq", bug: "loop", message: full });
});
