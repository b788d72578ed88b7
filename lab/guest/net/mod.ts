/**
 * The guest network stack: Ethernet II, ARP, IPv4, ICMP echo and UDP over injected
 * `NetInterface`s and a `Clock`. Build a `NetStack`, feed it frames with `input()`, call
 * `tick()` when its returned delay has passed and `onWritable()` when TX space comes back.
 *
 * @module
 */

export type { Result } from "../../../devices/base/result.ts";
export * from "./api.ts";
export * from "./arp.ts";
export * from "./counters.ts";
export * from "./ethernet.ts";
export * from "./icmp.ts";
export * from "./ipv4.ts";
export * from "./stack.ts";
export * from "./udp.ts";
export * from "./fragment.ts";
export * from "./loopback.ts";
export * from "./udp_sockets.ts";
export * from "./ping_once.ts";
