import assert from "node:assert/strict";
import { pcapGlobalHeader, pcapRecord, pcapRecordBytes, writePcapRecord } from "./pcap.ts";

Deno.test("the global header is libpcap 2.4, little-endian, LINKTYPE_ETHERNET", () => {
  const h = pcapGlobalHeader(2048);
  assert.deepEqual(Array.from(h), [
    0xd4,
    0xc3,
    0xb2,
    0xa1,
    2,
    0,
    4,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0x00,
    0x08,
    0,
    0,
    1,
    0,
    0,
    0,
  ]);
  assert.equal(new DataView(pcapGlobalHeader().buffer).getUint32(16, true), 65535);
});

Deno.test("a record splits the µs timestamp into seconds and microseconds", () => {
  const frame = Uint8Array.from({ length: 60 }, (_, i) => i);
  const r = pcapRecord(1_700_000_000_123_456.7, frame);
  const dv = new DataView(r.buffer);
  assert.equal(r.length, 76);
  assert.deepEqual(
    [dv.getUint32(0, true), dv.getUint32(4, true), dv.getUint32(8, true), dv.getUint32(12, true)],
    [1_700_000_000, 123_456, 60, 60],
  );
  assert.deepEqual(Array.from(r.subarray(16)), Array.from(frame));
});

Deno.test("snaplen truncates the bytes kept but not the original length", () => {
  const r = pcapRecord(0, new Uint8Array(100), 40);
  const dv = new DataView(r.buffer);
  assert.equal(r.length, pcapRecordBytes(100, 40));
  assert.deepEqual([dv.getUint32(8, true), dv.getUint32(12, true)], [40, 100]);
});

Deno.test("writePcapRecord writes at an offset and keeps an explicit original length", () => {
  const out = new Uint8Array(100).fill(0xee);
  const n = writePcapRecord(out, 10, { tsUs: 2e6, frame: new Uint8Array([1, 2]), origLen: 1500 });
  assert.equal(n, 18);
  const dv = new DataView(out.buffer, 10);
  assert.deepEqual([dv.getUint32(0, true), dv.getUint32(8, true), dv.getUint32(12, true)], [
    2,
    2,
    1500,
  ]);
  assert.deepEqual(Array.from(out.subarray(26, 29)), [1, 2, 0xee]);
  assert.equal(out[9], 0xee);
});
