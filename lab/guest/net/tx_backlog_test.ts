import assert from "node:assert/strict";
import { BACKLOG_FRAMES, BULK_FRAMES, Flow, FLOW_FRAMES, TxBacklog } from "./tx_backlog.ts";

const frameOf = (byte: number) => (buf: Uint8Array) => buf.fill(byte);

Deno.test("a flow holding frames is held to its share; a flow holding none may hold one datagram", () => {
  const q = new TxBacklog();
  const flood = Flow.udp(49152);
  for (let i = 0; i < FLOW_FRAMES; i++) {
    assert.equal(q.admits(flood, 1), true);
    q.holdWith(flood, 60, frameOf(i), 0);
  }
  assert.equal(q.admits(flood, 1), false);
  assert.equal(q.admits(Flow.echo(7), 1), true);
  assert.equal(q.admits(Flow.echo(7), FLOW_FRAMES + 5), true, "a whole datagram's fragments");
  assert.equal(q.admits(Flow.echo(7), BACKLOG_FRAMES), false, "never past the backlog's bound");
  q.drain((_f) => true);
  assert.equal(q.admits(flood, FLOW_FRAMES + 1), true, "its share comes back once sent");
});

Deno.test("frames leave oldest first, across flows, and a refused one stays first", () => {
  const q = new TxBacklog();
  q.holdWith(Flow.udp(1), 60, frameOf(1), 0);
  q.holdWith(Flow.echo(2), 98, frameOf(2), 0x1234);
  q.hold(Flow.stack, new Uint8Array(42).fill(3), 0);
  const seen: [number, number, number][] = [];
  let room = 2;
  assert.equal(q.drain((f, csum) => room-- > 0 && seen.push([f[0], f.length, csum]) > 0), 2);
  assert.deepEqual(seen, [[1, 60, 0], [2, 98, 0x1234]]);
  assert.equal(q.length, 1);
  assert.equal(q.drain((f) => seen.push([f[0], f.length, 0]) > 0), 1);
  assert.deepEqual(seen[2], [3, 42, 0]);
  assert.equal(q.length, 0);
});

Deno.test("a drain started from inside a drain's send returns at once; the outer one goes on", () => {
  const q = new TxBacklog();
  for (let i = 0; i < 3; i++) q.holdWith(Flow.stack, 60, frameOf(i), 0);
  const inner: number[] = [];
  const sent = q.drain(() => {
    inner.push(q.drain(() => true)); // a driver reclaiming room announces it while sending
    return true;
  });
  assert.equal(sent, 3);
  assert.deepEqual(inner, [0, 0, 0]);
});

Deno.test("held frames reuse the backlog's buffers, at the interface's phase", () => {
  const q = new TxBacklog(4);
  const buffers = new Set<ArrayBufferLike>();
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 3; i++) q.holdWith(Flow.stack, 64, frameOf(round), 0);
    q.drain((f) => {
      assert.equal(f.byteOffset % 8, 4);
      assert.equal(f[63], round, "every byte is the new frame's");
      buffers.add(f.buffer);
      return true;
    });
  }
  assert.equal(buffers.size, 3, "one buffer per slot used, not one per frame");
  q.holdWith(Flow.stack, 9014, frameOf(9), 0); // larger than a slot's buffer: it grows
  q.drain((f) => f.length === 9014 && f[9013] === 9);
  assert.equal(q.length, 0);
});

Deno.test("hold past the bound is a programming error, not a silent loss", () => {
  const q = new TxBacklog(0, 2, 2);
  q.holdWith(Flow.stack, 60, frameOf(0), 0);
  q.holdWith(Flow.stack, 60, frameOf(0), 0);
  assert.throws(() => q.holdWith(Flow.udp(9), 60, frameOf(0), 0), RangeError);
});

Deno.test("flows that hold frames share three quarters of the backlog; the rest stays for flows that hold none", () => {
  const q = new TxBacklog();
  // Eight floods take their whole shares, and the stack's flow and a ping keep theirs beside them.
  const fill = (flow: number) => {
    while (q.admits(flow, 1)) q.holdWith(flow, 60, frameOf(flow & 0xff), 0);
  };
  for (let port = 0; port < 8; port++) fill(Flow.udp(port));
  fill(Flow.stack);
  fill(Flow.echo(1));
  assert.equal(q.length, 10 * FLOW_FRAMES);
  // Twelve more floods: each takes a first frame, then more while the backlog is under the bound.
  for (let round = 0; round < FLOW_FRAMES; round++) {
    for (let port = 8; port < 20; port++) {
      if (q.admits(Flow.udp(port), 1)) q.holdWith(Flow.udp(port), 60, frameOf(port), 0);
    }
  }
  assert.equal(q.length, BULK_FRAMES);
  assert.equal(q.admits(Flow.udp(8), 1), false);
  assert.equal(q.admits(Flow.udp(99), 1), true, "a flow holding none (a new flood's first frame)");
  // Pings, ARP replies and datagrams fill the rest.
  for (let id = 2; q.admits(Flow.echo(id), 3); id++) {
    for (let i = 0; i < 3; i++) q.holdWith(Flow.echo(id), 98, frameOf(id), 0);
  }
  assert.ok(q.length > BACKLOG_FRAMES - 3);
  assert.equal(q.admits(Flow.echo(99), 3), false, "never past the backlog's bound");
});
