import assert from "node:assert/strict";
import { Prng } from "../../../devices/base/prng.ts";
import { ETH_HEADER_LEN } from "./ethernet.ts";
import { type FragmentDropReason, fragmentFrame, Reassembler } from "./fragment.ts";
import {
  IpProtocol,
  IPV4_HEADER_LEN,
  newIpv4Header,
  parseIpv4,
  writeFragmentFields,
  writeIpv4Header,
} from "./ipv4.ts";

const HEADERS = ETH_HEADER_LEN + IPV4_HEADER_LEN;

/** A frame carrying `dataLen` bytes of data (byte i = i * 7), datagram id `id`. */
function datagram(dataLen: number, id = 1): Uint8Array {
  const f = new Uint8Array(HEADERS + dataLen);
  for (let i = 0; i < dataLen; i++) f[HEADERS + i] = (i * 7) & 0xff;
  writeIpv4Header(f, ETH_HEADER_LEN, {
    src: 0x0a000001,
    dst: 0x0a000002,
    protocol: IpProtocol.udp,
    totalLength: IPV4_HEADER_LEN + dataLen,
    id,
  });
  return f;
}

function harness(limits = {}) {
  const drops = new Map<FragmentDropReason, number>();
  const r = new Reassembler((reason, n) => drops.set(reason, (drops.get(reason) ?? 0) + n), limits);
  const h = newIpv4Header();
  const add = (f: Uint8Array, now = 0) => {
    assert.ok(parseIpv4(f, ETH_HEADER_LEN, h).ok);
    return r.add(h, f, HEADERS, now);
  };
  return { r, drops, add };
}

Deno.test("fragments are multiples of 8 within the MTU, and reassemble byte for byte in any order", () => {
  const seed = 424242;
  const rng = Prng.fromSeed(seed);
  for (
    const [len, mtu, phase] of [[3000, 1500, 4], [65515, 1500, 0], [1481, 1500, 4], [100, 68, 7]]
  ) {
    const whole = datagram(len);
    const frags = fragmentFrame(whole, mtu, phase);
    assert.ok(frags.every((f) => f.length - ETH_HEADER_LEN <= mtu));
    // Each fragment starts where the interface's buffers put a frame (its copy runs word by word).
    assert.ok(frags.every((f) => f.byteOffset % 8 === phase));
    const h = newIpv4Header();
    for (const [i, f] of frags.entries()) {
      assert.ok(parseIpv4(f, ETH_HEADER_LEN, h).ok);
      assert.equal(h.moreFragments, i < frags.length - 1);
      if (h.moreFragments) assert.equal((h.totalLength - IPV4_HEADER_LEN) % 8, 0);
    }
    for (let k = frags.length - 1; k > 0; k--) { // seeded shuffle
      const j = rng.below(k + 1);
      [frags[k], frags[j]] = [frags[j], frags[k]];
    }
    const { add, drops, r } = harness();
    const outcomes = frags.map((f) => add(f));
    const done = outcomes.at(-1)!;
    assert.equal(done.kind, "complete", `seed ${seed}, len ${len}`);
    if (done.kind !== "complete") return;
    assert.ok(outcomes.slice(0, -1).every((o) => o.kind === "incomplete"));
    assert.deepEqual(done.frame.subarray(HEADERS), whole.subarray(HEADERS), `seed ${seed}`);
    assert.equal(done.length, len);
    assert.equal(drops.size, 0);
    assert.deepEqual([r.size, r.bytes], [0, 0]);
  }
});

/** One fragment of datagram `id`: `len` data bytes at `off`. */
function fragmentAt(id: number, off: number, len: number, more: boolean): Uint8Array {
  const f = datagram(len, id);
  writeFragmentFields(f, ETH_HEADER_LEN, { totalLength: IPV4_HEADER_LEN + len, offset: off, more });
  return f;
}

