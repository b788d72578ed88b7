/**
 * Test fixtures for `vm_reboot.ts`: the reboot's shared parts of a shipped topology, and a
 * {@linkcode CrashHost} whose lab does nothing unless a test says otherwise.
 *
 * @module
 */

import assert from "node:assert/strict";
import { initRegFile } from "../devices/virtio/mmio.ts";
import { EventLog } from "./events.ts";
import { planLab } from "./plan.ts";
import { parseTopology } from "./topology/load.ts";
import type { CrashHost, RebootParts } from "./vm_reboot.ts";
import { deviceControl } from "./wire/control.ts";
import { createDoorbells } from "./wire/doorbell.ts";
import type { WorkerSet } from "./workers.ts";

/**
 * The plan, control blocks (register files initialised) and doorbells of `topologies/NAME.yaml`.
 *
 * @example
 * ```ts
 * import { rebootParts } from "./vm_reboot_testing.ts";
 * rebootParts("pair").plan.vms.length; // 2
 * ```
 */
export function rebootParts(name: string): RebootParts {
  const file = `${name}.yaml`;
  const text = Deno.readTextFileSync(new URL(`../topologies/${file}`, import.meta.url));
  const t = parseTopology(text, file);
  assert.ok(t.ok);
  const plan = planLab(t.value);
  const controls = plan.vms.map((v) => new SharedArrayBuffer(v.controlBytes));
  plan.vms.forEach((v, i) =>
    v.control.devices.forEach((slot) => {
      initRegFile(deviceControl(controls[i], slot).regs, slot.queueState.length);
    })
  );
  return { plan, controls, bells: createDoorbells(plan.threads.length) };
}

/**
 * A crash host over `parts`: no worker to take or find, devices power-cycled at once, a guest
 * booted at once, every link up, no partition; `over` replaces what a test watches.
 */
export function fakeCrashHost(parts: RebootParts, over: Partial<CrashHost> = {}): CrashHost {
  return {
    parts,
    workers: {
      take: () => undefined,
      find: () => undefined,
      postControl: () => {},
      answerPending: () => {},
    } as unknown as WorkerSet,
    events: new EventLog(null),
    rebooting: new Map(),
    iommuOf: () => null,
    powerCycle: (_vm, between) => between(),
    bootMs: 0,
    wait: (ms) => new Promise((resolve) => setTimeout(resolve, Math.ceil(ms))),
    bootGuest: () => Promise.resolve(),
    stopped: () => false,
    linkUp: () => true,
    carrier: () => {},
    cuts: () => [],
    ...over,
  };
}
