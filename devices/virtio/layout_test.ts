/**
 * Byte-exact layout tests: the real driver and device halves write the rings, and the test
 * reads raw bytes at the offsets the spec gives (literal numbers here, never the layout
 * constants), so a wrong constant cannot hide behind itself.
 */
import assert from "node:assert/strict";
import { GuestMemory } from "../memory/memory.ts";
import { DirectDma, type DmaAccess, type DmaError, type DmaView } from "../memory/dma.ts";
import { err, type Result } from "../base/result.ts";
import { createDriverQueue, createQueuePair, type QueuePair } from "./pair.ts";
import type { DescriptorChain, Layout, QueueConfig, RingFeatures } from "./queue.ts";
import { checkQueueConfig } from "./setup.ts";
import { SharedRingAccess } from "./ring_access.ts";
import { packedAreaSizes } from "./packed_layout.ts";
import { splitAreaSizes } from "./split_layout.ts";

const MEM = 1 << 20;
const DESC = 0x1000;
const NO_FEATURES: RingFeatures = { eventIdx: false, indirect: false, inOrder: false };
const EVENT_IDX: RingFeatures = { eventIdx: true, indirect: false, inOrder: false };

/** Split areas: desc 0x1000, avail 0x2000, used 0x3000. Packed: desc 0x1000, events 0x2000/4. */
function config(layout: Layout, size: number, features = NO_FEATURES): QueueConfig {
  const packed = layout === "packed";
  return {
    layout,
    size,
    descAddr: DESC,
    driverAddr: 0x20000,
    deviceAddr: packed ? 0x20004 : 0x30000,
    features,
  };
}

function pair(cfg: QueueConfig, mem = GuestMemory.create(MEM)): QueuePair & { mem: GuestMemory } {
  const r = createQueuePair(mem, cfg);
  if (!r.ok) throw new Error(`setup failed: ${JSON.stringify(r.error)}`);
  return { ...r.value, mem };
}

/** Raw bytes, read one by one from the byte view. */
function raw(mem: GuestMemory, addr: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(mem.u8[addr + i]);
  return out;
}

/** A little-endian unsigned value assembled by hand from raw bytes. */
function le(mem: GuestMemory, addr: number, n: number): number {
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + mem.u8[addr + i];
  return v;
}

/** Pop one chain; a dropped request (unreachable buffer) still hands back its chain. */
function pop(p: QueuePair): DescriptorChain {
  const r = p.device.pop();
  if (r.ok && r.value !== null) return r.value;
  if (!r.ok && !r.error.fatal) return r.error.chain;
  throw new Error(`pop: ${r.ok ? "empty" : r.error.kind}`);
}

// ---- split (virtio 1.2 §2.7.5, §2.7.6, §2.7.8) ----

Deno.test("split descriptor: addr@0 le64, len@8 le32, flags@12, next@14 (virtio 2.7.5)", () => {
  const p = pair(config("split", 8));
  const ok1 = p.driver.add({
    readable: [[0x12_3456_7890, 0x11223344]],
    writable: [[0x8000, 0x40], [0x9000, 0x80]],
  }, 1);
  assert.ok(ok1.ok);
  // Free list starts at 0, so the chain is descriptors 0 → 1 → 2.
  assert.deepEqual(raw(p.mem, DESC, 16), [
    ...[0x90, 0x78, 0x56, 0x34, 0x12, 0, 0, 0], // addr above 4 GiB: two LE words
    ...[0x44, 0x33, 0x22, 0x11], // len
    ...[0x01, 0x00], // flags NEXT
    ...[0x01, 0x00], // next = 1
  ]);
  assert.deepEqual(raw(p.mem, DESC + 16, 16), [
    ...[0x00, 0x80, 0, 0, 0, 0, 0, 0],
    ...[0x40, 0, 0, 0],
    ...[0x03, 0x00], // NEXT | WRITE
    ...[0x02, 0x00],
  ]);
  assert.deepEqual(raw(p.mem, DESC + 32, 14), [
    ...[0x00, 0x90, 0, 0, 0, 0, 0, 0],
    ...[0x80, 0, 0, 0],
    ...[0x02, 0x00], // WRITE, no NEXT
  ]);
  assert.equal(le(p.mem, DESC + 4, 4), 0x12, "high word of the 64-bit address");
  assert.equal(le(p.mem, DESC, 8), 0x12_3456_7890);
});

