import assert from "node:assert/strict";
import {
  copyHeader,
  decodeHeader,
  emptyHeader,
  encodeHeader,
  rstFor,
  VSOCK_HDR_SIZE,
  VsockHdr,
  type VsockHeader,
  VsockOp,
  VsockShutdown,
  VsockType,
} from "./header.ts";

const sample: VsockHeader = {
  srcCid: 0x0a0b0c0d,
  dstCid: 2,
  srcPort: 0x11223344,
  dstPort: 80,
  len: 0x1234,
  type: VsockType.STREAM,
  op: VsockOp.SHUTDOWN,
  flags: VsockShutdown.BOTH,
  bufAlloc: 0x40000,
  fwdCnt: 0xfffffffe,
};

Deno.test("header is 44 bytes with the spec's offsets (virtio 1.2 §5.10.6)", () => {
  assert.equal(VSOCK_HDR_SIZE, 44);
  assert.deepEqual({ ...VsockHdr }, {
    SRC_CID: 0,
    DST_CID: 8,
    SRC_PORT: 16,
    DST_PORT: 20,
    LEN: 24,
    TYPE: 28,
    OP: 30,
    FLAGS: 32,
    BUF_ALLOC: 36,
    FWD_CNT: 40,
  });
  assert.deepEqual({ ...VsockOp }, {
    INVALID: 0,
    REQUEST: 1,
    RESPONSE: 2,
    RST: 3,
    SHUTDOWN: 4,
    RW: 5,
    CREDIT_UPDATE: 6,
    CREDIT_REQUEST: 7,
  });
});

Deno.test("encodeHeader writes every field little-endian at its literal offset", () => {
  const b = new Uint8Array(2 + VSOCK_HDR_SIZE + 2).fill(0xee);
  encodeHeader(b, 2, sample);
  const expect = [
    ...[0x0d, 0x0c, 0x0b, 0x0a, 0, 0, 0, 0], // src_cid le64 @0
    ...[2, 0, 0, 0, 0, 0, 0, 0], // dst_cid le64 @8
    ...[0x44, 0x33, 0x22, 0x11], // src_port @16
    ...[80, 0, 0, 0], // dst_port @20
    ...[0x34, 0x12, 0, 0], // len @24
    ...[1, 0], // type @28
    ...[4, 0], // op @30
    ...[3, 0, 0, 0], // flags @32
    ...[0, 0, 4, 0], // buf_alloc @36
    ...[0xfe, 0xff, 0xff, 0xff], // fwd_cnt @40
  ];
  assert.deepEqual([...b.subarray(2, 2 + VSOCK_HDR_SIZE)], expect);
  assert.deepEqual([b[0], b[1], b[46], b[47]], [0xee, 0xee, 0xee, 0xee]); // nothing outside
});

Deno.test("decodeHeader reads back what encodeHeader wrote, and a non-zero upper CID half", () => {
  const b = new Uint8Array(VSOCK_HDR_SIZE);
  encodeHeader(b, 0, sample);
  assert.deepEqual(decodeHeader(b, 0, emptyHeader()), sample);
  b[VsockHdr.SRC_CID + 4] = 1; // reserved upper half set: a CID no guest has
  assert.equal(decodeHeader(b, 0, emptyHeader()).srcCid, 0x1_0a0b0c0d);
});

Deno.test("rstFor swaps addresses and carries no credit; copyHeader copies every field", () => {
  const r = rstFor(sample);
  assert.deepEqual(
    [r.srcCid, r.dstCid, r.srcPort, r.dstPort, r.op, r.type, r.len, r.bufAlloc, r.fwdCnt],
    [2, 0x0a0b0c0d, 80, 0x11223344, VsockOp.RST, VsockType.STREAM, 0, 0, 0],
  );
  assert.deepEqual(copyHeader(sample, emptyHeader()), sample);
});
