import assert from "node:assert/strict";
import { deriveMac, formatIpv4, parseCidr, parseMac, subnetOf } from "./addresses.ts";

Deno.test("derived MACs are unicast, locally administered and carry both indices", () => {
  assert.equal(deriveMac(0, 0), "02:00:00:00:00:00");
  assert.equal(deriveMac(1, 0), "02:00:00:01:00:00");
  assert.equal(deriveMac(258, 3), "02:00:01:02:00:03");
  assert.equal(deriveMac(65535, 65535), "02:00:ff:ff:ff:ff");
  for (const mac of [deriveMac(0, 0), deriveMac(65535, 1)]) assert.ok(parseMac(mac).ok, mac);
});

Deno.test("derived MACs do not collide across 65536 VMs", () => {
  const seen = new Set<string>();
  for (let vm = 0; vm < 65536; vm++) {
    seen.add(deriveMac(vm, 0));
    seen.add(deriveMac(vm, 1));
  }
  assert.equal(seen.size, 2 * 65536);
});

Deno.test("deriving a MAC beyond 16-bit indices is a programmer error", () => {
  assert.throws(() => deriveMac(65536, 0), RangeError);
});

Deno.test("MACs are lower-cased; multicast and zero are refused", () => {
  assert.deepEqual(parseMac("02:AB:00:00:00:01"), { ok: true, value: "02:ab:00:00:00:01" });
  assert.deepEqual(parseMac("01:00:5e:00:00:01"), { ok: false, error: { kind: "multicast" } });
  assert.deepEqual(parseMac("ff:ff:ff:ff:ff:ff"), { ok: false, error: { kind: "multicast" } });
  assert.deepEqual(parseMac("00:00:00:00:00:00"), { ok: false, error: { kind: "zero" } });
  assert.deepEqual(parseMac("02:00:00:00:00"), { ok: false, error: { kind: "syntax" } });
});

Deno.test("CIDRs need a prefix and valid octets", () => {
  assert.deepEqual(parseCidr("10.0.0.1/24"), {
    ok: true,
    value: { address: 0x0a000001, prefix: 24 },
  });
  assert.equal(parseCidr("10.0.0.1").ok, false);
  assert.equal(parseCidr("10.0.0.256/24").ok, false);
  assert.equal(parseCidr("10.0.0.1/33").ok, false);
  // A leading zero is octal to inet_aton (iputils' ping) and decimal to most others: refused.
  assert.deepEqual(parseCidr("010.0.0.1/24"), {
    ok: false,
    error: {
      kind: "bad-ip",
      reason: "the octet 010 has a leading zero, which some tools read as octal: write 10",
    },
  });
  assert.equal(parseCidr("10.0.00.1/24").ok, false);
  assert.deepEqual(parseCidr("10.0.0.0/24"), {
    ok: true,
    value: { address: 0x0a000000, prefix: 24 },
  });
  assert.equal(parseCidr("fe80::1/64").ok, false);
});

Deno.test("subnets give network and broadcast addresses", () => {
  const s = subnetOf({ address: 0x0a000105, prefix: 23 });
  assert.equal(formatIpv4(s.network), "10.0.0.0");
  assert.equal(formatIpv4(s.broadcast), "10.0.1.255");
  const host = subnetOf({ address: 0xc0a80101, prefix: 32 });
  assert.equal(formatIpv4(host.network), "192.168.1.1");
  assert.equal(formatIpv4(host.broadcast), "192.168.1.1");
});
