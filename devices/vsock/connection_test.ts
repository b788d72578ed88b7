import assert from "node:assert/strict";
import { Connection, type ConnectionState } from "./connection.ts";
import { emptyHeader, type VsockHeader, VsockOp, VsockShutdown, VsockType } from "./header.ts";

interface Probe {
  conn: Connection;
  out: VsockHeader[];
  events: string[];
}

function make(state: ConnectionState, bufAlloc = 1000): Probe {
  const out: VsockHeader[] = [];
  const clock = { now: 0 };
  const o = {
    localCid: 3,
    localPort: 1024,
    peerCid: 4,
    peerPort: 80,
    bufAlloc,
    maxPayload: 100,
    now: () => clock.now,
    emit: (h: VsockHeader) => out.push(h),
  };
  const conn = state === "connecting"
    ? Connection.connect(o)
    : Connection.accept(o, peer(VsockOp.REQUEST, { bufAlloc: 500 }));
  if (state === "closing") conn.close();
  if (state === "closed") conn.reset("aborted");
  assert.equal(conn.state, state);
  out.length = 0;
  const events: string[] = [];
  conn.onEvent = (e) => events.push(e);
  return { conn, out, events };
}

function peer(op: number, f: Partial<VsockHeader> = {}): VsockHeader {
  return {
    ...emptyHeader(),
    srcCid: 4,
    dstCid: 3,
    srcPort: 80,
    dstPort: 1024,
    type: VsockType.STREAM,
    op,
    bufAlloc: 500,
    ...f,
  };
}

const OPS: [string, VsockHeader, Uint8Array | null][] = [
  ["REQUEST", peer(VsockOp.REQUEST), null],
  ["RESPONSE", peer(VsockOp.RESPONSE), null],
  ["RST", peer(VsockOp.RST), null],
  ["SHUTDOWN(BOTH)", peer(VsockOp.SHUTDOWN, { flags: VsockShutdown.BOTH }), null],
  ["SHUTDOWN(SEND)", peer(VsockOp.SHUTDOWN, { flags: VsockShutdown.SEND }), null],
  ["RW", peer(VsockOp.RW, { len: 3 }), new Uint8Array([1, 2, 3])],
  ["CREDIT_UPDATE", peer(VsockOp.CREDIT_UPDATE), null],
  ["CREDIT_REQUEST", peer(VsockOp.CREDIT_REQUEST), null],
  ["INVALID", peer(VsockOp.INVALID), null],
  ["op 9", peer(9), null],
];

// [state after, ops emitted, close reason] for every op in every state (Linux
// virtio_transport_recv_{connecting,connected,disconnecting}).
const TABLE: Record<ConnectionState, Record<string, [ConnectionState, number[], string | null]>> = {
  connecting: {
    "REQUEST": ["closed", [VsockOp.RST], "protocol"],
    "RESPONSE": ["established", [], null],
    "RST": ["closed", [], "refused"],
    "SHUTDOWN(BOTH)": ["closed", [VsockOp.RST], "protocol"],
    "SHUTDOWN(SEND)": ["closed", [VsockOp.RST], "protocol"],
    "RW": ["closed", [VsockOp.RST], "protocol"],
    "CREDIT_UPDATE": ["closed", [VsockOp.RST], "protocol"],
    "CREDIT_REQUEST": ["closed", [VsockOp.RST], "protocol"],
    "INVALID": ["connecting", [], null],
    "op 9": ["closed", [VsockOp.RST], "protocol"],
  },
  established: {
    "REQUEST": ["established", [], null],
    "RESPONSE": ["established", [], null],
    "RST": ["closed", [], "reset"],
    "SHUTDOWN(BOTH)": ["closed", [VsockOp.RST], "done"],
    "SHUTDOWN(SEND)": ["established", [], null],
    "RW": ["established", [], null],
    "CREDIT_UPDATE": ["established", [], null],
    "CREDIT_REQUEST": ["established", [VsockOp.CREDIT_UPDATE], null],
    "INVALID": ["established", [], null],
    "op 9": ["established", [], null],
  },
  closing: {
    "REQUEST": ["closing", [], null],
    "RESPONSE": ["closing", [], null],
    "RST": ["closed", [], "done"],
    "SHUTDOWN(BOTH)": ["closed", [VsockOp.RST], "done"],
    "SHUTDOWN(SEND)": ["closing", [], null],
    "RW": ["closing", [], null],
    "CREDIT_UPDATE": ["closing", [], null],
    "CREDIT_REQUEST": ["closing", [], null],
    "INVALID": ["closing", [], null],
    "op 9": ["closing", [], null],
  },
  closed: Object.fromEntries(OPS.map(([n]) => [n, ["closed", [], "aborted"]])),
};

