import assert from "node:assert/strict";
import {
  BROADCAST_MAC,
  EtherType,
  formatMac,
  macAt,
  readEtherType,
  writeEthernetHeader,
} from "./ethernet.ts";

Deno.test("writeEthernetHeader lays out dst, src and EtherType", () => {
  const buf = new Uint8Array(14);
  writeEthernetHeader(buf, {
    dst: BROADCAST_MAC,
    src: new Uint8Array([2, 0, 0, 0, 0, 1]),
    etherType: EtherType.arp,
  });
  assert.deepEqual([...buf], [255, 255, 255, 255, 255, 255, 2, 0, 0, 0, 0, 1, 8, 6]);
  assert.equal(readEtherType(buf), 0x0806);
  assert.equal(macAt(buf, 0, BROADCAST_MAC), true);
  assert.equal(macAt(buf, 6, BROADCAST_MAC), false);
});

Deno.test("readers refuse frames shorter than the header", () => {
  assert.equal(readEtherType(new Uint8Array(13)), -1);
  assert.equal(macAt(new Uint8Array(4), 0, BROADCAST_MAC), false);
  assert.equal(formatMac(new Uint8Array([0xde, 0xad, 0, 0, 0xbe, 0xef])), "de:ad:00:00:be:ef");
});