Deno.test("split avail ring: flags@0, idx@2, ring[i]@4+2i, used_event@4+2N (virtio 2.7.6)", () => {
  const N = 8;
  const avail = 0x20000;
  const p = pair(config("split", N, EVENT_IDX));
  p.driver.add({ readable: [[0x8000, 16]], writable: [[0x9000, 16]] }, 1); // heads 0, 1
  p.driver.add({ readable: [[0xa000, 16]], writable: [] }, 2); // head 2
  assert.deepEqual(raw(p.mem, avail, 8), [0, 0, 0, 0, 0, 0, 2, 0], "entries written, idx not yet");
  p.driver.publish();
  assert.deepEqual(raw(p.mem, avail, 8), [0, 0, 2, 0, 0, 0, 2, 0]);
  p.driver.enableInterrupts(3); // used_event = last used (0) + 3 − 1
  assert.deepEqual(raw(p.mem, avail + 4 + 2 * N, 2), [2, 0]);
  assert.equal(le(p.mem, avail + 2 * N + 6, 2), 0, "nothing written past the ring's 6 + 2N bytes");
});

Deno.test("split avail.flags: NO_INTERRUPT = 1 at offset 0 without EVENT_IDX (virtio 2.7.7)", () => {
  const p = pair(config("split", 8));
  p.driver.disableInterrupts();
  assert.deepEqual(raw(p.mem, 0x20000, 2), [1, 0]);
  p.driver.enableInterrupts();
  assert.deepEqual(raw(p.mem, 0x20000, 2), [0, 0]);
});

Deno.test("split used ring: flags@0, idx@2, id@4+8i le32, len@8+8i le32, avail_event@4+8N", () => {
  const N = 8;
  const used = 0x30000;
  const p = pair(config("split", N, EVENT_IDX));
  p.driver.add({ readable: [[0x8000, 16]], writable: [[0x40000, 0x30201]] }, 1); // heads 0, 1
  p.driver.add({ readable: [], writable: [[0xa000, 0x20]] }, 2); // head 2
  p.driver.publish();
  const a = pop(p);
  const b = pop(p);
  assert.deepEqual([a.id, b.id], [0, 2]);
  p.device.push(b, 0x10);
  p.device.push(a, 0x30201);
  p.device.publish();
  assert.deepEqual(raw(p.mem, used, 4 + 16), [
    ...[0, 0], // flags
    ...[2, 0], // idx
    ...[2, 0, 0, 0, 0x10, 0, 0, 0], // ring[0] = { id 2, len 0x10 }
    ...[0, 0, 0, 0, 0x01, 0x02, 0x03, 0], // ring[1] = { id 0, len 0x30201 }
  ]);
  p.device.enableNotifications(); // avail_event = next avail index (2)
  assert.deepEqual(raw(p.mem, used + 4 + 8 * N, 2), [2, 0]);
  assert.equal(le(p.mem, used + 8 * N + 6, 2), 0, "nothing written past the ring's 6 + 8N bytes");
});

Deno.test("split used.flags: NO_NOTIFY = 1 at offset 0 without EVENT_IDX (virtio 2.7.7)", () => {
  const p = pair(config("split", 8));
  p.device.disableNotifications();
  assert.deepEqual(raw(p.mem, 0x30000, 2), [1, 0]);
  p.device.enableNotifications();
  assert.deepEqual(raw(p.mem, 0x30000, 2), [0, 0]);
});

