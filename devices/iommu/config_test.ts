import assert from "node:assert/strict";
import {
  encodeIommuConfig,
  encodeProbe,
  granuleOf,
  IOMMU_CONFIG_SIZE,
  Le,
  parseIommuConfig,
  parseProbe,
  ProbeProp,
  ResvMem,
} from "./config.ts";
import { formatViommuError } from "./errors.ts";

Deno.test("config space round-trips byte for byte at the spec's offsets (virtio 5.13.4)", () => {
  const c = {
    pageSizeMask: 2 ** 48 - 4096,
    inputStart: 0,
    inputEnd: 2 ** 48 - 1,
    domainStart: 1,
    domainEnd: 65535,
    probeSize: 512,
    bypass: true,
  };
  const b = encodeIommuConfig(c);
  assert.equal(b.length, IOMMU_CONFIG_SIZE);
  assert.deepEqual([...b.subarray(0, 8)], [0, 0xf0, 0xff, 0xff, 0xff, 0xff, 0, 0]);
  assert.deepEqual([...b.subarray(32, 40)], [0, 2, 0, 0, 1, 0, 0, 0]);
  assert.deepEqual(parseIommuConfig(b), c);
  assert.equal(granuleOf(c.pageSizeMask), 4096);
  assert.equal(granuleOf(1), 1);
});

Deno.test("PROBE properties: RESV_MEM layout, and a parser that never reads past the buffer", () => {
  const b = new Uint8Array(64);
  const regions = [{ subtype: ResvMem.MSI, start: 0xfee00000, end: 0xfeefffff }, {
    subtype: ResvMem.RESERVED,
    start: 0,
    end: 0xfff,
  }];
  encodeProbe(b, regions);
  assert.deepEqual([...b.subarray(0, 8)], [1, 0, 20, 0, 1, 0, 0, 0]);
  assert.deepEqual(parseProbe(b), regions);
  // Too small for a second region: left out, rest zero.
  const small = new Uint8Array(30);
  encodeProbe(small, regions);
  assert.deepEqual(parseProbe(small), regions.slice(0, 1));
  // Hostile: a length running past the end, reserved type bits, an unknown type.
  const h = new Uint8Array(48);
  Le.set16(h, 0, 0x7); // unknown type, skipped
  Le.set16(h, 2, 4);
  Le.set16(h, 8, ProbeProp.RESV_MEM | 0x1000); // reserved bits: ignored
  Le.set16(h, 10, 20);
  Le.set16(h, 32, ProbeProp.RESV_MEM);
  Le.set16(h, 34, 60000); // past the end: stop
  assert.deepEqual(parseProbe(h), []);
});

Deno.test("vIOMMU errors render as one sentence-case line without a final period", () => {
  const samples = [
    formatViommuError({ kind: "overlap", domain: 1, start: 0x1000, end: 0x1fff }),
    formatViommuError({
      kind: "invalidation-timeout",
      consumer: 1,
      name: "peer-b",
      acked: 3,
      wanted: 4,
      waitedMs: 1000,
    }),
    formatViommuError({ kind: "table-full", capacity: 64 }),
  ];
  for (const s of samples) {
    assert.match(s, /^Cannot [^\n]*[^.]$/);
  }
  assert.match(samples[1], /"peer-b"/);
});