for (const state of ["connecting", "established", "closing", "closed"] as const) {
  Deno.test(`every op in state ${state} gives the Linux transition`, () => {
    for (const [name, h, payload] of OPS) {
      const p = make(state);
      p.conn.receive(h, payload);
      const [next, ops, reason] = TABLE[state][name];
      assert.equal(p.conn.state, next, `${state} + ${name}: state`);
      assert.deepEqual(p.out.map((o) => o.op), ops, `${state} + ${name}: emitted`);
      assert.equal(p.conn.closeReason, reason, `${state} + ${name}: reason`);
      for (const o of p.out) {
        assert.deepEqual([o.srcCid, o.dstCid, o.srcPort, o.dstPort], [3, 4, 1024, 80]);
      }
    }
  });
}

Deno.test("every packet sent carries buf_alloc and fwd_cnt; the peer's credit is taken from each packet", () => {
  const p = make("established");
  p.conn.receive(peer(VsockOp.RW, { len: 3 }), new Uint8Array(3));
  p.conn.read(new Uint8Array(2));
  p.conn.receive(peer(VsockOp.CREDIT_UPDATE, { bufAlloc: 700, fwdCnt: 0 }), null);
  assert.deepEqual([p.conn.peerBufAlloc, p.conn.peerFwdCnt], [700, 0]);
  assert.equal(p.conn.write(new Uint8Array(1)), 1);
  const rw = p.out.at(-1)!;
  assert.deepEqual([rw.op, rw.len, rw.bufAlloc, rw.fwdCnt], [VsockOp.RW, 1, 1000, 2]);
});

Deno.test("write sends at most peer_buf_alloc - (tx_cnt - peer_fwd_cnt), in packets of maxPayload", () => {
  const p = make("established"); // peer buf_alloc 500, maxPayload 100
  assert.equal(p.conn.write(new Uint8Array(450)), 450);
  assert.deepEqual(p.out.map((o) => o.len), [100, 100, 100, 100, 50]);
  assert.equal(p.conn.peerFree(), 50);
  assert.equal(p.conn.write(new Uint8Array(80)), 50);
  assert.equal(p.conn.creditStalls, 1);
  assert.equal(p.conn.write(new Uint8Array(1)), 0);
  assert.equal(p.conn.writable, false);
  p.conn.receive(peer(VsockOp.CREDIT_UPDATE, { fwdCnt: 200 }), null);
  assert.equal(p.conn.peerFree(), 200);
  assert.ok(p.events.includes("writable"));
  // A peer that shrinks buf_alloc below what is in flight gives 0, never a negative credit.
  p.conn.receive(peer(VsockOp.CREDIT_UPDATE, { bufAlloc: 100, fwdCnt: 200 }), null);
  assert.equal(p.conn.peerFree(), 0);
});

Deno.test("a peer sending beyond our buffer is reset, not dropped silently (reliability F6)", () => {
  const p = make("established", 10);
  p.conn.receive(peer(VsockOp.RW, { len: 8 }), new Uint8Array(8));
  assert.equal(p.conn.state, "established");
  p.conn.receive(peer(VsockOp.RW, { len: 3 }), new Uint8Array(3));
  assert.equal(p.conn.state, "closed");
  assert.equal(p.conn.closeReason, "credit-violation");
  assert.deepEqual(p.out.map((o) => o.op), [VsockOp.RST]);
});

Deno.test("reading sends CREDIT_UPDATE once the credit the peer saw is under 64 KiB", () => {
  const p = make("established", 256 * 1024);
  const chunk = new Uint8Array(60 * 1024);
  for (let i = 0; i < 4; i++) p.conn.receive(peer(VsockOp.RW, { len: chunk.length }), chunk);
  const into = new Uint8Array(100 * 1024);
  assert.equal(p.conn.read(into), 100 * 1024);
  assert.deepEqual(p.out.map((o) => o.op), []); // 156 KiB still free in the peer's view
  assert.equal(p.conn.read(into), 100 * 1024);
  assert.deepEqual(p.out.map((o) => [o.op, o.fwdCnt]), [[VsockOp.CREDIT_UPDATE, 200 * 1024]]);
});

Deno.test("with a 1 MiB buffer, CREDIT_UPDATE goes out once half of it was read, not 960 KiB", () => {
  const p = make("established", 1 << 20);
  const chunk = new Uint8Array(64 * 1024);
  for (let i = 0; i < 16; i++) p.conn.receive(peer(VsockOp.RW, { len: chunk.length }), chunk);
  const into = new Uint8Array(64 * 1024);
  for (let i = 0; i < 8; i++) assert.equal(p.conn.read(into), 64 * 1024);
  assert.deepEqual(p.out.map((o) => o.op), []); // 512 KiB of credit left in the peer's view
  assert.equal(p.conn.read(into), 64 * 1024);
  assert.deepEqual(p.out.map((o) => [o.op, o.fwdCnt]), [[VsockOp.CREDIT_UPDATE, 576 * 1024]]);
});