Deno.test("split indices are free-running le16 and entries land at slot idx mod N", () => {
  const N = 8;
  const [avail, used] = [0x20000, 0x30000];
  const p = pair(config("split", N, EVENT_IDX));
  for (let i = 0; i < 300; i++) {
    p.driver.add({ readable: [], writable: [[0x8000, 4]] }, i);
    p.driver.publish();
    assert.equal(le(p.mem, avail + 2, 2), i + 1);
    const c = pop(p);
    assert.equal(le(p.mem, avail + 4 + 2 * (i % N), 2), c.id, `avail slot of request ${i}`);
    p.device.push(c, i % 5);
    p.device.publish();
    assert.equal(le(p.mem, used + 2, 2), i + 1);
    assert.equal(le(p.mem, used + 4 + 8 * (i % N), 4), c.id, `used id slot of request ${i}`);
    assert.equal(le(p.mem, used + 8 + 8 * (i % N), 4), i % 5, `used len slot of request ${i}`);
    const u = p.driver.getUsed();
    assert.deepEqual(u, { ok: true, value: { token: i, len: i % 5 } });
  }
  assert.deepEqual(raw(p.mem, avail + 2, 2), [0x2c, 0x01], "300 = 0x012c, little-endian");
  assert.deepEqual(raw(p.mem, used + 2, 2), [0x2c, 0x01]);
  p.driver.enableInterrupts(1);
  assert.deepEqual(raw(p.mem, avail + 4 + 2 * N, 2), [0x2c, 0x01], "used_event = 300");
  p.device.enableNotifications();
  assert.deepEqual(raw(p.mem, used + 4 + 8 * N, 2), [0x2c, 0x01], "avail_event = 300");
});

// ---- packed (virtio 1.2 §2.8.13, §2.8.10) ----

Deno.test("packed descriptor: addr@0, len@8, id@12, flags@14; AVAIL bit 7, USED bit 15 (2.8.13)", () => {
  const N = 4;
  const p = pair(config("packed", N));
  const slot = (i: number) => DESC + 16 * i;
  // Lap 1 (driver wrap 1): A = slots 0, 1 (id 0); B = slot 2 (id 1).
  p.driver.add({ readable: [[0x12_3456_7890, 0x11223344]], writable: [[0x8000, 0x40]] }, 1);
  p.driver.add({ readable: [[0xa000, 0x10]], writable: [] }, 2);
  assert.deepEqual(raw(p.mem, slot(0), 16), [
    ...[0x90, 0x78, 0x56, 0x34, 0x12, 0, 0, 0], // addr above 4 GiB: two LE words
    ...[0x44, 0x33, 0x22, 0x11],
    ...[0, 0], // id 0
    ...[0, 0], // head flags not stored before publish
  ]);
  assert.deepEqual(raw(p.mem, slot(1) + 8, 8), [0x40, 0, 0, 0, 0, 0, 0x82, 0x00], "AVAIL|WRITE");
  p.driver.publish();
  assert.deepEqual(raw(p.mem, slot(0) + 14, 2), [0x81, 0x00], "AVAIL | NEXT");
  assert.deepEqual(raw(p.mem, slot(2) + 12, 4), [1, 0, 0x80, 0x00], "id 1, AVAIL");

  // Device marks both used (device wrap 1): AVAIL = USED = 1, WRITE when it wrote data.
  const a = pop(p);
  const b = pop(p);
  p.device.push(a, 0x20);
  p.device.push(b, 0);
  p.device.publish();
  assert.deepEqual(raw(p.mem, slot(0) + 8, 8), [0x20, 0, 0, 0, 0, 0, 0x82, 0x80]);
  assert.deepEqual(raw(p.mem, slot(2) + 8, 8), [0, 0, 0, 0, 1, 0, 0x80, 0x80]);
  assert.deepEqual(p.driver.getUsed(), { ok: true, value: { token: 1, len: 0x20 } });
  assert.deepEqual(p.driver.getUsed(), { ok: true, value: { token: 2, len: 0 } });

  // C = slots 3 (wrap 1) and 0 (wrap 0) across the ring end; D = slot 1 (wrap 0).
  p.driver.add({ readable: [[0xb000, 8]], writable: [[0xc000, 8]] }, 3);
  p.driver.add({ readable: [], writable: [[0xd000, 8]] }, 4);
  p.driver.publish();
  const ids = raw(p.mem, slot(3) + 12, 2);
  assert.deepEqual(raw(p.mem, slot(3) + 14, 2), [0x81, 0x00], "lap 1: AVAIL | NEXT");
  assert.deepEqual(raw(p.mem, slot(0) + 12, 4), [...ids, 0x02, 0x80], "lap 2: USED | WRITE");
  assert.deepEqual(raw(p.mem, slot(1) + 14, 2), [0x02, 0x80], "lap 2: USED | WRITE, AVAIL clear");
  const c = pop(p);
  const d = pop(p);
  p.device.push(c, 8);
  p.device.push(d, 5);
  p.device.publish();
  assert.deepEqual(raw(p.mem, slot(3) + 8, 8), [8, 0, 0, 0, ...ids, 0x82, 0x80], "used, wrap 1");
  assert.deepEqual(raw(p.mem, slot(1) + 8, 4), [5, 0, 0, 0]);
  assert.deepEqual(raw(p.mem, slot(1) + 14, 2), [0x02, 0x00], "used in lap 2: AVAIL = USED = 0");
});

