/**
 * The conformance suite's notification half: every kick and interrupt decision, for both
 * layouts (split; packed with a power-of-two and a non-power-of-two size), through the real
 * driver and device halves from `pair.ts`. Where a case needs an event index the real device
 * would not write (inside a batch), the test writes the spec field itself, by raw offset.
 */
import assert from "node:assert/strict";
import { GuestMemory } from "../memory/memory.ts";
import { createQueuePair } from "./pair.ts";
import { tag, type Variant, variantConfig, VARIANTS } from "./testing_harness.ts";
import type { DescriptorChain, DeviceQueue, DriverQueue, RingFeatures } from "./queue.ts";

const DEVICE = 0x20000;
const BUF = 0x80000;

interface Rig {
  mem: GuestMemory;
  driver: DriverQueue;
  device: DeviceQueue;
  /** Post `n` chains of `descs` descriptors each and publish them: the kick decision. */
  post(n: number, descs?: number): boolean;
  /** Pop everything, complete it in full, publish: the chains completed. */
  serve(): number;
  /** Pop one chain. */
  pop(): DescriptorChain;
  /** Reclaim every used buffer: how many. */
  reclaim(): number;
}

function rig(v: Variant, features: Partial<RingFeatures> = {}): Rig {
  const mem = GuestMemory.create(1 << 20);
  const cfg = variantConfig(v, features);
  const r = createQueuePair(mem, cfg);
  if (!r.ok) throw new Error(`setup failed: ${r.error.kind}`);
  const { driver, device } = r.value;
  let token = 0;
  const pop = () => {
    const c = device.pop();
    if (!c.ok || c.value === null) throw new Error("pop: nothing available");
    return c.value;
  };
  return {
    mem,
    driver,
    device,
    post(n, descs = 1) {
      for (let i = 0; i < n; i++) {
        const segs: Array<[number, number]> = [];
        for (let d = 0; d < descs; d++) segs.push([BUF + 64 * d, 64]);
        const a = driver.add({ readable: [], writable: segs }, token++);
        if (!a.ok) throw new Error(`add: ${a.error.kind}`);
      }
      return driver.publish();
    },
    serve() {
      let n = 0;
      for (let c = device.pop(); c.ok && c.value; c = device.pop(), n++) {
        device.push(c.value, c.value.writableBytes);
      }
      device.publish();
      return n;
    },
    pop,
    reclaim() {
      let n = 0;
      for (let u = driver.getUsed(); u.ok && u.value; u = driver.getUsed()) n++;
      return n;
    },
  };
}

/**
 * Write the device's "kick me at" event by raw spec offset: split `avail_event` at
 * used + 4 + 8N; packed device event suppression off_wrap @0 and flags = DESC @2.
 */
function pokeAvailEvent(t: Rig, v: Variant, position: number): void {
  if (v.layout === "split") {
    poke16(t.mem, DEVICE + 4 + 8 * v.size, position & 0xffff);
  } else {
    const lap = Math.floor(position / v.size);
    poke16(t.mem, DEVICE, (position % v.size) | ((1 - (lap & 1)) << 15));
    poke16(t.mem, DEVICE + 2, 2);
  }
}

function poke16(mem: GuestMemory, addr: number, value: number): void {
  mem.u8[addr] = value & 0xff;
  mem.u8[addr + 1] = value >>> 8;
}

/** Complete one popped chain in full and publish it: the interrupt decision. */
function completeOne(t: Rig): boolean {
  const c = t.pop();
  t.device.push(c, c.writableBytes);
  t.device.publish();
  return t.device.needsInterrupt();
}

