import assert from "node:assert/strict";
import { ArpOp, ArpTable, newArpPacket, parseArp, writeArp } from "./arp.ts";

const MAC_B = new Uint8Array([2, 0, 0, 0, 0, 2]);

Deno.test("writeArp and parseArp round-trip an Ethernet/IPv4 reply", () => {
  const b = new Uint8Array(28);
  writeArp(b, 0, { op: ArpOp.reply, sha: MAC_B, spa: 0x0a000002, tha: new Uint8Array(6), tpa: 1 });
  assert.deepEqual([...b.subarray(0, 8)], [0, 1, 8, 0, 6, 4, 0, 2]);
  const p = newArpPacket();
  assert.equal(parseArp(b, 0, p).ok, true);
  assert.equal(p.op, ArpOp.reply);
  assert.deepEqual([...p.sha], [...MAC_B]);
  assert.equal(p.spa, 0x0a000002);
});

Deno.test("parseArp rejects short, non-Ethernet and unknown-op packets", () => {
  const p = newArpPacket();
  const kind = (b: Uint8Array) => {
    const r = parseArp(b, 0, p);
    return r.ok ? "ok" : r.error.kind;
  };
  assert.equal(kind(new Uint8Array(27)), "truncated");
  const b = new Uint8Array(28);
  writeArp(b, 0, { op: 1, sha: MAC_B, spa: 1, tha: MAC_B, tpa: 2 });
  const tokenRing = b.slice();
  tokenRing[1] = 6;
  assert.equal(kind(tokenRing), "unsupported");
  const op = b.slice();
  op[7] = 9;
  assert.equal(kind(op), "bad-op");
});

Deno.test("ArpTable: an entry goes stale after the TTL, is still used, waits in delay, then is probed", () => {
  const probes: [number, number, string, number][] = [];
  let now = 0;
  const t = new ArpTable(
    { ttlMs: 100, delayMs: 20, retryMs: 10, maxTries: 3 },
    (ip, ifIndex, mac) => probes.push([ip, ifIndex, [...mac].join(), now]),
  );
  t.learn(5, MAC_B, 1, 0);
  assert.deepEqual(t.lookup(5, 99), MAC_B);
  assert.equal(t.entries(99)[0].state, "reachable");
  assert.equal(t.entries(100)[0].state, "stale", "unused since: kept, not probed");
  assert.deepEqual(probes, []);
  now = 150;
  assert.deepEqual(t.lookup(5, now), MAC_B, "a stale entry's MAC is still used");
  assert.deepEqual(t.lookup(5, now), MAC_B);
  assert.equal(t.entries(now)[0].state, "delay");
  assert.equal(t.entries(now)[0].expiresInMs, 20);
  assert.equal(t.nextDeadline(), 170);
  t.due(169, () => assert.fail("no request"), () => assert.fail("nothing given up"));
  assert.deepEqual(probes, [], "no probe during the delay");
  now = 170;
  t.due(now, () => assert.fail("no request"), () => assert.fail("nothing given up"));
  assert.deepEqual(probes, [[5, 1, [...MAC_B].join(), 170]], "one probe, to the MAC it had");
  assert.equal(t.entries(now)[0].state, "probe");
  assert.equal(t.nextDeadline(), 180);
  // Answered: reachable again, no more probes.
  t.learn(5, MAC_B, 1, 175);
  now = 200;
  t.due(now, () => assert.fail("no request"), () => assert.fail("nothing given up"));
  assert.equal(probes.length, 1);
  assert.equal(t.entries(now)[0].state, "reachable");
  assert.equal(t.nextDeadline(), Infinity);
});

