import assert from "node:assert/strict";
import { type FaultTarget, injectFault, parseFault } from "./faults.ts";
import { planLab } from "./plan.ts";
import { parseTopology } from "./topology/load.ts";
import type { ToWorker } from "./wire/messages.ts";

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
    assert.match(bad.message, /^Cannot inject backend-crash: after must be an integer 1 to 100000/);
  }
  const mode = parseFault({ kind: "backend-crash", vm: "a", mode: "toString" });
  assert.ok(!mode.ok);
  assert.match(mode.hint, /exit, hang, slow, mid-pass/);
});

Deno.test("a backend crash refuses a duration of 0 and an option its mode does not use", () => {
  const hang = parseFault({ kind: "backend-crash", vm: "a", mode: "hang", ms: 1 });
  assert.ok(hang.ok);
  const cases: [Record<string, unknown>, RegExp, RegExp][] = [
    [{ mode: "slow", ms: 0 }, /ms must be an integer 1 to 60000, got "0"/, /milliseconds/],
    [
      { mode: "exit", ms: 500 },
      /ms is how long a hang or a slow-down lasts, not exit's/,
      /hang or slow/,
    ],
    [{ ms: 500 }, /not exit's/, /hang or slow/],
    [{ mode: "mid-pass", ms: 5 }, /not mid-pass's/, /Leave ms out/],
    [
      { mode: "hang", after: 3 },
      /after counts the frames before a mid-pass crash, not hang's/,
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

Deno.test("a guest bug on b's vhost-pci-net device reaches b's driver; lost kicks and interrupts are refused with a hint", () => {
  const text = Deno.readTextFileSync(new URL("../topologies/vhost-pci.yaml", import.meta.url));
  const t = parseTopology(text, "vhost-pci.yaml");
  assert.ok(t.ok);
  const plan = planLab(t.value);
  const posted: { vm: string; kind: string; m: ToWorker }[] = [];
  const events: Record<string, unknown>[] = [];
  const target: FaultTarget = {
    plan,
    vmState: () => "running",
    post: (vm, kind, m) => (posted.push({ vm, kind, m }), true),
    control: () => new SharedArrayBuffer(0),
    emit: (_k, _s, d) => void events.push(d),
  };
  const bug = injectFault(
    { kind: "guest-bug", vm: "b", device: "eth0", queue: "transmitq", bug: "loop" },
    target,
  );
  assert.ok(bug.ok, bug.ok ? "" : bug.message);
  assert.deepEqual(posted, [{
    vm: "b",
    kind: "guest",
    m: { type: "guest-bug", device: 0, queue: 1, bug: "loop" },
  }]);
  assert.equal(events.length, 1);
  const badQueue = injectFault(
    { kind: "guest-bug", vm: "b", device: "eth0", queue: "rx", bug: "loop" },
    target,
  );
  assert.ok(!badQueue.ok);
  assert.equal(badQueue.code, "unknown-queue");
  assert.match(badQueue.hint, /receiveq, transmitq/);
  for (const kind of ["lost-kick", "lost-irq"] as const) {
    const r = injectFault({ kind, vm: "b", device: "eth0", queue: "transmitq" }, target);
    assert.ok(!r.ok);
    assert.equal(r.code, "no-queues");
    assert.match(r.message, /^Cannot inject lost-(kick|irq): b:eth0 is a vhost-pci-net device/);
    assert.match(r.hint, new RegExp(`vlab fault ${kind} a eth0 transmitq`));
  }
  assert.equal(posted.length, 1, "nothing posted for a refusal");
});
