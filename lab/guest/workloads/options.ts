/**
 * What the guest worker hands every workload: the abort signal, the clock, and its ways to wait
 * (`yield` to let the worker's event loop run, `sleep` and `waitAtMost` for timed waits).
 * Workloads have no timers of their own, and await one wait at a time: the guest worker counts a
 * workload inside `sleep` or `waitAtMost` as parked, and lets its loop block while every workload
 * is (`../parking.ts`); two waits of one workload in parallel would count it parked after the
 * first ended.
 *
 * @module
 */

import type { Clock, NetStack, UdpHandler } from "../net/stack.ts";
import { formatIpv4, isBroadcast, networkOf } from "../net/ipv4.ts";
import type { VsockSockets } from "../../../devices/vsock/sockets.ts";

/** The vsock service a workload needs (the guest's socket table and a loop wake-up). */
export interface VsockWorkloadService {
  /** The socket table. */
  sockets: VsockSockets;
  /** Wake the guest loop after queueing packets. */
  wake: () => void;
  /** The lab's VMs with vsock by CID (for messages: "no VM has CID 7", "CID 4 is VM b"). */
  labCids?: ReadonlyMap<number, string>;
  /**
   * The CIDs of the VMs a vsock link or router joins this one to, when known: a connect to
   * another VM is refused by the topology, not by a missing listener.
   */
  joinedCids?: ReadonlySet<number>;
  /**
   * For each of those CIDs, the path that joins the two VMs, when known: `the vsock link a-b`, or
   * `vsock router r and its links a-r and b-r` (a refusal's hint names it).
   */
  joinedPaths?: ReadonlyMap<number, string>;
}

/** What the iommu kind offers a workload (`iommu-unmap`). */
export interface IommuWorkloadService {
  /**
   * Revoke the window of the named device; resolves with the ms the request took and which
   * request it was (`UNMAP` of a static window, `DETACH` of the endpoint in the other modes;
   * `UNMAP` when not said), or why it could not (with a hint of its own when the name was not at
   * fault).
   */
  revoke(
    device: string,
  ): Promise<
    { ok: true; ms: number; request?: "UNMAP" | "DETACH" } | {
      ok: false;
      message: string;
      hint?: string;
    }
  >;
}

/**
 * Options passed to every workload by the guest worker.
 *
 * @example
 * ```ts
 * import type { WorkloadOptions } from "./options.ts";
 * let t = 0;
 * const opts: WorkloadOptions = {
 *   signal: new AbortController().signal,
 *   clock: { now: () => t },
 *   yield: () => Promise.resolve(),
 *   sleep: (ms) => { t += ms; return Promise.resolve(); },
 *   waitAtMost: (_ms, settled) => settled.then(() => true),
 * };
 * ```
 */
export interface WorkloadOptions {
  signal: AbortSignal;
  clock: Clock;
  /** Resolves after the worker's event loop ran (frames received, `tick()` run). */
  yield: () => Promise<void>;
  /** Resolves after `ms` milliseconds of the worker's clock. */
  sleep: (ms: number) => Promise<void>;
  /**
   * Wait for `settled` at most `ms` milliseconds: true if it settled first, false if the time
   * ran out. A timer that lost the race is cleared (a flood waits for TX room hundreds of times a
   * second, and a left-over timer would fire later for nothing).
   */
  waitAtMost: (ms: number, settled: Promise<unknown>) => Promise<boolean>;
  /** The VM's vsock socket table, when it has a vsock device. */
  vsock?: VsockWorkloadService;
  /** The VM's vIOMMU, when it has one. */
  iommu?: IommuWorkloadService;
  /**
   * Where the workload says a line of its output as it happens (a ping's reply, as iputils
   * prints it), present only while somebody listens (`vlab exec` in text mode, a script's
   * `onLine`): absent, the workload says nothing and pays nothing. The lines it says are, in
   * order, the first lines of its result's `text` (the summary that follows is said only there),
   * so a listener that printed them prints the rest of `text` and no line twice. Say a line per
   * event a user waits for, never one per frame: each is a message to the main thread.
   */
  onLine?: (line: string, progress?: WorkloadProgress) => void;
  /**
   * Where the workload says its counts so far, present only beside `onLine`: a ping says them
   * with each request it sends and each reply it gets ({@linkcode PingProgress}). They let the
   * lab answer what a workload had done when its guest can no longer answer (a `vm-crash`
   * terminates it mid-run): a ping's statistics of the requests sent and the replies heard, as
   * iputils prints them when interrupted. Counts that an event with a line changed (a reply, a
   * failed send) go with that line, as `onLine`'s `progress`, not here: the line and its counts
   * reach the lab in one message, so that a crash between them cannot print a reply that the
   * statistics do not count.
   */
  onProgress?: (progress: WorkloadProgress) => void;
}