Deno.test("ArpTable: a stale entry whose probes all go unanswered is removed", () => {
  const probeTimes: number[] = [];
  let now = 0;
  const t = new ArpTable(
    { ttlMs: 100, delayMs: 50, retryMs: 10, maxTries: 3 },
    () => probeTimes.push(now),
  );
  t.learn(5, MAC_B, 0, 0);
  now = 100;
  t.lookup(5, now);
  const gaveUp: [number, number][] = [];
  for (now = 101; now <= 190; now++) t.due(now, () => {}, (ip, n) => gaveUp.push([ip, n]));
  assert.deepEqual(probeTimes, [150, 160, 170], "after the delay, maxTries probes, retryMs apart");
  assert.deepEqual(gaveUp, [[5, 0]], "given up at 180, no frames waited");
  assert.equal(t.lookup(5, now), null, "the next frame resolves it anew");
  assert.deepEqual(t.entries(now), []);
});

Deno.test("ArpTable: hearing of a known MAC (a request, a merge) neither confirms it nor ends a probe", () => {
  let probes = 0;
  const t = new ArpTable({ ttlMs: 100, delayMs: 0, retryMs: 10, maxTries: 3 }, () => probes++);
  t.learn(5, MAC_B, 0, 0);
  t.heard(5, MAC_B, 0, 50);
  assert.equal(t.entries(99)[0].state, "reachable");
  assert.equal(t.entries(100)[0].state, "stale", "not made reachable for longer by what it heard");
  t.lookup(5, 100);
  t.due(100, () => {}, () => {});
  assert.equal(t.entries(100)[0].state, "probe");
  const gaveUp: number[] = [];
  for (let now = 101; now <= 140; now++) {
    t.heard(5, MAC_B, 0, now); // the neighbour's broadcasts still come in (a one-way cut)
    t.due(now, () => {}, (ip) => gaveUp.push(ip));
  }
  assert.equal(probes, 3);
  assert.deepEqual(gaveUp, [5], "the probe went on and the entry was removed");
});

Deno.test("ArpTable: what is heard makes a new entry or a changed MAC stale; frames that waited leave and put it in delay", () => {
  const t = new ArpTable({ ttlMs: 100, delayMs: 20 });
  assert.equal(t.heard(5, MAC_B, 0, 0).frames.length, 0);
  assert.equal(t.entries(0)[0].state, "stale", "new: stale, not reachable");
  const MAC_C = new Uint8Array([2, 0, 0, 0, 0, 3]);
  t.learn(6, MAC_B, 0, 0);
  t.heard(6, MAC_C, 0, 10);
  const six = t.entries(10).find((e) => e.ip === 6)!;
  assert.deepEqual([six.state, six.mac], ["stale", MAC_C], "a changed MAC: stale, at the new MAC");
  t.enqueue(7, 0, new Uint8Array(60), 0);
  assert.equal(t.heard(7, MAC_C, 0, 30).frames.length, 1, "the waiting frame leaves");
  const seven = t.entries(30).find((e) => e.ip === 7)!;
  assert.deepEqual([seven.state, seven.expiresInMs], ["delay", 20]);
});

Deno.test("ArpTable retries every retryMs, gives up after maxTries and drops the queue", () => {
  const t = new ArpTable({ retryMs: 1000, maxTries: 3 });
  assert.equal(t.enqueue(7, 0, new Uint8Array(1), 0), "queued-send-request");
  assert.equal(t.enqueue(7, 0, new Uint8Array(1), 0), "queued");
  const retries: number[] = [];
  const gaveUp: [number, number][] = [];
  for (const now of [500, 1000, 1500, 2000, 3000]) {
    t.due(now, () => retries.push(now), (ip, n) => gaveUp.push([ip, n]));
  }
  assert.deepEqual(retries, [1000, 2000]);
  assert.deepEqual(gaveUp, [[7, 2]]);
  assert.equal(t.nextDeadline(), Infinity);
});

Deno.test("ArpTable bounds the pending queue per address by bytes", () => {
  const t = new ArpTable({ maxPendingBytes: 100 });
  const outcomes = [40, 50, 20, 10].map((n) => t.enqueue(9, 0, new Uint8Array(n), 0));
  assert.deepEqual(outcomes, ["queued-send-request", "queued", "queue-full", "queued"]);
  assert.equal(t.learn(9, MAC_B, 0, 0).frames.length, 3);
});
