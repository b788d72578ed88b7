import assert from "node:assert/strict";
import { formatNetFault, type NetDeviceFault, type NetDriverFault } from "./errors.ts";

Deno.test("every net fault renders as one sentence-case line without a final period", () => {
  const faults: (NetDeviceFault | NetDriverFault)[] = [
    {
      kind: "queue-broken",
      queue: "receiveq",
      cause: { kind: "head-out-of-range", head: 9, size: 8 },
    },
    { kind: "queue-broken", queue: "transmitq", cause: { kind: "used-id-not-in-flight", id: 3 } },
    { kind: "bad-num-buffers", numBuffers: 9, available: 2 },
    { kind: "used-len-too-big", token: 1, len: 2000, capacity: 1526 },
    { kind: "frame-too-big", len: 70000, limit: 65550 },
    { kind: "unknown-token", queue: "transmitq", token: 12 },
  ];
  const lines = faults.map(formatNetFault);
  for (const l of lines) {
    assert.match(l, /^Cannot [^\n]*[^.]$/);
  }
  assert.equal(
    lines[0],
    "Cannot use the receiveq: head index 9 is not below the queue size 8",
  );
  assert.equal(
    lines[2],
    "Cannot receive a frame: num_buffers 9 exceeds the 2 buffers the device returned",
  );
  assert.match(lines[3], /used length 2000 exceeds its 1526 bytes/);
});