/**
 * A ping's counts so far (`onProgress`): its destination, the requests it sent, the late and
 * duplicate replies, and the reply that came in time just now, if that is the news.
 *
 * @example
 * ```ts
 * import type { PingProgress } from "./options.ts";
 * const p: PingProgress = { kind: "ping", dst: "10.0.0.2", transmitted: 2, late: 0, duplicates: 0, elapsedMs: 1000, reply: { seq: 2, rttMs: 0.3 } };
 * ```
 */
export interface PingProgress {
  /** The workload whose counts these are. */
  kind: "ping";
  /** The destination, as the summary names it. */
  dst: string;
  /** Echo requests it sent so far (those a failed send ended included). */
  transmitted: number;
  /** Replies that came after their `-W` (counted, not received in time). */
  late: number;
  /** Replies to a request already answered (`(DUP!)`). */
  duplicates: number;
  /** Milliseconds since the ping started, by the guest's clock. */
  elapsedMs: number;
  /** A reply within its `-W`: the news of this progress (absent for a request sent). */
  reply?: { seq: number; rttMs: number };
}

/**
 * What a workload says with `onProgress` (only `ping` says any).
 *
 * @example
 * ```ts
 * import type { WorkloadProgress } from "./options.ts";
 * const p: WorkloadProgress = { kind: "ping", dst: "10.0.0.2", transmitted: 1, late: 0, duplicates: 0, elapsedMs: 0 };
 * ```
 */
export type WorkloadProgress = PingProgress;

/**
 * The guest worker's `sleep`: resolve after `ms`, arming the timer only once the microtasks
 * queued before the call have run. A workload that sends and then sleeps (ping on its interval)
 * has its frame published and kicked by such a microtask (the sender's kick while the guest's
 * loop waits); arming a timer costs Deno 40–65 µs after a quiet spell on our VMs, and the kick
 * must not wait behind it. `setTimer` is the timer to arm (a test passes its own).
 *
 * @example
 * ```ts
 * import { sleepAfterPending } from "./options.ts";
 * await sleepAfterPending(1); // about a millisecond (timers here run up to a few ms late)
 * ```
 */
export function sleepAfterPending(
  ms: number,
  setTimer: (fn: () => void, ms: number) => ReturnType<typeof setTimeout> = setTimeout,
): Promise<void> {
  return Promise.resolve().then(() => new Promise<void>((resolve) => setTimer(resolve, ms)));
}

/**
 * The guest worker's `waitAtMost`: true once `settled` settles (fulfilled or rejected), false
 * after `ms`. The timer (`setTimer`, `clearTimer`: a test passes its own) is armed as by
 * {@linkcode sleepAfterPending} (after the pending microtasks), not at all if `settled` won
 * before that, and cleared if `settled` wins later. There is no `AbortController` in it: aborting
 * one builds a `DOMException` with its stack, 7–8 % of a flooding guest's time when each full
 * ring did it.
 *
 * @example
 * ```ts
 * import { waitAtMostAfterPending } from "./options.ts";
 * await waitAtMostAfterPending(10_000, Promise.resolve()); // true at once; no timer left armed
 * ```
 */
export function waitAtMostAfterPending(
  ms: number,
  settled: Promise<unknown>,
  setTimer: (fn: () => void, ms: number) => ReturnType<typeof setTimeout> = setTimeout,
  clearTimer: (id: ReturnType<typeof setTimeout>) => void = clearTimeout,
): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const won = () => {
      if (done) return;
      done = true;
      if (timer !== undefined) clearTimer(timer);
      resolve(true);
    };
    settled.then(won, won);
    Promise.resolve().then(() => {
      if (done) return;
      timer = setTimer(() => {
        if (done) return;
        done = true;
        resolve(false);
      }, ms);
    });
  });
}

