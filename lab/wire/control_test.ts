import assert from "node:assert/strict";
import {
  type ControlLayout,
  controlLayout,
  deviceControl,
  MAILBOX_WORDS,
  MailboxWord,
  type SlotShape,
  THREAD_STATS_SLOTS,
  threadStats,
} from "./control.ts";
import { regFileWords } from "../../devices/virtio/mmio.ts";
import { stateBytes } from "../../devices/virtio/state.ts";
import type { Layout } from "../../devices/virtio/queue.ts";

/** A slot of `n` queues of one layout and size, with `dc`/`rc` counters. */
function slot(layout: Layout, size: number, n = 2, dc = 22, rc = 32): SlotShape {
  return {
    queues: Array.from({ length: n }, () => ({ layout, size })),
    deviceCounters: dc,
    driverCounters: rc,
  };
}

const CASES: { name: string; slots: SlotShape[] }[] = [
  { name: "no device", slots: [] },
  { name: "one split 8", slots: [slot("split", 8)] },
  { name: "one packed 7", slots: [slot("packed", 7)] },
  { name: "one split 256", slots: [slot("split", 256)] },
  { name: "one packed 1000", slots: [slot("packed", 1000)] },
  {
    name: "mixed three",
    slots: [slot("split", 32768), slot("packed", 33), slot("split", 64)],
  },
  {
    name: "a net and a three-queue device with other counter counts",
    slots: [slot("split", 256), slot("packed", 128, 3, 40, 9)],
  },
];

/** Every region of a layout as [name, start, bytes]. */
function regions(l: ControlLayout): [string, number, number][] {
  const out: [string, number, number][] = [];
  l.devices.forEach((n, i) => {
    out.push([`dev${i}.mailbox`, n.mailbox, MAILBOX_WORDS * 4]);
    out.push([`dev${i}.regFile`, n.regFile, n.regFileWords * 4]);
    n.queueState.forEach((at, q) => out.push([`dev${i}.queueState${q}`, at, n.queueStateBytes[q]]));
    out.push([`dev${i}.deviceCounters`, n.deviceCounters, n.deviceCounterCount * 8]);
    out.push([`dev${i}.driverCounters`, n.driverCounters, n.driverCounterCount * 8]);
  });
  out.push(["guestStats", l.guestStats, THREAD_STATS_SLOTS * 8]);
  out.push(["deviceStats", l.deviceStats, THREAD_STATS_SLOTS * 8]);
  out.push(["epoch", l.epoch, 4]);
  return out;
}

for (const { name, slots } of CASES) {
  Deno.test(`regions are 64-byte aligned, disjoint and inside the block [${name}]`, () => {
    const l = controlLayout(slots);
    assert.equal(l.devices.length, slots.length);
    assert.equal(l.bytes % 64, 0);
    const rs = regions(l);
    for (const [what, start, bytes] of rs) {
      assert.equal(start % 64, 0, `${what} starts at ${start}`);
      assert.ok(start >= 0 && start + bytes <= l.bytes, `${what} ends past ${l.bytes}`);
    }
    const sorted = [...rs].sort((a, b) => a[1] - b[1]);
    for (let i = 1; i < sorted.length; i++) {
      const [prev, start, bytes] = sorted[i - 1];
      assert.ok(start + bytes <= sorted[i][1], `${prev} overlaps ${sorted[i][0]}`);
    }
    l.devices.forEach((n, i) => {
      const queues = slots[i].queues;
      assert.equal(n.regFileWords, regFileWords(queues.length), "one register bank per queue");
      assert.equal(n.queueState.length, queues.length);
      queues.forEach((q, k) => {
        assert.ok(n.queueStateBytes[k] >= stateBytes(q.layout, q.size));
        assert.equal(n.queueStateBytes[k] % 64, 0);
      });
      assert.equal(n.deviceCounterCount, slots[i].deviceCounters);
      assert.equal(n.driverCounterCount, slots[i].driverCounters);
    });
  });

  Deno.test(`deviceControl views have the right lengths and do not alias [${name}]`, () => {
    const l = controlLayout(slots);
    const buffer = new SharedArrayBuffer(l.bytes);
    const views: {
      fill(v: number): unknown;
      length: number;
      every(f: (x: number) => boolean): boolean;
    }[] = [];
    l.devices.forEach((n, i) => {
      const v = deviceControl(buffer, n);
      assert.equal(v.mailbox.length, MAILBOX_WORDS);
      assert.ok(v.mailbox.length > MailboxWord.FIFO);
      assert.equal(v.mailbox.byteOffset, n.mailbox);
      assert.equal(v.regs.length, n.regFileWords);
      assert.equal(v.regs.byteOffset, n.regFile);
      assert.equal(v.queueState.length, slots[i].queues.length);
      v.queueState.forEach((st, q) => {
        assert.equal(st.length * 4, n.queueStateBytes[q]);
        assert.equal(st.byteOffset, n.queueState[q]);
      });
      assert.equal(v.deviceCounters.length, slots[i].deviceCounters);
      assert.equal(v.driverCounters.length, slots[i].driverCounters);
      views.push(v.mailbox, v.regs, ...v.queueState, v.deviceCounters, v.driverCounters);
    });
    const guest = threadStats(buffer, l, "guest");
    const device = threadStats(buffer, l, "device");
    assert.equal(guest.length, THREAD_STATS_SLOTS);
    assert.equal(guest.byteOffset, l.guestStats);
    assert.equal(device.byteOffset, l.deviceStats);
    views.push(guest, device);
    // Fill each view with its own marker; an overlap would leave another view's marker behind.
    views.forEach((v, i) => v.fill(i + 1));
    views.forEach((v, i) => assert.ok(v.every((x) => x === i + 1), `view ${i} was overwritten`));
  });
}

Deno.test("the layout is plain data: it survives a structured clone unchanged", () => {
  const l = controlLayout([slot("packed", 128), slot("split", 512, 3, 5, 6)]);
  assert.deepEqual(structuredClone(l), l);
});

Deno.test("a larger queue never shrinks the block", () => {
  for (const layout of ["split", "packed"] as const) {
    let last = 0;
    for (const size of [8, 64, 256, 1024, 4096]) {
      const bytes = controlLayout([slot(layout, size)]).bytes;
      assert.ok(bytes >= last, `${layout} ${size}: ${bytes} < ${last}`);
      last = bytes;
    }
  }
  assert.ok(
    controlLayout([slot("packed", 256)]).bytes > controlLayout([slot("split", 256)]).bytes,
    "packed queues carry their inflight log",
  );
});
