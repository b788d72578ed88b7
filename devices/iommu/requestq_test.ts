/**
 * The request queue byte for byte, with the mock drivers of devices/virtio/testing.ts writing
 * split and packed rings: the tail the device writes, used lengths, requests split across
 * descriptors, and requests it cannot parse.
 */
import assert from "node:assert/strict";
import { createMock } from "../virtio/testing.ts";
import { LAYOUTS } from "../virtio/testing_harness.ts";
import { Le, ReqType } from "./config.ts";
import { IommuDevice } from "./device.ts";
import { IommuCounter } from "./metrics.ts";
import { Viommu } from "./viommu.ts";

function setup(layout: "split" | "packed") {
  const m = createMock(layout, { size: 16, dataBytes: 16384 });
  const events = createMock(layout, { size: 4 });
  const viommu = Viommu.create({ mappings: 8, endpoints: 2, consumers: 1, faults: 4 });
  const device = new IommuDevice({
    viommu,
    memory: m.mem,
    queueMaxSize: 16,
    ring: { packed: layout === "packed", eventIdx: false, indirect: false },
  });
  const a = device.activate({
    negotiated: device.offered,
    queues: [m.createDevice().queue, events.createDevice().queue],
  });
  assert.ok(a.ok);
  let cursor = m.dataAddr;
  /** Put `bytes` in the data region; return its address. */
  const put = (bytes: number[] | Uint8Array, fill = 0xee) => {
    const at = cursor;
    const b = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
    const span = Math.ceil((b.length + 1) / 16) * 16;
    m.mem.u8.fill(fill, at, at + span);
    m.mem.u8.set(b, at);
    cursor += span;
    return at;
  };
  const tail = (n = 4) => put(new Uint8Array(n).fill(0xee));
  return { m, device, viommu, put, tail };
}

function attachReq(domain: number, endpoint: number): Uint8Array {
  const b = new Uint8Array(20);
  b[0] = ReqType.ATTACH;
  Le.set32(b, 4, domain);
  Le.set32(b, 8, endpoint);
  return b;
}

function mapReq(
  domain: number,
  start: number,
  end: number,
  gpa: number,
  flags: number,
): Uint8Array {
  const b = new Uint8Array(36);
  b[0] = ReqType.MAP;
  Le.set32(b, 4, domain);
  Le.set64(b, 8, start);
  Le.set64(b, 16, end);
  Le.set64(b, 24, gpa);
  Le.set32(b, 32, flags);
  return b;
}

for (const layout of LAYOUTS) {
  Deno.test(`[${layout}] requestq byte-exact: tails, used lengths, split requests, unparsable ones`, () => {
    const { m, device, viommu, put, tail } = setup(layout);
    const bytes = (at: number, n: number) => [...m.mem.u8.subarray(at, at + n)];
    // 1. ATTACH in one descriptor, tail in another.
    const a = put(attachReq(1, 0)), at = tail();
    const idA = m.addChain([{ addr: a, len: 20 }, { addr: at, len: 4, write: true }]);
    // 2. MAP split across three readable descriptors (head | domain+virt | rest).
    const map = mapReq(1, 0x10000, 0x10fff, 0x3000, 3);
    const p1 = put(map.subarray(0, 4)), p2 = put(map.subarray(4, 20)), p3 = put(map.subarray(20));
    const mt = tail();
    const idM = m.addChain([
      { addr: p1, len: 4 },
      { addr: p2, len: 16 },
      { addr: p3, len: 16 },
      { addr: mt, len: 4, write: true },
    ]);
    // 3. Too short to hold a head: returned unwritten.
    const s = put([ReqType.ATTACH, 0]), st = tail();
    const idS = m.addChain([{ addr: s, len: 2 }, { addr: st, len: 4, write: true }]);
    // 4. Unknown type: S_UNSUPP.
    const u = put([0x7f, 0, 0, 0]), ut = tail();
    const idU = m.addChain([{ addr: u, len: 4 }, { addr: ut, len: 4, write: true }]);
    // 5. ATTACH with 8 writable bytes: S_INVAL in the last 4, the rest untouched.
    const w = put(attachReq(1, 1)), wt = tail(8);
    const idW = m.addChain([{ addr: w, len: 20 }, { addr: wt, len: 8, write: true }]);
    // 6. MAP with 40 readable bytes: S_INVAL, nothing mapped.
    const l = put([...mapReq(1, 0x20000, 0x20fff, 0, 1), 0, 0, 0, 0]), lt = tail();
    const idL = m.addChain([{ addr: l, len: 40 }, { addr: lt, len: 4, write: true }]);
    // 7. No writable part at all: returned unwritten.
    const n = put(attachReq(1, 1));
    const idN = m.addChain([{ addr: n, len: 20 }]);

    const o = device.service(0);
    assert.equal(o.completed, 7);
    assert.equal(o.interruptRequest, true);
    const used = [];
    for (let i = 0; i < 8; i++) {
      const e = m.takeUsed();
      if (!e) break;
      used.push([e.id, e.len]);
    }
    assert.deepEqual(used, [[idA, 4], [idM, 4], [idS, 0], [idU, 4], [idW, 8], [idL, 4], [idN, 0]]);
    assert.deepEqual(
      bytes(at, 5),
      [0, 0, 0, 0, 0xee],
      "S_OK, reserved zero, nothing past the tail",
    );
    assert.deepEqual(bytes(mt, 4), [0, 0, 0, 0]);
    assert.deepEqual(bytes(st, 4), [0xee, 0xee, 0xee, 0xee], "unparsable: unwritten");
    assert.deepEqual(bytes(ut, 4), [2, 0, 0, 0]);
    assert.deepEqual(bytes(wt, 8), [0xee, 0xee, 0xee, 0xee, 4, 0, 0, 0]);
    assert.deepEqual(bytes(lt, 4), [4, 0, 0, 0]);
    assert.deepEqual(viommu.mappings(1), [{ start: 0x10000, end: 0x10fff, gpa: 0x3000, perms: 3 }]);
    assert.equal(device.counters[IommuCounter.unparsable], 2);
    assert.equal(device.counters[IommuCounter.ok], 2);
    assert.equal(device.counters[IommuCounter.refused], 3);
  });
}