Deno.test("packed driver event suppression: off_wrap@0 (wrap bit 15), flags@2 (2.8.10)", () => {
  const N = 4;
  const ev = 0x20000;
  const p = pair(config("packed", N, EVENT_IDX));
  p.driver.enableInterrupts(1);
  assert.deepEqual(raw(p.mem, ev, 4), [0x00, 0x80, 2, 0], "slot 0, wrap 1, DESC");
  p.driver.disableInterrupts();
  assert.deepEqual(raw(p.mem, ev + 2, 2), [1, 0], "DISABLE");
  // Two 2-descriptor buffers in flight: the 2nd used descriptor lands at slot 2.
  p.driver.add({ readable: [[0x8000, 8]], writable: [[0x9000, 8]] }, 1);
  p.driver.add({ readable: [[0xa000, 8]], writable: [[0xb000, 8]] }, 2);
  p.driver.publish();
  p.driver.enableInterrupts(2);
  assert.deepEqual(raw(p.mem, ev, 4), [0x02, 0x80, 2, 0]);
  for (let i = 0; i < 2; i++) p.device.push(pop(p), 0);
  p.device.publish();
  p.driver.getUsed();
  p.driver.getUsed();
  p.driver.enableInterrupts(1); // next used slot 0 in lap 2: wrap bit clear
  assert.deepEqual(raw(p.mem, ev, 4), [0x00, 0x00, 2, 0]);
  p.driver.add({ readable: [[0x8000, 8]], writable: [] }, 3);
  p.driver.publish();
  p.device.push(pop(p), 0);
  p.device.publish();
  p.driver.getUsed();
  p.driver.enableInterrupts(1);
  assert.deepEqual(raw(p.mem, ev, 4), [0x01, 0x00, 2, 0]);

  const q = pair(config("packed", N));
  q.driver.disableInterrupts();
  assert.deepEqual(raw(q.mem, ev + 2, 2), [1, 0]);
  q.driver.enableInterrupts();
  assert.deepEqual(raw(q.mem, ev + 2, 2), [0, 0], "ENABLE without EVENT_IDX");
});

Deno.test("packed device event suppression: off_wrap@0 (wrap bit 15), flags@2 (2.8.10)", () => {
  const N = 4;
  const ev = 0x20004;
  const p = pair(config("packed", N, EVENT_IDX));
  p.device.enableNotifications();
  assert.deepEqual(raw(p.mem, ev, 4), [0x00, 0x80, 2, 0], "next avail slot 0, wrap 1, DESC");
  p.device.disableNotifications();
  assert.deepEqual(raw(p.mem, ev + 2, 2), [1, 0], "DISABLE");
  for (let i = 0; i < 5; i++) {
    p.driver.add({ readable: [[0x8000, 8]], writable: [] }, i);
    p.driver.publish();
    p.device.push(pop(p), 0);
    p.device.publish();
    p.driver.getUsed();
  }
  p.device.enableNotifications(); // 5 slots consumed: slot 1 of lap 2
  assert.deepEqual(raw(p.mem, ev, 4), [0x01, 0x00, 2, 0]);

  const q = pair(config("packed", N));
  q.device.disableNotifications();
  assert.deepEqual(raw(q.mem, ev + 2, 2), [1, 0]);
  q.device.enableNotifications();
  assert.deepEqual(raw(q.mem, ev + 2, 2), [0, 0], "ENABLE without EVENT_IDX");
});

// ---- area sizes and placement ----

