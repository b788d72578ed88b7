/**
 * The `udp-echo` workload: bind a port and send every datagram back to its source, until the
 * `-t` duration ends or the workload is aborted.
 *
 * @module
 */

import type { UdpEchoRequest } from "./args.ts";
import type { NetStack } from "../net/stack.ts";
import { serveUdp, type WorkloadError, type WorkloadOptions } from "./options.ts";
import { count } from "../../../devices/base/plural.ts";

/**
 * The result of `udp-echo`. `failed` counts echoes the stack could not send (ring full, no
 * route, ARP queue full).
 *
 * @example
 * ```ts
 * import type { UdpEchoResult } from "./udp_echo.ts";
 * const r: UdpEchoResult = { kind: "udp-echo", port: 7, received: 1, echoed: 1, failed: 0, bytes: 5, seconds: 1, text: "" };
 * ```
 */
export interface UdpEchoResult {
  /** The workload. */
  kind: "udp-echo";
  /** The UDP port it listened on. */
  port: number;
  /** Datagrams received. */
  received: number;
  /** Datagrams sent back. */
  echoed: number;
  /** Echoes the stack could not send (ring full, no route, ARP queue full). */
  failed: number;
  /** UDP payload bytes received. */
  bytes: number;
  /** From start to end of the service. */
  seconds: number;
  /** The summary people read (`--json` prints the whole object). */
  text: string;
}

/**
 * Run `udp-echo`.
 *
 * @example
 * ```ts
 * import { runUdpEcho } from "./udp_echo.ts";
 * // const r = await runUdpEcho(stack, { kind: "udp-echo", port: 7, seconds: 5 }, opts);
 * ```
 */
export async function runUdpEcho(
  stack: NetStack,
  args: UdpEchoRequest,
  opts: WorkloadOptions,
): Promise<UdpEchoResult | WorkloadError> {
  const r: UdpEchoResult = {
    kind: "udp-echo",
    port: args.port,
    received: 0,
    echoed: 0,
    failed: 0,
    bytes: 0,
    seconds: 0,
    text: "",
  };
  const served = await serveUdp(stack, args.port, args.seconds, (src, payload) => {
    r.received++;
    r.bytes += payload.length;
    const s = stack.udpSend(src, args.port, payload);
    if (s === "sent" || s === "arp-pending") r.echoed++;
    else r.failed++;
  }, opts);
  if (!served.ok) return served.error;
  r.seconds = served.seconds;
  r.text = `udp-echo on port ${r.port}: ${count(r.received, "datagram")} (${
    count(r.bytes, "byte")
  }) received, ${r.echoed} echoed, ${r.failed} failed, in ${r.seconds.toFixed(3)} s`;
  return r;
}
