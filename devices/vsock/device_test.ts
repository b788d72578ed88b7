/**
 * The device model against malformed and hostile guests (reliability.md rows F), counted and
 * answered the way Linux's transport does, over real split and packed rings; plus RX
 * back-pressure, packet splitting and TRANSPORT_RESET.
 */
import assert from "node:assert/strict";
import { Feature } from "../virtio/constants.ts";
import { featureSet } from "../virtio/features.ts";
import {
  decodeHeader,
  emptyHeader,
  encodeHeader,
  isPeerResetNotice,
  peerResetNotice,
  VSOCK_HDR_SIZE,
  type VsockHeader,
  VsockOp,
  VsockType,
} from "./header.ts";
import { VsockCounter } from "./metrics.ts";
import { RAW_GPA, rawTx, received, type VsockRig, vsockRig } from "./testing.ts";
import { refusePushes } from "../virtio/testing_harness.ts";

const GUEST = 3;
const PEER = 4;

function hdr(f: Partial<VsockHeader>): VsockHeader {
  return {
    ...emptyHeader(),
    srcCid: GUEST,
    dstCid: PEER,
    srcPort: 1024,
    dstPort: 80,
    type: VsockType.STREAM,
    bufAlloc: 4096,
    ...f,
  };
}

/** Header + `payload` bytes (the chain may be longer or shorter than `h.len` says). */
function raw(h: VsockHeader, payload = 0): Uint8Array {
  const b = new Uint8Array(VSOCK_HDR_SIZE + payload);
  encodeHeader(b, 0, h);
  for (let i = 0; i < payload; i++) b[VSOCK_HDR_SIZE + i] = i & 0xff;
  return b;
}

/** From the peer to the guest. */
function fromPeer(f: Partial<VsockHeader>): VsockHeader {
  return hdr({ srcCid: PEER, dstCid: GUEST, srcPort: 80, dstPort: 1024, ...f });
}

/** Guest REQUEST + peer RESPONSE (peer buf_alloc `peerBuf`): an established connection. */
function establish(r: VsockRig, peerBuf: number): void {
  rawTx(r, raw(hdr({ op: VsockOp.REQUEST })));
  assert.equal(
    r.device.deliver(fromPeer({ op: VsockOp.RESPONSE, bufAlloc: peerBuf }), null),
    "queued",
  );
  r.device.finish();
  assert.deepEqual(received(r).map((p) => p.h.op), [VsockOp.RESPONSE]);
  r.sent.length = 0;
}

const c = (r: VsockRig, name: keyof typeof VsockCounter) => r.dc[VsockCounter[name]];

/** Post raw TX chains (header + payload as the test wrote them), tokens 0, 1, …, unsent. */
function postTx(r: VsockRig, packets: Uint8Array[]): void {
  packets.forEach((b, i) => {
    const at = RAW_GPA + i * 0x1000;
    r.mem.u8.set(b, at);
    assert.ok(r.tx.driver.add({ readable: [[at, b.length]], writable: [] }, i).ok);
  });
  r.tx.driver.publish();
}

/** Tokens of the TX chains the device returned. */
function usedTx(r: VsockRig): number[] {
  const out: number[] = [];
  for (let i = 0; i < 64; i++) {
    const u = r.tx.driver.getUsed();
    if (!u.ok || u.value === null) break;
    out.push(u.value.token);
  }
  return out;
}

/** The first byte index where guest memory differs from `before`, or -1. */
function firstChange(r: VsockRig, before: Uint8Array): number {
  const now = r.mem.u8;
  for (let i = 0; i < now.length; i++) if (now[i] !== before[i]) return i;
  return -1;
}