Deno.test("shutdown hints are sticky: a later SHUTDOWN with fewer bits takes nothing back (F8)", () => {
  const p = make("established");
  p.conn.receive(peer(VsockOp.SHUTDOWN, { flags: VsockShutdown.SEND }), null);
  p.conn.receive(peer(VsockOp.SHUTDOWN, { flags: 0 }), null);
  assert.equal(p.conn.peerShutdown, VsockShutdown.SEND);
  assert.equal(p.conn.peerDone, true);
  p.conn.shutdown(VsockShutdown.SEND);
  p.conn.shutdown(VsockShutdown.SEND);
  assert.deepEqual(p.out.map((o) => [o.op, o.flags]), [[VsockOp.SHUTDOWN, VsockShutdown.SEND]]);
  assert.equal(p.conn.write(new Uint8Array(1)), 0);
});

Deno.test("data queued before the peer's full shutdown is still read, then RST closes", () => {
  const p = make("established");
  p.conn.receive(peer(VsockOp.RW, { len: 3 }), new Uint8Array([7, 8, 9]));
  p.conn.receive(peer(VsockOp.SHUTDOWN, { flags: VsockShutdown.BOTH }), null);
  assert.equal(p.conn.state, "established");
  const b = new Uint8Array(8);
  assert.equal(p.conn.read(b), 3);
  assert.deepEqual([...b.subarray(0, 3)], [7, 8, 9]);
  assert.equal(p.conn.state, "closed");
  assert.equal(p.conn.closeReason, "done");
  assert.equal(p.out.at(-1)!.op, VsockOp.RST);
});

Deno.test("a RESPONSE at the connect deadline is too late: the connect times out, the peer gets RST (F9)", () => {
  for (const at of [149, 150, 151]) {
    const out: VsockHeader[] = [];
    const clock = { now: 100 };
    const conn = Connection.connect({
      localCid: 3,
      localPort: 1024,
      peerCid: 4,
      peerPort: 80,
      now: () => clock.now,
      timeoutMs: 50,
      emit: (h) => out.push(h),
    });
    clock.now = at; // the RESPONSE is handled before the timer's expire() ran
    conn.receive(peer(VsockOp.RESPONSE), null);
    if (at < 150) {
      assert.equal(conn.state, "established", `in time at ${at}`);
      continue;
    }
    assert.equal(conn.state, "closed", `late at ${at}`);
    assert.equal(conn.closeReason, "timeout");
    assert.deepEqual(out.map((o) => o.op), [VsockOp.REQUEST, VsockOp.RST]);
  }
});

Deno.test("a close waits Linux's 8 s for the peer's final RST, not the 2 s of a connect", () => {
  const out: VsockHeader[] = [];
  const clock = { now: 0 };
  const conn = Connection.accept({
    localCid: 3,
    localPort: 1,
    peerCid: 4,
    peerPort: 2,
    now: () => clock.now,
    emit: (h) => out.push(h),
  }, peer(VsockOp.REQUEST));
  conn.close();
  // The stream's tail is still on a slow link: the peer reads it to its end 3 s later. It was
  // reset at 2 s, and the sender's time and rate were the timeout's.
  assert.equal(conn.expire(3000), false);
  conn.receive(peer(VsockOp.RST), null);
  assert.equal(conn.state, "closed");
  assert.equal(conn.closeReason, "done");
  assert.deepEqual(out.map((o) => o.op), [VsockOp.RESPONSE, VsockOp.SHUTDOWN]);
  // A peer that never answers is reset at 8 s.
  const late = Connection.accept({
    localCid: 3,
    localPort: 1,
    peerCid: 4,
    peerPort: 2,
    now: () => clock.now,
    emit: () => {},
  }, peer(VsockOp.REQUEST));
  late.close();
  assert.equal(late.expire(7999), false);
  assert.equal(late.expire(8000), true);
  assert.equal(late.closeReason, "timeout");
});

Deno.test("close sends SHUTDOWN both ways and a missing final RST times out (F9)", () => {
  const out: VsockHeader[] = [];
  const clock = { now: 100 };
  const conn = Connection.accept({
    localCid: 3,
    localPort: 1,
    peerCid: 4,
    peerPort: 2,
    now: () => clock.now,
    timeoutMs: 10,
    closeTimeoutMs: 50,
    emit: (h) => out.push(h),
  }, peer(VsockOp.REQUEST));
  conn.close();
  assert.equal(conn.state, "closing");
  assert.equal(conn.expire(149), false);
  assert.equal(conn.expire(150), true);
  assert.equal(conn.closeReason, "timeout");
  assert.deepEqual(out.map((o) => [o.op, o.flags]), [
    [VsockOp.RESPONSE, 0],
    [VsockOp.SHUTDOWN, VsockShutdown.BOTH],
    [VsockOp.RST, 0],
  ]);
});

