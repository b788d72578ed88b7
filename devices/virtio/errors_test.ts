import assert from "node:assert/strict";
import type { DmaError } from "../memory/dma.ts";
import {
  type ChainFault,
  type DriverError,
  formatQueueError,
  type PushError,
  queueErrorParts,
  type QueueSetupError,
  type RingError,
} from "./errors.ts";
import { formatNetFault } from "../net/errors.ts";
import { formatVsockFault } from "../vsock/errors.ts";
import { formatDriverInitError } from "./mmio_driver.ts";

type QueueError = RingError | ChainFault | QueueSetupError | PushError | DriverError;

const dma: DmaError = { kind: "dma-out-of-range", addr: 0x1000, length: 64, access: "read" };

/** One error of every kind (the type makes a missing kind a compile error). */
const SAMPLES: { [K in QueueError["kind"]]: Extract<QueueError, { kind: K }> } = {
  "avail-index-jump": { kind: "avail-index-jump", availIdx: 600, nextAvail: 0, size: 256 },
  "head-out-of-range": { kind: "head-out-of-range", head: 9, size: 8 },
  "next-out-of-range": { kind: "next-out-of-range", head: 1, next: 300, tableSize: 256 },
  "chain-too-long": { kind: "chain-too-long", head: 1, limit: 256 },
  "readable-after-writable": { kind: "readable-after-writable", head: 1, index: 2 },
  "nested-indirect": { kind: "nested-indirect", head: 1, index: 2 },
  "indirect-length": { kind: "indirect-length", head: 1, length: 15 },
  "too-many-in-flight": { kind: "too-many-in-flight", head: 1, limit: 256 },
  "indirect-too-large": { kind: "indirect-too-large", head: 1, entries: 300, limit: 256 },
  "indirect-unreachable": { kind: "indirect-unreachable", head: 1, cause: dma },
  "indirect-in-chain": { kind: "indirect-in-chain", head: 1, index: 2 },
  "indirect-not-negotiated": { kind: "indirect-not-negotiated", head: 1 },
  "head-in-flight": { kind: "head-in-flight", head: 1 },
  "id-out-of-range": { kind: "id-out-of-range", id: 300, size: 256 },
  "chain-not-available": { kind: "chain-not-available", head: 1, slot: 2, flags: 0x80 },
  "buffer-unreachable": { kind: "buffer-unreachable", head: 1, cause: dma },
  "chain-too-big": { kind: "chain-too-big", head: 1, bytes: 2 ** 33 },
  "bad-layout": { kind: "bad-layout", layout: "Split" },
  "bad-size": { kind: "bad-size", size: 300, layout: "split" },
  "misaligned": { kind: "misaligned", area: "descriptor", addr: 0x1001, align: 16 },
  "area-unreachable": { kind: "area-unreachable", area: "driver", cause: dma },
  "not-in-flight": { kind: "not-in-flight", id: 3 },
  "out-of-order": { kind: "out-of-order", id: 3, expected: 2 },
  "used-id-out-of-range": { kind: "used-id-out-of-range", id: 300, size: 256 },
  "used-id-not-in-flight": { kind: "used-id-not-in-flight", id: 3 },
  "ring-full": { kind: "ring-full", needed: 3, free: 1 },
  "bad-chain-length": { kind: "bad-chain-length", length: 300, size: 256 },
  "bad-buffer-address": { kind: "bad-buffer-address", index: 1, gpa: -1 },
  "bad-buffer-length": { kind: "bad-buffer-length", index: 1, len: 2 ** 32 },
  "bad-chain-bytes": { kind: "bad-chain-bytes", bytes: 2 ** 33 },
  "used-index-jump": { kind: "used-index-jump", usedIdx: 600, lastUsed: 0, size: 256 },
  "used-length-too-large": { kind: "used-length-too-large", id: 3, len: 9000, writable: 1526 },
};

const once = (line: string, word: string) => line.split(word).length - 1;

Deno.test("every queue error is one sentence, and names the queue once when it is given", () => {
  for (const e of Object.values(SAMPLES) as QueueError[]) {
    const plain = formatQueueError(e);
    assert.match(plain, /^Cannot [^\n]*[^.]$/, plain);
    assert.equal(once(plain, "Cannot"), 1, plain);
    const named = formatQueueError(e, "the receiveq");
    assert.equal(once(named, "Cannot"), 1, named);
    assert.equal(once(named, "the receiveq"), 1, named);
    assert.ok(!named.includes("the queue:"), named);
    const { action, reason } = queueErrorParts(e, "the receiveq");
    assert.equal(named, `Cannot ${action}: ${reason}`);
  }
  assert.equal(
    formatQueueError(SAMPLES["next-out-of-range"], "the transmitq"),
    "Cannot walk chain 1 of the transmitq: next 300 is not below the table size 256",
  );
});

Deno.test("a broken queue's fault is one line, not 'Cannot use the receiveq: Cannot use the queue: …'", () => {
  for (const cause of [SAMPLES["head-out-of-range"], SAMPLES["next-out-of-range"]]) {
    const net = formatNetFault({ kind: "queue-broken", queue: "receiveq", cause });
    const vsock = formatVsockFault({ kind: "queue-broken", queue: "rx", cause });
    for (const line of [net, vsock]) assert.equal(once(line, "Cannot"), 1, line);
  }
  assert.equal(
    formatNetFault({
      kind: "queue-broken",
      queue: "receiveq",
      cause: SAMPLES["head-out-of-range"],
    }),
    "Cannot use the receiveq: head index 9 is not below the queue size 8",
  );
  assert.equal(
    formatVsockFault({ kind: "queue-broken", queue: "rx", cause: SAMPLES["chain-too-long"] }),
    "Cannot walk chain 1 of the vsock rx queue: longer than 256 descriptors (a loop?)",
  );
  assert.equal(
    formatDriverInitError({ kind: "queue-setup", queue: 0, cause: SAMPLES["bad-size"] }),
    "Cannot initialise the device: queue 0: size 300 is not allowed for the split layout",
  );
});
