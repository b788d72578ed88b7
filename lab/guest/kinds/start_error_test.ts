import assert from "node:assert/strict";
import type { DriverInitError } from "../../../devices/virtio/mmio_driver.ts";
import {
  configUnstableError,
  driverStartError,
  nicDevice,
  resetFailureMessage,
  vhostPciDevice,
} from "./start_error.ts";

const EVERY: readonly DriverInitError[] = [
  { kind: "bad-magic", value: 0 },
  { kind: "bad-version", value: 1 },
  { kind: "wrong-device", expected: 1, found: 0 },
  { kind: "reset-timeout", status: 0x40 },
  { kind: "legacy-device", offered: 1n },
  { kind: "features-refused", accepted: 1n << 32n, status: 0x3 },
  { kind: "queue-already-ready", queue: 0 },
  { kind: "queue-unavailable", queue: 1 },
  { kind: "queue-out-of-memory", queue: 0, bytes: 4096, freePages: 0 },
  { kind: "queue-setup", queue: 0, cause: { kind: "bad-size", size: 300, layout: "split" } },
  { kind: "queue-refused", queue: 1 },
  { kind: "driver-ok-refused", status: 0x4f },
];

Deno.test("a driver that cannot start says which device of which VM, why in words, and a hint", () => {
  for (const e of EVERY) {
    const err = driverStartError(nicDevice("b", "eth0"), e);
    assert.match(err.message, /^VM "b" could not start the driver of NIC eth0: \S/, e.kind);
    // The words, never the bare code (`queue-setup` was all a user saw).
    assert.ok(!err.message.includes(e.kind), err.message);
    assert.ok(!err.message.includes("\n"), err.message);
    assert.ok(err.hint.length > 0 && !err.hint.includes("\n"), e.kind);
  }
  const setup = driverStartError(nicDevice("b", "eth0"), EVERY[9]);
  assert.equal(
    setup.message,
    'VM "b" could not start the driver of NIC eth0: queue 0 (receiveq): size 300 is not ' +
      "allowed for the split layout",
  );
  assert.match(setup.hint, /queue_size/);
  const memory = driverStartError({ vm: "a", device: "its vsock device" }, EVERY[8]);
  assert.equal(memory.hint, 'Give VM "a" more guest memory (its `memory:` in the topology)');
  // A queue whose size the topology does not set: no queue_size to change, a bug of vlab's.
  const vsock = driverStartError(
    { vm: "a", device: "its vsock device", queues: ["rx", "tx", "event"] },
    { kind: "queue-setup", queue: 2, cause: { kind: "bad-size", size: 3, layout: "split" } },
  );
  assert.match(
    vsock.message,
    /^VM "a" could not start the driver of its vsock device: queue 2 \(event\)/,
  );
  assert.doesNotMatch(vsock.hint, /queue_size/);
  assert.match(vsock.hint, /report it/);
});

Deno.test("a failed reset and an unsettled config space are sentences, not codes", () => {
  assert.equal(
    resetFailureMessage(nicDevice("a", "eth0"), { kind: "queue-refused", queue: 1 }),
    'VM "a" could not reset NIC eth0: the device refused queue 1 (transmitq) (QueueReady reads 0)',
  );
  assert.equal(
    resetFailureMessage(nicDevice("a", "eth0"), {
      kind: "queue-size-changed",
      rx: 128,
      tx: 128,
      expectedRx: 256,
      expectedTx: 256,
    }),
    'VM "a" could not reset NIC eth0: its queue sizes changed to 128 (receiveq) and 128 ' +
      "(transmitq), its buffers are for 256 and 256",
  );
  assert.match(
    resetFailureMessage(vhostPciDevice("b", "eth0"), { kind: "driver-ok-refused", status: 0x4f }),
    /^VM "b" could not reset NIC eth0 \(vhost-pci\): the device did not accept DRIVER_OK/,
  );
  const cid = configUnstableError("a", "its vsock device", "guest CID", 8);
  assert.equal(
    cid.message,
    'VM "a" could not read the guest CID of its vsock device: its config space changed on each ' +
      "of 8 reads",
  );
  assert.ok(cid.hint.length > 0);
});