Deno.test("a reader that keeps up reads the payload in place; what it leaves is copied", () => {
  const p = make("established", 1000);
  const into = new Uint8Array(3);
  p.conn.onEvent = (e) => {
    if (e === "readable") p.conn.read(into); // takes 3 bytes during the event
  };
  const rxBuffer = new Uint8Array([1, 2, 3, 4, 5]);
  p.conn.receive(peer(VsockOp.RW, { len: 5 }), rxBuffer);
  assert.deepEqual([...into], [1, 2, 3]);
  rxBuffer.fill(9); // the driver reposts its RX buffer after the call
  const rest = new Uint8Array(8);
  p.conn.onEvent = null;
  assert.equal(p.conn.read(rest), 2);
  assert.deepEqual([...rest.subarray(0, 2)], [4, 5]);
  // Unread entirely: copied whole.
  const second = new Uint8Array([6, 7]);
  p.conn.receive(peer(VsockOp.RW, { len: 2 }), second);
  second.fill(0);
  assert.equal(p.conn.read(rest), 2);
  assert.deepEqual([...rest.subarray(0, 2)], [6, 7]);
});

Deno.test("credit coming back after a write that used it exactly fires writable (no stall needed)", () => {
  // The echo sizes each write to peerFree(), so it never stalls; once the credit is 0 it waits
  // for "writable". Without the event it stayed stuck with bytes queued after the peer's
  // SHUTDOWN(SEND) (`vlab vsock a 7 < 2MB-file` to vsock-echo hung).
  const p = make("established"); // peer buf_alloc 500
  assert.equal(p.conn.write(new Uint8Array(500)), 500);
  assert.equal(p.conn.creditStalls, 0);
  assert.equal(p.conn.writable, false);
  p.conn.receive(peer(VsockOp.CREDIT_UPDATE, { fwdCnt: 300 }), null);
  assert.equal(p.conn.peerFree(), 300);
  assert.deepEqual(p.events, ["writable"]);
  // Credit growing while some was left is no news.
  p.conn.receive(peer(VsockOp.CREDIT_UPDATE, { fwdCnt: 400 }), null);
  assert.deepEqual(p.events, ["writable"]);
});

/**
 * The copies a connection keeps of unread payload. The queue is private and `read` copies out of
 * it, so where a copy sits (its phase) shows nowhere else: the test looks at the private field.
 */
function queuedChunks(conn: Connection): Uint8Array[] {
  const chunks = (conn as unknown as { chunks: unknown }).chunks;
  assert.ok(Array.isArray(chunks), "Connection keeps its unread payload in `chunks`");
  return chunks as Uint8Array[];
}

Deno.test("unread payload is kept at the source's phase, bytes intact, not aliased", () => {
  for (let k = 0; k < 8; k++) {
    // Nothing read during the event: the whole payload is copied.
    const p = make("established", 1000);
    const rx = new Uint8Array(new SharedArrayBuffer(64)); // a ring slot, a guest buffer
    const src = rx.subarray(16 + k, 16 + k + 13);
    src.forEach((_, i) => src[i] = 0x30 + i);
    const want = [...src];
    p.conn.receive(peer(VsockOp.RW, { len: 13 }), src);
    const [kept] = queuedChunks(p.conn);
    assert.equal(kept.byteOffset % 8, k, `the copy's phase, source at phase ${k}`);
    assert.notEqual(kept.buffer, rx.buffer, `phase ${k}: a copy, not a view`);
    src.fill(0xee); // the driver reposts its RX buffer after the call
    const into = new Uint8Array(13);
    assert.equal(p.conn.read(into), 13);
    assert.deepEqual([...into], want, `phase ${k}: the bytes as received`);

    // 3 bytes read during the event: the rest is copied at the phase where it starts.
    const q = make("established", 1000);
    const head = new Uint8Array(3);
    q.conn.onEvent = (e) => {
      if (e === "readable") q.conn.read(head);
    };
    const src2 = rx.subarray(16 + k, 16 + k + 13);
    src2.forEach((_, i) => src2[i] = 0x50 + i);
    const want2 = [...src2];
    q.conn.receive(peer(VsockOp.RW, { len: 13 }), src2);
    const [rest] = queuedChunks(q.conn);
    assert.equal(rest.byteOffset % 8, (k + 3) % 8, `the rest's phase, source at phase ${k}`);
    assert.notEqual(rest.buffer, rx.buffer, `phase ${k}: the rest is a copy, not a view`);
    src2.fill(0xee);
    q.conn.onEvent = null;
    const tail = new Uint8Array(10);
    assert.equal(q.conn.read(tail), 10);
    assert.deepEqual([...head, ...tail], want2, `phase ${k}: the stream as received`);
  }
});
