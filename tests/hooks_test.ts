/**
 * The lab's workers use the transport's hooks and the spec's named constants, not side doors:
 * the guest acknowledges interrupts with `readInterruptStatus`/`ackInterrupt`, reads config
 * fields under the config generation (`readConfigStable`), and the device rings the guest
 * through `MmioDeviceOptions.onInterrupt`; device ids, config offsets, status bits and queue
 * indices are named. A bypass reappearing in a worker file fails here, naming the file and line.
 *
 * @module
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const WORKER_DIRS = ["lab/guest", "lab/guest/kinds", "lab/host", "lab/host/kinds"];

/** The worker-side source files (not tests). */
function workerFiles(): string[] {
  const out: string[] = [];
  for (const dir of WORKER_DIRS) {
    for (const e of Deno.readDirSync(join(ROOT, dir))) {
      if (e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) {
        out.push(`${dir}/${e.name}`);
      }
    }
  }
  return out.sort();
}

const BYPASSES: { pattern: RegExp; instead: string }[] = [
  {
    pattern: /Atomics\.exchange\([^)]*INTERRUPT_STATUS/,
    instead: "readInterruptStatus/ackInterrupt",
  },
  { pattern: /deviceId:\s*\d/, instead: "DeviceId.<KIND>" },
  { pattern: /MmioReg\.CONFIG\s*\+\s*\d/, instead: "a named config offset (NetConfigOffset…)" },
  { pattern: /&\s*0x40\b/, instead: "Status.DEVICE_NEEDS_RESET" },
  { pattern: /kickQueue\([^,]+,\s*\d\)/, instead: "a named queue index (NetQueue…)" },
  {
    pattern: /transport\.queues\[\d\]|=\s*\w+\.transport\.queues;/,
    instead: "a named queue index",
  },
];

Deno.test("worker files use the transport hooks and named constants, not bare numbers", () => {
  const bad: string[] = [];
  const files = workerFiles();
  assert.ok(files.length >= 4, `found only ${files.length} worker files`);
  for (const file of files) {
    const lines = Deno.readTextFileSync(join(ROOT, file)).split("\n");
    lines.forEach((line, i) => {
      for (const { pattern, instead } of BYPASSES) {
        if (pattern.test(line)) bad.push(`${file}:${i + 1}: ${line.trim()} (use ${instead})`);
      }
    });
  }
  assert.deepEqual(bad, [], bad.join("\n"));
});

Deno.test("the net slices use onInterrupt, ackInterrupt and readConfigStable", () => {
  const guest = Deno.readTextFileSync(join(ROOT, "lab/guest/kinds/net.ts"));
  // The host slices get their transport (and its onInterrupt) from one helper, fresh or restored.
  const host = Deno.readTextFileSync(join(ROOT, "lab/host/kinds/transport.ts"));
  for (const hook of ["readInterruptStatus(", "ackInterrupt(", "readConfigStable("]) {
    assert.ok(guest.includes(hook), `lab/guest/kinds/net.ts does not call ${hook}`);
  }
  assert.ok(host.includes("onInterrupt:"), "lab/host/kinds/transport.ts does not set onInterrupt");
  const net = Deno.readTextFileSync(join(ROOT, "lab/host/kinds/net.ts"));
  assert.ok(net.includes("openTransport("), "lab/host/kinds/net.ts does not use openTransport");
});
