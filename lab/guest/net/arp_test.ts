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

Deno.test("ArpTable expires entries after the TTL", () => {
  const t = new ArpTable({ ttlMs: 100 });
  t.learn(5, MAC_B, 0, 0);
  assert.deepEqual(t.lookup(5, 99), MAC_B);
  assert.equal(t.lookup(5, 100), null);
  assert.equal(t.entries(100).length, 0);
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

Deno.test("ArpTable bounds the pending queue per address", () => {
  const t = new ArpTable({ maxPending: 2 });
  const outcomes = [0, 1, 2].map(() => t.enqueue(9, 0, new Uint8Array(1), 0));
  assert.deepEqual(outcomes, ["queued-send-request", "queued", "queue-full"]);
  assert.equal(t.learn(9, MAC_B, 0, 0).frames.length, 2);
});
