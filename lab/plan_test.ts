import { NO_IMPAIRMENT } from "./host/impair.ts";
import { linkRingBytes } from "./host/link_ring_layout.ts";
import { Prng } from "../devices/base/prng.ts";
import assert from "node:assert/strict";
import {
  describeImpair,
  endpointName,
  formatPlan,
  type LabPlan,
  LINK_FRAME_PHASE,
  LINK_RING_SLOTS,
  linkSlotBytes,
  planLab,
  type RingPort,
  VSOCK_RING_SLOTS,
  VSOCK_SLOT_BYTES,
} from "./plan.ts";
import { parseTopology, topologyFromObject } from "./topology/mod.ts";
import type { Impairment, Topology } from "./topology/mod.ts";
import { controlLayout } from "./wire/control.ts";
import { NET_COUNTER_COUNT } from "../devices/net/metrics.ts";
import { VSOCK_COUNTER_COUNT } from "../devices/vsock/metrics.ts";
import { VSOCK_CONN_TABLE_WORDS } from "../devices/vsock/conn_table.ts";
import { NET_DRIVER_COUNTER_SLOTS } from "./kinds/mod.ts";
import { VSOCK_HDR_SIZE } from "../devices/vsock/header.ts";
import { linkPieceMax } from "./host/kinds/vsock_link.ts";

function topology(value: unknown): Topology {
  const r = topologyFromObject(value);
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.value;
}

const NONE: Impairment = { ...NO_IMPAIRMENT };

const hosts = (n: number) =>
  Object.fromEntries(
    Array.from(
      { length: n },
      (_, i) => [`h${i + 1}`, { nics: { eth0: { ip: `10.0.0.${i + 1}/24` } } }],
    ),
  );

function pair(): LabPlan {
  return planLab(topology({
    name: "pair",
    seed: 7,
    vms: {
      a: { memory: "32MiB", nics: { eth0: { ip: "10.0.0.1/24" } } },
      b: { nics: { eth0: { ip: "10.0.0.2/24", layout: "packed", queue_size: 64 } } },
    },
    links: [{ endpoints: ["a:eth0", "b:eth0"] }],
  }));
}

const nicPort = (vm: string, nic: string, thread: number): RingPort => ({
  kind: "nic",
  vm,
  nic,
  thread,
});
const swPort = (sw: string, port: number, thread: number): RingPort => ({
  kind: "switch",
  switch: sw,
  port,
  thread,
});

Deno.test("pair: a guest and a device worker per VM", () => {
  const p = pair();
  assert.deepEqual(p.threads, [
    { index: 0, kind: "guest", owner: "a" },
    { index: 1, kind: "device", owner: "a" },
    { index: 2, kind: "guest", owner: "b" },
    { index: 3, kind: "device", owner: "b" },
  ]);
  assert.deepEqual(p.vms.map((v) => [v.name, v.index, v.guestThread, v.deviceThread]), [
    ["a", 0, 0, 1],
    ["b", 1, 2, 3],
  ]);
  assert.deepEqual([p.name, p.seed, p.source], ["pair", 7, "<object>"]);
  assert.deepEqual(p.switches, []);
});

Deno.test("pair: two rings, forward produced by a's device thread and consumed by b's", () => {
  const p = pair();
  assert.equal(p.rings.length, 2);
  const [fwd, rev] = p.rings;
  assert.deepEqual(
    [fwd.index, fwd.link, fwd.direction, fwd.producer, fwd.consumer, fwd.seedLabel],
    [0, "a-b", "forward", nicPort("a", "eth0", 1), nicPort("b", "eth0", 3), "link a-b forward"],
  );
  assert.deepEqual(
    [rev.index, rev.link, rev.direction, rev.producer, rev.consumer, rev.seedLabel],
    [1, "a-b", "reverse", nicPort("b", "eth0", 3), nicPort("a", "eth0", 1), "link a-b reverse"],
  );
  assert.deepEqual(p.links, [{
    name: "a-b",
    endpoints: ["a:eth0", "b:eth0"],
    forwardRing: 0,
    reverseRing: 1,
  }]);
});

