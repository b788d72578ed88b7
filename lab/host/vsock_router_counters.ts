/**
 * The counters a vsock router publishes (as a switch's statistics, `switch_NAME`), in one place
 * for the router's worker and for those that name its metrics before a lab runs (a drill's
 * `metric()` check).
 *
 * @module
 */

/**
 * A vsock router's counters, all 0: packets forwarded; RSTs it answered for a CID no port has,
 * or a pair a partition cuts; packets whose source CID was not their port's (dropped); malformed
 * packets; peer-reset notices it passed on.
 *
 * @example
 * ```ts
 * import { newVsockRouterCounters } from "./vsock_router_counters.ts";
 * Object.keys(newVsockRouterCounters()).includes("forwarded"); // true
 * ```
 */
export function newVsockRouterCounters(): {
  forwarded: number;
  rstNoRoute: number;
  rstPartition: number;
  spoofed: number;
  malformed: number;
  peerResetNotices: number;
} {
  return {
    forwarded: 0,
    rstNoRoute: 0,
    rstPartition: 0,
    spoofed: 0,
    malformed: 0,
    peerResetNotices: 0,
  };
}
