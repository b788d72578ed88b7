/** The guest driver's checks of an untrusted device (reliability section C) through raw device queues. */
import assert from "node:assert/strict";
import { VSOCK_LARGE_TX_BUFFER, vsockDriverMemoryBytes } from "./driver.ts";
import { emptyHeader, encodeHeader, VSOCK_HDR_SIZE, VsockOp } from "./header.ts";
import { VsockDriverCounter } from "./metrics.ts";
import { vsockRig } from "./testing.ts";
import { createQueuePair } from "../virtio/pair.ts";

for (const layout of ["split", "packed"] as const) {
  Deno.test(`send writes the header with len then the payload in one readable descriptor [${layout}]`, () => {
    const r = vsockRig({ layout, cid: 3 });
    assert.equal(
      r.driver.send({ ...emptyHeader(), op: VsockOp.RW, len: 999 }, new Uint8Array([1, 2])),
      true,
    );
    r.driver.flush();
    const p = r.tx.device.pop();
    assert.ok(p.ok && p.value);
    const at = r.driver.txBufferAddr(0);
    assert.deepEqual(p.value.readable.map((s) => [s.gpa, s.len]), [[at, VSOCK_HDR_SIZE + 2]]);
    assert.equal(r.mem.u8[at + 24], 2); // len rewritten to the payload's length
    assert.deepEqual([...r.mem.u8.subarray(at + 44, at + 46)], [1, 2]);
    assert.throws(
      () => r.driver.send(emptyHeader(), new Uint8Array(r.driver.maxPayload + 1)),
      RangeError,
    );
  });

  Deno.test(`short RX buffers and a len beyond the bytes written are counted and dropped [${layout}]`, () => {
    const r = vsockRig({ layout, cid: 3 });
    for (const [used, len] of [[10, 0], [VSOCK_HDR_SIZE + 4, 5]]) {
      const p = r.rx.device.pop();
      assert.ok(p.ok && p.value);
      encodeHeader(r.mem.u8, p.value.writable[0].gpa, { ...emptyHeader(), len });
      r.rx.device.push(p.value, used);
    }
    r.rx.device.publish();
    assert.equal(r.driver.receive(() => assert.fail("no packet expected"), 8), 0);
    assert.equal(r.gc[VsockDriverCounter.rxLengthErrors], 2);
    assert.equal(r.driver.fault, null);
  });

  Deno.test(`an event the device returns is handed up and its buffer posted again [${layout}]`, () => {
    const r = vsockRig({ layout, cid: 3 });
    // The device holds the event buffers it took; a transport reset writes its event into one.
    r.device.transportReset();
    r.device.finish();
    const ids: number[] = [];
    assert.equal(r.driver.pollEvents((id) => ids.push(id)), 1);
    assert.deepEqual(ids, [0]);
    assert.equal(r.gc[VsockDriverCounter.transportResets], 1);
    assert.equal(r.ev.driver.inFlight, r.ev.driver.size); // reposted
    assert.equal(r.driver.fault, null);
  });

  Deno.test(`with 64 KiB TX buffers a 64 KiB write is one packet, and only txBuffers are in flight [${layout}]`, () => {
    const r = vsockRig({ layout, cid: 3, txBufferSize: VSOCK_LARGE_TX_BUFFER, txBuffers: 4 });
    assert.equal(r.driver.maxPayload, 65536);
    const payload = new Uint8Array(65536).map((_, i) => i & 0xff);
    for (let i = 0; i < 4; i++) {
      assert.ok(r.driver.send({ ...emptyHeader(), op: VsockOp.RW }, payload), `send ${i}`);
    }
    assert.equal(r.driver.send({ ...emptyHeader(), op: VsockOp.RW }, payload), false);
    assert.equal(r.gc[VsockDriverCounter.txRingFull], 1);
    r.driver.flush();
    const p = r.tx.device.pop();
    assert.ok(p.ok && p.value);
    assert.deepEqual(p.value.readable.map((s) => s.len), [VSOCK_HDR_SIZE + 65536]);
    const at = p.value.readable[0].gpa + VSOCK_HDR_SIZE;
    assert.deepEqual(r.mem.u8.subarray(at, at + 65536), payload);
    // The buffer comes back: one more send fits.
    r.tx.device.push(p.value, 0);
    r.tx.device.publish();
    assert.ok(r.driver.send({ ...emptyHeader(), op: VsockOp.RW }, payload));
    assert.equal(r.driver.fault, null);
  });
}

Deno.test("the driver's memory counts large TX buffers at their number, not the queue size", () => {
  const small = vsockDriverMemoryBytes({ layout: "split", queueSize: 128 });
  const large = vsockDriverMemoryBytes({
    layout: "split",
    queueSize: 128,
    txBufferSize: VSOCK_LARGE_TX_BUFFER,
    txBuffers: 32,
  });
  const page = (b: number) => Math.ceil(b / 4096) * 4096;
  assert.equal(
    large - small,
    page(32 * VSOCK_LARGE_TX_BUFFER) - page(128 * (VSOCK_HDR_SIZE + 4096)),
  );
});

Deno.test("reattach takes fresh queues with every buffer free and the fault cleared; another size is refused", () => {
  const layout = "split";
  const r = vsockRig({ layout, cid: 3 });
  // The event queue's used index jumps past the queue size (a device bug): the driver stops.
  r.mem.writeU16(0x9000 + 2, 100); // the rig's event queue: used ring at 0x9000, idx after flags
  r.driver.pollEvents(() => {});
  assert.notEqual(r.driver.fault, null);
  assert.equal(r.driver.send({ ...emptyHeader(), op: VsockOp.RW }, null), false);
  const fresh = (size: number, base: number) => {
    const q = createQueuePair(r.mem, {
      layout,
      size,
      descAddr: base,
      driverAddr: base + 0x1000,
      deviceAddr: base + 0x2000,
      features: { eventIdx: true, indirect: false, inOrder: false },
    });
    assert.ok(q.ok);
    return q.value;
  };
  const [rx, tx, ev] = [fresh(64, 0xa00000), fresh(64, 0xa10000), fresh(64, 0xa20000)];
  const bad = fresh(32, 0xa30000);
  assert.deepEqual(r.driver.reattach(rx.driver, tx.driver, bad.driver), {
    ok: false,
    error: { kind: "queue-size-changed", queue: "event", size: 32, expected: 64 },
  });
  assert.notEqual(r.driver.fault, null, "a refused reattach changes nothing");
  assert.ok(r.driver.reattach(rx.driver, tx.driver, ev.driver).ok);
  assert.equal(r.driver.fault, null);
  assert.equal(r.driver.fillRx(), 64, "every RX buffer is posted again");
  assert.equal(r.driver.fillEvents(), 64);
  assert.equal(r.driver.send({ ...emptyHeader(), op: VsockOp.RW }, new Uint8Array([7])), true);
  r.driver.flush();
  const sent = tx.device.pop();
  assert.ok(sent.ok && sent.value, "the packet went into the new TX queue");
});