Deno.test("pair: each NIC transmits into the ring the other receives from", () => {
  const p = pair();
  const a = p.vms[0].nics[0];
  const b = p.vms[1].nics[0];
  assert.deepEqual([a.link, a.txRing, a.rxRing], ["a-b", 0, 1]);
  assert.deepEqual([b.link, b.txRing, b.rxRing], ["a-b", 1, 0]);
  assert.equal(a.txRing, b.rxRing);
  assert.equal(b.txRing, a.rxRing);
  assert.equal(a.index, 0);
});

Deno.test("pair: memory, control blocks and shared bytes add up", () => {
  const p = pair();
  const [a, b] = p.vms;
  assert.equal(a.memoryBytes, 32 * 2 ** 20);
  assert.equal(b.memoryBytes, 16 * 2 ** 20);
  const net = (layout: "split" | "packed", size: number) => ({
    queues: [{ layout, size }, { layout, size }],
    deviceCounters: NET_COUNTER_COUNT,
    driverCounters: NET_DRIVER_COUNTER_SLOTS,
  });
  assert.equal(a.controlBytes, controlLayout([net("split", 256)]).bytes);
  assert.equal(b.controlBytes, controlLayout([net("packed", 64)]).bytes);
  assert.deepEqual(a.control, controlLayout([net("split", 256)]));
  assert.equal([p.ringSlots, p.slotBytes].join(), [LINK_RING_SLOTS, linkSlotBytes(1500)].join());
  const rings = 2 * linkRingBytes(LINK_RING_SLOTS, linkSlotBytes(1500), LINK_FRAME_PHASE);
  assert.equal(
    p.sharedBytes,
    a.memoryBytes + b.memoryBytes + a.controlBytes + b.controlBytes + rings,
  );
});

Deno.test("a NIC without a link has no rings", () => {
  const p = planLab(topology({ name: "x", vms: { a: { nics: { eth0: {}, eth1: {} } } } }));
  assert.deepEqual(p.vms[0].nics.map((n) => [n.index, n.link, n.txRing, n.rxRing]), [
    [0, null, -1, -1],
    [1, null, -1, -1],
  ]);
  assert.deepEqual([p.rings, p.links, p.threads.length], [[], [], 2]);
});

Deno.test("star: a switch thread after the VMs, one port per link, rings both ways", () => {
  const p = planLab(topology({
    name: "star",
    vms: hosts(3),
    switches: { sw1: {} },
    links: [{ endpoints: ["h1", "sw1"] }, { endpoints: ["sw1", "h2"] }, {
      endpoints: ["h3", "sw1"],
    }],
  }));
  assert.equal(p.threads.length, 7);
  assert.deepEqual(p.threads[6], { index: 6, kind: "switch", owner: "sw1" });
  const sw = p.switches[0];
  assert.deepEqual([sw.name, sw.thread, sw.portsMax], ["sw1", 6, 64]);
  assert.deepEqual(sw.ports, [
    { link: "h1-sw1", rxRing: 0, txRing: 1 },
    { link: "sw1-h2", rxRing: 3, txRing: 2 }, // the switch is endpoints[0]: it produces forward
    { link: "h3-sw1", rxRing: 4, txRing: 5 },
  ]);
  assert.equal(p.rings.length, 6);
  assert.deepEqual(p.rings.map((r) => [r.producer, r.consumer]), [
    [nicPort("h1", "eth0", 1), swPort("sw1", 0, 6)],
    [swPort("sw1", 0, 6), nicPort("h1", "eth0", 1)],
    [swPort("sw1", 1, 6), nicPort("h2", "eth0", 3)],
    [nicPort("h2", "eth0", 3), swPort("sw1", 1, 6)],
    [nicPort("h3", "eth0", 5), swPort("sw1", 2, 6)],
    [swPort("sw1", 2, 6), nicPort("h3", "eth0", 5)],
  ]);
  // Every VM's NIC and its switch port read and write opposite rings.
  for (const [i, vm] of p.vms.entries()) {
    const nic = vm.nics[0];
    const port = sw.ports.find((x) => x.link === nic.link)!;
    assert.equal(nic.txRing, port.rxRing, `${vm.name} → sw1`);
    assert.equal(nic.rxRing, port.txRing, `sw1 → ${vm.name}`);
    assert.equal(p.rings[nic.txRing].consumer.thread, 6, `${vm.name}`);
    assert.equal(p.rings[nic.rxRing].producer.thread, 6, `${vm.name}`);
    assert.equal(p.rings[nic.txRing].producer.thread, p.vms[i].deviceThread);
  }
});

