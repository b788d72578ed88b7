// This file is both the test module and, when loaded in a worker, the producer or consumer of
// the two-worker handshake test (the worker's `name` says which).
import assert from "node:assert/strict";
import { Prng } from "../../devices/base/prng.ts";
import {
  formatLinkRingError,
  LINK_RING_VERSION,
  LinkRing,
  linkRingBytes,
  LinkRingOffset,
} from "./link_ring.ts";

/** Messages the test sends its workers. */
interface StartMsg {
  ring: SharedArrayBuffer;
  bell: SharedArrayBuffer;
  frames: number;
  seed: number;
  deadlineMs: number;
}

/** What a worker reports back. */
interface DoneMsg {
  role: string;
  frames: number;
  errors: string[];
  waits: number;
  lostWakeups: number;
  timedOut: boolean;
}

const WAIT_TIMEOUT_MS = 1000;

function fill(view: Uint8Array, seq: number): void {
  view[0] = seq & 0xff;
  view[1] = (seq >>> 8) & 0xff;
  view[2] = (seq >>> 16) & 0xff;
  view[3] = (seq >>> 24) & 0xff;
  for (let i = 4; i < view.length; i++) view[i] = (seq + i) & 0xff;
}

function frameLen(seq: number): number {
  return 4 + ((seq * 2654435761) >>> 0) % 600;
}

function runProducer(m: StartMsg): DoneMsg {
  const r = LinkRing.attach(m.ring);
  if (!r.ok) return done("producer", 0, [formatLinkRingError(r.error)]);
  const ring = r.value;
  const bell = new Int32Array(m.bell);
  const prng = Prng.fromSeed(m.seed).fork("producer");
  let seq = 0;
  let timedOut = false;
  for (let spins = 0; seq < m.frames; spins++) {
    if ((spins & 1023) === 0 && Date.now() > m.deadlineMs) {
      timedOut = true;
      break;
    }
    const batch = 1 + prng.below(8);
    let committed = 0;
    for (; committed < batch && seq < m.frames; committed++) {
      const len = frameLen(seq);
      const view = ring.reserve(len);
      if (view === null) break; // full: publish what we have, retry later
      fill(view, seq);
      ring.commit(len);
      seq++;
    }
    // publish only real batches, as the device worker does: an idle producer never rescues a
    // consumer that went to sleep on a lost wake-up
    if (committed > 0 && ring.publish()) {
      Atomics.add(bell, 0, 1);
      Atomics.notify(bell, 0);
    }
    // an irregular pause so that the consumer often runs dry and goes to sleep
    const pause = prng.chance(0.3) ? prng.below(3000) : 0;
    let sink = 0;
    for (let i = 0; i < pause; i++) sink += i;
    if (sink < 0) break;
  }
  return { role: "producer", frames: seq, errors: [], waits: 0, lostWakeups: 0, timedOut };
}

function runConsumer(m: StartMsg): DoneMsg {
  const r = LinkRing.attach(m.ring);
  if (!r.ok) return done("consumer", 0, [formatLinkRingError(r.error)]);
  const ring = r.value;
  const bell = new Int32Array(m.bell);
  const errors: string[] = [];
  let expect = 0;
  let waits = 0;
  let lostWakeups = 0;
  let timedOut = false;
  while (expect < m.frames && errors.length < 5) {
    if (Date.now() > m.deadlineMs) {
      timedOut = true;
      break;
    }
    let got = 0;
    for (let f = ring.peek(); f !== null && got < 64; f = ring.peek()) {
      const seq = (f[0] | (f[1] << 8) | (f[2] << 16) | (f[3] << 24)) >>> 0;
      if (seq !== expect) errors.push(`expected frame ${expect}, got ${seq}`);
      else if (f.length !== frameLen(seq)) errors.push(`frame ${seq}: length ${f.length}`);
      else {
        for (let i = 4; i < f.length; i++) {
          if (f[i] !== ((seq + i) & 0xff)) {
            errors.push(`frame ${seq}: byte ${i} is ${f[i]}`);
            break;
          }
        }
      }
      expect = seq + 1;
      ring.release();
      got++;
    }
    ring.finishConsume();
    if (got > 0) continue;
    const seen = Atomics.load(bell, 0);
    if (!ring.prepareToWait()) continue;
    waits++;
    const res = Atomics.wait(bell, 0, seen, WAIT_TIMEOUT_MS);
    if (res === "timed-out" && ring.pending() > 0) lostWakeups++;
  }
  return { role: "consumer", frames: expect, errors, waits, lostWakeups, timedOut };
}