Deno.test("an overlapping fragment drops its datagram; an exact duplicate drops only itself", () => {
  const { add, drops, r } = harness();
  add(fragmentAt(1, 0, 1480, true));
  add(fragmentAt(1, 0, 1480, true));
  assert.deepEqual([drops.get("fragment"), r.size], [1, 1]);
  add(fragmentAt(1, 8, 16, true)); // overlaps the first: the datagram goes
  assert.deepEqual([drops.get("fragment"), r.size, r.bytes], [3, 0, 0]); // dup, overlap, first
  // A last fragment that disagrees with the known end drops the datagram too.
  add(fragmentAt(2, 1480, 100, false));
  add(fragmentAt(2, 1480, 200, false));
  assert.deepEqual([drops.get("fragment"), r.size], [5, 0]);
});

Deno.test("an incomplete datagram is dropped 30 s after its first fragment, each fragment counted", () => {
  const frags = fragmentFrame(datagram(4000), 1500);
  const { add, drops, r } = harness();
  add(frags[0], 1000);
  add(frags[2], 2000);
  assert.equal(r.nextDeadline(), 31_000);
  r.expire(30_999);
  assert.equal(r.size, 1);
  r.expire(31_000);
  assert.deepEqual([drops.get("reassemblyTimeout"), r.size, r.nextDeadline()], [2, 0, Infinity]);
});

Deno.test("reassembly holds at most its datagram and byte bounds, evicting the oldest", () => {
  const { add, drops, r } = harness({ maxDatagrams: 3, maxBytes: 5000 });
  for (let id = 1; id <= 5; id++) add(fragmentFrame(datagram(3000, id), 1500)[0]);
  assert.deepEqual([r.size, drops.get("reassemblyLimit")], [3, 2]);
  // 3 × 1480 held; one more 1480 exceeds 5000 bytes: the oldest (id 3) goes.
  add(fragmentFrame(datagram(3000, 4), 1500)[1]);
  assert.ok(r.bytes <= 5000);
  assert.equal(drops.get("reassemblyLimit"), 3);
  assert.equal(add(fragmentFrame(datagram(3000, 4), 1500)[2]).kind, "complete");
});

Deno.test("a datagram cut into more fragments than the bound is dropped whole", () => {
  const { add, drops, r } = harness({ maxFragments: 4 });
  for (let i = 0; i < 4; i++) add(fragmentAt(1, i * 8, 8, true));
  assert.equal(r.size, 1);
  add(fragmentAt(1, 32, 8, true));
  assert.deepEqual([drops.get("reassemblyLimit"), r.size, r.bytes], [5, 0, 0]);
});

Deno.test("a fragment whose data is not a multiple of 8, empty, or past 65535 bytes, is dropped", () => {
  const { add, drops, r } = harness();
  add(fragmentAt(1, 0, 1479, true));
  add(fragmentAt(2, 0, 0, true));
  add(fragmentAt(3, 65512, 8, true)); // 20 + 65520 > 65535
  assert.deepEqual([drops.get("fragment"), r.size], [3, 0]);
});

Deno.test("random fragments never throw and keep reassembly within its bounds (seeded)", () => {
  const seed = 77;
  const rng = Prng.fromSeed(seed);
  const { add, r } = harness({ maxDatagrams: 8, maxBytes: 20_000 });
  let now = 0;
  for (let i = 0; i < 3000; i++) {
    now += rng.below(50);
    const len = rng.below(4) === 0 ? rng.below(1480) : 8 * (1 + rng.below(185));
    const off = 8 * rng.below(8190);
    const f = fragmentAt(1 + rng.below(12), Math.min(off, 65528), len, rng.below(3) !== 0);
    try {
      add(f, now);
    } catch (e) {
      assert.fail(`seed ${seed} case ${i} threw: ${e}`);
    }
    if (i % 100 === 0) r.expire(now);
    assert.ok(r.size <= 8 && r.bytes >= 0 && r.bytes <= 20_000, `seed ${seed} case ${i}`);
  }
});
