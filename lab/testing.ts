/**
 * Helpers for tests that run real labs (`lab/*_test.ts`): start a lab from a topology object,
 * wait for a state with a deadline, and break a VM's transmit ring the way a buggy guest would.
 * Test support only; nothing in the lab imports it.
 *
 * @module
 */

import { SplitAvail } from "../devices/virtio/split_layout.ts";
import { kickQueue, QueueWord, queueWord } from "../devices/virtio/mmio.ts";
import { Lab, type LabStartOptions } from "./lab.ts";
import type { LabEvent } from "./events.ts";
import { planLab } from "./plan.ts";
import { topologyFromObject } from "./topology/mod.ts";
import { deviceControl } from "./wire/control.ts";
import { processState } from "./proc.ts";

/** Deno.test options for tests that start labs: workers and sockets outlive a test's ops. */
export const LAB_TEST = { sanitizeResources: false, sanitizeOps: false } as const;

/**
 * Run `fn` with `VLAB_STATE_DIR` set to a fresh temporary folder (so that its labs meet no other
 * test's), then put the variable back and remove the folder, whatever `fn` did.
 *
 * @example
 * ```ts ignore
 * import { inStateDir } from "./testing.ts";
 * await inStateDir("vlab-report-", async (dir) => console.log(dir));
 * ```
 */
export async function inStateDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix });
  const before = Deno.env.get("VLAB_STATE_DIR");
  Deno.env.set("VLAB_STATE_DIR", dir);
  try {
    return await fn(dir);
  } finally {
    if (before === undefined) Deno.env.delete("VLAB_STATE_DIR");
    else Deno.env.set("VLAB_STATE_DIR", before);
    await Deno.remove(dir, { recursive: true }).catch(() => {}); // gone already: nothing to do
  }
}

/**
 * Wait up to `ms` for process `pid` to be gone (exited and reaped, or a zombie its parent has not
 * reaped yet); true if it is. Reads `/proc` through `processState`, which needs no `--allow-all`.
 *
 * @example
 * ```ts
 * import { processGone } from "./testing.ts";
 * await processGone(Deno.pid, 0); // false: this process runs
 * ```
 */
export async function processGone(pid: number, ms: number): Promise<boolean> {
  const gone = () => {
    const state = processState(pid);
    return state === "gone" || state === "zombie";
  };
  const deadline = Date.now() + ms;
  // Bounded by the deadline.
  while (!gone() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return gone();
}

/**
 * Whether anything is at `path`: a file, a folder, a socket, even a link to nothing (`lstat`).
 * An error other than "not found" (no permission) is thrown, not taken for an answer.
 *
 * @example
 * ```ts
 * import { pathExists } from "./testing.ts";
 * pathExists("/"); // true
 * ```
 */
export function pathExists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Two hosts behind two switches joined by a trunk (`sw1-sw2`, `h1-sw1`, `h3-sw2`): the lab of
 * the tests of links between switches; `name` tells each test's lab apart.
 *
 * @example
 * ```ts
 * import { trunkLab } from "./testing.ts";
 * trunkLab("trunk").links.length; // 3
 * ```
 */
export function trunkLab(name: string) {
  return {
    name,
    seed: 1,
    vms: {
      h1: { nics: { eth0: { ip: "10.0.0.1/24" } } },
      h3: { nics: { eth0: { ip: "10.0.0.3/24" } } },
    },
    switches: { sw1: {}, sw2: {} },
    links: [
      { endpoints: ["sw1", "sw2"] },
      { endpoints: ["h1", "sw1"] },
      { endpoints: ["h3", "sw2"] },
    ],
  };
}

/**
 * Start a lab from a topology object (throws with the problems if it is invalid), with `options`
 * over a 20 s ready timeout.
 *
 * @example
 * ```ts ignore
 * const lab = await startTestLab({ name: "t", vms: { a: { nics: { eth0: {} } } } });
 * await lab.stop();
 * ```
 */
export async function startTestLab(
  object: Record<string, unknown>,
  options: LabStartOptions = {},
): Promise<Lab> {
  const t = topologyFromObject(object);
  if (!t.ok) throw new Error(`topology invalid: ${JSON.stringify(t.error)}`);
  return await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000, ...options });
}

/**
 * Start a lab from a topology object whose guest worker of VM `vm` fails as it receives its first
 * workload, posting `failure` (the worker's `failed` message: `message`, and a `hint` if any): a
 * stand-in for any guest failure after start, which no fault kind causes, seen by the lab exactly
 * as a real one.
 *
 * @example
 * ```ts ignore
 * const lab = await startLabWithFailingGuest(PAIR, "a", { message: "boom" });
 * await lab.exec("a", ["ping", "10.0.0.2"]); // answered with the failure
 * ```
 */
