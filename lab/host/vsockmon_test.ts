import assert from "node:assert/strict";
import { encodeHeader, VSOCK_HDR_SIZE, VsockOp, VsockType } from "../../devices/vsock/header.ts";
import { VSOCKMON_HDR_SIZE, VsockmonOp, vsockmonOp, writeVsockmonRecord } from "./vsockmon.ts";

Deno.test("a vsockmon record: the vsockmon header from the virtio header, then the packet", () => {
  const packet = new Uint8Array(VSOCK_HDR_SIZE + 5);
  encodeHeader(packet, 0, {
    srcCid: 3,
    dstCid: 2 ** 40 + 4, // a CID above 32 bits survives the copy
    srcPort: 1025,
    dstPort: 5000,
    len: 5,
    type: VsockType.STREAM,
    op: VsockOp.RW,
    flags: 0,
    bufAlloc: 65536,
    fwdCnt: 7,
  });
  packet.set([1, 2, 3, 4, 5], VSOCK_HDR_SIZE);
  const out = new Uint8Array(128).fill(0xee);
  assert.equal(writeVsockmonRecord(out, packet), VSOCKMON_HDR_SIZE + packet.length);
  const dv = new DataView(out.buffer);
  assert.equal(dv.getBigUint64(0, true), 3n);
  assert.equal(dv.getBigUint64(8, true), 2n ** 40n + 4n);
  assert.equal(dv.getUint32(16, true), 1025);
  assert.equal(dv.getUint32(20, true), 5000);
  assert.equal(dv.getUint16(24, true), VsockmonOp.payload);
  assert.equal(dv.getUint16(26, true), 2, "transport virtio");
  assert.equal(dv.getUint16(28, true), VSOCK_HDR_SIZE);
  assert.equal(dv.getUint16(30, true), 0, "reserved");
  assert.deepEqual(out.subarray(VSOCKMON_HDR_SIZE, VSOCKMON_HDR_SIZE + packet.length), packet);
  // Too short to be a packet, or no room: nothing written.
  assert.equal(writeVsockmonRecord(out, packet.subarray(0, 43)), 0);
  assert.equal(writeVsockmonRecord(new Uint8Array(60), packet), 0);
});

Deno.test("virtio-vsock ops map to vsockmon's as Linux's virtio transport maps them", () => {
  const map = [0, 1, 2, 3, 4, 5, 6, 7, 99].map(vsockmonOp);
  assert.deepEqual(map, [0, 1, 1, 2, 2, 4, 3, 3, 0]);
});
