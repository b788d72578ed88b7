import assert from "node:assert/strict";
import { readyTimeoutFor } from "./lab.ts";

Deno.test("a large lab waits longer for its guests: 60 s, or 250 ms a VM beyond 240", () => {
  assert.equal(readyTimeoutFor(2), 60_000);
  assert.equal(readyTimeoutFor(240), 60_000);
  assert.equal(readyTimeoutFor(241), 60_250);
  // The largest lab allowed (1024 VMs), at the 94 ms a VM measured on a loaded machine (96 s),
  // has room left; a fixed 60 s did not.
  assert.ok(readyTimeoutFor(1024) > 1024 * 94 * 2);
});
