/**
 * The UDP port table of the guest stack: one socket (handler) per bound port, as in Linux, and
 * ephemeral ports for senders that never bind one. The stack hands each received datagram to
 * the socket of its destination port. Runs on the guest worker's thread, inside the `NetStack`.
 *
 * @module
 */

import { err, ok, type Result } from "../../../devices/base/result.ts";
import type { UdpBindError, UdpHandler, UdpSocket } from "./api.ts";

/** The ephemeral range (IANA's, which most systems use). */
const EPHEMERAL_FIRST = 49152;
const EPHEMERAL_LAST = 65535;

/**
 * Bound UDP ports and their handlers.
 *
 * @example
 * ```ts
 * import { UdpSockets } from "./udp_sockets.ts";
 * const t = new UdpSockets();
 * t.bind(7, () => {}).ok; // true
 * t.bind(7, () => {}).ok; // false: port in use
 * ```
 */
export class UdpSockets {
  readonly #handlers = new Map<number, UdpHandler>();
  #nextEphemeral = 0;

  /** The handler bound to `port`, if any. */
  get(port: number): UdpHandler | undefined {
    return this.#handlers.get(port);
  }

  /** Bind a port (1..65535) that no other socket holds. */
  bind(port: number, handler: UdpHandler): Result<UdpSocket, UdpBindError> {
    if (!Number.isInteger(port) || port < 1 || port > 65535) return err({ kind: "bad-port", port });
    if (this.#handlers.has(port)) return err({ kind: "port-in-use", port });
    this.#handlers.set(port, handler);
    const handlers = this.#handlers;
    return ok({
      port,
      close() {
        if (handlers.get(port) === handler) handlers.delete(port);
      },
    });
  }

  /** Bind the next free port of the ephemeral range (at most one pass over the range). */
  bindEphemeral(handler: UdpHandler): Result<UdpSocket, UdpBindError> {
    const span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
    for (let i = 0; i < span; i++) {
      const port = EPHEMERAL_FIRST + ((this.#nextEphemeral + i) % span);
      if (this.#handlers.has(port)) continue;
      this.#nextEphemeral = (port - EPHEMERAL_FIRST + 1) % span;
      return this.bind(port, handler);
    }
    return err({ kind: "port-in-use", port: EPHEMERAL_FIRST });
  }
}
