/**
 * One echo request and its outcome, on a ping socket of its own: a convenience over
 * `NetStack.pingOpen` for tests and scripts that want a single answer (the `ping` workload
 * drives a socket itself). Time comes from the caller's clock and `sleep`, as for workloads.
 *
 * @module
 */

import type { Clock, PingOutcome } from "./api.ts";
import type { NetStack } from "./stack.ts";

/**
 * Send one echo request of `size` payload bytes (default 56) and resolve with its reply, or a
 * timeout after `timeoutMs` (default 1000). Concurrent calls never take each other's replies:
 * each has its own ICMP identifier.
 *
 * @example
 * ```ts
 * import { pingOnce } from "./ping_once.ts";
 * // const o = await pingOnce(stack, 0x0a000002, { seq: 1, clock, sleep });
 * ```
 */
export function pingOnce(
  stack: NetStack,
  dst: number,
  opts: {
    seq: number;
    size?: number;
    timeoutMs?: number;
    clock: Clock;
    sleep: (ms: number) => Promise<void>;
  },
): Promise<PingOutcome> {
  const seq = opts.seq & 0xffff;
  let settle: ((o: PingOutcome) => void) | null = null;
  const sentAt = opts.clock.now();
  const opened = stack.pingOpen((r) => {
    if (r.seq !== seq) return;
    const rttMs = opts.clock.now() - sentAt;
    settle?.({ kind: "reply", seq, rttMs, ttl: r.ttl, bytes: r.bytes });
  });
  if (!opened.ok) return Promise.resolve({ kind: "send-failed", seq, reason: "ring-full" });
  const socket = opened.value;
  const sent = socket.send(dst, { seq, size: opts.size });
  if (sent !== "sent" && sent !== "arp-pending") {
    socket.close();
    return Promise.resolve({ kind: "send-failed", seq, reason: sent });
  }
  return new Promise<PingOutcome>((resolve) => {
    settle = (o) => {
      settle = null;
      socket.close();
      resolve(o);
    };
    opts.sleep(opts.timeoutMs ?? 1000).then(() => settle?.({ kind: "timeout", seq }));
  });
}