/** A DMA view that records what each translate asked for. */
class RecordingDma implements DmaView {
  readonly memory: GuestMemory;
  readonly asked: Array<[number, number, DmaAccess]> = [];
  private readonly inner: DirectDma;
  constructor(memory: GuestMemory) {
    this.memory = memory;
    this.inner = new DirectDma(memory);
  }
  translate(addr: number, length: number, access: DmaAccess): Result<number, DmaError> {
    this.asked.push([addr, length, access]);
    return this.inner.translate(addr, length, access);
  }
  resolve(addr: number, length: number, access: DmaAccess): number {
    const t = this.translate(addr, length, access);
    return t.ok ? t.value : -1;
  }
}

Deno.test("area sizes for N = 256: split 4096/518/2054, packed 4096/4/4 (2.7, 2.8.10.1)", () => {
  assert.deepEqual(splitAreaSizes(256), { descriptor: 4096, driver: 518, device: 2054 });
  assert.deepEqual(packedAreaSizes(256), { descriptor: 4096, driver: 4, device: 4 });
  for (const [layout, want] of [["split", [4096, 518, 2054]], ["packed", [4096, 4, 4]]] as const) {
    // The device checks exactly these ranges when the queue is enabled…
    const mem = GuestMemory.create(MEM);
    const dma = new RecordingDma(mem);
    const cfg = config(layout, 256);
    assert.equal(checkQueueConfig(dma, cfg).ok, true);
    const access = layout === "packed" ? "write" : "read";
    assert.deepEqual(dma.asked, [
      [cfg.descAddr, want[0], access],
      [cfg.driverAddr, want[1], "read"],
      [cfg.deviceAddr, want[2], "write"],
    ]);
    // …and the driver zeroes exactly these bytes when it sets the ring up.
    mem.u8.fill(0xaa);
    assert.equal(createDriverQueue(mem, new SharedRingAccess(mem), cfg).ok, true);
    const addrs = [cfg.descAddr, cfg.driverAddr, cfg.deviceAddr];
    for (let k = 0; k < 3; k++) {
      assert.ok(raw(mem, addrs[k], want[k]).every((b) => b === 0), `${layout} area ${k} zeroed`);
      if (addrs[k] + want[k] !== addrs[k + 1]) {
        assert.equal(mem.u8[addrs[k] + want[k]], 0xaa, `${layout} area ${k} is ${want[k]} bytes`);
      }
      if (k === 0 || addrs[k - 1] + want[k - 1] !== addrs[k]) {
        assert.equal(mem.u8[addrs[k] - 1], 0xaa, `${layout} area ${k} starts at its address`);
      }
    }
  }
});

Deno.test("an area reaching past the end of memory is refused at creation (A19)", () => {
  const mem = GuestMemory.create(MEM);
  const dma = new DirectDma(mem);
  const base = config("split", 256);
  const fits = { ...base, driverAddr: MEM - 518 };
  assert.equal(checkQueueConfig(dma, fits).ok, true);
  assert.deepEqual(
    checkQueueConfig(dma, { ...base, driverAddr: MEM - 516 }),
    err({
      kind: "area-unreachable",
      area: "driver",
      cause: { kind: "dma-out-of-range", addr: MEM - 516, length: 518, access: "read" },
    }),
  );
  const packed = { ...config("packed", 256), deviceAddr: MEM - 4 };
  assert.equal(checkQueueConfig(dma, packed).ok, true);
  assert.equal(checkQueueConfig(dma, { ...packed, descAddr: MEM - 4080 }).ok, false);
  assert.equal(createDriverQueue(mem, new SharedRingAccess(mem), fits).ok, true);
  const driverErr = createDriverQueue(mem, new SharedRingAccess(mem), {
    ...base,
    driverAddr: MEM - 516,
  });
  assert.equal(!driverErr.ok && driverErr.error.kind, "area-unreachable");
});