export async function startLabWithFailingGuest(
  object: Record<string, unknown>,
  vm: string,
  failure: { message: string; hint?: string },
): Promise<Lab> {
  const Real = globalThis.Worker;
  class FailingGuest extends Real {
    readonly name: string;
    constructor(url: string | URL, options?: WorkerOptions) {
      super(url, options);
      this.name = options?.name ?? "";
    }
    // deno-lint-ignore no-explicit-any
    override postMessage(m: any, options?: any): void {
      if (this.name === `guest ${vm}` && (m as { type?: string }).type === "exec") {
        const failed = new MessageEvent("message", { data: { type: "failed", ...failure } });
        setTimeout(() => this.onmessage?.(failed), 10);
        return;
      }
      super.postMessage(m, options);
    }
  }
  globalThis.Worker = FailingGuest;
  try {
    return await startTestLab(object);
  } finally {
    globalThis.Worker = Real;
  }
}

/**
 * Poll `probe` every 10 ms until it returns a non-null value; throw after `ms`.
 *
 * @example
 * ```ts ignore
 * const e = await waitForValue("an event", () => lab.events.recent()[0] ?? null);
 * ```
 */
export async function waitForValue<T>(
  what: string,
  probe: () => T | null | Promise<T | null>,
  ms = 5000,
): Promise<T> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    const v = await probe();
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/**
 * Wait (15 s at most) for VM `vm`'s reboot after a `vm-crash`: its `vm-restarted` event among the
 * events from index `from` on. A `vm-restart-failed` event fails at once, with its message.
 *
 * @example
 * ```ts ignore
 * const from = lab.events.recent().length;
 * await lab.fault({ kind: "vm-crash", vm: "b" });
 * (await vmRestarted(lab, "b", from)).detail?.downMs; // ms the VM was down
 * ```
 */
export async function vmRestarted(lab: Lab, vm: string, from: number): Promise<LabEvent> {
  const e = await waitForValue(
    `${vm}'s vm-restarted`,
    () =>
      lab.events.recent().slice(from).find((e) =>
        (e.kind === "vm-restarted" || e.kind === "vm-restart-failed") && e.subject === vm
      ) ?? null,
    15_000,
  );
  if (e.kind !== "vm-restarted") {
    throw new Error(`VM ${vm} did not restart: ${JSON.stringify(e.detail)}`);
  }
  return e;
}

/**
 * Where a VM's first NIC's transmitq (split) lives, from the register file its driver programmed.
 */
export function splitTxQueue(lab: Lab, vmName: string): { size: number; driverArea: number } {
  const vm = lab.plan.vms.find((v) => v.name === vmName);
  if (!vm) throw new RangeError(`no VM ${vmName}`);
  const regs = deviceControl(lab.controlOf(vm.index), vm.control.devices[0]).regs;
  return {
    size: regs[queueWord(1, QueueWord.SIZE)] >>> 0,
    driverArea: (regs[queueWord(1, QueueWord.DRIVER_LO)] >>> 0) +
      (regs[queueWord(1, QueueWord.DRIVER_HI)] >>> 0) * 2 ** 32,
  };
}

/**
 * Move a VM's transmitq `avail.idx` further ahead than the ring holds (virtio 1.2 §2.7.6: a
 * driver never makes more than `size` buffers available), and notify the queue, as a buggy guest
 * would. The device meets it at its next pass (it serves a transmitq on kicks, not by polling).
 * Host and guest are little-endian here.
 */
export function corruptTxAvailIdx(lab: Lab, vmName: string): void {
  const { size, driverArea } = splitTxQueue(lab, vmName);
  const u16 = new Uint16Array(lab.memoryOf(vmName));
  const idxAt = (driverArea + SplitAvail.IDX) >>> 1;
  Atomics.store(u16, idxAt, (Atomics.load(u16, idxAt) + size + 5) & 0xffff);
  const vm = lab.plan.vms.find((v) => v.name === vmName)!;
  kickQueue(deviceControl(lab.controlOf(vm.index), vm.control.devices[0]).regs, 1);
}

/**
 * `p`, or a failure naming `what` after `ms`: a test of something that must settle (a stop, a
 * recovery, a request) fails when it hangs instead of hanging the suite.
 *
 * @example
 * ```ts ignore
 * const r = await within(5000, "the lab's stop", lab.stop());
 * ```
 */
export async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) =>
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms)
  );
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Run `fn` with every `Worker` the main thread constructs meanwhile named in `made` while
 * `counting()` says so (the constructor blocks the main thread while the worker's runtime is
 * made: 10 to 105 ms each on a loaded 2-core machine). `globalThis.Worker` is put back after.
 *
 * @example
 * ```ts ignore
 * await countingWorkers(() => true, async (made) => {
 *   await lab.lab.fault({ kind: "vm-crash", vm: "b" });
 *   console.log(made); // ["guest b"]
 * });
 * ```
 */
export async function countingWorkers<T>(
  counting: () => boolean,
  fn: (made: string[]) => Promise<T>,
): Promise<T> {
  const made: string[] = [];
  const Original = globalThis.Worker;
  class Counted extends Original {
    constructor(url: string | URL, options?: WorkerOptions) {
      if (counting()) made.push(options?.name ?? String(url));
      super(url, options);
    }
  }
  globalThis.Worker = Counted;
  try {
    return await fn(made);
  } finally {
    globalThis.Worker = Original;
  }
}
