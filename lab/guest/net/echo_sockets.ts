/**
 * ICMP echo sockets: the demultiplexer that gives each pinger its own echo replies, as Linux's
 * ping sockets do. Each open socket holds a distinct 16-bit ICMP identifier; the stack hands an
 * echo reply to the socket whose identifier it carries, and counts a reply that matches none.
 * Runs on the guest worker's thread, inside the `NetStack`.
 *
 * @module
 */

import { err, ok, type Result } from "../../../devices/base/result.ts";

/**
 * One echo reply as a ping socket receives it (reused object: copy what you keep).
 *
 * @example
 * ```ts
 * import type { EchoReply } from "./echo_sockets.ts";
 * const r: EchoReply = { seq: 1, ttl: 64, bytes: 64, src: 0x0a000002 };
 * ```
 */
export interface EchoReply {
  seq: number;
  ttl: number;
  /** The ICMP message length (header plus payload), as iputils prints it. */
  bytes: number;
  src: number;
}

/**
 * Called for each echo reply carrying the socket's identifier.
 *
 * @example
 * ```ts
 * import type { EchoReplyHandler } from "./echo_sockets.ts";
 * const h: EchoReplyHandler = (r) => console.log(r.seq);
 * ```
 */
export type EchoReplyHandler = (reply: EchoReply) => void;

/**
 * Why no ping socket could be opened.
 *
 * @example
 * ```ts
 * import type { EchoOpenError } from "./echo_sockets.ts";
 * const e: EchoOpenError = { kind: "no-free-identifier", open: 65536 };
 * ```
 */
export type EchoOpenError = { kind: "no-free-identifier"; open: number };

/** Every identifier is in use at 65536 open sockets. */
const ID_SPACE = 0x10000;

/**
 * The table of open ping sockets, keyed by ICMP identifier.
 *
 * @example
 * ```ts
 * import { EchoSockets } from "./echo_sockets.ts";
 * const t = new EchoSockets(7);
 * const a = t.open(() => {});
 * const b = t.open(() => {});
 * a.ok && b.ok && a.value !== b.value; // true
 * ```
 */
export class EchoSockets {
  readonly #handlers = new Map<number, EchoReplyHandler>();
  #next: number;

  /** @param firstId the first identifier handed out (seeded by the stack) */
  constructor(firstId: number) {
    this.#next = firstId & 0xffff;
  }

  /** How many sockets are open. */
  get size(): number {
    return this.#handlers.size;
  }

  /** Reserve a free identifier for `handler` (at most 65536 probes). */
  open(handler: EchoReplyHandler): Result<number, EchoOpenError> {
    for (let i = 0; i < ID_SPACE; i++) {
      const id = (this.#next + i) & 0xffff;
      if (this.#handlers.has(id)) continue;
      this.#handlers.set(id, handler);
      this.#next = (id + 1) & 0xffff;
      return ok(id);
    }
    return err({ kind: "no-free-identifier", open: this.#handlers.size });
  }

  /** Release `id` if `handler` still holds it. */
  close(id: number, handler: EchoReplyHandler): void {
    if (this.#handlers.get(id) === handler) this.#handlers.delete(id);
  }

  /** Deliver a reply; false if no socket holds its identifier. */
  deliver(id: number, reply: EchoReply): boolean {
    const h = this.#handlers.get(id);
    if (h === undefined) return false;
    h(reply);
    return true;
  }
}
