/**
 * Faults a vhost-pci or vIOMMU lab refuses whatever its state (a lost kick on `b`'s
 * vhost-pci-net device, a mid-pass crash where no NIC's frames move, a guest bug asked of the
 * virtio-iommu device or that the served ring's layout cannot have): `plannedRefusal` says so on
 * the plan alone, `injectFault` answers the same, and a drill refuses such a step at its line
 * before its lab starts, instead of failing it at run time.
 */

import assert from "node:assert/strict";
import { type Fault, type FaultTarget, injectFault, plannedRefusal } from "./faults.ts";
import { formatDrillIssues, parseDrill } from "./drill/load.ts";
import { type LabPlan, planLab } from "./plan.ts";
import { parseTopology } from "./topology/load.ts";

function planOf(yaml: string): LabPlan {
  const t = parseTopology(yaml, "t.yaml");
  assert.ok(t.ok);
  return planLab(t.value);
}

const VHOST_PCI = Deno.readTextFileSync(new URL("../topologies/vhost-pci.yaml", import.meta.url));
const PACKED_FRONTEND = `
name: vp-packed
vms:
  a:
    iommu: { mode: strict }
    nics: { eth0: { ip: 10.0.0.1/24, iommu: true, layout: packed } }
  b:
    nics: { eth0: { ip: 10.0.0.2/24 } }
links:
  - { kind: vhost-pci, endpoints: [a:eth0, b:eth0] }
`;

/** A target whose every VM runs and that records what reached the lab. */
function target(plan: LabPlan): FaultTarget & { reached: string[] } {
  const reached: string[] = [];
  return {
    plan,
    reached,
    vmState: () => "running",
    post: (_vm, _kind, m) => (reached.push(`post ${m.type}`), true),
    control: () => new SharedArrayBuffer(1 << 16),
    emit: (kind) => void reached.push(kind),
    askGuestBug: () => (reached.push("guest-bug"), Promise.resolve(null)),
    hangs: new Map(),
  };
}

const REFUSED: { fault: Fault; code: string; message: RegExp; topology?: string }[] = [
  {
    fault: { kind: "lost-kick", vm: "b", device: "eth0", queue: "transmitq" },
    code: "no-queues",
    message:
      /^Cannot inject lost-kick: b:eth0 is a vhost-pci-net device with no queues of its own$/,
  },
  {
    fault: { kind: "lost-irq", vm: "b", device: "eth0", queue: "receiveq", count: 2 },
    code: "no-queues",
    message: /^Cannot inject lost-irq: b:eth0 is a vhost-pci-net device/,
  },
  {
    fault: { kind: "backend-crash", vm: "a", mode: "mid-pass" },
    code: "no-queues",
    message:
      /^Cannot inject backend-crash \(mid-pass\): VM "a"'s device worker moves no NIC's frames/,
  },
  {
    fault: { kind: "backend-crash", vm: "b", mode: "mid-pass" },
    code: "no-queues",
    message: /^Cannot inject backend-crash \(mid-pass\): VM "b"'s/,
  },
  {
    fault: { kind: "guest-bug", vm: "a", device: "iommu0", queue: "requestq", bug: "loop" },
    code: "no-guest-bugs",
    message: /^Cannot inject guest-bug: a:iommu0 is an iommu device/,
  },
  {
    fault: { kind: "guest-bug", vm: "b", device: "eth0", queue: "transmitq", bug: "wrap-flip" },
    code: "bug-not-applicable",
    message: /split ring/,
  },
  {
    fault: { kind: "guest-bug", vm: "b", device: "eth0", queue: "transmitq", bug: "index-jump" },
    code: "bug-not-applicable",
    message: /packed ring/,
    topology: PACKED_FRONTEND,
  },
];

for (const { fault, code, message, topology } of REFUSED) {
  const what = `${fault.kind} ${JSON.stringify(fault)}`;
  Deno.test(`a lab refuses ${what} on its plan alone, as injecting it does`, async () => {
    const plan = planOf(topology ?? VHOST_PCI);
    const planned = plannedRefusal(plan, fault);
    assert.ok(planned !== null, "refused on the plan");
    assert.equal(planned.code, code);
    assert.match(planned.message, message);
    assert.ok(planned.hint.length > 0, "with a hint");
    const t = target(plan);
    const injected = await injectFault(fault, t);
    assert.deepEqual(injected, planned, "injectFault answers the same");
    assert.deepEqual(t.reached, [], "nothing reached the lab");
  });
}

Deno.test("faults a vhost-pci lab takes are not refused on the plan", () => {
  const plan = planOf(VHOST_PCI);
  for (
    const f of [
      { kind: "backend-crash", vm: "b", mode: "exit" },
      { kind: "backend-crash", vm: "a", mode: "hang", ms: 10 },
      { kind: "vm-crash", vm: "b" },
      { kind: "lost-kick", vm: "a", device: "eth0", queue: "transmitq" },
      { kind: "lost-irq", vm: "a", device: "iommu0", queue: "requestq" },
      { kind: "guest-bug", vm: "b", device: "eth0", queue: "transmitq", bug: "loop" },
      { kind: "guest-bug", vm: "a", device: "eth0", queue: "receiveq", bug: "index-jump" },
      // Unknown names are the caller's to report (with its own wording and "did you mean").
      { kind: "lost-kick", vm: "zz", device: "eth0", queue: "transmitq" },
      { kind: "lost-kick", vm: "a", device: "eth9", queue: "transmitq" },
      { kind: "guest-bug", vm: "b", device: "eth0", queue: "nope", bug: "loop" },
    ] as Fault[]
  ) {
    assert.equal(plannedRefusal(plan, f), null, JSON.stringify(f));
  }
});

Deno.test("a drill's fault step the vhost-pci lab would refuse is a problem at its line, before the lab starts", async () => {
  const r = await parseDrill(
    "topology: vhost-pci\ntimeline:\n" +
      "  - fault: { kind: lost-kick, vm: b, device: eth0, queue: transmitq }\n" +
      "  - fault: { kind: backend-crash, vm: a, mode: mid-pass }\n" +
      "  - fault: { kind: guest-bug, vm: a, device: iommu0, queue: requestq, bug: loop }\n" +
      "  - fault: { kind: guest-bug, vm: b, device: eth0, queue: receiveq, bug: wrap-flip }\n" +
      "  - fault: { kind: guest-bug, vm: b, device: eth0, queue: transmitq, bug: loop }\n" +
      'assert:\n  - count(events, kind = "fault") == 5\n',
    "d.yaml",
  );
  assert.ok(!r.ok, "the drill should not validate");
  const text = formatDrillIssues(r.error);
  assert.match(text, /d\.yaml:3:\d+: Cannot inject lost-kick: b:eth0 is a vhost-pci-net device/);
  assert.match(text, /hint: Its queues are a:eth0's/);
  assert.match(text, /d\.yaml:4:\d+: Cannot inject backend-crash \(mid-pass\): VM "a"'s/);
  assert.match(text, /d\.yaml:5:\d+: Cannot inject guest-bug: a:iommu0 is an iommu device/);
  assert.match(
    text,
    /d\.yaml:6:\d+: Cannot inject guest-bug wrap-flip on b's eth0 receiveq: a split ring has no such/,
  );
  assert.doesNotMatch(text, /d\.yaml:7:/, "b's driver takes a guest bug in a's transmitq");
});
