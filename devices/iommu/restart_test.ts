/**
 * A backend restart over the same vIOMMU memory: `Viommu.adopt` reads the tables back (new
 * mappings never overwrite live ones); the consumer slots are left as they are. (The requests the
 * previous worker held are adopted by `IommuDevice.adoptInFlight`: device_test.ts.)
 */
import assert from "node:assert/strict";
import { Viommu } from "./viommu.ts";

const IOVA = 0x4000_0000;

Deno.test("Viommu.adopt reads back domains, endpoints and mappings; new maps take free slots", () => {
  const v = Viommu.create({ mappings: 4, endpoints: 4, consumers: 2, faults: 4 });
  v.attach(1, 0);
  v.attach(2, 1, { bypass: true });
  for (let i = 0; i < 3; i++) {
    assert.ok(
      v.map(1, {
        start: IOVA + i * 0x1000,
        end: IOVA + i * 0x1000 + 0xfff,
        gpa: 0x1000 * (i + 1),
        perms: 3,
      }).ok,
    );
  }
  assert.ok(v.unmap(1, IOVA + 0x1000, IOVA + 0x1fff).ok);
  const a = Viommu.adopt(v.buffer);
  assert.equal(a.domain(1)?.mappings, 2);
  assert.deepEqual([...a.domain(1)!.endpoints], [0]);
  assert.equal(a.domain(2)?.bypass, true);
  assert.equal(a.domainOf(1), 2);
  // Two slots are free (the unmapped one and the last): exactly two more fit, none overwrites.
  assert.ok(a.map(1, { start: IOVA + 0x10000, end: IOVA + 0x10fff, gpa: 0x9000, perms: 1 }).ok);
  assert.ok(a.map(1, { start: IOVA + 0x20000, end: IOVA + 0x20fff, gpa: 0xa000, perms: 1 }).ok);
  const full = a.map(1, { start: IOVA + 0x30000, end: IOVA + 0x30fff, gpa: 0xb000, perms: 1 });
  assert.equal(!full.ok && full.error.kind, "table-full");
  assert.deepEqual(a.mappings(1).map((m) => m.gpa), [0x1000, 0x3000, 0x9000, 0xa000]);
});

Deno.test("Viommu.adopt leaves the consumer slots as they are (their owners keep them)", () => {
  const v = Viommu.create({ mappings: 4, endpoints: 1, consumers: 1, faults: 4 });
  v.registerConsumer("eth0");
  const gen = v.invalidate();
  const a = Viommu.adopt(v.buffer);
  assert.throws(() => a.registerConsumer("again"), RangeError, "the slot is still taken");
  assert.deepEqual(a.unacked(gen), [0], "the consumer still owes its acknowledgement");
});