Deno.test("misaligned areas are refused by both halves at creation (A18: 16/2/4 split, 16/4/4 packed)", () => {
  const mem = GuestMemory.create(MEM);
  const dma = new DirectDma(mem);
  const cases: Array<[Layout, "descAddr" | "driverAddr" | "deviceAddr", number, number, boolean]> =
    [
      ["split", "descAddr", DESC + 8, 16, false],
      ["split", "descAddr", DESC + 16, 16, true],
      ["split", "driverAddr", 0x20001, 2, false],
      ["split", "driverAddr", 0x20002, 2, true],
      ["split", "deviceAddr", 0x30002, 4, false],
      ["split", "deviceAddr", 0x30004, 4, true],
      ["packed", "descAddr", DESC + 4, 16, false],
      ["packed", "driverAddr", 0x20002, 4, false],
      ["packed", "driverAddr", 0x20008, 4, true],
      ["packed", "deviceAddr", 0x20006, 4, false],
      ["packed", "deviceAddr", 0x2000c, 4, true],
    ];
  const areaOf = { descAddr: "descriptor", driverAddr: "driver", deviceAddr: "device" } as const;
  for (const [layout, field, addr, align, good] of cases) {
    const cfg = { ...config(layout, 8), [field]: addr };
    const want = good
      ? true
      : err({ kind: "misaligned", area: areaOf[field], addr, align } as const);
    const dev = checkQueueConfig(dma, cfg);
    const drv = createDriverQueue(mem, new SharedRingAccess(mem), cfg);
    const label = `${layout} ${field} 0x${addr.toString(16)}`;
    if (want === true) {
      assert.equal(dev.ok, true, `device ${label}`);
      assert.equal(drv.ok, true, `driver ${label}`);
    } else {
      assert.deepEqual(dev, want, `device ${label}`);
      assert.deepEqual(drv, want, `driver ${label}`);
    }
  }
  for (const addr of [0.5, 2 ** 53, NaN, -16, 2 ** 64]) {
    for (const layout of ["split", "packed"] as const) {
      const cfg = { ...config(layout, 8), descAddr: addr };
      assert.equal(checkQueueConfig(dma, cfg).ok, false, `device ${layout} ${addr}`);
      assert.equal(
        createDriverQueue(mem, new SharedRingAccess(mem), cfg).ok,
        false,
        `driver ${layout} ${addr}`,
      );
    }
  }
});

Deno.test("queue sizes: split powers of two 1…32768, packed any 1…32768 (A20)", () => {
  const mem = GuestMemory.create(MEM);
  const dma = new DirectDma(mem);
  const cases: Array<[Layout, number, boolean]> = [
    ["split", 1, true],
    ["split", 256, true],
    ["split", 0, false],
    ["split", 3, false],
    ["split", 100, false],
    ["split", 65536, false],
    ["packed", 1, true],
    ["packed", 100, true],
    ["packed", 0, false],
    ["packed", 32769, false],
    ["packed", 1.5, false],
  ];
  for (const [layout, size, good] of cases) {
    const cfg = { ...config(layout, size), deviceAddr: 0x80000 };
    const want = good ? true : err({ kind: "bad-size", size, layout });
    const dev = checkQueueConfig(dma, cfg);
    const drv = createDriverQueue(mem, new SharedRingAccess(mem), cfg);
    if (want === true) {
      assert.equal(dev.ok && drv.ok, true, `${layout} ${size}`);
    } else {
      assert.deepEqual(dev, want, `device ${layout} ${size}`);
      assert.deepEqual(drv, want, `driver ${layout} ${size}`);
    }
  }
  const big = GuestMemory.create(4 << 20);
  const largest = { ...config("split", 32768), driverAddr: 0x90000, deviceAddr: 0xa0000 };
  assert.equal(checkQueueConfig(new DirectDma(big), largest).ok, true);
  assert.equal(checkQueueConfig(new DirectDma(big), { ...largest, layout: "packed" }).ok, true);
});

Deno.test("a descriptor address above 4 GiB reaches the device intact and is refused (A13)", () => {
  for (const layout of ["split", "packed"] as const) {
    const p = pair(config(layout, 8));
    const addr = 0x1_0000_2000;
    p.driver.add({ readable: [[addr, 64]], writable: [] }, 9);
    p.driver.publish();
    assert.equal(le(p.mem, DESC, 4), 0x2000, `${layout} low word`);
    assert.equal(le(p.mem, DESC + 4, 4), 1, `${layout} high word`);
    const r = p.device.pop();
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.fatal, false, "a bad data buffer drops the request, not the queue");
      assert.equal(r.error.kind, "buffer-unreachable");
      if (r.error.kind === "buffer-unreachable") {
        assert.deepEqual(r.error.cause, {
          kind: "dma-out-of-range",
          addr,
          length: 64,
          access: "read",
        });
      }
    }
    assert.equal(p.device.broken, null);
  }
});
