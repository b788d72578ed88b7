import assert from "node:assert/strict";
import { Partitions } from "./partition.ts";
import { planLab } from "./plan.ts";
import { topologyFromObject } from "./topology/mod.ts";
import { parseTopology } from "./topology/load.ts";

function plan() {
  const t = topologyFromObject({
    name: "p",
    vms: { a: { nics: { e0: {} } }, b: { nics: { e0: {} } }, c: { nics: { e0: {}, e1: {} } } },
    switches: { s: {} },
    links: [
      { endpoints: ["a", "s"] },
      { endpoints: ["b", "s"] },
      { endpoints: ["c:e0", "s"] },
      { endpoints: ["c:e1", "s"], name: "c2" },
    ],
  });
  if (!t.ok) throw new Error(JSON.stringify(t.error));
  return planLab(t.value);
}

Deno.test("a partition cuts every MAC pair of the two sides, both ways unless one-way", () => {
  const p = new Partitions(plan());
  const macs = (vm: string) => plan().vms.find((v) => v.name === vm)!.nics.map((n) => n.mac);
  const r = p.add(["a"], ["c"], false);
  assert.ok(r.ok);
  assert.equal(r.value.id, 1);
  const cuts = p.cuts();
  assert.equal(cuts.length, 4, "a has one NIC, c two, both ways");
  for (const m of macs("c")) {
    assert.ok(cuts.some(([s, d]) => s === macs("a")[0] && d === m));
    assert.ok(cuts.some(([s, d]) => s === m && d === macs("a")[0]));
  }
  p.heal();
  assert.ok(p.add(["a"], ["b"], true).ok);
  assert.deepEqual(p.cuts(), [[macs("a")[0], macs("b")[0]]]);
});

Deno.test("heal removes one partition by id or all of them", () => {
  const p = new Partitions(plan());
  p.add(["a"], ["b"], false);
  p.add(["a"], ["c"], false);
  assert.deepEqual(p.heal(2), [2]);
  assert.deepEqual(p.list().map((x) => x.id), [1]);
  assert.deepEqual(p.heal(7), []);
  assert.deepEqual(p.heal(), [1]);
  assert.deepEqual(p.cuts(), []);
});

Deno.test("a partition names known VMs, non-empty and disjoint sides", () => {
  const p = new Partitions(plan());
  const e1 = p.add(["a"], ["toString"], false);
  assert.ok(!e1.ok && e1.error.code === "unknown-vm" && /"toString"/.test(e1.error.message));
  const e2 = p.add([], ["a"], false);
  assert.ok(!e2.ok && e2.error.code === "bad-partition");
  // A script's or the socket's hint too: it was the bare words "vlab partition a,b / c,d".
  assert.equal(
    e2.error.hint,
    'Put at least one VM on each side, as in `vlab partition a / b` or lab.partition(["a"], ["b"])',
  );
  const e3 = p.add(["a", "b"], ["b"], false);
  assert.ok(
    !e3.ok && e3.error.code === "bad-partition" && /"b" is on both sides/.test(e3.error.message),
  );
  assert.deepEqual(p.list(), []);
});

Deno.test("a partition cuts a vhost-pci peer by its interface's MAC (its NIC left the NIC list)", () => {
  const text = Deno.readTextFileSync(new URL("../topologies/vhost-pci.yaml", import.meta.url));
  const t = parseTopology(text, "vhost-pci.yaml");
  if (!t.ok) throw new Error(JSON.stringify(t.error));
  const vhost = planLab(t.value);
  const [a, b] = ["a", "b"].map((n) => t.value.vms.find((v) => v.name === n)!.nics[0].mac);
  assert.equal(vhost.vms[1].nics.length, 0, "b's NIC is a vhost-pci-net device in the plan");
  const p = new Partitions(vhost);
  assert.ok(p.add(["a"], ["b"], false).ok);
  assert.deepEqual(p.cuts(), [[a, b], [b, a]]);
});

Deno.test("a partition cuts the vsock CIDs of its two sides both ways, one-way included", () => {
  const t = topologyFromObject({
    name: "v",
    vms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } }, c: { vsock: { cid: 5 } }, d: {} },
    vsock_routers: { r: {} },
    links: [
      { kind: "vsock", endpoints: ["a", "r"] },
      { kind: "vsock", endpoints: ["b", "r"] },
      { kind: "vsock", endpoints: ["c", "r"] },
    ],
  });
  if (!t.ok) throw new Error(JSON.stringify(t.error));
  const p = new Partitions(planLab(t.value));
  assert.deepEqual(p.vsockCuts(), []);
  assert.ok(p.add(["a"], ["c", "d"], true).ok);
  assert.deepEqual(p.vsockCuts(), [[3, 5], [5, 3]], "d has no vsock; b is on neither side");
  assert.ok(p.add(["c"], ["a", "b"], false).ok);
  assert.deepEqual(p.vsockCuts(), [[3, 5], [5, 3], [5, 4], [4, 5]], "each pair once");
  p.heal(1);
  p.heal(2);
  assert.deepEqual(p.vsockCuts(), []);
});