Deno.test("two switches: the trunk is a pair of switch-to-switch rings", () => {
  const p = planLab(topology({
    name: "two-switches",
    vms: hosts(4),
    switches: { sw1: {}, sw2: { ports_max: 8 } },
    links: [
      { endpoints: ["sw1", "sw2"] },
      { endpoints: ["h1", "sw1"] },
      { endpoints: ["h2", "sw1"] },
      { endpoints: ["h3", "sw2"] },
      { endpoints: ["h4", "sw2"] },
    ],
  }));
  assert.deepEqual(p.switches.map((s) => [s.name, s.thread, s.portsMax]), [["sw1", 8, 64], [
    "sw2",
    9,
    8,
  ]]);
  assert.equal(p.threads.length, 10);
  const [fwd, rev] = p.rings;
  assert.equal(p.links[0].name, "sw1-sw2");
  assert.deepEqual([fwd.producer, fwd.consumer], [swPort("sw1", 0, 8), swPort("sw2", 0, 9)]);
  assert.deepEqual([rev.producer, rev.consumer], [swPort("sw2", 0, 9), swPort("sw1", 0, 8)]);
  assert.deepEqual(p.switches[0].ports[0], { link: "sw1-sw2", rxRing: 1, txRing: 0 });
  assert.deepEqual(p.switches[1].ports[0], { link: "sw1-sw2", rxRing: 0, txRing: 1 });
  assert.deepEqual(p.switches.map((s) => s.ports.map((x) => x.link)), [
    ["sw1-sw2", "h1-sw1", "h2-sw1"],
    ["sw1-sw2", "h3-sw2", "h4-sw2"],
  ]);
  // Every ring has one producer and one consumer on different threads, and every ring is used.
  const used = new Set<number>();
  for (const s of p.switches) for (const x of s.ports) used.add(x.rxRing).add(x.txRing);
  for (const v of p.vms) for (const n of v.nics) used.add(n.rxRing).add(n.txRing);
  assert.deepEqual([...used].sort((a, b) => a - b), p.rings.map((r) => r.index));
  for (const r of p.rings) assert.notEqual(r.producer.thread, r.consumer.thread);
});

Deno.test("impairments land on the direction the YAML names", () => {
  const yaml = `
name: imp
vms:
  a: { nics: { eth0: { ip: 10.0.0.1/24 } } }
  b: { nics: { eth0: { ip: 10.0.0.2/24 } } }
links:
  - endpoints: [a, b]
    loss: 1%
    forward: { delay: 10ms, jitter: 2ms }
    reverse: { rate: 100mbit, duplicate: 0.5% }
`;
  const r = parseTopology(yaml, "imp.yaml");
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  const p = planLab(r.value);
  const [fwd, rev] = p.rings;
  assert.equal(fwd.direction, "forward");
  assert.deepEqual(fwd.impair, { ...NONE, delayUs: 10_000, jitterUs: 2000, lossPct: 1 });
  assert.deepEqual(rev.impair, { ...NONE, lossPct: 1, rateBps: 100e6, duplicatePct: 0.5 });
  // The forward ring is a → b: a's device produces it, so a applies the delay.
  assert.equal(fwd.producer.kind === "nic" && fwd.producer.vm, "a");
  assert.equal(p.source, "imp.yaml");
  assert.match(
    formatPlan(p),
    /rings #0 \(delay 10ms 2ms loss 1%\) and #1 \(loss 1% duplicate 0\.5% rate 100mbit\)/,
  );
});

