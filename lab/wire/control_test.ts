import assert from "node:assert/strict";
import {
  type ControlLayout,
  controlLayout,
  DRIVER_COUNTER_SLOTS,
  MailboxWord,
  nicControl,
  THREAD_STATS_SLOTS,
  threadStats,
} from "./control.ts";
import { regFileWords } from "../../devices/virtio/mmio.ts";
import { stateBytes } from "../../devices/virtio/state.ts";
import { NET_COUNTER_COUNT } from "../../devices/net/metrics.ts";
import type { Layout } from "../../devices/virtio/queue.ts";

type Nic = { layout: Layout; queueSize: number };

const CASES: { name: string; nics: Nic[] }[] = [
  { name: "no NIC", nics: [] },
  { name: "one split 8", nics: [{ layout: "split", queueSize: 8 }] },
  { name: "one packed 7", nics: [{ layout: "packed", queueSize: 7 }] },
  { name: "one split 256", nics: [{ layout: "split", queueSize: 256 }] },
  { name: "one packed 1000", nics: [{ layout: "packed", queueSize: 1000 }] },
  {
    name: "mixed three",
    nics: [
      { layout: "split", queueSize: 32768 },
      { layout: "packed", queueSize: 33 },
      { layout: "split", queueSize: 64 },
    ],
  },
];

/** Every region of a layout as [name, start, bytes]. */
function regions(l: ControlLayout): [string, number, number][] {
  const out: [string, number, number][] = [];
  l.nics.forEach((n, i) => {
    out.push([`nic${i}.mailbox`, n.mailbox, 16 * 4]);
    out.push([`nic${i}.regFile`, n.regFile, n.regFileWords * 4]);
    out.push([`nic${i}.queueState0`, n.queueState[0], n.queueStateBytes]);
    out.push([`nic${i}.queueState1`, n.queueState[1], n.queueStateBytes]);
    out.push([`nic${i}.deviceCounters`, n.deviceCounters, NET_COUNTER_COUNT * 8]);
    out.push([`nic${i}.driverCounters`, n.driverCounters, DRIVER_COUNTER_SLOTS * 8]);
  });
  out.push(["guestStats", l.guestStats, THREAD_STATS_SLOTS * 8]);
  out.push(["deviceStats", l.deviceStats, THREAD_STATS_SLOTS * 8]);
  return out;
}

for (const { name, nics } of CASES) {
  Deno.test(`regions are 64-byte aligned, disjoint and inside the block [${name}]`, () => {
    const l = controlLayout(nics);
    assert.equal(l.nics.length, nics.length);
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
    l.nics.forEach((n, i) => {
      assert.equal(n.regFileWords, regFileWords(2), "two queues: receiveq and transmitq");
      assert.ok(n.queueStateBytes >= stateBytes(nics[i].layout, nics[i].queueSize));
      assert.equal(n.queueStateBytes % 64, 0);
    });
  });

  Deno.test(`nicControl views have the right lengths and do not alias [${name}]`, () => {
    const l = controlLayout(nics);
    const buffer = new SharedArrayBuffer(l.bytes);
    const views: {
      fill(v: number): unknown;
      length: number;
      every(f: (x: number) => boolean): boolean;
    }[] = [];
    l.nics.forEach((n, i) => {
      const v = nicControl(buffer, l, i);
      assert.equal(v.mailbox.length, 16);
      assert.ok(v.mailbox.length > MailboxWord.RESULT);
      assert.equal(v.mailbox.byteOffset, n.mailbox);
      assert.equal(v.regs.length, n.regFileWords);
      assert.equal(v.regs.byteOffset, n.regFile);
      for (const q of [0, 1] as const) {
        assert.equal(v.queueState[q].length * 4, n.queueStateBytes);
        assert.equal(v.queueState[q].byteOffset, n.queueState[q]);
      }
      assert.equal(v.deviceCounters.length, NET_COUNTER_COUNT);
      assert.equal(v.driverCounters.length, DRIVER_COUNTER_SLOTS);
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

Deno.test("both workers compute the same layout from the same NIC list", () => {
  const nics: Nic[] = [{ layout: "packed", queueSize: 128 }, { layout: "split", queueSize: 512 }];
  assert.deepEqual(controlLayout(nics), controlLayout(nics.map((n) => ({ ...n }))));
});

Deno.test("a larger queue never shrinks the block", () => {
  for (const layout of ["split", "packed"] as const) {
    let last = 0;
    for (const queueSize of [8, 64, 256, 1024, 4096]) {
      const bytes = controlLayout([{ layout, queueSize }]).bytes;
      assert.ok(bytes >= last, `${layout} ${queueSize}: ${bytes} < ${last}`);
      last = bytes;
    }
  }
  assert.ok(
    controlLayout([{ layout: "packed", queueSize: 256 }]).bytes >
      controlLayout([{ layout: "split", queueSize: 256 }]).bytes,
    "packed queues carry their inflight log",
  );
});
