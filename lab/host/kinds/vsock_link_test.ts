import assert from "node:assert/strict";
import {
  decodeHeader,
  emptyHeader,
  VSOCK_HDR_SIZE,
  type VsockHeader,
  VsockOp,
  VsockType,
} from "../../../devices/vsock/mod.ts";
import { LinkRing } from "../link_ring.ts";
import { linkPieceMax, type PieceSink, sendPieces } from "./vsock_link.ts";

/** A `PieceSink` straight over a ring (what `LinkOut` does without an impairment). */
function sinkOf(ring: LinkRing): PieceSink & { refused: number } {
  return {
    refused: 0,
    hasRoom(frames) {
      if (ring.freeSlots(frames) >= frames) return true;
      this.refused++;
      return false;
    },
    reserve: (n) => ring.reserve(n),
    commit: (n) => ring.commit(n),
  };
}

const rw = (len: number): VsockHeader => ({
  ...emptyHeader(),
  srcCid: 3,
  dstCid: 4,
  srcPort: 1024,
  dstPort: 5000,
  len,
  type: VsockType.STREAM,
  op: VsockOp.RW,
  bufAlloc: 1 << 20,
  fwdCnt: 777,
});

/** Every frame on the ring: its header and payload. */
function drain(ring: LinkRing): { h: VsockHeader; payload: Uint8Array }[] {
  ring.publish();
  const out: { h: VsockHeader; payload: Uint8Array }[] = [];
  for (let f = ring.peek(); f !== null && out.length < 1000; f = ring.peek()) {
    const h = decodeHeader(f, 0, emptyHeader());
    out.push({ h, payload: f.slice(VSOCK_HDR_SIZE, VSOCK_HDR_SIZE + h.len) });
    ring.release();
  }
  ring.finishConsume();
  return out;
}

Deno.test("a piece is whole 4 KiB pages when a slot holds one, else what fits", () => {
  assert.equal(linkPieceMax(9216), 8192);
  assert.equal(linkPieceMax(4096 + VSOCK_HDR_SIZE), 4096);
  assert.equal(linkPieceMax(2048), 2048 - VSOCK_HDR_SIZE);
  assert.equal(linkPieceMax(VSOCK_HDR_SIZE), 0);
});

Deno.test("a 64 KiB packet goes on a 9 KiB-slot link as 8 packets of 8 KiB, same stream, same credit", () => {
  const ring = LinkRing.create(16, 9216);
  const payload = new Uint8Array(65536).map((_, i) => (i * 7) & 0xff);
  assert.ok(sendPieces(sinkOf(ring), rw(65536), payload, linkPieceMax(9216), emptyHeader()));
  const got = drain(ring);
  assert.deepEqual(got.map((p) => p.h.len), Array(8).fill(8192));
  for (const p of got) {
    assert.deepEqual(
      [p.h.op, p.h.srcPort, p.h.dstPort, p.h.bufAlloc, p.h.fwdCnt],
      [VsockOp.RW, 1024, 5000, 1 << 20, 777],
    );
  }
  const joined = new Uint8Array(65536);
  got.forEach((p, i) => joined.set(p.payload, i * 8192));
  assert.deepEqual(joined, payload);
  // A control packet (no payload) is one slot; an odd length ends with a short piece.
  assert.ok(
    sendPieces(
      sinkOf(ring),
      { ...rw(0), op: VsockOp.CREDIT_UPDATE },
      new Uint8Array(0),
      8192,
      emptyHeader(),
    ),
  );
  assert.ok(sendPieces(sinkOf(ring), rw(10000), new Uint8Array(10000), 8192, emptyHeader()));
  assert.deepEqual(drain(ring).map((p) => p.h.len), [0, 8192, 1808]);
});

Deno.test("a packet goes on the link whole or not at all: no room for every piece is back-pressure", () => {
  const ring = LinkRing.create(8, 9216);
  const sink = sinkOf(ring);
  for (let i = 0; i < 3; i++) assert.ok(ring.push(new Uint8Array(10)));
  ring.publish();
  // 5 slots free, 8 pieces needed: nothing is written, the caller keeps the packet.
  assert.equal(sendPieces(sink, rw(65536), new Uint8Array(65536), 8192, emptyHeader()), false);
  assert.equal(sink.refused, 1);
  assert.equal(ring.counters().framesIn, 3);
  drain(ring); // the consumer frees the slots
  assert.ok(sendPieces(sink, rw(65536), new Uint8Array(65536), 8192, emptyHeader()));
  assert.equal(drain(ring).length, 8);
});