Deno.test("describeImpair speaks netem", () => {
  assert.equal(describeImpair(NONE), "no impairment");
  assert.equal(
    describeImpair({ ...NONE, delayUs: 10_000, jitterUs: 2000, lossPct: 1 }),
    "delay 10ms 2ms loss 1%",
  );
  assert.equal(describeImpair({ ...NONE, delayUs: 250 }), "delay 0.25ms");
  // A second and more in seconds, as tc prints them, not "delay 60000ms".
  assert.equal(
    describeImpair({ ...NONE, delayUs: 60_000_000, jitterUs: 1_500_000 }),
    "delay 60s 1.5s",
  );
  assert.equal(describeImpair({ ...NONE, delayUs: 999_000 }), "delay 999ms");
  assert.equal(
    describeImpair({ ...NONE, delayUs: 5000, corruptPct: 0.1, duplicatePct: 2, reorderPct: 25 }),
    "delay 5ms corrupt 0.1% duplicate 2% reorder 25%",
  );
  assert.equal(describeImpair({ ...NONE, rateBps: 1e9 }), "rate 1gbit");
  assert.equal(describeImpair({ ...NONE, rateBps: 512_000 }), "rate 512kbit");
  assert.equal(describeImpair({ ...NONE, rateBps: 1_500_000 }), "rate 1500kbit");
  assert.equal(describeImpair({ ...NONE, rateBps: 999 }), "rate 999bit");
});

Deno.test("endpointName writes vm:nic or the switch", () => {
  assert.equal(endpointName({ kind: "nic", vm: "a", nic: "eth1" }), "a:eth1");
  assert.equal(endpointName({ kind: "switch", switch: "sw1" }), "sw1");
});

