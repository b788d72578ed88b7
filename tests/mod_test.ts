/** The public API of `mod.ts`, used the way its documentation shows. */
import assert from "node:assert/strict";
import { createQueuePair, formatQueueError, GuestMemory } from "../mod.ts";

for (const layout of ["split", "packed"] as const) {
  Deno.test(`moves a request through a ${layout} queue as the mod.ts example does`, () => {
    const mem = GuestMemory.create(1 << 20);
    const pair = createQueuePair(mem, {
      layout,
      size: 64,
      descAddr: 0x1000,
      driverAddr: 0x2000,
      deviceAddr: 0x3000,
      features: { eventIdx: true, indirect: false, inOrder: false },
    });
    if (!pair.ok) assert.fail(formatQueueError(pair.error));
    const { driver, device } = pair.value;
    assert.equal(
      driver.add({ readable: [[0x10000, 64]], writable: [[0x20000, 1500]] }, 7).ok,
      true,
    );
    assert.equal(driver.publish(), true);
    const popped = device.pop();
    assert.ok(popped.ok && popped.value);
    assert.deepEqual(popped.value.readable, [{ gpa: 0x10000, len: 64 }]);
    assert.deepEqual(popped.value.writable, [{ gpa: 0x20000, len: 1500 }]);
    assert.equal(device.push(popped.value, 100).ok, true);
    device.publish();
    assert.deepEqual(driver.getUsed(), { ok: true, value: { token: 7, len: 100 } });
  });
}
