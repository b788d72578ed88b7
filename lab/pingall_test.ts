import assert from "node:assert/strict";
import {
  formatPingall,
  type PairResult,
  pingallReport,
  type PingPair,
  pingPairs,
  runPingall,
} from "./pingall.ts";

const vm = (name: string, ...ips: (string | null)[]) => ({
  name,
  nics: ips.map((ip, i) => ({ name: `eth${i}`, ip })),
});
// deno-lint-ignore no-explicit-any
const status = (...vms: ReturnType<typeof vm>[]) => ({ vms }) as any;

const result = (p: PingPair, received: number, error: string | null = null): PairResult => ({
  ...p,
  transmitted: 3,
  received,
  error,
});

Deno.test("pingall pairs every ordered pair of VMs sharing a subnet, once, at the shared address", () => {
  const pairs = pingPairs(status(
    vm("a", "10.0.0.1/24", "10.1.0.1/24"),
    vm("b", "10.1.0.2/24", "10.0.0.2/24"),
    vm("c", "10.0.0.3/16"), // same address range as 10.0.0.0/24 but another prefix: not shared
    vm("d", null), // L2 only
    vm("e", "10.1.0.200/24"),
  ));
  assert.deepEqual(pairs.map((p) => `${p.from}->${p.to}@${p.dst}`), [
    "a->b@10.1.0.2",
    "a->e@10.1.0.200",
    "b->a@10.0.0.1",
    "b->e@10.1.0.200",
    "e->a@10.1.0.1",
    "e->b@10.1.0.2",
  ]);
});

Deno.test("pingall pairs a VM whose address is on a vhost-pci-net device, not a NIC", () => {
  const b = { name: "b", nics: [], devices: [{ name: "eth0", ip: "10.0.0.2/24" }, { name: "x" }] };
  const pairs = pingPairs(status(vm("a", "10.0.0.1/24"), b));
  assert.deepEqual(pairs.map((p) => `${p.from}->${p.to}@${p.dst}`), [
    "a->b@10.0.0.2",
    "b->a@10.0.0.1",
  ]);
});

Deno.test("pingall pings a VM at its first address on the subnet in the topology's order", () => {
  // b's vhost-pci-net eth0 comes first in its topology (slot 0); its NIC eth1 is on the same
  // subnet. A list of the NICs, then the devices, pinged eth1.
  const b = {
    name: "b",
    nics: [{ name: "eth1", ip: "10.0.0.3/24", slot: 1 }],
    devices: [{ name: "eth0", ip: "10.0.0.2/24", slot: 0 }],
  };
  const pairs = pingPairs(status(vm("a", "10.0.0.1/24"), b));
  assert.deepEqual(pairs.map((p) => `${p.from}->${p.to}@${p.dst}`), [
    "a->b@10.0.0.2",
    "b->a@10.0.0.1",
  ]);
});

Deno.test("pingall runs one ping at a time per source VM and sources in parallel, bounded", async () => {
  const vms = ["a", "b", "c", "d", "e"].map((n, i) => vm(n, `10.0.0.${i + 1}/24`));
  const pairs = pingPairs(status(...vms));
  assert.equal(pairs.length, 20);
  const busy = new Set<string>();
  let running = 0;
  let most = 0;
  const order: string[] = [];
  const results = await runPingall(pairs, async (p) => {
    assert.ok(!busy.has(p.from), `two pings at once from ${p.from}`);
    busy.add(p.from);
    running++;
    most = Math.max(most, running);
    await Promise.resolve();
    await new Promise((r) => setTimeout(r, 1));
    busy.delete(p.from);
    running--;
    order.push(`${p.from}->${p.to}`);
    return result(p, p.to === "c" ? 0 : 3);
  }, { maxSources: 3 });
  assert.equal(most, 3);
  assert.equal(order.length, 20);
  // Results come back in the order of the pairs, whatever order they finished in.
  assert.deepEqual(
    results.map((r) => `${r.from}->${r.to}`),
    pairs.map((p) => `${p.from}->${p.to}`),
  );
  assert.deepEqual(results.filter((r) => r.received === 0).map((r) => r.from).sort(), [
    "a",
    "b",
    "d",
    "e",
  ]);
});