function done(role: string, frames: number, errors: string[]): DoneMsg {
  return { role, frames, errors, waits: 0, lostWakeups: 0, timedOut: false };
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
if (typeof g.WorkerGlobalScope !== "undefined") {
  g.onmessage = (e: MessageEvent<StartMsg>) => {
    const reply = g.name === "link-ring-producer" ? runProducer(e.data) : runConsumer(e.data);
    g.postMessage(reply);
  };
} else {
  Deno.test("linkRingBytes puts each slot on cache lines of its own after a 384-byte header", () => {
    // Each slot on cache lines of its own: 8 + 2048 bytes take 33 lines, 8 + 61 take 2.
    assert.equal(linkRingBytes(2048, 2048), 384 + 2048 * 2112);
    assert.equal(linkRingBytes(4, 61), 384 + 4 * 128);
    // A 1514-byte frame fills its slot: the next slot starts on the next line, not inside this one.
    const ring = LinkRing.create(4, 1514, 4);
    for (let i = 0; i < 3; i++) {
      const slot = ring.reserve(1514)!;
      assert.equal((slot.byteOffset - 12) % 64, 0, `slot ${i} starts on a cache line`);
      ring.commit(1514);
    }
    assert.equal(LinkRingOffset.head % 64, 0);
    assert.notEqual(LinkRingOffset.head >> 6, LinkRingOffset.tail >> 6);
  });

  Deno.test("create rejects a slot count that is not a power of 2", () => {
    assert.throws(() => LinkRing.create(300, 2048), /power of 2/);
    assert.throws(() => LinkRing.create(4, 0), RangeError);
  });

  Deno.test("each frame starts framePhase bytes past a multiple of 8, on both sides", () => {
    assert.equal(linkRingBytes(4, 61, 4), 384 + 4 * 128);
    assert.equal(linkRingBytes(4, 52, 4), 384 + 4 * 64, "8 + 4 + 52 fill one line exactly");
    for (const phase of [0, 4, 7]) {
      const tx = LinkRing.create(4, 1600, phase);
      const rx = LinkRing.attach(tx.buffer);
      assert.ok(rx.ok);
      assert.equal(rx.value.framePhase, phase);
      for (let i = 0; i < 6; i++) {
        const frame = new Uint8Array(60 + i).fill(i + 1);
        const view = tx.reserve(frame.length);
        assert.ok(view !== null);
        assert.equal(view.byteOffset % 8, phase);
        view.set(frame);
        tx.commit(frame.length, i);
        tx.publish();
        const got: Uint8Array | null = rx.value.peek();
        assert.ok(got !== null);
        assert.equal(got.byteOffset % 8, phase);
        assert.deepEqual([...got], [...frame]);
        assert.equal(rx.value.peekedMeta(), i);
        rx.value.release();
        rx.value.finishConsume();
      }
    }
    assert.throws(() => LinkRing.create(4, 64, 8), /framePhase 0\.\.7/);
    const copy = LinkRing.create(4, 56, 4).buffer; // 8 + 4 + 56 take two lines, 8 + 56 one
    new DataView(copy).setUint32(LinkRingOffset.framePhase, 0, true); // the stride no longer fits
    const r = LinkRing.attach(copy);
    assert.equal(r.ok ? "" : r.error.kind, "bad-geometry");
  });

  Deno.test("attach validates magic, version and geometry", () => {
    const ring = LinkRing.create(4, 64);
    assert.equal(LinkRing.attach(ring.buffer).ok, true);
    const badMagic = new SharedArrayBuffer(ring.buffer.byteLength);
    const r1 = LinkRing.attach(badMagic);
    assert.equal(r1.ok ? "" : r1.error.kind, "bad-magic");
    const copy = new SharedArrayBuffer(ring.buffer.byteLength);
    new Uint8Array(copy).set(new Uint8Array(ring.buffer));
    new DataView(copy).setUint32(LinkRingOffset.version, 9, true);
    const r2 = LinkRing.attach(copy);
    assert.equal(r2.ok ? "" : r2.error.kind, "bad-version");
    new DataView(copy).setUint32(LinkRingOffset.version, LINK_RING_VERSION, true);
    new DataView(copy).setUint32(LinkRingOffset.slots, 8, true);
    const r3 = LinkRing.attach(copy);
    assert.equal(r3.ok ? "" : r3.error.kind, "bad-geometry");
    assert.match(r3.ok ? "" : formatLinkRingError(r3.error), /^Cannot attach link ring: invalid/);
    assert.equal(LinkRing.attach(new SharedArrayBuffer(16)).ok, false);
  });

  Deno.test("frames are invisible until publish and arrive in order with their bytes", () => {
    const tx = LinkRing.create(8, 64);
    const r = LinkRing.attach(tx.buffer);
    assert.ok(r.ok);
    const rx = r.value;
    for (let i = 0; i < 3; i++) {
      assert.ok(tx.push(new Uint8Array([i, i + 1, i + 2]).subarray(0, i + 1)));
    }
    assert.equal(rx.peek(), null);
    tx.publish();
    for (let i = 0; i < 3; i++) {
      const f = rx.peek();
      assert.deepEqual(Array.from(f ?? []), [i, i + 1, i + 2].slice(0, i + 1));
      rx.release();
    }
    assert.equal(rx.peek(), null);
    rx.finishConsume();
    const c = tx.counters();
    assert.deepEqual([c.framesIn, c.bytesIn, c.framesOut, c.bytesOut, c.publishes], [
      3,
      6,
      3,
      6,
      1,
    ]);
  });

  Deno.test("a frame released by a consumer that dies before finishConsume is counted once, by its successor", () => {
    const tx = LinkRing.create(8, 64);
    for (let i = 0; i < 3; i++) assert.ok(tx.push(new Uint8Array(10)));
    tx.publish();
    const dying = LinkRing.attach(tx.buffer);
    assert.ok(dying.ok);
    assert.ok(dying.value.peek());
    dying.value.release(); // a device worker crashing mid-pass: the tail is never published
    assert.equal(tx.counters().framesOut, 0);
    const next = LinkRing.attach(tx.buffer);
    assert.ok(next.ok);
    for (let n = 0; n < 3; n++) {
      assert.ok(next.value.peek(), `frame ${n} is there for the successor`);
      next.value.release();
    }
    next.value.finishConsume();
    const c = tx.counters();
    assert.deepEqual([c.framesOut, c.bytesOut], [3, 30]);
  });

  Deno.test("reserve returns null when full until the consumer finishes consuming", () => {
    const tx = LinkRing.create(2, 16);
    const rx = LinkRing.attach(tx.buffer);
    assert.ok(rx.ok);
    assert.ok(tx.push(new Uint8Array(1)));
    assert.ok(tx.push(new Uint8Array(2)));
    assert.equal(tx.reserve(1), null);
    assert.equal(tx.push(new Uint8Array(5)), false);
    tx.publish();
    rx.value.peek();
    rx.value.release();
    assert.equal(tx.reserve(1), null, "released but not finished: still full");
    rx.value.finishConsume();
    assert.notEqual(tx.reserve(1), null);
    const c = tx.counters();
    assert.deepEqual([c.framesDropped, c.bytesDropped], [1, 5]);
  });

  Deno.test("reserve refuses a frame larger than a slot and commit refuses more than reserved", () => {
    const tx = LinkRing.create(2, 16);
    assert.equal(tx.reserve(17), null);
    assert.throws(() => tx.commit(1), RangeError);
    tx.reserve(4);
    assert.throws(() => tx.commit(5), RangeError);
  });

  Deno.test("free-running indices wrap past 2^32", () => {
    const tx = LinkRing.create(4, 16);
    const i32 = new Int32Array(tx.buffer);
    Atomics.store(i32, LinkRingOffset.head / 4, -3); // 2^32 - 3
    Atomics.store(i32, LinkRingOffset.tail / 4, -3);
    const t2 = LinkRing.attach(tx.buffer);
    const r2 = LinkRing.attach(tx.buffer);
    assert.ok(t2.ok && r2.ok);
    for (let n = 0; n < 20; n++) {
      assert.ok(t2.value.push(new Uint8Array([n])));
      t2.value.publish();
      assert.deepEqual(Array.from(r2.value.peek() ?? []), [n]);
      r2.value.release();
      r2.value.finishConsume();
    }
    assert.equal(Atomics.load(i32, LinkRingOffset.head / 4) >>> 0, 17);
  });

  Deno.test("prepareToWait refuses to sleep when frames are pending; publish reports a sleeper", () => {
    const tx = LinkRing.create(4, 16);
    const r = LinkRing.attach(tx.buffer);
    assert.ok(r.ok);
    const rx = r.value;
    assert.equal(tx.publish(), false, "nobody waits yet");
    assert.equal(rx.prepareToWait(), true);
    tx.push(new Uint8Array(1));
    assert.equal(tx.publish(), true, "consumer waits: ring its doorbell");
    assert.equal(tx.publish(), false, "flag cleared: one doorbell per sleep");
    assert.equal(rx.prepareToWait(), false, "a frame is pending");
    assert.equal(tx.publish(), false, "prepareToWait cleared the flag");
    assert.equal(tx.counters().wakeups, 1);
  });

  Deno.test("peek skips a slot whose length exceeds the slot size and counts it", () => {
    const tx = LinkRing.create(4, 16);
    const r = LinkRing.attach(tx.buffer);
    assert.ok(r.ok);
    tx.push(new Uint8Array([1]));
    tx.push(new Uint8Array([2]));
    tx.publish();
    new DataView(tx.buffer).setUint32(LinkRingOffset.slotsStart, 999, true);
    assert.deepEqual(Array.from(r.value.peek() ?? []), [2]);
    assert.equal(tx.counters().badFrames, 1);
  });

  Deno.test("two workers move 100,000 frames with no loss, duplication or lost wake-up", async () => {
    const seed = 0x5eed;
    const ring = LinkRing.create(8, 1024);
    const bell = new SharedArrayBuffer(4);
    const url = new URL(import.meta.url);
    const producer = new Worker(url, { type: "module", name: "link-ring-producer" });
    const consumer = new Worker(url, { type: "module", name: "link-ring-consumer" });
    const reply = (w: Worker) =>
      new Promise<DoneMsg>((resolve, reject) => {
        w.onmessage = (e: MessageEvent<DoneMsg>) => resolve(e.data);
        w.onerror = (e) => {
          e.preventDefault();
          reject(new Error(e.message));
        };
      });
    try {
      const replies = Promise.all([reply(producer), reply(consumer)]);
      const msg: StartMsg = {
        ring: ring.buffer,
        bell,
        frames: 100_000,
        seed,
        deadlineMs: Date.now() + 30_000,
      };
      consumer.postMessage(msg);
      producer.postMessage(msg);
      const [p, c] = await replies;
      const info = `seed ${seed}: ${JSON.stringify({ p, c })}`;
      assert.equal(p.timedOut || c.timedOut, false, info);
      assert.deepEqual(c.errors, [], info);
      assert.equal(p.frames, 100_000, info);
      assert.equal(c.frames, 100_000, info);
      assert.equal(c.lostWakeups, 0, info);
      assert.ok(c.waits > 0, `the consumer never slept, so the handshake went untested; ${info}`);
      const counters = ring.counters();
      assert.equal(counters.framesIn, 100_000);
      assert.equal(counters.framesOut, 100_000);
      assert.equal(counters.bytesIn, counters.bytesOut);
      assert.ok(counters.wakeups > 0, info);
    } finally {
      producer.terminate();
      consumer.terminate();
    }
  });
}

if (typeof g.WorkerGlobalScope === "undefined") {
  Deno.test("a producer waiting for room is woken once by the consumer that frees a slot", () => {
    const producer = LinkRing.create(2, 64);
    const attached = LinkRing.attach(producer.buffer);
    assert.ok(attached.ok);
    const consumer = attached.value;
    assert.equal(producer.prepareToWaitForSpace(), false, "room: no wait");
    assert.equal(consumer.takeProducerWakeup(), false, "the flag was cleared");
    assert.ok(producer.push(new Uint8Array(10)));
    assert.ok(producer.push(new Uint8Array(10)));
    assert.equal(producer.reserve(10), null, "full");
    assert.equal(producer.prepareToWaitForSpace(), true, "still full: sleep");
    producer.publish();
    assert.notEqual(consumer.peek(), null);
    consumer.release();
    consumer.finishConsume();
    assert.equal(consumer.takeProducerWakeup(), true, "the consumer rings once");
    assert.equal(consumer.takeProducerWakeup(), false, "and only once");
    assert.notEqual(producer.reserve(10), null, "room again");
  });

  Deno.test("a slot freed between the full reserve and the wait cancels the wait", () => {
    const producer = LinkRing.create(2, 64);
    const attached = LinkRing.attach(producer.buffer);
    assert.ok(attached.ok);
    const consumer = attached.value;
    producer.push(new Uint8Array(8));
    producer.push(new Uint8Array(8));
    producer.publish();
    assert.equal(producer.reserve(8), null);
    consumer.peek();
    consumer.release();
    consumer.finishConsume(); // before the producer announces its wait
    assert.equal(producer.prepareToWaitForSpace(), false, "room appeared: go on");
    assert.equal(consumer.takeProducerWakeup(), false, "nothing to ring");
  });
}

Deno.test("freeSlots counts the slots a producer can fill, re-reading the consumer's tail", () => {
  const tx = LinkRing.create(4, 64);
  const rx = LinkRing.attach(tx.buffer);
  if (!rx.ok) throw new Error("attach");
  assert.equal(tx.freeSlots(1), 4);
  tx.push(new Uint8Array(8));
  tx.push(new Uint8Array(8));
  tx.publish();
  assert.equal(tx.freeSlots(1), 2);
  rx.value.peek();
  rx.value.release();
  rx.value.finishConsume();
  // Enough cached room: the tail is not re-read; asking for more re-reads it.
  assert.equal(tx.freeSlots(2), 2);
  assert.equal(tx.freeSlots(3), 3);
});

Deno.test("each slot's meta word travels with its frame", () => {
  const tx = LinkRing.create(4, 64);
  const attached = LinkRing.attach(tx.buffer);
  assert.ok(attached.ok);
  const rx = attached.value;
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 4; i++) {
      const meta = i === 1 ? 0 : (0x8000_0000 | (round << 16) | i) >>> 0;
      assert.ok(tx.push(new Uint8Array([i]), meta));
    }
    tx.publish();
    for (let i = 0; i < 4; i++) {
      const f = rx.peek();
      assert.ok(f);
      assert.equal(f[0], i);
      assert.equal(rx.peekedMeta(), i === 1 ? 0 : (0x8000_0000 | (round << 16) | i) >>> 0);
      rx.release();
    }
    rx.finishConsume();
  }
});
