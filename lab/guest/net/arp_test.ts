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

Deno.test("ArpTable: an entry goes stale after the TTL, is still used, and its first use probes it", () => {
  const probes: [number, number, string, number][] = [];
  let now = 0;
  const t = new ArpTable(
    { ttlMs: 100, retryMs: 10, maxTries: 3 },
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
  assert.deepEqual(probes, [[5, 1, [...MAC_B].join(), 150]], "one probe, to the MAC it had");
  assert.equal(t.entries(now)[0].state, "probe");
  assert.equal(t.nextDeadline(), 160);
  // Answered: reachable again, no more probes.
  t.learn(5, MAC_B, 1, 155);
  now = 200;
  t.due(now, () => assert.fail("no request"), () => assert.fail("nothing given up"));
  assert.equal(probes.length, 1);
  assert.equal(t.entries(now)[0].state, "reachable");
  assert.equal(t.nextDeadline(), Infinity);
});

Deno.test("ArpTable: a stale entry whose probes all go unanswered is removed", () => {
  const probeTimes: number[] = [];
  let now = 0;
  const t = new ArpTable({ ttlMs: 100, retryMs: 10, maxTries: 3 }, () => probeTimes.push(now));
  t.learn(5, MAC_B, 0, 0);
  now = 100;
  t.lookup(5, now);
  const gaveUp: [number, number][] = [];
  for (now = 101; now <= 140; now++) t.due(now, () => {}, (ip, n) => gaveUp.push([ip, n]));
  assert.deepEqual(probeTimes, [100, 110, 120], "maxTries probes, retryMs apart");
  assert.deepEqual(gaveUp, [[5, 0]], "given up at 130, no frames waited");
  assert.equal(t.lookup(5, now), null, "the next frame resolves it anew");
  assert.deepEqual(t.entries(now), []);
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
