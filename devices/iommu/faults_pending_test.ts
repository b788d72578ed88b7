import assert from "node:assert/strict";
import { iommuRig } from "./testing.ts";

for (const layout of ["split", "packed"] as const) {
  Deno.test(`a logged fault keeps the device awake until it is reported, and only then (${layout})`, () => {
    const r = iommuRig(layout);
    r.driver.attach(1, 0);
    r.driver.publish();
    r.device.service(r.clock.now);
    r.driver.collect();
    assert.equal(r.device.faultsPending(), false, "nothing logged: it may sleep");
    r.dma.beginBatch();
    assert.equal(r.dma.resolve(0x40000, 16, "read"), -1, "an access outside every mapping");
    assert.equal(r.device.faultsPending(), true, "the fault waits to be reported");
    r.device.service(r.clock.now);
    assert.equal(r.device.faultsPending(), false, "reported (or dropped and counted)");
  });
}
