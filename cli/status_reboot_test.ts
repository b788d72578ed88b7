/**
 * `vlab status` of a VM rebooting after `vm-crash`: it says where the reboot is (its devices
 * powering on, its guest waiting out its boot time and how long is left, its guest starting),
 * where before it said only `restarting` and a device at status 0 (reset) for up to a minute.
 */

import assert from "node:assert/strict";
import { bootSeconds, bootsInSeconds } from "../lab/snapshot_types.ts";
import { formatReboot, formatStatus } from "./status.ts";
import type { LabStatus } from "../lab/metrics.ts";

const STATUS: LabStatus = {
  name: "pair",
  source: "pair.yaml",
  seed: 1,
  startedAt: "2026-01-01T00:00:00.000Z",
  uptimeSeconds: 3,
  pid: 42,
  vms: [
    { name: "a", state: "running", nics: [], guestDrops: {} },
    {
      name: "b",
      state: "restarting",
      nics: [],
      guestDrops: {},
      reboot: { ms: 3000, phase: "boot", bootsInMs: 1240 },
    },
  ],
  switches: [],
  links: [],
  partitions: [],
};

Deno.test("status says where a VM's reboot after vm-crash is, and how long its guest still boots", () => {
  const text = formatStatus(STATUS);
  assert.match(
    text,
    /^ {2}b {2}rebooting after vm-crash: its devices are back with no driver, its guest boots in 1\.3 s \(--ms 3000\)$/m,
  );
  assert.equal(text.split("rebooting after").length, 2, "a is not rebooting");
});

Deno.test("each phase of a reboot after vm-crash reads as words", () => {
  assert.equal(
    formatReboot({ ms: 3000, phase: "power-on" }),
    "rebooting after vm-crash: its devices are powering on, then its guest boots for 3.0 s",
  );
  assert.equal(
    formatReboot({ ms: 0, phase: "power-on" }),
    "rebooting after vm-crash: its devices are powering on",
  );
  assert.equal(
    formatReboot({ ms: 0, phase: "guest-start" }),
    "rebooting after vm-crash: its guest is starting (its drivers bring its devices up)",
  );
  assert.equal(
    formatReboot({ ms: 500, phase: "boot", bootsInMs: 0 }),
    "rebooting after vm-crash: its devices are back with no driver, its guest boots in 0.1 s " +
      "(--ms 500)",
  );
  // A boot time under 50 ms, while the devices power on: it said "boots for 0.0 s".
  assert.equal(
    formatReboot({ ms: 30, phase: "power-on" }),
    "rebooting after vm-crash: its devices are powering on, then its guest boots for 0.1 s",
  );
  assert.deepEqual(
    [1, 30, 100, 1250, 3000].map((ms) => bootSeconds({ ms, phase: "power-on" })),
    ["0.1", "0.1", "0.1", "1.3", "3.0"],
  );
  // Rounded up, never 0.0 while it boots (it said "boots in 0.0 s" in the boot's last 50 ms).
  assert.deepEqual(
    [1, 49, 100, 101, 1240, 3000].map((bootsInMs) =>
      bootsInSeconds({ ms: 3000, phase: "boot", bootsInMs })
    ),
    ["0.1", "0.1", "0.1", "0.2", "1.3", "3.0"],
  );
});
