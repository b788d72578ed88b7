import assert from "node:assert/strict";
import type { TrackedConnection } from "./conntrack.ts";
import {
  readConnTable,
  VSOCK_CONN_ROWS,
  VSOCK_CONN_TABLE_WORDS,
  writeConnTable,
} from "./conn_table.ts";

function conn(i: number): TrackedConnection {
  return {
    guestPort: 1024 + i,
    peerCid: 4,
    peerPort: 5000,
    state: "established",
    guestBufAlloc: 262144,
    guestFwdCnt: 100,
    toGuest: 1100,
    peerBufAlloc: 65536,
    peerFwdCnt: 0xfffffff0, // wraps: the guest sent 0x20 bytes past it
    fromGuest: 0x10,
    guestShutdown: 0,
    peerShutdown: 0,
    bytesOut: i * 10,
    bytesIn: i,
    creditStalls: i % 3,
  };
}

Deno.test("the connection table publishes the busiest connections with their credit", () => {
  const words = new Float64Array(VSOCK_CONN_TABLE_WORDS);
  const conns = Array.from({ length: 20 }, (_, i) => conn(i));
  writeConnTable(words, conns);
  const t = readConnTable(words);
  assert.equal(t.total, 20);
  assert.equal(t.rows.length, VSOCK_CONN_ROWS);
  assert.deepEqual(t.rows.slice(0, 2).map((r) => r.guestPort), [1043, 1042]);
  const r = t.rows[0];
  assert.equal(r.bytesFromGuest, 190);
  assert.equal(r.bytesToGuest, 19);
  assert.equal(r.creditStalls, 1);
  assert.equal(r.peerCredit, 65536 - 0x20, "u32 wrap of fromGuest - peerFwdCnt");
  assert.equal(r.guestCredit, 262144 - 1000);
  assert.equal(r.state, "established");
  assert.equal(words[0] % 2, 0, "the sequence is even once written");
  writeConnTable(words, []);
  assert.deepEqual(readConnTable(words), { total: 0, rows: [] });
});

Deno.test("a garbage connection table reads as rows in range, never more than the table", () => {
  const words = new Float64Array(VSOCK_CONN_TABLE_WORDS).fill(1e9);
  words[0] = 2;
  const t = readConnTable(words);
  assert.equal(t.rows.length, VSOCK_CONN_ROWS);
  assert.equal(t.rows[0].state, "established");
  words[2] = NaN;
  assert.equal(readConnTable(words).rows.length, 0);
  assert.throws(() => writeConnTable(new Float64Array(3), []), RangeError);
});
