import assert from "node:assert/strict";
import { emptyHeader, type VsockHeader, VsockOp, VsockType } from "./header.ts";
import { VsockDriverCounter } from "./metrics.ts";
import { VsockSockets } from "./sockets.ts";

function table(room = Infinity) {
  const out: VsockHeader[] = [];
  const sink = {
    room,
    send(h: Readonly<VsockHeader>) {
      if (this.room <= 0) return false;
      this.room--;
      out.push({ ...h });
      return true;
    },
  };
  const s = new VsockSockets({ cid: 3, sink, maxConnections: 2 });
  return { s, out, sink };
}

function from(f: Partial<VsockHeader>): VsockHeader {
  return {
    ...emptyHeader(),
    srcCid: 4,
    dstCid: 3,
    srcPort: 1111,
    dstPort: 80,
    type: VsockType.STREAM,
    bufAlloc: 1000,
    ...f,
  };
}

Deno.test("a REQUEST to a listener is accepted with RESPONSE; to no listener, refused with RST", () => {
  const t = table();
  const accepted: number[] = [];
  assert.equal(t.s.listen(80, (c) => accepted.push(c.peerPort)), true);
  assert.equal(t.s.listen(80, () => {}), false); // port in use
  t.s.handle(from({ op: VsockOp.REQUEST }), null);
  t.s.handle(from({ op: VsockOp.REQUEST, dstPort: 81 }), null);
  t.s.flush();
  assert.deepEqual(accepted, [1111]);
  assert.deepEqual(t.out.map((h) => [h.op, h.dstPort, h.srcPort]), [
    [VsockOp.RESPONSE, 1111, 80],
    [VsockOp.RST, 1111, 81],
  ]);
});

Deno.test("unknown type is answered with RST; an RST for no socket and a wrong CID are dropped", () => {
  const t = table();
  t.s.handle(from({ op: VsockOp.REQUEST, type: VsockType.SEQPACKET }), null);
  t.s.handle(from({ op: VsockOp.RST }), null);
  t.s.handle(from({ op: VsockOp.REQUEST, dstCid: 7 }), null);
  t.s.flush();
  assert.deepEqual(t.out.map((h) => h.op), [VsockOp.RST]);
  assert.equal(t.s.counters[VsockDriverCounter.rxDropped], 2);
});

Deno.test("REQUESTs beyond the connection bound are refused (F10)", () => {
  const t = table();
  t.s.listen(80, () => {});
  for (let p = 0; p < 3; p++) t.s.handle(from({ op: VsockOp.REQUEST, srcPort: 5000 + p }), null);
  t.s.flush();
  assert.deepEqual(t.out.map((h) => h.op), [VsockOp.RESPONSE, VsockOp.RESPONSE, VsockOp.RST]);
  assert.equal(t.s.size, 2);
  assert.throws(() => t.s.connect(4, 9), RangeError);
});

Deno.test("packets wait in order while the sink is full and go on the next flush", () => {
  const t = table(1);
  const a = t.s.connect(4, 80);
  const b = t.s.connect(4, 81);
  assert.notEqual(a.localPort, b.localPort);
  assert.equal(t.s.flush(), 1);
  assert.equal(t.s.pendingOut, 1);
  t.sink.room = 5;
  assert.equal(t.s.flush(), 1);
  assert.deepEqual(t.out.map((h) => h.dstPort), [80, 81]);
});

Deno.test("TRANSPORT_RESET closes every connection without a packet; listeners stay with the new CID", () => {
  const t = table();
  const accepted: number[] = [];
  t.s.listen(80, (c) => accepted.push(c.localCid));
  const c = t.s.connect(4, 80);
  t.s.flush();
  t.out.length = 0;
  t.s.transportReset(9);
  assert.equal(c.state, "closed");
  assert.equal(c.closeReason, "transport-reset");
  assert.equal(t.s.flush(), 0);
  t.s.handle(from({ op: VsockOp.REQUEST, dstCid: 9 }), null);
  assert.deepEqual(accepted, [9]);
});

