import assert from "node:assert/strict";
import {
  VSOCK_COUNTER_COUNT,
  VSOCK_DRIVER_COUNTER_COUNT,
  VsockCounter,
  VsockDriverCounter,
} from "./metrics.ts";
import { formatVsockFault } from "./errors.ts";

Deno.test("vsock counter layouts are dense and fit their word counts", () => {
  for (
    const [layout, count] of [
      [VsockCounter, VSOCK_COUNTER_COUNT],
      [VsockDriverCounter, VSOCK_DRIVER_COUNTER_COUNT],
    ] as const
  ) {
    const idx = Object.values(layout).sort((a, b) => a - b);
    assert.deepEqual(idx, Array.from({ length: count }, (_, i) => i));
  }
});

Deno.test("vsock faults render as one sentence-case line without a final period", () => {
  const lines = [
    formatVsockFault({ kind: "unknown-token", queue: "rx", token: 9 }),
    formatVsockFault({ kind: "used-len-too-big", queue: "event", token: 1, len: 9, capacity: 4 }),
  ];
  assert.equal(lines[0], "Cannot reclaim on the vsock rx queue: token 9 is not a buffer in flight");
  for (const l of lines) assert.match(l, /^[A-Z][^\n]*[^.]$/);
});
