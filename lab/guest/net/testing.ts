/**
 * Test doubles for the guest network stack: a fake clock, a fake `NetInterface` whose TX ring is
 * an array, and `BackToBack`, two stacks wired through a pair of those with a tiny simulated
 * event loop (`run`) that pumps frames, runs `tick()`, fires `sleep` timers and advances the
 * fake clock only when nothing else can happen. Used by the net and workload tests.
 *
 * @module
 */

import type { Clock, NetInterface } from "./stack.ts";
import { NetStack } from "./stack.ts";

/**
 * A clock the test advances by hand.
 *
 * @example
 * ```ts
 * import { FakeClock } from "./testing.ts";
 * const c = new FakeClock();
 * c.t += 5;
 * c.now(); // 5
 * ```
 */
export class FakeClock implements Clock {
  t = 0;
  now(): number {
    return this.t;
  }
}

/**
 * A `NetInterface` whose sent frames land in `outbox` (copies), with an optional ring bound.
 *
 * @example
 * ```ts
 * import { FakeInterface } from "./testing.ts";
 * const f = new FakeInterface({ mac: 1, ip: 0x0a000001 });
 * f.sendWith(2, (b) => b.fill(7));
 * f.outbox.length; // 1
 * ```
 */
export class FakeInterface implements NetInterface {
  readonly name = "eth0";
  readonly mac: Uint8Array;
  readonly ip: number | null;
  readonly prefix: number | null;
  readonly mtu: number;
  up = true;
  /** Frames the ring holds before `sendWith` returns false. */
  capacity: number;
  outbox: Uint8Array[] = [];
  refused = 0;

  constructor(
    o: { mac: number; ip: number | null; prefix?: number; mtu?: number; capacity?: number },
  ) {
    this.mac = new Uint8Array([2, 0, 0, 0, 0, o.mac]);
    this.ip = o.ip;
    this.prefix = o.ip === null ? null : (o.prefix ?? 24);
    this.mtu = o.mtu ?? 1500;
    this.capacity = o.capacity ?? Infinity;
  }

  linkUp(): boolean {
    return this.up;
  }

  sendWith(len: number, fill: (buf: Uint8Array) => void): boolean {
    if (this.outbox.length >= this.capacity) {
      this.refused++;
      return false;
    }
    const buf = new Uint8Array(len);
    fill(buf);
    this.outbox.push(buf);
    return true;
  }
}

/** One side of `BackToBack`. */
export interface Side {
  iface: FakeInterface;
  stack: NetStack;
}

/**
 * Rewrites the frames of one pump step in flight from `from` (drop, swap, corrupt).
 *
 * @example
 * ```ts
 * import type { Impair } from "./testing.ts";
 * const dropAll: Impair = () => [];
 * ```
 */
export type Impair = (frames: Uint8Array[], from: "a" | "b") => Uint8Array[];

/**
 * Two stacks, 10.0.0.1 (`a`) and 10.0.0.2 (`b`) on 10.0.0.0/24, wired back to back.
 *
 * @example
 * ```ts
 * import { BackToBack } from "./testing.ts";
 * const net = new BackToBack();
 * net.a.stack.udpSend({ ip: 0x0a000002, port: 9 }, 9, new Uint8Array(1)); // "arp-pending"
 * net.pump(); // ARP request, reply, then the datagram
 * ```
 */
export class BackToBack {
  readonly clock = new FakeClock();
  readonly a: Side;
  readonly b: Side;
  impair: Impair | null = null;
  /** Delivered frames, in order, for assertions (set to an array to record). */
  log: { from: "a" | "b"; frame: Uint8Array }[] | null = null;
  #timers: { at: number; resolve: () => void }[] = [];

  constructor(o: { capacity?: number; mtu?: number; seed?: number } = {}) {
    const mk = (n: number): Side => {
      const iface = new FakeInterface({ mac: n, ip: 0x0a000000 + n, ...o });
      const stack = new NetStack({
        interfaces: [iface],
        clock: this.clock,
        seed: (o.seed ?? 1) + n,
      });
      return { iface, stack };
    };
    this.a = mk(1);
    this.b = mk(2);
  }

  /** Deliver frames both ways until both outboxes are empty; returns the frames moved. */
  pump(maxRounds = 1000): number {
    let moved = 0;
    for (let round = 0; round < maxRounds; round++) {
      const n = this.#deliver(this.a, this.b, "a") + this.#deliver(this.b, this.a, "b");
      if (n === 0) break;
      moved += n;
    }
    return moved;
  }

  /** A `sleep` for workloads: resolves when the loop's clock reaches now + ms. */
  readonly sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => this.#timers.push({ at: this.clock.t + Math.max(0, ms), resolve }));

  /** A `yield` for workloads: resolves on the loop's next turn. */
  readonly yield = (): Promise<void> => this.sleep(0);

  /**
   * Drive the simulation until `p` settles: pump frames, tick both stacks, fire due timers, and
   * when nothing is runnable advance the clock to the next deadline. Throws after `maxSteps`.
   */
  async run<T>(p: Promise<T>, maxSteps = 100_000): Promise<T> {
    let done = false;
    p.then(() => done = true, () => done = true);
    let idle = 0;
    for (let step = 0; step < maxSteps; step++) {
      // Let pending continuations run (microtasks only: no real-time waits).
      for (let i = 0; i < 64; i++) await Promise.resolve();
      if (done) return await p;
      const moved = this.pump();
      const na = this.a.stack.tick();
      const nb = this.b.stack.tick();
      const fired = this.#fire();
      if (moved > 0 || fired > 0) continue;
      let next = Math.min(na, nb) + this.clock.t;
      for (const t of this.#timers) next = Math.min(next, t.at);
      if (next === Infinity) {
        // A tick may just have settled something: give it one more turn before giving up.
        if (++idle > 2) throw new Error("simulation deadlocked: nothing pending");
        continue;
      }
      idle = 0;
      this.clock.t = Math.max(this.clock.t, next);
    }
    throw new Error(`simulation did not settle in ${maxSteps} steps`);
  }

  #fire(): number {
    const due = this.#timers.filter((t) => t.at <= this.clock.t);
    this.#timers = this.#timers.filter((t) => t.at > this.clock.t);
    for (const t of due) t.resolve();
    return due.length;
  }

  #deliver(from: Side, to: Side, label: "a" | "b"): number {
    if (from.iface.outbox.length === 0) return 0;
    let frames = from.iface.outbox;
    from.iface.outbox = [];
    from.stack.onWritable(0);
    if (this.impair !== null) frames = this.impair(frames, label);
    for (const f of frames) {
      this.log?.push({ from: label, frame: f });
      to.stack.input(0, f);
    }
    return Math.max(1, frames.length);
  }
}