/**
 * A workload that could not run (no route, port in use, frame larger than the MTU…).
 *
 * @example
 * ```ts
 * import type { WorkloadError } from "./options.ts";
 * const e: WorkloadError = { kind: "error", message: "Cannot bind UDP port 7: in use", hint: "Pick another port with -p" };
 * ```
 */
export interface WorkloadError {
  kind: "error";
  message: string;
  hint: string;
  /**
   * The error code a script can branch on, when this failure has its own: `no-such-cid` (a
   * `vsock-send` to a CID that no VM of the lab has). Without one it is `workload-failed`.
   */
  code?: WorkloadErrorCode;
  /**
   * The CID of the other VM whose vsock device refused the connection (RST): the lab, which knows
   * that VM's state, says why when it can (one rebooting after `vm-crash` has no driver yet).
   */
  refusedBy?: number;
}

/** The codes of workload failures that have their own (`WorkloadError.code`). */
export type WorkloadErrorCode = "no-such-cid";

/**
 * Wait until `deadline` (clock ms; null = forever) or the abort, whichever comes first: one timer
 * to the deadline (or one a minute without one), which the abort ends at once. A sleeping guest
 * then wakes once for it: waits of 100 ms steps woke a pinging guest ten times a second between
 * pings a second apart, and a UDP server's guest ten times a second for as long as it served.
 *
 * @example
 * ```ts
 * import { waitUntil } from "./options.ts";
 * // await waitUntil(opts, opts.clock.now() + 1000);
 * ```
 */
export function waitUntil(opts: WorkloadOptions, deadline: number | null): Promise<void> {
  return waitFor(opts, () => false, deadline, null);
}

/**
 * Ends a workload's {@linkcode waitFor} when an event may have made its condition true: the
 * event's handler calls `ring`, the wait checks its condition again. A ring with nobody waiting
 * is dropped (the condition is checked before every wait).
 *
 * @example
 * ```ts
 * import { Changes } from "./options.ts";
 * const changes = new Changes();
 * const next = changes.next();
 * changes.ring(); // `next` resolves
 * await next;
 * ```
 */
export class Changes {
  #wake: (() => void) | null = null;

  /** End the wait on the latest {@linkcode Changes.next} (bound: pass it as a handler). */
  readonly ring = (): void => {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  };