for (const layout of ["split", "packed"] as const) {
  const rig = (o: Partial<Parameters<typeof vsockRig>[0]> = {}) =>
    vsockRig({ layout, cid: GUEST, ...o });

  Deno.test(`a chain shorter than the header is returned with nothing sent (F1) [${layout}]`, () => {
    const r = rig();
    rawTx(r, new Uint8Array(20));
    assert.equal(c(r, "malformedShort"), 1);
    assert.equal(r.sent.length, 0);
    assert.equal(received(r).length, 0);
    assert.equal(r.tx.device.inFlight, 0); // the buffer went back to the driver
  });

  Deno.test(`len over 64 KiB or over the chain is dropped, nothing allocated by it (F2) [${layout}]`, () => {
    const r = rig();
    rawTx(r, raw(hdr({ op: VsockOp.REQUEST, len: 0xffffffff }), 10));
    rawTx(r, raw(hdr({ op: VsockOp.REQUEST, len: 11 }), 10));
    assert.equal(c(r, "malformedLen"), 2);
    assert.equal(r.sent.length, 0);
    assert.equal(received(r).length, 0);
  });

  Deno.test(`a spoofed src_cid is dropped silently, no RST to a forged address (F3) [${layout}]`, () => {
    const r = rig();
    rawTx(r, raw(hdr({ op: VsockOp.REQUEST, srcCid: 9 })));
    rawTx(r, raw(hdr({ op: VsockOp.REQUEST, srcCid: GUEST + 0x1_0000_0000 })));
    assert.equal(c(r, "malformedSpoofed"), 2);
    assert.equal(r.sent.length, 0);
    assert.equal(received(r).length, 0);
  });

  Deno.test(`an unknown type is answered with RST, an RST of unknown type is not (F4) [${layout}]`, () => {
    const r = rig();
    rawTx(r, raw(hdr({ op: VsockOp.REQUEST, type: VsockType.SEQPACKET })));
    rawTx(r, raw(hdr({ op: VsockOp.RST, type: 7 })));
    assert.equal(c(r, "malformedType"), 2);
    assert.equal(r.sent.length, 0);
    const got = received(r);
    assert.equal(got.length, 1);
    const h = got[0].h;
    assert.deepEqual([h.op, h.srcCid, h.dstCid, h.srcPort, h.dstPort], [
      VsockOp.RST,
      PEER,
      GUEST,
      80,
      1024,
    ]);
  });

  Deno.test(`an unknown op is answered with RST, or dropped on an established connection [${layout}]`, () => {
    const r = rig();
    rawTx(r, raw(hdr({ op: 0 })));
    rawTx(r, raw(hdr({ op: 9 })));
    assert.deepEqual(received(r).map((p) => p.h.op), [VsockOp.RST, VsockOp.RST]);
    establish(r, 4096);
    rawTx(r, raw(hdr({ op: 9 })));
    assert.equal(c(r, "malformedOp"), 3);
    assert.equal(received(r).length, 0);
    assert.equal(c(r, "connections"), 1);
  });

  Deno.test(`a packet for no connection gets RST, an RST for none gets nothing (F5) [${layout}]`, () => {
    const r = rig();
    rawTx(r, raw(hdr({ op: VsockOp.RW, len: 4 }), 4));
    rawTx(r, raw(hdr({ op: VsockOp.RST })));
    assert.equal(c(r, "noConnection"), 2);
    assert.deepEqual(received(r).map((p) => p.h.op), [VsockOp.RST]);
    assert.equal(r.sent.length, 0);
    // And from the backend: the RST goes back to the backend.
    assert.equal(
      r.device.deliver(fromPeer({ op: VsockOp.RW, len: 2 }), new Uint8Array(2)),
      "dropped",
    );
    assert.deepEqual(r.sent.map((p) => [p.h.op, p.h.srcCid, p.h.dstCid]), [[
      VsockOp.RST,
      GUEST,
      PEER,
    ]]);
  });

  Deno.test(`a guest sending beyond the peer's credit resets both ends (F6) [${layout}]`, () => {
    const r = rig();
    establish(r, 100);
    rawTx(r, raw(hdr({ op: VsockOp.RW, len: 60 }), 60));
    assert.deepEqual(r.sent.map((p) => [p.h.op, p.payload.length]), [[VsockOp.RW, 60]]);
    rawTx(r, raw(hdr({ op: VsockOp.RW, len: 41 }), 41));
    assert.equal(c(r, "creditViolations"), 1);
    assert.deepEqual(r.sent.map((p) => p.h.op), [VsockOp.RW, VsockOp.RST]);
    assert.deepEqual(received(r).map((p) => p.h.op), [VsockOp.RST]);
    assert.equal(c(r, "connections"), 0);
    assert.equal(c(r, "txBytes"), 60);
  });

  Deno.test(`an RW that takes the peer's last credit counts a credit stall [${layout}]`, () => {
    const r = rig();
    establish(r, 100);
    rawTx(r, raw(hdr({ op: VsockOp.RW, len: 100 }), 100));
    assert.equal(c(r, "creditStalls"), 1);
    assert.equal(c(r, "creditViolations"), 0);
  });

  Deno.test(`a zero-length RW is ignored (F7) and shutdown flags stay set (F8) [${layout}]`, () => {
    const r = rig();
    establish(r, 100);
    rawTx(r, raw(hdr({ op: VsockOp.RW, len: 0 })));
    rawTx(r, raw(hdr({ op: VsockOp.SHUTDOWN, flags: 2 })));
    rawTx(r, raw(hdr({ op: VsockOp.SHUTDOWN, flags: 0 })));
    assert.equal(c(r, "emptyRw"), 1);
    assert.equal(r.device.connections()[0].guestShutdown, 2);
    assert.deepEqual(r.sent.map((p) => p.h.op), [VsockOp.SHUTDOWN, VsockOp.SHUTDOWN]);
  });

  Deno.test(`REQUESTs beyond the connection bound are refused with RST (F10) [${layout}]`, () => {
    const r = rig({ maxConnections: 2 });
    for (let p = 0; p < 3; p++) rawTx(r, raw(hdr({ op: VsockOp.REQUEST, srcPort: 2000 + p })));
    assert.equal(c(r, "tableFull"), 1);
    assert.equal(r.sent.length, 2);
    assert.deepEqual(received(r).map((p) => [p.h.op, p.h.dstPort]), [[VsockOp.RST, 2002]]);
  });

  Deno.test(`with no RX buffer packets wait, bounded, and flow after the refill (F11, F12) [${layout}]`, () => {
    const r = rig({ maxPendingRx: 2 });
    const req = (p: number) => fromPeer({ op: VsockOp.REQUEST, srcPort: 3000 + p });
    let p = 0;
    for (; p < 64; p++) assert.equal(r.device.deliver(req(p), null), "queued"); // 64 RX buffers
    assert.equal(r.device.deliver(req(p++), null), "queued");
    assert.equal(r.device.deliver(req(p++), null), "queued");
    assert.equal(r.device.deliver(req(p), null), "busy");
    assert.equal(r.device.pendingRx, 2);
    assert.ok(c(r, "rxNoBuffer") >= 1);
    r.device.finish();
    assert.equal(received(r).length, 64); // and the driver reposts its buffers
    r.device.pump();
    r.device.finish();
    assert.equal(r.device.pendingRx, 0);
    assert.equal(r.device.deliver(req(p), null), "queued");
    r.device.finish();
    assert.deepEqual(received(r).map((x) => x.h.srcPort), [3064, 3065, 3066]);
  });

  Deno.test(`TX pauses instead of dropping replies when the guest takes none (F11) [${layout}]`, () => {
    const r = rig({ maxPendingRx: 1 });
    const bad = raw(hdr({ op: VsockOp.CREDIT_REQUEST })); // no connection: each gets an RST
    for (let i = 0; i < 64 + 1 + 64; i++) rawTx(r, bad); // 64 RX buffers + 1 + the reserve
    assert.equal(c(r, "noConnection"), 129);
    assert.equal(r.device.pendingRx, 65);
    rawTx(r, bad);
    assert.equal(c(r, "noConnection"), 129); // not popped: it waits in the ring
    assert.equal(r.device.transmit(8).blocked, true);
    assert.equal(received(r).length, 64); // the guest takes its replies and reposts buffers
    r.device.pump();
    assert.equal(r.device.transmit(8).blocked, false);
    assert.equal(c(r, "noConnection"), 130);
  });

  Deno.test(`the device never queues for the guest beyond the guest's credit [${layout}]`, () => {
    const r = rig();
    establish(r, 100); // guest buf_alloc 4096 in its REQUEST
    const pay = new Uint8Array(4000);
    assert.equal(r.device.deliver(fromPeer({ op: VsockOp.RW, len: 4000 }), pay), "queued");
    assert.equal(
      r.device.deliver(fromPeer({ op: VsockOp.RW, len: 97 }), new Uint8Array(97)),
      "dropped",
    );
    assert.equal(c(r, "peerCreditViolations"), 1);
    assert.deepEqual(r.sent.map((p) => [p.h.op, p.h.srcCid]), [[VsockOp.RST, GUEST]]);
    r.device.finish();
    assert.deepEqual(received(r).map((p) => [p.h.op, p.h.len]), [[VsockOp.RW, 4000], [
      VsockOp.RST,
      0,
    ]]);
  });

  Deno.test(`a packet in one descriptor reaches the backend as a view of guest memory, not a copy [${layout}]`, () => {
    const views: [ArrayBufferLike, number, number][] = [];
    const r = rig({
      backend: { send: (_h, p) => (views.push([p.buffer, p.byteOffset, p.length]), true) },
    });
    establish(r, 4096);
    views.length = 0;
    rawTx(r, raw(hdr({ op: VsockOp.RW, len: 300 }), 300));
    assert.deepEqual(views, [[r.mem.u8.buffer, RAW_GPA + VSOCK_HDR_SIZE, 300]]);
    assert.equal(c(r, "txBytes"), 300);
  });

  Deno.test(`an RW larger than an RX buffer arrives as several packets in order [${layout}]`, () => {
    const r = rig({ rxBufferSize: VSOCK_HDR_SIZE + 100 });
    establish(r, 100);
    const pay = new Uint8Array(250).map((_, i) => i);
    assert.equal(r.device.deliver(fromPeer({ op: VsockOp.RW, len: 250 }), pay), "queued");
    r.device.finish();
    const got = received(r);
    assert.deepEqual(got.map((p) => p.h.len), [100, 100, 50]);
    assert.deepEqual([...got.flatMap((p) => [...p.payload])], [...pay]);
  });

  Deno.test(`RWs of one connection delivered together share an RX buffer; others do not [${layout}]`, () => {
    const r = rig({ rxBufferSize: VSOCK_HDR_SIZE + 1000 });
    establish(r, 4096);
    const pay = (n: number, from: number) => new Uint8Array(n).map((_, i) => from + i);
    const rw = (len: number, fwdCnt: number) => fromPeer({ op: VsockOp.RW, len, fwdCnt });
    assert.equal(r.device.deliver(rw(300, 1), pay(300, 0)), "queued");
    assert.equal(r.device.deliver(rw(200, 2), pay(200, 44)), "queued");
    assert.equal(r.device.deliver(rw(700, 3), pay(700, 99)), "queued"); // 500 fit, 200 go on
    assert.equal(
      r.device.deliver(fromPeer({ op: VsockOp.CREDIT_UPDATE, fwdCnt: 4 }), null),
      "queued",
    );
    assert.equal(r.device.deliver(rw(50, 5), pay(50, 7)), "queued");
    r.device.finish();
    const got = received(r);
    assert.deepEqual(got.map((p) => [p.h.op, p.h.len, p.h.fwdCnt]), [
      [VsockOp.RW, 1000, 3], // 300 + 200 + 500 of the third, with the latest credit
      [VsockOp.RW, 200, 3],
      [VsockOp.CREDIT_UPDATE, 0, 4],
      [VsockOp.RW, 50, 5],
    ]);
    const stream = got.filter((p) => p.h.op === VsockOp.RW).flatMap((p) => [...p.payload]);
    assert.deepEqual(stream, [...pay(300, 0), ...pay(200, 44), ...pay(700, 99), ...pay(50, 7)]);
    assert.equal(c(r, "rxPackets"), 5); // the RESPONSE and four buffers
  });

  Deno.test(`a packet goes straight into RX buffers: the caller's payload buffer is not kept [${layout}]`, () => {
    const r = rig({ rxBufferSize: VSOCK_HDR_SIZE + 1000 });
    establish(r, 4096);
    // One scratch buffer reused for every packet, as the link's slots are.
    const slot = new Uint8Array(300);
    for (let k = 0; k < 3; k++) {
      slot.fill(10 + k);
      assert.equal(r.device.deliver(fromPeer({ op: VsockOp.RW, len: 300 }), slot), "queued");
      assert.equal(r.device.pendingRx, 0, "nothing waits: the bytes went into the RX buffer");
    }
    slot.fill(0xee);
    r.device.finish();
    const got = received(r);
    assert.deepEqual(got.map((p) => p.h.len), [900]);
    assert.deepEqual([...got[0].payload], [
      ...new Array(300).fill(10),
      ...new Array(300).fill(11),
      ...new Array(300).fill(12),
    ]);
  });

  Deno.test(`what finds no RX buffer waits and follows, in order, after the refill [${layout}]`, () => {
    const r = rig({ rxBufferSize: VSOCK_HDR_SIZE + 100, queueSize: 4 }); // room for 400 bytes
    establish(r, 4096);
    const pay = (n: number, from: number) => new Uint8Array(n).map((_, i) => from + i);
    const rw = (len: number) => fromPeer({ op: VsockOp.RW, len });
    assert.equal(r.device.deliver(rw(250), pay(250, 0)), "queued");
    assert.equal(r.device.deliver(rw(250), pay(250, 250)), "queued"); // 150 fit, 100 wait
    assert.equal(r.device.pendingRx, 1);
    assert.equal(r.device.deliver(rw(20), pay(20, 500)), "queued"); // behind the waiting one
    assert.equal(r.device.pendingRx, 2);
    r.device.finish();
    const first = received(r);
    assert.deepEqual(first.map((p) => p.h.len), [100, 100, 100, 100]);
    r.device.pump();
    r.device.finish();
    const rest = received(r);
    assert.deepEqual(rest.map((p) => p.h.len), [100, 20]);
    const stream = [...first, ...rest].flatMap((p) => [...p.payload]);
    assert.deepEqual(stream, [...pay(520, 0)].map((x) => x & 0xff));
    assert.equal(r.device.pendingRx, 0);
  });

  Deno.test(`a transport reset recycles the RX buffer being filled: no stale bytes, used once [${layout}]`, () => {
    const r = rig({ rxBufferSize: VSOCK_HDR_SIZE + 1000 });
    establish(r, 4096);
    const rxBefore = r.rx.device.inFlight;
    assert.equal(
      r.device.deliver(fromPeer({ op: VsockOp.RW, len: 10 }), new Uint8Array(10)),
      "queued",
    );
    assert.equal(r.rx.device.inFlight, rxBefore + 1, "the open buffer is popped, not used");
    r.device.transportReset();
    assert.equal(r.device.deliver(fromPeer({ op: VsockOp.REQUEST }), null), "queued");
    r.device.finish();
    assert.deepEqual(received(r).map((p) => [p.h.op, p.h.len]), [[VsockOp.REQUEST, 0]]);
    assert.equal(r.rx.device.inFlight, 0, "every popped RX buffer was completed");
  });

  Deno.test(`resetPeers resets the guest's connections to the matching peers only [${layout}]`, () => {
    const r = rig();
    establish(r, 4096);
    // A second connection, to the host (CID 2), is not on the lost path.
    rawTx(r, raw(hdr({ op: VsockOp.REQUEST, dstCid: 2, dstPort: 7, srcPort: 2000 })));
    assert.equal(r.device.connections().length, 2);
    r.sent.length = 0;
    assert.equal(r.device.resetPeers((cid) => cid === PEER), 1);
    r.device.finish();
    const got = received(r);
    assert.deepEqual(got.map((p) => [p.h.op, p.h.srcCid, p.h.srcPort, p.h.dstPort]), [
      [VsockOp.RST, PEER, 80, 1024],
    ]);
    assert.deepEqual(r.device.connections().map((e) => e.peerCid), [2]);
    assert.equal(c(r, "connections"), 1);
    assert.equal(r.sent.length, 0, "nothing goes to the lost peer");
  });

  Deno.test(`a restored device completes adopted TX chains unsent and fills adopted RX chains first [${layout}]`, () => {
    const r = rig();
    // The previous worker popped one TX chain and one RX chain and died before completing them.
    r.mem.u8.set(raw(hdr({ op: VsockOp.REQUEST })), RAW_GPA);
    assert.ok(r.tx.driver.add({ readable: [[RAW_GPA, VSOCK_HDR_SIZE]], writable: [] }, 63).ok);
    r.tx.driver.publish();
    const tx = r.tx.device.pop();
    const rx = r.rx.device.pop();
    assert.ok(tx.ok && tx.value !== null && rx.ok && rx.value !== null);
    const txChain = tx.value;
    const rxChain = rx.value;
    const rxGpa = rxChain.writable[0].gpa;
    r.device.adoptInFlight([[rxChain], [txChain], []]);
    r.device.transportReset();
    assert.ok(r.device.finish().interruptTx);
    const used = r.tx.driver.getUsed();
    assert.ok(used.ok && used.value !== null, "the adopted TX chain was never completed");
    assert.equal(used.value.token, 63);
    assert.equal(c(r, "restartDropped"), 1);
    assert.equal(r.sent.length, 0, "a packet of a reset transport went to the backend");
    assert.equal(r.device.deliver(fromPeer({ op: VsockOp.REQUEST }), null), "queued");
    r.device.finish();
    const got = decodeHeader(r.mem.u8.subarray(rxGpa, rxGpa + VSOCK_HDR_SIZE), 0, emptyHeader());
    assert.equal(got.op, VsockOp.REQUEST, "the packet did not go into the adopted RX buffer");
  });

  Deno.test(`a TX completion the queue refuses is neither judged, sent nor counted [${layout}]`, () => {
    const r = rig();
    const req = (port: number) => raw(hdr({ op: VsockOp.REQUEST, srcPort: port }));
    postTx(r, [new Uint8Array(20), req(2001), req(2002)]);
    const q = refusePushes(r.tx.device, 2);
    assert.deepEqual({ ...r.device.transmit(2) }, { sent: 0, dropped: 0, blocked: false });
    q.restore();
    assert.deepEqual({ ...r.device.transmit(8) }, { sent: 1, dropped: 0, blocked: false });
    r.device.finish();
    assert.deepEqual(r.sent.map((p) => p.h.srcPort), [2002], "2001 was not the device's to send");
    assert.equal(c(r, "txPackets"), 1);
    assert.equal(c(r, "malformedShort"), 0, "the refused short chain was not judged");
    assert.deepEqual(r.device.connections().map((e) => e.guestPort), [2002]);
    assert.deepEqual(usedTx(r), [2]);
  });

  Deno.test(`a packet the backend has no room for is kept as a copy and goes first, its chain returned [${layout}]`, () => {
    let room = Infinity;
    const got: [number, number[]][] = [];
    const r = rig({
      backend: {
        send(h, p) {
          if (room <= 0) return false;
          room--;
          got.push([h.len, [...p]]);
          return true;
        },
      },
    });
    establish(r, 4096);
    got.length = 0;
    usedTx(r);
    room = 0;
    postTx(r, [
      raw(hdr({ op: VsockOp.RW, len: 300 }), 300),
      raw(hdr({ op: VsockOp.RW, len: 5 }), 5),
    ]);
    assert.deepEqual({ ...r.device.transmit(8) }, { sent: 0, dropped: 0, blocked: true });
    assert.equal(c(r, "txBackpressure"), 1);
    r.device.finish();
    assert.deepEqual(usedTx(r), [0], "the kept packet's buffer is the guest's again");
    // Back-pressure holds while the backend stays full: the kept packet goes nowhere and no
    // further chain is taken (the guest's TX ring is not drained into copies).
    for (let i = 0; i < 3; i++) {
      assert.deepEqual({ ...r.device.transmit(8) }, { sent: 0, dropped: 0, blocked: true });
    }
    r.device.finish();
    assert.deepEqual(usedTx(r), [], "no chain taken while the backend is full");
    assert.equal(c(r, "txBackpressure"), 1, "one packet kept, once");
    r.mem.u8.fill(0xee, RAW_GPA, RAW_GPA + 0x1000); // and the guest reuses it
    room = Infinity;
    assert.deepEqual({ ...r.device.transmit(8) }, { sent: 2, dropped: 0, blocked: false });
    r.device.finish();
    const pay = (n: number) => Array.from({ length: n }, (_, i) => i & 0xff);
    assert.deepEqual(got, [[300, pay(300)], [5, pay(5)]]);
    assert.equal(c(r, "txPackets"), 3); // the REQUEST and both RWs
    assert.equal(c(r, "txBytes"), 305);
    assert.deepEqual(usedTx(r), [1]);
  });

  for (const how of ["transport reset", "device reset"] as const) {
    Deno.test(`a packet kept for a full backend is dropped by a ${how}, not sent after its RST [${layout}]`, () => {
      let room = Infinity;
      const r = rig({
        backend: {
          send(h, p) {
            if (room <= 0) return false;
            room--;
            r.sent.push({ h: { ...h }, payload: p.slice() });
            return true;
          },
        },
      });
      establish(r, 4096);
      r.sent.length = 0;
      usedTx(r);
      room = 0;
      postTx(r, [raw(hdr({ op: VsockOp.RW, len: 300 }), 300)]);
      assert.deepEqual({ ...r.device.transmit(8) }, { sent: 0, dropped: 0, blocked: true });
      room = Infinity;
      if (how === "transport reset") r.device.transportReset();
      else {
        r.device.reset();
        const bits: number[] = [Feature.VERSION_1, Feature.EVENT_IDX];
        if (layout === "packed") bits.push(Feature.RING_PACKED);
        const act = r.device.activate({
          negotiated: featureSet(bits),
          queues: [r.rx.device, r.tx.device, r.ev.device],
        });
        assert.ok(act.ok);
      }
      r.device.transmit(8);
      assert.deepEqual(r.sent.map((p) => p.h.op), [VsockOp.RST], "the RST only, no RW after it");
      assert.equal(c(r, "txPackets"), 1, "the REQUEST only");
      assert.equal(c(r, "restartDropped"), 1);
    });
  }

  Deno.test(`an RX buffer the queue refuses is not written, the packet not live [${layout}]`, () => {
    const r = rig();
    const q = refusePushes(r.rx.device, 1);
    const before = r.mem.u8.slice();
    assert.equal(
      r.device.deliver(fromPeer({ op: VsockOp.REQUEST, srcPort: 81 }), null),
      "not-live",
    );
    assert.equal(firstChange(r, before), -1, "no buffer written");
    q.restore();
    assert.equal(r.device.deliver(fromPeer({ op: VsockOp.REQUEST, srcPort: 82 }), null), "queued");
    r.device.finish();
    assert.deepEqual(received(r).map((p) => p.h.srcPort), [82]);
    assert.equal(c(r, "rxPackets"), 1);
  });

  Deno.test(`an RW whose RX buffer the queue refuses ends its connection: RST to the guest, the caller answers the peer (G11) [${layout}]`, () => {
    const r = rig({ rxBufferSize: VSOCK_HDR_SIZE + 10 }); // the RW fills its buffer: completed
    establish(r, 4096);
    const q = refusePushes(r.rx.device, 1);
    const rw = fromPeer({ op: VsockOp.RW, len: 10 });
    assert.equal(r.device.deliver(rw, new Uint8Array(10)), "not-live"); // the caller RSTs the peer
    q.restore();
    r.device.finish();
    assert.deepEqual(received(r).map((p) => [p.h.op, p.h.srcPort, p.h.dstPort]), [
      [VsockOp.RST, 80, 1024],
    ]);
    assert.deepEqual(r.sent, [], "no second RST to the peer");
    assert.equal(c(r, "connections"), 0);
    // The peer's next RW meets no connection: RST (F5), not a stream with a gap.
    assert.equal(r.device.deliver(rw, new Uint8Array(10)), "dropped");
  });

  Deno.test(`a waiting packet meant for an RX buffer the queue refuses is not written [${layout}]`, () => {
    const r = rig({ queueSize: 4 });
    const req = (port: number) => fromPeer({ op: VsockOp.REQUEST, srcPort: port });
    for (let p = 0; p < 5; p++) assert.equal(r.device.deliver(req(100 + p), null), "queued");
    assert.equal(r.device.pendingRx, 1); // four RX buffers
    r.device.finish();
    assert.equal(received(r).length, 4); // and the driver reposts them
    const q = refusePushes(r.rx.device, 1);
    const before = r.mem.u8.slice();
    r.device.pump();
    assert.equal(firstChange(r, before), -1, "no buffer written");
    assert.equal(r.device.pendingRx, 0);
    q.restore();
    r.device.finish();
    assert.equal(c(r, "rxPackets"), 4);
    assert.equal(c(r, "rxNotLive"), 1);
    assert.equal(r.device.deliver(req(200), null), "queued");
    r.device.finish();
    assert.deepEqual(received(r).map((p) => p.h.srcPort), [200]);
  });

  Deno.test(`an open RX buffer the queue refuses at its completion gets no header; its connection ends (G11) [${layout}]`, () => {
    const r = rig({ rxBufferSize: VSOCK_HDR_SIZE + 1000 });
    establish(r, 4096);
    const rw = fromPeer({ op: VsockOp.RW, len: 10 });
    assert.equal(r.device.deliver(rw, new Uint8Array(10).fill(7)), "queued"); // left open
    const q = refusePushes(r.rx.device, 1);
    r.device.pump();
    const gpa = q.refused[0].writable[0].gpa;
    assert.deepEqual(
      [...r.mem.u8.subarray(gpa, gpa + VSOCK_HDR_SIZE)],
      new Array(VSOCK_HDR_SIZE).fill(0),
    );
    q.restore();
    r.device.finish();
    assert.equal(c(r, "rxPackets"), 2); // the RESPONSE, and the RST that ends the connection
    assert.equal(c(r, "rxNotLive"), 1);
    assert.deepEqual(received(r).map((p) => [p.h.op, p.h.srcPort, p.h.dstPort]), [
      [VsockOp.RST, 80, 1024],
    ]);
    assert.deepEqual(r.sent.map((p) => [p.h.op, p.h.srcPort, p.h.dstPort]), [
      [VsockOp.RST, 1024, 80],
    ]);
    assert.equal(c(r, "connections"), 0);
  });

  Deno.test(`packets waiting for an RX buffer the queue refuses end their connection: RST to the peer and the guest, nothing after the gap (G11) [${layout}]`, () => {
    const r = rig({ queueSize: 4, rxBufferSize: VSOCK_HDR_SIZE + 100 });
    establish(r, 4096); // a: guest 1024, peer 80
    rawTx(r, raw(hdr({ op: VsockOp.REQUEST, srcPort: 1025, dstPort: 81 }))); // b
    const b = { srcPort: 81, dstPort: 1025 };
    assert.equal(r.device.deliver(fromPeer({ op: VsockOp.RESPONSE, ...b }), null), "queued");
    r.device.finish();
    assert.equal(received(r).length, 1);
    r.sent.length = 0;
    const rw = (f: Partial<VsockHeader>) => {
      const out = r.device.deliver(
        fromPeer({ op: VsockOp.RW, len: 100, ...f }),
        new Uint8Array(100),
      );
      assert.equal(out, "queued");
    };
    for (let i = 0; i < 4; i++) rw({}); // a's RWs fill the four RX buffers
    rw(b); // these wait for buffers: b, a, b
    rw({});
    rw(b);
    assert.equal(r.device.pendingRx, 3);
    r.device.finish();
    assert.equal(received(r).length, 4); // the driver posts its buffers again
    const q = refusePushes(r.rx.device, 1); // the one meant for b's first waiting RW
    r.device.pump();
    q.restore();
    r.device.finish();
    assert.deepEqual(received(r).map((p) => [p.h.op, p.h.srcPort, p.h.len]), [
      [VsockOp.RW, 80, 100],
      [VsockOp.RST, 81, 0],
    ], "a's RW, then b's RST; b's second RW, after the gap, never");
    assert.deepEqual(r.sent.map((p) => [p.h.op, p.h.srcPort, p.h.dstPort]), [
      [VsockOp.RST, 1025, 81],
    ], "b's peer is told");
    assert.equal(c(r, "rxNotLive"), 1);
    assert.equal(c(r, "connections"), 1);
    assert.equal(r.device.pendingRx, 0);
  });

  Deno.test(`an event buffer the queue refuses is not written; the next one takes TRANSPORT_RESET [${layout}]`, () => {
    const r = rig();
    const q = refusePushes(r.ev.device, 1);
    r.device.transportReset();
    q.restore();
    const gpa = q.refused[0].writable[0].gpa;
    assert.deepEqual([...r.mem.u8.subarray(gpa, gpa + 8)], new Array(8).fill(0));
    r.device.finish();
    const ids: number[] = [];
    r.driver.pollEvents((id) => ids.push(id));
    assert.deepEqual(ids, [0]);
    assert.equal(c(r, "transportResets"), 1);
  });

  Deno.test(`a peer-reset notice is an RST to CID and port ANY, told apart from a peer's RST [${layout}]`, () => {
    const n = peerResetNotice(GUEST);
    assert.ok(isPeerResetNotice(n));
    assert.equal(n.srcCid, GUEST);
    assert.equal(isPeerResetNotice(fromPeer({ op: VsockOp.RST })), false);
    assert.equal(isPeerResetNotice({ ...n, op: VsockOp.RW }), false);
    const b = raw(n);
    assert.ok(isPeerResetNotice(decodeHeader(b, 0, emptyHeader())), "survives the wire");
  });

  Deno.test(`a transport reset RSTs every connection to the backend and posts TRANSPORT_RESET [${layout}]`, () => {
    const r = rig();
    establish(r, 100);
    r.device.transportReset();
    assert.deepEqual(
      r.sent.map((p) => [p.h.op, p.h.srcCid, p.h.srcPort, p.h.dstCid, p.h.dstPort]),
      [
        [VsockOp.RST, GUEST, 1024, PEER, 80],
      ],
    );
    assert.ok(r.device.finish().interruptEvent);
    const ids: number[] = [];
    assert.equal(r.driver.pollEvents((id) => ids.push(id)), 1);
    assert.deepEqual(ids, [0]);
    assert.equal(c(r, "transportResets"), 1);
    assert.equal(c(r, "connections"), 0);
  });

  Deno.test(`a device reset RSTs connections; the next activation posts TRANSPORT_RESET [${layout}]`, () => {
    const r = rig();
    establish(r, 100);
    r.device.reset();
    assert.deepEqual(r.sent.map((p) => p.h.op), [VsockOp.RST]);
    // The guest's new queues, its buffers posted in them.
    r.renewQueues();
    assert.ok(r.driver.reattach(r.rx.driver, r.tx.driver, r.ev.driver).ok);
    r.driver.fillRx();
    r.driver.fillEvents();
    r.driver.flush();
    const bits: number[] = [Feature.VERSION_1, Feature.EVENT_IDX];
    if (layout === "packed") bits.push(Feature.RING_PACKED);
    const act = r.device.activate({
      negotiated: featureSet(bits),
      queues: [r.rx.device, r.tx.device, r.ev.device],
    });
    assert.ok(act.ok);
    r.device.finish();
    const ids: number[] = [];
    r.driver.pollEvents((id) => ids.push(id));
    assert.deepEqual(ids, [0]);
  });
}

Deno.test("activation without the event queue is refused", () => {
  const r = vsockRig({ layout: "split", cid: GUEST });
  const act = r.device.activate({
    negotiated: featureSet([Feature.VERSION_1]),
    queues: [r.rx.device, r.tx.device, null],
  });
  assert.deepEqual(act, { ok: false, error: { kind: "missing-queue", queue: 2 } });
  assert.equal(r.device.deviceId, 19);
  assert.equal(r.device.readConfig(0, 4), GUEST);
  assert.equal(r.device.readConfig(4, 4), 0);
});