Deno.test("a packet goes straight to a sink with room (a view, no copy); one that must wait keeps a copy", () => {
  const seen: (Uint8Array | null)[] = [];
  const sink = {
    room: 1,
    send(_h: Readonly<VsockHeader>, p: Uint8Array | null) {
      if (this.room <= 0) return false;
      this.room--;
      seen.push(p);
      return true;
    },
  };
  const s = new VsockSockets({ cid: 3, sink, maxPayload: 4 });
  let conn = null as ReturnType<VsockSockets["connect"]> | null;
  s.listen(80, (c) => conn = c);
  sink.room = 10;
  s.handle(from({ op: VsockOp.REQUEST }), null); // RESPONSE goes straight out
  assert.equal(s.flush(), 1, "a direct send counts as sent");
  sink.room = 1;
  const data = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(conn!.write(data), 8); // two packets of 4: the first fits, the second waits
  assert.equal(
    seen.at(-1)!.buffer,
    data.buffer,
    "the first packet is a view of the writer's bytes",
  );
  assert.equal(s.pendingOut, 1);
  data.fill(0); // the writer reuses its buffer
  sink.room = 1;
  assert.equal(s.flush(), 2); // the direct one since the last flush, and the waiting one
  assert.deepEqual([...seen.at(-1)!], [5, 6, 7, 8], "the waiting packet kept its own copy");
});

Deno.test("unlisten with a handler leaves a later listener on the port alone", () => {
  const t = table();
  const first = () => {};
  const second = () => {};
  assert.equal(t.s.listen(80, first), true);
  t.s.unlisten(80, first);
  assert.equal(t.s.listen(80, second), true);
  t.s.unlisten(80, first); // the first workload ending late: not its port any more
  assert.equal(t.s.listen(80, () => {}), false);
  t.s.unlisten(80, second);
  assert.equal(t.s.listen(80, () => {}), true);
});

Deno.test("a packet that must wait keeps its copy at the writer's phase, bytes intact, not aliased", () => {
  for (let k = 0; k < 8; k++) {
    const seen: (Uint8Array | null)[] = [];
    const sink = {
      room: 10,
      send(_h: Readonly<VsockHeader>, p: Uint8Array | null) {
        if (this.room <= 0) return false;
        this.room--;
        seen.push(p);
        return true;
      },
    };
    const s = new VsockSockets({ cid: 3, sink });
    let conn = null as ReturnType<VsockSockets["connect"]> | null;
    s.listen(80, (c) => conn = c);
    s.handle(from({ op: VsockOp.REQUEST }), null); // RESPONSE goes straight out
    s.flush();
    // The writer's bytes sit k bytes past a multiple of 8 (a guest buffer, a ring slot).
    const shared = new Uint8Array(new SharedArrayBuffer(64));
    const src = shared.subarray(8 + k, 8 + k + 21);
    src.forEach((_, i) => src[i] = 0x40 + i);
    const want = [...src];
    sink.room = 0; // the TX ring is full: the RW waits in the table's queue
    assert.equal(conn!.write(src), 21);
    assert.equal(s.pendingOut, 1);
    src.fill(0xee); // the writer reuses its buffer
    sink.room = 1;
    assert.equal(s.flush(), 1);
    const queued = seen.at(-1)!;
    assert.equal(queued.byteOffset % 8, k, `the queued copy's phase, source at phase ${k}`);
    assert.deepEqual([...queued], want, `phase ${k}: the bytes as written`);
    assert.notEqual(queued.buffer, shared.buffer, `phase ${k}: a copy, not a view`);
  }
});

Deno.test("a refused connect to a CID the table does not know closes as no-such-cid; to a known CID, refused; no knownCids, refused", () => {
  const reasons = (knownCids: ReadonlySet<number> | undefined) => {
    const out: VsockHeader[] = [];
    const s = new VsockSockets({
      cid: 3,
      sink: { send: (h) => (out.push({ ...h }), true) },
      knownCids,
    });
    const got: (string | null)[] = [];
    for (const cid of [7, 4]) {
      const c = s.connect(cid, 5000);
      s.flush();
      // The device (or router) answers the REQUEST with RST, whatever the cause: same wire.
      const req = out.at(-1)!;
      assert.equal(req.op, VsockOp.REQUEST);
      s.handle(from({ op: VsockOp.RST, srcCid: cid, srcPort: 5000, dstPort: req.srcPort }), null);
      assert.equal(c.state, "closed");
      got.push(c.closeReason);
    }
    return got;
  };
  assert.deepEqual(reasons(new Set([2, 3, 4])), ["no-such-cid", "refused"]);
  assert.deepEqual(reasons(undefined), ["refused", "refused"]);
});
