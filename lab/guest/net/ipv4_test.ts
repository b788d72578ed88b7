import assert from "node:assert/strict";
import {
  checksumAdd,
  foldChecksum,
  formatIpv4,
  inSubnet,
  internetChecksum,
  IpProtocol,
  isBroadcast,
  newIpv4Header,
  parseIpv4,
  parseIpv4Address,
  writeFragmentFields,
  writeIpv4Header,
} from "./ipv4.ts";

Deno.test("internetChecksum matches the RFC 1071 section 3 example", () => {
  const bytes = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assert.equal(internetChecksum(bytes, 0, 8), 0x220d); // sum 0xddf2, complemented
  assert.equal(foldChecksum(checksumAdd(0, bytes, 0, 8)), 0x220d);
});

/** The checksum as RFC 1071 states it: big-endian 16-bit words, one at a time. */
function referenceSum(acc: number, buf: Uint8Array, off: number, len: number): number {
  for (let i = off; i < off + len; i += 2) {
    acc += (buf[i] << 8) | (i + 1 < off + len ? buf[i + 1] : 0);
  }
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return acc;
}

Deno.test("checksumAdd's word loop agrees with the byte-at-a-time sum at every alignment", () => {
  // Seeded, so a failure repeats: every start alignment, odd and even lengths, views that do
  // not start at a word boundary, shared and plain memory, and all-ones data (carries).
  let seed = 0x2545f491;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const shared = new Uint8Array(new SharedArrayBuffer(70_000));
  const plain = new Uint8Array(70_000);
  for (let i = 0; i < shared.length; i++) shared[i] = plain[i] = next() >>> 24;
  const ones = new Uint8Array(4_100).fill(0xff);
  const fold = (x: number) => referenceSum(x, new Uint8Array(0), 0, 0);
  let cases = 0;
  for (const mem of [shared, plain, ones]) {
    for (let viewStart = 0; viewStart < 4; viewStart++) {
      const view = new Uint8Array(mem.buffer, viewStart, mem.length - viewStart);
      for (const len of [0, 1, 63, 64, 65, 66, 67, 1472, 1473, 4_000, view.length - 8]) {
        for (let off = 0; off < 4; off++) {
          const acc = next() % 0x1ffff;
          assert.equal(
            fold(checksumAdd(acc, view, off, len)),
            referenceSum(acc, view, off, len),
            `view at ${viewStart}, offset ${off}, ${len} bytes`,
          );
          cases++;
        }
      }
    }
  }
  assert.equal(cases, 3 * 4 * 11 * 4);
  // Nearly the largest IPv4 datagram, all-ones bytes: every word carries; the sum is -0.
  const big = new Uint8Array(65_536).fill(0xff);
  assert.equal(foldChecksum(checksumAdd(0, big, 1, 65_534)), 0);
});

Deno.test("internetChecksum pads an odd trailing byte with zero", () => {
  assert.equal(
    internetChecksum(new Uint8Array([0x12, 0x34, 0x56]), 0, 3),
    ~(0x1234 + 0x5600) & 0xffff,
  );
});

Deno.test("writeIpv4Header produces the well-known header with checksum 0xb861", () => {
  const buf = new Uint8Array(20);
  writeIpv4Header(buf, 0, {
    src: 0xc0a80001,
    dst: 0xc0a800c7,
    protocol: IpProtocol.udp,
    totalLength: 0x73,
    id: 0,
  });
  assert.deepEqual(
    [...buf],
    [0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0xb8, 0x61, 192, 168, 0, 1, 192, 168, 0, 199],
  );
});

Deno.test("writeIpv4Header's checksum verifies over the bytes for any fields, over garbage", () => {
  // The checksum is summed from the fields, not the bytes: check it against the bytes written,
  // with every field's high bits set somewhere, a buffer full of garbage, and at odd offsets.
  let seed = 7;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (let i = 0; i < 500; i++) {
    const buf = new Uint8Array(64).map(() => next() & 0xff);
    const off = i % 9;
    const h = {
      src: next(),
      dst: i % 2 ? next() : 0xffffffff,
      protocol: next() & 0xff,
      totalLength: i % 3 ? next() & 0xffff : 0xffff,
      id: next() & 0xffff,
      ttl: i % 4 ? next() & 0xff : undefined,
    };
    writeIpv4Header(buf, off, h);
    assert.equal(internetChecksum(buf, off, 20), 0, `header ${i}`);
    const back = newIpv4Header();
    if (h.totalLength >= 20 && h.totalLength <= 64 - off) {
      assert.ok(parseIpv4(buf, off, back).ok);
      assert.deepEqual([back.src, back.dst, back.id, back.protocol], [
        h.src >>> 0,
        h.dst,
        h.id,
        h.protocol,
      ]);
    }
  }
});