for (const v of VARIANTS) {
  // ---- driver kick decisions ----

  Deno.test(`kicks while the device has notifications enabled (2.7.10, 2.8.10) ${tag(v)}`, () => {
    const t = rig(v);
    assert.equal(t.post(1), true, "the ring starts with notifications enabled");
    assert.equal(t.post(2), true);
    t.serve();
    assert.equal(t.device.enableNotifications(), false);
    assert.equal(t.post(1), true);
  });

  Deno.test(`does not kick while the device disabled notifications (NO_NOTIFY / DISABLE) ${tag(v)}`, () => {
    const t = rig(v);
    t.device.disableNotifications();
    assert.equal(t.post(1), false);
    assert.equal(t.post(3), false);
    assert.equal(t.driver.publish(), false, "publishing nothing never kicks");
    assert.equal(t.device.enableNotifications(), true, "work arrived while disabled");
    t.serve();
    assert.equal(t.device.enableNotifications(), false);
    assert.equal(t.post(1), true);
  });

  Deno.test(`EVENT_IDX: kicks once the batch crosses avail_event, not again (2.7.10, 2.8.10) ${tag(v)}`, () => {
    const t = rig(v, { eventIdx: true });
    assert.equal(t.device.enableNotifications(), false);
    assert.equal(t.post(3), true, "avail_event = 0 is in [0, 3)");
    assert.equal(t.post(2), false, "avail_event = 0 is not in [3, 5)");
    assert.equal(t.serve(), 5);
    assert.equal(t.device.enableNotifications(), false, "nothing pending");
    assert.equal(t.post(1), true, "avail_event = 5 is in [5, 6)");
  });

  Deno.test(`EVENT_IDX: avail_event inside or outside the batch window (2.7.10, 2.8.10) ${tag(v)}`, () => {
    const t = rig(v, { eventIdx: true });
    let pos = 0; // buffers (= descriptors here) made available so far
    const step = (to: number) => {
      for (; pos < to; pos++) {
        t.post(1);
        t.serve();
        t.reclaim();
      }
    };
    /** Poke the event `at` positions from the batch start, then post a batch of 4. */
    const batch = (at: number) => {
      pokeAvailEvent(t, v, pos + at);
      const kick = t.post(4);
      t.serve();
      t.reclaim();
      pos += 4;
      return kick;
    };
    assert.equal(batch(0), true, "event at the first buffer");
    assert.equal(batch(2), true, "event in the middle");
    assert.equal(batch(3), true, "event at the last buffer");
    assert.equal(batch(4), false, "event just after the batch");
    assert.equal(batch(-1), false, "event just before the batch");
    // Batches straddling the ring end (packed: the wrap counter flips inside the batch).
    for (const [at, want] of [[2, true], [1, true], [3, true], [4, false], [-1, false]] as const) {
      step(Math.ceil((pos + 2) / v.size) * v.size - 2); // batch = [end − 2, end + 2)
      assert.equal(batch(at), want, `straddling batch at ${pos - 4}, event +${at}`);
    }
  });

  if (v.layout === "packed") {
    Deno.test(`EVENT_IDX: DISABLE still suppresses kicks (2.8.10) ${tag(v)}`, () => {
      const t = rig(v, { eventIdx: true });
      t.device.disableNotifications();
      assert.equal(t.post(1), false);
      assert.equal(t.device.enableNotifications(), true);
    });
  }

  // ---- device interrupt decisions ----

  Deno.test(`interrupts after each publish while interrupts are enabled (2.7.7, 2.8.10) ${tag(v)}`, () => {
    const t = rig(v);
    t.post(3);
    for (let i = 0; i < 3; i++) assert.equal(completeOne(t), true, `completion ${i}`);
  });

  Deno.test(`no interrupt after the driver disabled interrupts (2.7.7, 2.8.10) ${tag(v)}`, () => {
    const t = rig(v);
    t.post(4);
    assert.equal(completeOne(t), true);
    t.driver.disableInterrupts();
    assert.equal(completeOne(t), false);
    assert.equal(completeOne(t), false);
    assert.equal(t.driver.enableInterrupts(), true, "used buffers arrived while disabled");
    assert.equal(completeOne(t), true);
  });

  Deno.test(`no interrupt on the first check if the driver disabled interrupts (2.7.7, 2.8.10) ${tag(v)}`, () => {
    const t = rig(v);
    t.driver.disableInterrupts();
    t.post(1);
    assert.equal(completeOne(t), false);
  });

  Deno.test(`EVENT_IDX: the first check always interrupts (2.7.10, 2.8.10) ${tag(v)}`, () => {
    const t = rig(v, { eventIdx: true });
    t.post(4);
    assert.equal(t.driver.enableInterrupts(4), false);
    assert.equal(completeOne(t), true, "no earlier check recorded");
    assert.equal(completeOne(t), false, "usedEvent (the 4th) not reached");
  });

  Deno.test(`EVENT_IDX: interrupts when usedEvent is crossed, count 1 (2.7.7.2, 2.8.10) ${tag(v)}`, () => {
    const t = rig(v, { eventIdx: true });
    t.post(6);
    assert.equal(completeOne(t), true);
    for (let i = 0; i < 5; i++) {
      assert.equal(t.reclaim(), 1);
      assert.equal(t.driver.enableInterrupts(1), false);
      assert.equal(completeOne(t), true, `completion ${i}`);
    }
  });

  for (const descs of [1, 2]) {
    Deno.test(`EVENT_IDX: interrupts when usedEvent is crossed, count 4, ${descs}-descriptor buffers (2.7.7.2, 2.8.10) ${tag(v)}`, () => {
      const t = rig(v, { eventIdx: true });
      t.post(7, descs);
      assert.equal(completeOne(t), true, "first check");
      assert.equal(t.reclaim(), 1);
      for (let round = 0; round < 3; round++) {
        assert.equal(t.driver.enableInterrupts(4), false);
        const got = [completeOne(t), completeOne(t), completeOne(t), completeOne(t)];
        assert.deepEqual(got, [false, false, false, true], `round ${round}`);
        assert.equal(t.reclaim(), 4);
        t.post(4, descs);
      }
    });
  }

  Deno.test(`EVENT_IDX: several buffers in one publish cross usedEvent together ${tag(v)}`, () => {
    const t = rig(v, { eventIdx: true });
    t.post(1);
    t.serve();
    assert.equal(t.device.needsInterrupt(), true);
    t.reclaim();
    t.post(8);
    assert.equal(t.driver.enableInterrupts(4), false);
    for (let i = 0; i < 3; i++) t.device.push(t.pop(), 0);
    t.device.publish();
    assert.equal(t.device.needsInterrupt(), false, "3 of 4");
    for (let i = 0; i < 5; i++) t.device.push(t.pop(), 0);
    t.device.publish();
    assert.equal(t.device.needsInterrupt(), true, "the 4th is in this publish");
  });

  Deno.test(`EVENT_IDX: no interrupt after the driver disabled interrupts ${tag(v)}`, () => {
    const t = rig(v, { eventIdx: true });
    t.post(6);
    assert.equal(completeOne(t), true);
    t.reclaim();
    t.driver.disableInterrupts();
    for (let i = 0; i < 5; i++) assert.equal(completeOne(t), false, `completion ${i}`);
    assert.equal(t.driver.enableInterrupts(1), true, "re-check sees the waiting buffers");
  });

  Deno.test(`EVENT_IDX: disabling between the device's publish and its check raises no interrupt ${tag(v)}`, () => {
    // The device publishes, is preempted before it checks, and the driver meanwhile takes the
    // buffers and disables: "never" must lie outside the range the device is about to check.
    const t = rig(v, { eventIdx: true });
    t.post(8);
    assert.equal(completeOne(t), true, "first check");
    assert.equal(t.reclaim(), 1);
    for (let round = 0; round < 3; round++) {
      const n = 1 + round;
      for (let i = 0; i < n; i++) t.device.push(t.pop(), 0);
      t.device.publish();
      assert.equal(t.reclaim(), n);
      t.driver.disableInterrupts();
      assert.equal(t.device.needsInterrupt(), false, `round ${round}: ${n} used before the check`);
      t.post(n);
    }
  });

  for (const eventIdx of [false, true]) {
    const f = eventIdx ? "EVENT_IDX" : "flags";
    Deno.test(`${f}: no interrupt when nothing new was published ${tag(v)}`, () => {
      const t = rig(v, { eventIdx });
      t.post(2);
      assert.equal(completeOne(t), true);
      assert.equal(t.device.needsInterrupt(), false, "second check, same used index");
      t.device.publish();
      assert.equal(t.device.needsInterrupt(), false, "publish with nothing staged");
      t.reclaim();
      assert.equal(t.driver.enableInterrupts(1), false);
      assert.equal(completeOne(t), true, "something new again");
    });

    Deno.test(`${f}: enableNotifications re-check reports work that arrived while disabled ${tag(v)}`, () => {
      const t = rig(v, { eventIdx });
      t.device.disableNotifications();
      assert.equal(t.device.enableNotifications(), false, "nothing yet");
      t.device.disableNotifications();
      t.post(1);
      assert.equal(t.device.enableNotifications(), true);
      t.serve();
      assert.equal(t.device.enableNotifications(), false);
    });

    Deno.test(`${f}: enableInterrupts re-check reports buffers used while disabled ${tag(v)}`, () => {
      const t = rig(v, { eventIdx });
      t.post(2);
      t.driver.disableInterrupts();
      assert.equal(t.driver.enableInterrupts(), false, "nothing used yet");
      t.driver.disableInterrupts();
      t.serve();
      assert.equal(t.driver.enableInterrupts(), true);
      assert.equal(t.reclaim(), 2);
      assert.equal(t.driver.enableInterrupts(), false);
    });
  }

  if (v.size >= 16) {
    Deno.test(`EVENT_IDX: a closed batch of 16 costs one kick and one interrupt ${tag(v)}`, () => {
      const t = rig(v, { eventIdx: true });
      let kicks = 0;
      let interrupts = 0;
      const batch = () => {
        for (let i = 0; i < 16; i++) if (t.post(1)) kicks++;
        assert.equal(t.driver.enableInterrupts(16), false);
        for (let c = t.device.pop(); c.ok && c.value; c = t.device.pop()) {
          t.device.push(c.value, c.value.writableBytes);
          t.device.publish();
          if (t.device.needsInterrupt()) interrupts++;
        }
        assert.equal(t.device.enableNotifications(), false);
        assert.equal(t.reclaim(), 16);
      };
      t.device.enableNotifications();
      batch(); // warm-up: the very first interrupt check always fires
      kicks = 0;
      interrupts = 0;
      for (let b = 0; b < 100; b++) batch();
      assert.equal(kicks, 100);
      assert.equal(interrupts, 100);
    });
  }
}