Deno.test("pingall stops pinging once aborted", async () => {
  const pairs = pingPairs(
    status(vm("a", "10.0.0.1/24"), vm("b", "10.0.0.2/24"), vm("c", "10.0.0.3/24")),
  );
  const abort = new AbortController();
  let calls = 0;
  const results = await runPingall(pairs, (p) => {
    calls++;
    abort.abort();
    return Promise.resolve(result(p, 3));
  }, { maxSources: 1, signal: abort.signal });
  assert.equal(calls, 1);
  assert.deepEqual(results.map((r) => r.error), [null, ...new Array(5).fill("interrupted")]);
});

Deno.test("pingall prints mininet's matrix, the summary over pairs, then each failed pair", () => {
  const pairs = pingPairs(
    status(vm("a", "10.0.0.1/24"), vm("b", "10.0.0.2/24"), vm("c", "10.0.0.3/24"), vm("d", null)),
  );
  const results = pairs.map((p) =>
    p.from === "c" && p.to === "a"
      ? result(p, 0)
      : p.from === "a" && p.to === "c"
      ? result(p, 0, 'VM "a" is not running')
      : result(p, p.to === "b" ? 1 : 3)
  );
  const report = pingallReport(["a", "b", "c", "d"], results);
  assert.deepEqual([report.reached, report.pairs, report.droppedPct], [4, 6, 33]);
  assert.equal(
    formatPingall(report),
    [
      "*** Ping: testing ping reachability",
      "a -> b X",
      "b -> a c",
      "c -> X b",
      "d -> (shares no subnet with another VM)",
      "*** Results: 33% dropped (4/6 received)",
      '*** a -> c (10.0.0.3): VM "a" is not running',
      "*** c -> a (10.0.0.1): 0/3 replies",
    ].join("\n"),
  );
});

Deno.test("pingall with every pair answered reports 0% dropped", () => {
  const pairs = pingPairs(status(vm("a", "10.0.0.1/24"), vm("b", "10.0.0.2/24")));
  const report = pingallReport(["a", "b"], pairs.map((p) => result(p, 3)));
  assert.equal(formatPingall(report).split("\n").at(-1), "*** Results: 0% dropped (2/2 received)");
});

Deno.test("interrupted pairs are not measured: '?' in the matrix, out of the dropped share", () => {
  // They were counted as pairs with no reply: an interrupt read as a broken network.
  const r = pingallReport(["a", "b", "c"], [
    { from: "a", to: "b", dst: "10.0.0.2", transmitted: 3, received: 3, error: null },
    { from: "a", to: "c", dst: "10.0.0.3", transmitted: 3, received: 0, error: null },
    { from: "b", to: "a", dst: "10.0.0.1", transmitted: 0, received: 0, error: "interrupted" },
    { from: "b", to: "c", dst: "10.0.0.3", transmitted: 0, received: 0, error: "interrupted" },
  ]);
  assert.deepEqual([r.reached, r.pairs, r.interrupted, r.droppedPct], [1, 4, 2, 50]);
  assert.equal(
    formatPingall(r),
    [
      "*** Ping: testing ping reachability",
      "a -> b X",
      "b -> ? ?",
      "c -> (shares no subnet with another VM)",
      "*** Results: 50% dropped (1/2 received); interrupted: 2 of 4 pairs not measured (?)",
      "*** a -> c (10.0.0.3): 0/3 replies",
    ].join("\n"),
  );
});

Deno.test("a pair cut by an interrupt shows what it measured: reached with a reply, '?' without", () => {
  // The pair in flight lost its counts: its request was cut, and the lab's answer with it.
  const r = pingallReport(["a", "b", "c"], [
    { from: "a", to: "b", dst: "10.0.0.2", transmitted: 2, received: 1, error: null, cut: true },
    { from: "a", to: "c", dst: "10.0.0.3", transmitted: 0, received: 0, error: "interrupted" },
    { from: "b", to: "a", dst: "10.0.0.1", transmitted: 1, received: 0, error: null, cut: true },
    { from: "b", to: "c", dst: "10.0.0.3", transmitted: 3, received: 0, error: null },
  ]);
  assert.deepEqual([r.reached, r.pairs, r.interrupted, r.droppedPct], [1, 4, 2, 50]);
  assert.equal(
    formatPingall(r),
    [
      "*** Ping: testing ping reachability",
      "a -> b ?",
      "b -> ? X",
      "c -> (shares no subnet with another VM)",
      "*** Results: 50% dropped (1/2 received); interrupted: 2 of 4 pairs not measured (?)",
      "*** a -> b (10.0.0.2): interrupted after 1/2 replies",
      "*** b -> a (10.0.0.1): interrupted after 0/1 replies",
      "*** b -> c (10.0.0.3): 0/3 replies",
    ].join("\n"),
  );
});
