import assert from "node:assert/strict";
import { RESET_RETRY_DELAYS_MS, ResetRetries, watchReset } from "./reset_retry.ts";
import { MmioReg } from "../../../devices/virtio/mmio.ts";

Deno.test("a failed reset's retries double from 100 ms, a few times, then give up", () => {
  const r = new ResetRetries();
  let now = 0;
  const waits: number[] = [];
  for (;;) {
    const wait = r.failed(now);
    if (wait === null) break;
    waits.push(wait);
    assert.equal(r.untilMs(now), wait);
    assert.equal(r.take(now + wait - 1), false, "not before the back-off is over");
    now += wait;
    assert.equal(r.take(now), true);
    assert.equal(r.take(now), false, "once");
  }
  assert.deepEqual(waits, [100, 200, 400, 800]);
  assert.deepEqual(waits, RESET_RETRY_DELAYS_MS);
  assert.equal(r.untilMs(now), Infinity);
  r.succeeded();
  assert.equal(r.attempt, 1);
  assert.equal(r.failed(now), 100, "a reset that succeeded starts the back-off over");
});

Deno.test("a reset attempt is seen to have freed the previous rings once Status read back 0", async () => {
  let status = 0x40;
  const w = watchReset({ read: () => Promise.resolve(status), write: () => Promise.resolve() });
  await w.port.read(MmioReg.STATUS);
  await w.port.read(MmioReg.CONFIG);
  assert.equal(w.zeroed(), false);
  status = 0;
  await w.port.read(MmioReg.STATUS);
  assert.equal(w.zeroed(), true);
});
