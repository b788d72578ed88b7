import assert from "node:assert/strict";
import { parseFault } from "./faults.ts";

Deno.test("a mid-pass backend crash names how many descriptors come first, 1 to 100000", () => {
  const ok = parseFault({ kind: "backend-crash", vm: "a", mode: "mid-pass", after: 17 });
  assert.ok(ok.ok);
  assert.deepEqual(ok.value, {
    kind: "backend-crash",
    vm: "a",
    mode: "mid-pass",
    ms: undefined,
    after: 17,
  });
  for (const after of [0, 1.5, "3", 100_001]) {
    const bad = parseFault({ kind: "backend-crash", vm: "a", mode: "mid-pass", after });
    assert.ok(!bad.ok);
    assert.equal(bad.code, "bad-fault");
    assert.match(bad.message, /^Cannot inject backend-crash: after must be an integer 1 to 100000/);
  }
  const mode = parseFault({ kind: "backend-crash", vm: "a", mode: "toString" });
  assert.ok(!mode.ok);
  assert.match(mode.hint, /exit, hang, slow, mid-pass/);
});