Deno.test("formatPlan mentions every VM, NIC, switch and link", () => {
  const p = planLab(topology({
    name: "mixed",
    seed: 42,
    vms: {
      a: { nics: { eth0: { ip: "10.0.0.1/24" }, eth1: {} } },
      b: {
        memory: "8MiB",
        nics: { eth0: { ip: "10.0.0.2/24", layout: "packed", queue_size: 100 } },
      },
    },
    switches: { sw1: {}, lonely: {} },
    links: [
      { endpoints: ["a:eth0", "b"], name: "ab", forward: { loss: "2%" } },
      { endpoints: ["a:eth1", "sw1"] },
    ],
  }));
  const text = formatPlan(p);
  const lines = text.split("\n");
  assert.equal(lines[0], "lab mixed (seed 42) from <object>");
  assert.match(
    lines[1],
    /^ {2}6 workers, 4 link rings of 512 × 1514 B, [\d.]+ MiB of shared memory/,
  );
  assert.match(
    text,
    /^ {2}vm a: 16 MiB guest memory, control block \d+ B, workers guest #0 device #1/m,
  );
  assert.match(text, /^ {2}vm b: 8 MiB guest memory, .* workers guest #2 device #3/m);
  assert.match(
    text,
    /^ {4}eth0 02:00:00:00:00:00 10\.0\.0\.1\/24: split rings of 256, mtu 1500, .*link ab$/m,
  );
  assert.match(text, /^ {4}eth1 \S+ no address: split rings of 256, .*link a-sw1$/m);
  assert.match(text, /^ {4}eth0 \S+ 10\.0\.0\.2\/24: packed rings of 100, .*link ab$/m);
  assert.match(text, /^ {2}switch sw1: worker #4, ports a-sw1$/m);
  assert.match(text, /^ {2}switch lonely: worker #5, ports \(none\)$/m);
  assert.match(
    text,
    /^ {2}link ab: a:eth0 ⇄ b:eth0, rings #0 \(loss 2%\) and #1 \(no impairment\)$/m,
  );
  assert.match(
    text,
    /^ {2}link a-sw1: a:eth1 ⇄ sw1, rings #2 \(no impairment\) and #3 \(no impairment\)$/m,
  );
  assert.equal(lines.length, 2 + 2 + 3 + 2 + 2, "one line per VM, NIC, switch and link");
});

Deno.test("a NIC with no link says so", () => {
  const text = formatPlan(planLab(topology({ name: "x", vms: { a: { nics: { eth0: {} } } } })));
  assert.match(text, /eth0 .* link \(none\)$/m);
  assert.match(text, /^ {2}2 workers, 0 link rings/m);
});

Deno.test("a plan is plain data that survives JSON", () => {
  const p = pair();
  assert.deepEqual(JSON.parse(JSON.stringify(p)), p);
});

Deno.test("a NIC's device slot carries its values parsed once: MAC bytes, address as a u32, rings", () => {
  const p = pair();
  const [a, b] = p.vms;
  const dev = a.devices[0];
  assert.equal(dev.kind, "net");
  assert.equal(dev.index, 0);
  assert.deepEqual(dev.queues.map((q) => q.name), ["receiveq", "transmitq"]);
  assert.deepEqual(dev.mac, a.nics[0].mac.split(":").map((h) => parseInt(h, 16)));
  assert.equal(dev.ip, a.nics[0].ip!.split(".").reduce((n, o) => n * 256 + Number(o), 0));
  assert.deepEqual([dev.txRing, dev.rxRing], [a.nics[0].txRing, a.nics[0].rxRing]);
  assert.deepEqual([b.devices[0].txRing, b.devices[0].rxRing], [dev.rxRing, dev.txRing]);
  // Plain data: what the workers receive by structured clone is the plan itself.
  assert.deepEqual(structuredClone(a.devices), a.devices);
});

Deno.test("a VM with a NIC and a vsock device lays out both slots: 2 and 3 queues, each its counters", () => {
  const p = planLab(topology({
    name: "vs",
    vms: {
      a: { nics: { eth0: { ip: "10.0.0.1/24" } }, vsock: { cid: 3 } },
      b: { vsock: { cid: 4 } },
    },
    links: [{ kind: "vsock", endpoints: ["a", "b"] }],
  }));
  const [a, b] = p.vms;
  assert.deepEqual(a.devices.map((d) => [d.kind, d.index, d.queues.map((q) => q.name)]), [
    ["net", 0, ["receiveq", "transmitq"]],
    ["vsock", 1, ["rx", "tx", "event"]],
  ]);
  assert.equal(a.control.devices.length, 2);
  assert.equal(a.control.devices[0].queueState.length, 2);
  assert.equal(a.control.devices[1].queueState.length, 3);
  // The vsock counters, then its published connection table.
  assert.equal(
    a.control.devices[1].deviceCounterCount,
    VSOCK_COUNTER_COUNT + VSOCK_CONN_TABLE_WORDS,
  );
  assert.ok(a.control.devices[1].mailbox > a.control.devices[0].driverCounters);
  assert.deepEqual(a.control, controlLayout(a.devices));
  // The vsock link: two rings, each device sends into one and reads the other; peers know CIDs.
  const [va, vb] = [a.devices[1], b.devices[0]];
  assert.ok(va.kind === "vsock" && vb.kind === "vsock");
  assert.deepEqual([va.txRing, va.rxRing, va.peerCid], [vb.rxRing, vb.txRing, 4]);
  assert.equal(vb.peerCid, 3);
  assert.deepEqual(p.links.map((l) => [l.name, l.endpoints]), [["a-b-vsock", ["a", "b"]]]);
  assert.deepEqual(p.rings.map((r) => r.producer.kind), ["vsock", "vsock"]);
  // Its rings hold a whole 64 KiB packet per slot (a NIC's ring holds a frame per slot).
  assert.deepEqual(
    p.rings.map((r) => [r.slots, r.slotBytes]),
    [[VSOCK_RING_SLOTS, VSOCK_SLOT_BYTES], [VSOCK_RING_SLOTS, VSOCK_SLOT_BYTES]],
  );
  assert.equal(VSOCK_SLOT_BYTES, VSOCK_HDR_SIZE + 65536);
  assert.equal(linkPieceMax(VSOCK_SLOT_BYTES), 65536, "a 64 KiB packet is one piece");
});

Deno.test("the plan's rings each have their geometry: a NIC link's and a vsock link's differ", () => {
  const p = planLab(topology({
    name: "both",
    vms: {
      a: { nics: { eth0: { ip: "10.0.0.1/24" } }, vsock: { cid: 3 } },
      b: { nics: { eth0: { ip: "10.0.0.2/24" } }, vsock: { cid: 4 } },
    },
    links: [{ endpoints: ["a:eth0", "b:eth0"] }, { kind: "vsock", endpoints: ["a", "b"] }],
  }));
  // A frame starts where it does in a guest's buffer: a NIC's after the 12-byte virtio-net header
  // (4 past a multiple of 8), a vsock packet's header at a multiple of 8.
  assert.deepEqual(p.rings.map((r) => [r.producer.kind, r.slots, r.slotBytes, r.framePhase]), [
    ["nic", LINK_RING_SLOTS, linkSlotBytes(1500), 4],
    ["nic", LINK_RING_SLOTS, linkSlotBytes(1500), 4],
    ["vsock", VSOCK_RING_SLOTS, VSOCK_SLOT_BYTES, 0],
    ["vsock", VSOCK_RING_SLOTS, VSOCK_SLOT_BYTES, 0],
  ]);
  const rings = p.rings.reduce(
    (n, r) => n + linkRingBytes(r.slots, r.slotBytes, r.framePhase),
    0,
  );
  const rest = p.vms.reduce((n, v) => n + v.memoryBytes + v.controlBytes, 0);
  assert.equal(p.sharedBytes, rest + rings);
  assert.match(
    formatPlan(p).split("\n")[1],
    new RegExp(
      `4 link rings: 2 of ${LINK_RING_SLOTS} × ${
        linkSlotBytes(1500)
      } B, 2 of ${VSOCK_RING_SLOTS} × ${VSOCK_SLOT_BYTES} B`,
    ),
  );
});

Deno.test("the plan carries every seed: each VM's and each ring's, forked from the lab seed by label", () => {
  const p = pair();
  assert.equal(p.vms[0].seed, Prng.fromSeed(7).fork("vm a").nextU32());
  assert.equal(p.rings[1].seed, Prng.fromSeed(7).fork("link a-b reverse").nextU32());
  assert.notEqual(p.rings[0].seed, p.rings[1].seed);
  // Computed once: the same topology plans the same seeds.
  assert.deepEqual(pair().rings.map((r) => r.seed), p.rings.map((r) => r.seed));
});

Deno.test("formatPlan shows a vIOMMU and a vhost-pci peer's interface, and the frontend's csum", () => {
  const text = Deno.readTextFileSync(new URL("../topologies/vhost-pci.yaml", import.meta.url));
  const t = parseTopology(text, "vhost-pci.yaml");
  assert.ok(t.ok);
  const out = formatPlan(planLab(t.value));
  assert.match(
    out,
    /^ {4}iommu0 virtio-iommu, mode static, \d+ mapping entries, translates for eth0 \(endpoint 0\)$/m,
  );
  assert.match(
    out,
    /^ {4}eth0 02:00:00:01:00:00 10\.0\.0\.2\/24: vhost-pci-net \(device ID 63\), serves a:eth0/m,
  );
  // a's NIC offers checksum offload over a vhost-pci link too (b trusts and leaves partials).
  assert.match(
    out,
    /^ {4}eth0 02:00:00:00:00:00 10\.0\.0\.1\/24: .*features \[event_idx, mrg_rxbuf, csum\]/m,
  );
});

Deno.test("formatPlan says how much IOVA space a strict or lazy vIOMMU gives each NIC", () => {
  const text = Deno.readTextFileSync(new URL("../topologies/iommu-pair.yaml", import.meta.url));
  const jumbo = text.replace("mode: static", "mode: lazy")
    .replace("iommu: true }", "iommu: true, queue_size: 8192, mtu: 9000, features: [indirect] }")
    .replace("vms:\n  a:\n", "vms:\n  a:\n    memory: 512MiB\n");
  const t = parseTopology(jumbo, "iommu-pair.yaml");
  assert.ok(t.ok, JSON.stringify(!t.ok && t.error));
  const out = formatPlan(planLab(t.value));
  // 8192 RX and 8192 TX buffers of 4 pages at most each, and the buffers whose UNMAP waits.
  assert.match(
    out,
    /^ {4}iommu0 virtio-iommu, mode lazy, .*eth0 \(endpoint 0, 261 MiB of IOVA space\)$/m,
  );
  assert.match(out, /mode static, .*eth0 \(endpoint 0\)$/m, "static maps the pool, not buffers");
});

Deno.test("planLab and formatPlan refuse what is no loaded topology or plan, naming the fix", () => {
  // topologyObject's form (VMs in a map) failed deep inside: "topology.vms.map is not a function".
  for (const bad of [{ name: "x", vms: { a: {} } }, null, 7]) {
    assert.throws(
      () => planLab(bad as unknown as Topology),
      (e: unknown) =>
        e instanceof TypeError &&
        /^planLab: topology must be one loadTopology returned/.test(e.message),
    );
  }
  assert.throws(
    () => formatPlan(null as unknown as LabPlan),
    /^TypeError: formatPlan: plan must be/,
  );
});

Deno.test("a link's ring slots hold the largest frame of its L2 segment, not 9000 bytes everywhere", () => {
  const ok = topologyFromObject({
    name: "mtus",
    vms: {
      a: { nics: { eth0: {}, eth1: { mtu: 9000 } } },
      b: { nics: { eth0: {}, eth1: { mtu: 9000 } } },
      c: { nics: { eth0: { mtu: 4000 } } },
      d: { nics: { eth0: { mtu: 1280 } } },
    },
    switches: { s1: {}, s2: {}, s3: {}, s4: {}, s5: {} },
    links: [
      { endpoints: ["a:eth0", "b:eth0"] },
      { endpoints: ["a:eth1", "s1"] },
      { endpoints: ["s1", "s2"] },
      { endpoints: ["s2", "b:eth1"] },
      { endpoints: ["c:eth0", "s3"] },
      { endpoints: ["s3", "d:eth0"] },
      { endpoints: ["s4", "s5"] }, // no NIC on this segment: nothing crosses it
    ],
  });
  assert.ok(ok.ok, ok.ok ? "" : JSON.stringify(ok.error));
  const p = planLab(ok.value);
  const byLink = new Map<string, number[]>();
  for (const r of p.rings) byLink.set(r.link, [...(byLink.get(r.link) ?? []), r.slotBytes]);
  assert.deepEqual(Object.fromEntries(byLink), {
    "a-b": [1514, 1514],
    "a-s1": [9014, 9014],
    "s1-s2": [9014, 9014],
    "s2-b": [9014, 9014],
    "c-s3": [4014, 4014],
    "s3-d": [4014, 4014],
    "s4-s5": [1514, 1514],
  });
  // Every NIC's frames fit every ring its segment holds: its MTU plus the Ethernet header.
  for (const vm of p.vms) {
    for (const nic of vm.nics) {
      for (const r of [p.rings[nic.txRing!], p.rings[nic.rxRing!]]) {
        assert.ok(r.slotBytes >= nic.mtu + 14, `${vm.name}:${nic.name} on ${r.link}`);
      }
    }
  }
  assert.equal(p.slotBytes, 9014, "the plan's slotBytes is its largest NIC ring's");
  assert.equal(
    p.sharedBytes - p.vms.reduce((n, v) => n + v.memoryBytes + v.controlBytes, 0),
    p.rings.reduce((n, r) => n + linkRingBytes(r.slots, r.slotBytes, r.framePhase), 0),
  );
  // A lab at the default MTU: each ring is 512 slots of 1514 B, under a sixth of 9216 B slots.
  const t = topologyFromObject({
    name: "pair",
    vms: { a: { nics: { eth0: {} } }, b: { nics: { eth0: {} } } },
    links: [{ endpoints: ["a:eth0", "b:eth0"] }],
  });
  assert.ok(t.ok);
  const pair = planLab(t.value);
  const bytes = linkRingBytes(LINK_RING_SLOTS, pair.rings[0].slotBytes, LINK_FRAME_PHASE);
  assert.ok(bytes < linkRingBytes(LINK_RING_SLOTS, 9216, LINK_FRAME_PHASE) / 5, String(bytes));
});

Deno.test("formatPlan calls a vsock router a vsock router, not a switch", () => {
  // `vlab up --dry-run` of a routed vsock lab said "switch r1: worker #2 …".
  const t = parseTopology(
    "name: vr\nvms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } } }\n" +
      "vsock_routers: { r1: {} }\n" +
      "links: [{ kind: vsock, endpoints: [a, r1] }, { kind: vsock, endpoints: [b, r1] }]\n",
    "vr.yaml",
  );
  assert.ok(t.ok);
  const text = formatPlan(planLab(t.value));
  assert.match(text, /^ {2}vsock router r1: worker #4, ports a-r1-vsock, b-r1-vsock$/m);
  assert.doesNotMatch(text, /switch r1/);
});

Deno.test("formatPlan counts in the singular too: a lone switch's plan says 1 worker", () => {
  // It said "1 workers, 0 link rings".
  const t = parseTopology("name: s\nvms: {}\nswitches: { sw1: {} }\n", "s.yaml");
  assert.ok(t.ok);
  assert.match(
    formatPlan(planLab(t.value)),
    /^ {2}1 worker, 0 link rings, 0 MiB of shared memory/m,
  );
});

Deno.test("each vsock device knows the CIDs a vsock link or router joins its VM to", () => {
  // Without them, a guest's vsock-send to a VM nothing joins it to hinted to start a listener
  // there and check "the vsock link between the two VMs", which did not exist.
  const t = parseTopology(
    "name: vj\nvms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } }, c: { vsock: { cid: 5 } }, " +
      "d: { vsock: { cid: 6 } }, e: { vsock: { cid: 7 } }, f: { vsock: { cid: 8 } } }\n" +
      "vsock_routers: { r1: {} }\n" +
      "links: [{ kind: vsock, endpoints: [a, b] }, { kind: vsock, endpoints: [c, r1] }, " +
      "{ kind: vsock, endpoints: [d, r1] }, { kind: vsock, endpoints: [e, r1] }]\n",
    "vj.yaml",
  );
  assert.ok(t.ok);
  const joined = planLab(t.value).vms.map((v) => {
    const d = v.devices.find((x) => x.kind === "vsock");
    return [v.name, d?.kind === "vsock" ? d.joinedCids : null];
  });
  assert.deepEqual(joined, [
    ["a", [4]],
    ["b", [3]],
    ["c", [6, 7]],
    ["d", [5, 7]],
    ["e", [5, 6]],
    ["f", []],
  ]);
});

Deno.test("each vsock device knows the path to each VM it reaches: a vsock link, or a router and its two links", () => {
  // A refused connect through a router hinted at "the vsock link between the two VMs", which
  // a lab with a router does not have.
  const t = parseTopology(
    "name: vp\nvms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } }, c: { vsock: { cid: 5 } }, " +
      "d: { vsock: { cid: 6 } }, f: { vsock: { cid: 8 } } }\n" +
      "vsock_routers: { r1: {} }\n" +
      "links: [{ kind: vsock, endpoints: [a, b] }, { kind: vsock, endpoints: [c, r1] }, " +
      "{ kind: vsock, endpoints: [d, r1] }]\n",
    "vp.yaml",
  );
  assert.ok(t.ok);
  const paths = planLab(t.value).vms.map((v) => {
    const d = v.devices.find((x) => x.kind === "vsock");
    return [v.name, d?.kind === "vsock" ? d.joinedPaths : null];
  });
  assert.deepEqual(paths, [
    ["a", [[4, "the vsock link a-b-vsock"]]],
    ["b", [[3, "the vsock link a-b-vsock"]]],
    ["c", [[6, "vsock router r1 and its links c-r1-vsock and d-r1-vsock"]]],
    ["d", [[5, "vsock router r1 and its links d-r1-vsock and c-r1-vsock"]]],
    ["f", []],
  ]);
});