Deno.test("parseIpv4 checks the checksum over a header's options too", () => {
  // A 24-byte header (IHL 6: one option word, here NOPs and an end-of-list), checksummed over
  // all 24 bytes; one flipped bit in the option fails it, as one in the fixed part does.
  for (const off of [0, 1, 2]) {
    const buf = new Uint8Array(off + 30);
    writeIpv4Header(buf, off, {
      src: 0xc0a80001,
      dst: 0xc0a800c7,
      protocol: 17,
      totalLength: 30,
      id: 9,
    });
    buf[off] = 0x46;
    buf.set([1, 1, 1, 0], off + 20);
    buf[off + 10] = buf[off + 11] = 0;
    const sum = internetChecksum(buf, off, 24);
    buf[off + 10] = sum >>> 8;
    buf[off + 11] = sum & 0xff;
    const h = newIpv4Header();
    assert.ok(parseIpv4(buf, off, h).ok, `offset ${off}`);
    assert.deepEqual([h.headerLength, h.src, h.dst, h.ttl], [24, 0xc0a80001, 0xc0a800c7, 64]);
    buf[off + 21] ^= 0x10;
    assert.deepEqual(parseIpv4(buf, off, h), { ok: false, error: { kind: "bad-checksum" } });
    buf[off + 21] ^= 0x10;
    buf[off + 1] ^= 0x04; // the TOS byte, outside any field parseIpv4 returns
    assert.deepEqual(parseIpv4(buf, off, h), { ok: false, error: { kind: "bad-checksum" } });
  }
});

Deno.test("parseIpv4 accepts a valid header and fills the fields", () => {
  const buf = new Uint8Array(40);
  writeIpv4Header(buf, 0, { src: 1, dst: 2, protocol: 1, totalLength: 40, id: 9 });
  const h = newIpv4Header();
  assert.equal(parseIpv4(buf, 0, h).ok, true);
  assert.deepEqual(h, {
    headerLength: 20,
    totalLength: 40,
    protocol: 1,
    ttl: 64,
    src: 1,
    dst: 2,
    id: 9,
    moreFragments: false,
    fragmentOffset: 0,
  });
});

Deno.test("parseIpv4 rejects truncated, bad-length and bad-checksum, and reads fragment fields", () => {
  const h = newIpv4Header();
  const good = new Uint8Array(28);
  writeIpv4Header(good, 0, { src: 1, dst: 2, protocol: 17, totalLength: 28, id: 1 });
  const kind = (b: Uint8Array) => {
    const r = parseIpv4(b, 0, h);
    return r.ok ? "ok" : r.error.kind;
  };
  assert.equal(kind(good.subarray(0, 12)), "truncated");
  assert.equal(kind(good.subarray(0, 24)), "truncated"); // declared 28
  const v6 = good.slice();
  v6[0] = 0x65;
  assert.equal(kind(v6), "bad-header");
  const sum = good.slice();
  sum[11] ^= 1;
  assert.equal(kind(sum), "bad-checksum");
  const frag = new Uint8Array(28);
  writeIpv4Header(frag, 0, { src: 1, dst: 2, protocol: 17, totalLength: 28, id: 1 });
  writeFragmentFields(frag, 0, { totalLength: 28, offset: 1480, more: true });
  assert.equal(internetChecksum(frag, 0, 20), 0);
  assert.equal(kind(frag), "ok");
  assert.deepEqual([h.id, h.moreFragments, h.fragmentOffset], [1, true, 1480]);
  const short = new Uint8Array(28);
  writeIpv4Header(short, 0, { src: 1, dst: 2, protocol: 17, totalLength: 10, id: 1 });
  assert.equal(kind(short), "bad-length");
});

Deno.test("addresses parse, format and match subnets", () => {
  assert.equal(parseIpv4Address("10.0.0.1"), 0x0a000001);
  assert.equal(parseIpv4Address("255.255.255.255"), 0xffffffff);
  for (const bad of ["10.0.0", "10.0.0.256", "a.b.c.d", "1.2.3.4.5", ""]) {
    assert.equal(parseIpv4Address(bad), null, bad);
  }
  assert.equal(formatIpv4(0xc0a800c7), "192.168.0.199");
  assert.equal(inSubnet(0x0a0000fe, 0x0a000001, 24), true);
  assert.equal(inSubnet(0x0a000101, 0x0a000001, 24), false);
  assert.equal(inSubnet(0x0a000001, 0x0a000001, 32), true);
  assert.equal(inSubnet(0xc0a80001, 0x0a000001, 0), true);
});

Deno.test("isBroadcast: the subnet's all-ones host part and 255.255.255.255; a /31 or /32 has none", () => {
  assert.equal(isBroadcast(0x0a0000ff, 0x0a000001, 24), true);
  assert.equal(isBroadcast(0x0a0000fe, 0x0a000001, 24), false);
  assert.equal(isBroadcast(0x0a0001ff, 0x0a000001, 24), false); // another subnet's
  assert.equal(isBroadcast(0x0a00ffff, 0x0a000001, 16), true);
  assert.equal(isBroadcast(0x0a000003, 0x0a000001, 30), true);
  assert.equal(isBroadcast(0x0a000001, 0x0a000000, 31), false);
  assert.equal(isBroadcast(0x0a000001, 0x0a000001, 32), false);
  assert.equal(isBroadcast(0xffffffff, 0x0a000001, 24), true);
  assert.equal(isBroadcast(0xffffffff, 0x0a000001, 0), true);
});
