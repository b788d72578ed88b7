import assert from "node:assert/strict";
import { GuestMemory } from "../memory/memory.ts";
import { createQueuePair, type QueuePair } from "../virtio/pair.ts";
import {
  decodeHeader,
  emptyHeader,
  VSOCK_HDR_SIZE,
  type VsockHeader,
  VsockOp,
  VsockType,
} from "./header.ts";
import { GuestInbox, type PendingPacket } from "./inbox.ts";
import { VSOCK_COUNTER_COUNT, VsockCounter } from "./metrics.ts";

/** Where the test's RX buffers sit in guest memory, 4 KiB apart. */
const RX_GPA = 0x10000;

/** An inbox over a split receive queue of 8, with no RX buffer posted yet. */
function rig(): { mem: GuestMemory; rx: QueuePair; box: GuestInbox; posted: number } {
  const mem = GuestMemory.create(1 << 20);
  const rx = createQueuePair(mem, {
    layout: "split",
    size: 8,
    descAddr: 0x1000,
    driverAddr: 0x2000,
    deviceAddr: 0x3000,
    features: { eventIdx: false, indirect: false, inOrder: false },
  });
  if (!rx.ok) throw new Error(`setup failed: ${rx.error.kind}`);
  const box = new GuestInbox(mem.u8, new Float64Array(VSOCK_COUNTER_COUNT));
  return { mem, rx: rx.value, box, posted: 0 };
}

/** Post one RX buffer of `bytes` (header included); returns its guest address. */
function postRx(r: ReturnType<typeof rig>, bytes: number): number {
  const gpa = RX_GPA + 0x1000 * r.posted;
  const a = r.rx.driver.add({ readable: [], writable: [[gpa, bytes]] }, r.posted++);
  if (!a.ok) throw new Error(`add failed: ${a.error.kind}`);
  r.rx.driver.publish();
  return gpa;
}

/** The packets the device completed: header and payload read back from guest memory. */
function completed(r: ReturnType<typeof rig>): { h: VsockHeader; payload: number[] }[] {
  r.rx.device.publish();
  const out: { h: VsockHeader; payload: number[] }[] = [];
  for (let i = 0; i < 8; i++) {
    const u = r.rx.driver.getUsed();
    if (!u.ok) throw new Error(`used failed: ${u.error.kind}`);
    if (u.value === null) break;
    const gpa = RX_GPA + 0x1000 * u.value.token;
    const h = decodeHeader(r.mem.u8, gpa, emptyHeader());
    out.push({
      h,
      payload: [...r.mem.u8.subarray(gpa + VSOCK_HDR_SIZE, gpa + VSOCK_HDR_SIZE + h.len)],
    });
  }
  return out;
}

/**
 * The payloads of the packets waiting. The queue is private and `pumpRx` copies out of it into
 * guest memory, so where a queued copy sits (its phase) shows nowhere else: the test looks at
 * the private field.
 */
function waiting(box: GuestInbox): (Uint8Array | null)[] {
  const items = (box as unknown as { items: unknown }).items;
  assert.ok(Array.isArray(items), "GuestInbox keeps its waiting packets in `items`");
  return (items as PendingPacket[]).map((p) => p.payload);
}

function rw(len: number): VsockHeader {
  return {
    ...emptyHeader(),
    srcCid: 2,
    dstCid: 3,
    srcPort: 5000,
    dstPort: 1024,
    type: VsockType.STREAM,
    op: VsockOp.RW,
    len,
    bufAlloc: 4096,
  };
}

Deno.test("a packet that waits for RX buffers is kept at its source's phase, bytes intact, not aliased", () => {
  for (let k = 0; k < 8; k++) {
    const r = rig();
    postRx(r, VSOCK_HDR_SIZE + 10); // room for 10 of the first packet's 30 bytes
    // Payloads sit k bytes past a multiple of 8, as a link ring's slot or a guest buffer does.
    const slot = new Uint8Array(new SharedArrayBuffer(128));
    const first = slot.subarray(8 + k, 8 + k + 30);
    first.forEach((_, i) => first[i] = i);
    const second = slot.subarray(64 + k, 64 + k + 16);
    second.forEach((_, i) => second[i] = 100 + i);
    const want = [...first, ...second];

    // 10 bytes go into the buffer; the other 20 wait, a packet of their own.
    r.box.put(r.rx.device, rw(30), first);
    // Something waits: the next packet waits behind it, whole.
    r.box.put(r.rx.device, rw(16), second);
    const [rest, whole] = waiting(r.box);
    assert.equal(rest!.byteOffset % 8, (k + 10) % 8, `the rest's phase, source at phase ${k}`);
    assert.equal(whole!.byteOffset % 8, k, `the waiting packet's phase, source at phase ${k}`);
    assert.notEqual(rest!.buffer, slot.buffer, `phase ${k}: the rest is a copy, not a view`);
    assert.notEqual(whole!.buffer, slot.buffer, `phase ${k}: the packet is a copy, not a view`);

    slot.fill(0xee); // the link's slot is reused as soon as the call returns
    postRx(r, VSOCK_HDR_SIZE + 100);
    r.box.pumpRx(r.rx.device);
    const got = completed(r);
    assert.deepEqual(got.map((p) => p.h.len), [10, 36], `phase ${k}`);
    assert.deepEqual(got.flatMap((p) => p.payload), want, `phase ${k}: the stream as put`);
    assert.equal(r.box.length, 0);
  }
});

Deno.test("an unusable RX buffer the queue refuses to take back is not counted rxBadChain", () => {
  // Before, rxBadChain was counted before the push whose result decided whether the chain was
  // returned at all: a refused one (no longer the device's) was counted as a bad chain returned.
  for (const refuse of [false, true]) {
    const r = rig();
    const c = new Float64Array(VSOCK_COUNTER_COUNT);
    const box = new GuestInbox(r.mem.u8, c);
    postRx(r, VSOCK_HDR_SIZE); // no room for a byte of payload: unusable
    postRx(r, VSOCK_HDR_SIZE + 100);
    const q = r.rx.device as { push: typeof r.rx.device.push };
    const push = q.push;
    let refusals = refuse ? 1 : 0;
    q.push = (chain, written) =>
      refusals-- > 0
        ? { ok: false, error: { kind: "not-in-flight", id: chain.id } }
        : push.call(r.rx.device, chain, written);
    const res = box.put(r.rx.device, rw(5), new Uint8Array(5));
    q.push = push;
    assert.equal(c[VsockCounter.rxBadChain], refuse ? 0 : 1, `refused: ${refuse}`);
    assert.equal(res.pushed, refuse ? 0 : 1, `refused: ${refuse}`);
  }
});
