import assert from "node:assert/strict";
import { IcmpType, parseIcmpEcho, writeIcmpEcho } from "./icmp.ts";

Deno.test("writeIcmpEcho checksums header and payload (hand-computed 0x2104)", () => {
  const b = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0x61, 0x62, 0x63, 0x64]);
  writeIcmpEcho(b, 0, { type: IcmpType.echoRequest, id: 0x1234, seq: 1, length: 12 });
  // 0x0800 + 0x1234 + 0x0001 + 0x6162 + 0x6364 = 0xdefb; complement 0x2104
  assert.deepEqual([...b], [8, 0, 0x21, 0x04, 0x12, 0x34, 0, 1, 0x61, 0x62, 0x63, 0x64]);
  const out = { type: -1, id: -1, seq: -1 };
  assert.equal(parseIcmpEcho(b, 0, 12, out).ok, true);
  assert.deepEqual(out, { type: 8, id: 0x1234, seq: 1 });
});

Deno.test("parseIcmpEcho rejects truncated, corrupted and non-echo messages", () => {
  const out = { type: 0, id: 0, seq: 0 };
  const kind = (b: Uint8Array, len = b.length) => {
    const r = parseIcmpEcho(b, 0, len, out);
    return r.ok ? "ok" : r.error.kind;
  };
  const b = new Uint8Array(8);
  writeIcmpEcho(b, 0, { type: IcmpType.echoReply, id: 1, seq: 2, length: 8 });
  assert.equal(kind(b), "ok");
  assert.equal(kind(b, 6), "truncated");
  const bad = b.slice();
  bad[7] ^= 0xff;
  assert.equal(kind(bad), "bad-checksum");
  const unreach = new Uint8Array(8);
  writeIcmpEcho(unreach, 0, { type: 3, id: 0, seq: 0, length: 8 });
  assert.equal(kind(unreach), "unsupported-type");
});