  /** A promise the next `ring` resolves. */
  next(): Promise<void> {
    return new Promise<void>((resolve) => (this.#wake = resolve));
  }
}

/**
 * Wait until `done()`, `deadline` (clock ms; null = forever) or the abort, whichever comes first,
 * checking `done` again only when `changes` rings (null: never; `done` is then checked at the
 * deadline). One timer to the deadline (a minute at most), which a ring or the abort ends at once:
 * a guest waiting on a socket's event sleeps until the event, where waits of 1 ms steps woke it
 * about 600 times a second (a `vsock-echo` server cost an idle lab 6 % of a core).
 *
 * @example
 * ```ts
 * import { Changes, waitFor } from "./options.ts";
 * // const changes = new Changes();
 * // conn.onEvent = changes.ring;
 * // await waitFor(opts, () => conn.state === "closed", opts.clock.now() + 5000, changes);
 * ```
 */
export async function waitFor(
  opts: WorkloadOptions,
  done: () => boolean,
  deadline: number | null,
  changes: Changes | null,
): Promise<void> {
  if (opts.signal.aborted || done()) return;
  let onAbort = () => {};
  const aborted = new Promise<void>((resolve) => (onAbort = resolve));
  opts.signal.addEventListener("abort", onAbort, { once: true });
  try {
    while (!opts.signal.aborted && !done()) {
      const left = deadline === null ? UNTIL_STEP_MS : deadline - opts.clock.now();
      if (left <= 0) return;
      const ends = changes === null ? aborted : Promise.race([aborted, changes.next()]);
      await opts.waitAtMost(Math.min(left, UNTIL_STEP_MS), ends);
    }
  } finally {
    // A long run waits thousands of times on one signal: leave no listener behind.
    opts.signal.removeEventListener("abort", onAbort);
  }
}

/**
 * The longest single wait of {@linkcode waitFor}, ms: a wait without a deadline re-arms its
 * timer this often (a timer may not be armed for longer than 2³¹ − 1 ms).
 */
const UNTIL_STEP_MS = 60_000;

/**
 * The error of a network workload (`ping`, `udp-flood`, `sink`, `udp-echo`) run in a VM with no
 * network interface (a VM with vsock only), or null when it has one: it has no address to send
 * from or to be reached at ("no interface's subnet holds it" sent the user to addresses it has
 * none of, and a `sink` there waited its time for nothing).
 *
 * @example
 * ```ts ignore
 * noInterface(stack, "ping 10.0.0.2")?.message; // "Cannot ping 10.0.0.2: this VM has no network interface"
 * ```
 */
export function noInterface(stack: NetStack, what: string): WorkloadError | null {
  if (stack.interfaces.length > 0) return null;
  return {
    kind: "error",
    message: `Cannot ${what}: this VM has no network interface`,
    hint: "Give it a NIC (`nics:` in the topology); over vsock run vsock-send, vsock-sink or " +
      "vsock-echo",
  };
}

/**
 * The error of a `ping` or `udp-flood` sent to a broadcast address of one of the VM's interfaces
 * (10.0.0.255 in 10.0.0.0/24, or 255.255.255.255), or null: the guest's stack sends to one
 * address at a time, so such a run asked ARP for the broadcast address, waited a second and said
 * "ARP got no reply; check that the peer is up" (Linux's `ping` asks for `-b`; a UDP socket needs
 * `SO_BROADCAST`).
 *
 * @example
 * ```ts ignore
 * broadcastDestination(stack, 0x0a0000ff, "ping 10.0.0.255")?.message;
 * // "Cannot ping 10.0.0.255: it is the broadcast address of eth0's subnet 10.0.0.0/24"
 * ```
 */
export function broadcastDestination(
  stack: NetStack,
  dst: number,
  what: string,
): WorkloadError | null {
  const hint = "vlab's guests send to one address at a time: give one VM's address";
  if ((dst >>> 0) === 0xffffffff) {
    return { kind: "error", message: `Cannot ${what}: it is the limited broadcast address`, hint };
  }
  for (const f of stack.interfaces) {
    if (f.ip === null || f.prefix === null || !isBroadcast(dst, f.ip, f.prefix)) continue;
    const net = networkOf(f.ip, f.prefix);
    return {
      kind: "error",
      message: `Cannot ${what}: it is the broadcast address of ${f.name}'s subnet ${
        formatIpv4(net)
      }/${f.prefix}`,
      hint,
    };
  }
  return null;
}

/**
 * Serve a UDP port for `seconds` (null: until aborted): bind `handler`, wait, close. Returns the
 * seconds served, or the one-line error a workload reports when the port cannot be bound.
 *
 * @example
 * ```ts
 * import { serveUdp } from "./options.ts";
 * // const served = await serveUdp(stack, 7, 5, (src, payload) => {}, opts);
 * ```
 */
export async function serveUdp(
  stack: NetStack,
  port: number,
  seconds: number | null,
  handler: UdpHandler,
  opts: WorkloadOptions,
): Promise<{ ok: true; seconds: number } | { ok: false; error: WorkloadError }> {
  const none = noInterface(stack, `bind UDP port ${port}`);
  if (none !== null) return { ok: false, error: none };
  const bound = stack.udpBind(port, handler);
  if (!bound.ok) {
    return {
      ok: false,
      error: {
        kind: "error",
        message: `Cannot bind UDP port ${port}: ${bound.error.kind.replaceAll("-", " ")}`,
        hint: "Pick another port with -p",
      },
    };
  }
  const start = opts.clock.now();
  try {
    await waitUntil(opts, seconds === null ? null : start + seconds * 1000);
  } finally {
    bound.value.close();
  }
  return { ok: true, seconds: (opts.clock.now() - start) / 1000 };
}

/**
 * A workload's rates for its text: `N pps, G Gbit/s`, or, when its clock did not move while it ran
 * (a few datagrams within the clock's step), that it was too short to give one: not "0 pps".
 *
 * @example
 * ```ts
 * import { rateText } from "./options.ts";
 * rateText(2, 1000, 0.000512); // "1000 pps, 0.001 Gbit/s"
 * rateText(0, 0, 0); // "too short to measure a rate"
 * ```
 */
export function rateText(seconds: number, pps: number, gbitPerSecond: number): string {
  return seconds > 0
    ? `${Math.round(pps)} pps, ${gbitPerSecond.toFixed(3)} Gbit/s`
    : "too short to measure a rate";
}
