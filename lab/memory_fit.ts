/**
 * Does a lab plan fit this machine's memory? Every start asks before anything starts (`vlab up`,
 * a drill, a script's `startLab`: `launchLab` refuses a plan that cannot fit), and
 * `vlab up --dry-run` prints the answer under the plan.
 *
 * A lab reserves its shared memory (guest memory, control blocks, link rings) up front; pages are
 * committed only when touched, so a plan above the memory *available* may still run, but a plan
 * above the machine's *total* memory cannot: guests that use their memory would be killed by the
 * kernel. So: above total is an error, above available is a warning. Each worker (two per VM, one
 * per switch or router) also costs its own memory, a V8 isolate's heap and a thread's stack, about
 * {@linkcode WORKER_BYTES}: in a large lab as much as its shared memory, so the plan counts it.
 *
 * @module
 */

import { LabError } from "./errors.ts";
import { count } from "../devices/base/plural.ts";
import { quote } from "../devices/base/quote.ts";

/** The machine's memory, bytes (what `Deno.systemMemoryInfo()` returns, in part). */
export interface MachineMemory {
  /** All memory of the machine. */
  total: number;
  /** Memory that can be used without swapping. */
  available: number;
}

/**
 * A worker's own memory, bytes, beside the shared memory: 8 MiB. Measured on a running 64-VM
 * star (129 workers): about 1 GiB of V8 heap pages, stacks and per-isolate mappings, 8 MiB each.
 */
export const WORKER_BYTES = 8 * 2 ** 20;

/** The verdict on a plan: it fits, fits only if it does not touch all its pages, or does not. */
export interface MemoryFit {
  /** `fits`, `tight` (more than available, less than total) or `too-big` (more than total). */
  verdict: "fits" | "tight" | "too-big";
  /** One line for the dry-run: the plan's shared memory against the machine's. */
  line: string;
}

/**
 * Bytes in MiB as the plan says them (`formatPlan`'s "33.5 MiB of shared memory reserved"): whole
 * MiB without a decimal, else one; 0 is "0 MiB", and less than a tenth of a MiB is in KiB (never
 * "0.0 MiB" for memory that is there).
 *
 * @example
 * ```ts
 * import { mibText } from "./memory_fit.ts";
 * mibText(33.5 * 2 ** 20); // "33.5 MiB"
 * mibText(0); // "0 MiB"
 * mibText(100); // "1 KiB"
 * ```
 */
export function mibText(bytes: number): string {
  if (bytes > 0 && bytes < 0.05 * 2 ** 20) return `${Math.max(1, Math.round(bytes / 1024))} KiB`;
  return `${(bytes / 2 ** 20).toFixed(bytes % 2 ** 20 === 0 ? 0 : 1)} MiB`;
}

function gib(bytes: number): string {
  const g = bytes / 2 ** 30;
  // Under a GiB in MiB, as the plan's lines above it say them (it rounded to whole MiB, and at
  // least 1: an empty lab's "0 MiB reserved" was "1 MiB planned", a pair's 33.5 MiB "34 MiB").
  if (g < 1) return mibText(bytes);
  return `${g >= 10 ? g.toFixed(0) : g.toFixed(1)} GiB`;
}

/** The memory a plan needs: its shared memory and its workers' own memory. */
function planned(sharedBytes: number, workers: number): { bytes: number; text: string } {
  const own = workers * WORKER_BYTES;
  const text = workers === 0
    ? `${gib(sharedBytes)} of shared memory`
    : `${gib(sharedBytes + own)} (${gib(sharedBytes)} of shared memory, ${gib(own)} for ${
      count(workers, "worker")
    })`;
  return { bytes: sharedBytes + own, text };
}

/**
 * Compare a plan's memory (its shared memory, and {@linkcode WORKER_BYTES} for each of its
 * `workers`) with the machine's memory.
 *
 * @example
 * ```ts
 * import { memoryFit } from "./memory_fit.ts";
 * memoryFit(205 * 2 ** 30, { total: 23 * 2 ** 30, available: 21 * 2 ** 30 }).verdict; // "too-big"
 * memoryFit(2 ** 30, { total: 23 * 2 ** 30, available: 21 * 2 ** 30 }, 129).line;
 * // "2.0 GiB planned (1.0 GiB of shared memory, 1.0 GiB for 129 workers); this machine has …"
 * ```
 */
export function memoryFit(sharedBytes: number, machine: MachineMemory, workers = 0): MemoryFit {
  const plan = planned(sharedBytes, workers);
  const head = `${plan.text} planned; this machine has ${gib(machine.total)} (${
    gib(machine.available)
  } available)`;
  if (plan.bytes > machine.total) {
    return {
      verdict: "too-big",
      line: `${head}: the plan does not fit, \`vlab up\` refuses it (not-enough-memory)`,
    };
  }
  if (plan.bytes > machine.available) {
    return {
      verdict: "tight",
      line: `${head}: warning: it fits only while the guests leave most of it untouched`,
    };
  }
  return { verdict: "fits", line: head };
}

/**
 * The error a start stops with when the plan cannot fit (more than the machine's total), or null.
 *
 * @example
 * ```ts
 * import { memoryFitError } from "./memory_fit.ts";
 * memoryFitError("big", 2 ** 40, { total: 2 ** 34, available: 2 ** 33 })?.code;
 * // "not-enough-memory"
 * ```
 */
export function memoryFitError(
  lab: string,
  sharedBytes: number,
  machine: MachineMemory,
  workers = 0,
): LabError | null {
  if (memoryFit(sharedBytes, machine, workers).verdict !== "too-big") return null;
  return new LabError(
    "not-enough-memory",
    `Cannot start lab ${quote(lab)}: it plans ${
      planned(sharedBytes, workers).text
    } and this machine ` +
      `has ${gib(machine.total)}`,
    "Use fewer VMs or less `memory` per VM; `vlab up --dry-run` shows the plan",
  );
}

/**
 * This machine's memory, or null where the runtime cannot tell.
 *
 * @example
 * ```ts
 * import { machineMemory } from "./memory_fit.ts";
 * machineMemory()?.total; // e.g. 24696061952
 * ```
 */
export function machineMemory(): MachineMemory | null {
  const m = machineMemoryOrWhyNot();
  return "reason" in m ? null : m;
}

/**
 * This machine's memory, or why the runtime cannot tell (`no permission to read it: …` without
 * `--allow-sys`), for a start that says it skips its memory check.
 *
 * @example
 * ```ts
 * import { machineMemoryOrWhyNot } from "./memory_fit.ts";
 * const m = machineMemoryOrWhyNot();
 * "reason" in m ? m.reason : m.total; // without --allow-sys: "no permission to read it (…)"
 * ```
 */
export function machineMemoryOrWhyNot(): MachineMemory | { reason: string } {
  try {
    const info = Deno.systemMemoryInfo();
    return { total: info.total, available: info.available };
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      return { reason: "no permission to read it (run with --allow-sys)" };
    }
    return { reason: `the runtime cannot tell it: ${e instanceof Error ? e.message : String(e)}` };
  }
}
