/**
 * The transmit watchdog of the guest's virtio-net driver, as Linux's `dev_watchdog` and
 * virtio_net's `ndo_tx_timeout`: while the transmitq has buffers outstanding, the device must
 * return one within `timeoutMs`; otherwise the queue is stalled (a lost kick, a hung device) and
 * the driver reports a tx-timeout that the guest answers with a device reset.
 *
 * Runs on the guest worker, inside `NetDriver` (`checkTxTimeout`). The clock is injected, so
 * tests drive time by hand. The timer starts when the transmitq goes from idle to busy and
 * restarts at each used entry; nothing is allocated.
 *
 * @module
 */

/** The default transmit timeout (Linux virtio_net: 5 s). */
export const DEFAULT_TX_TIMEOUT_MS = 5000;

/**
 * Tracks the last transmit progress and decides when the transmitq stalled.
 *
 * @example
 * ```ts
 * import { TxWatchdog } from "./tx_watchdog.ts";
 * let now = 0;
 * const w = new TxWatchdog({ timeoutMs: 100, now: () => now });
 * w.posted(0); // the first buffer goes out at t = 0
 * now = 99;
 * w.expired(1); // false
 * now = 100;
 * w.expired(1); // true: nothing came back for 100 ms
 * ```
 */
export class TxWatchdog {
  /** The timeout in milliseconds. */
  readonly timeoutMs: number;
  private readonly now: () => number;
  private since: number;

  /** Throws a `RangeError` for a timeout that is not a positive number (a programmer error). */
  constructor(opts: { timeoutMs?: number; now?: () => number } = {}) {
    const t = opts.timeoutMs ?? DEFAULT_TX_TIMEOUT_MS;
    if (!(t > 0) || !Number.isFinite(t)) {
      throw new RangeError(`Cannot arm the transmit watchdog: timeout must be positive, got ${t}`);
    }
    this.timeoutMs = t;
    this.now = opts.now ?? Date.now;
    this.since = this.now();
  }

  /** A buffer was posted while `inFlightBefore` were outstanding: idle to busy starts the timer. */
  posted(inFlightBefore: number): void {
    if (inFlightBefore === 0) this.since = this.now();
  }

  /** Used entries came back: the device makes progress. */
  progressed(): void {
    this.since = this.now();
  }

  /** Milliseconds since the last progress (or since the transmitq became busy). */
  idleMs(): number {
    return this.now() - this.since;
  }

  /** True if `inFlight` buffers are outstanding and none came back for the timeout. */
  expired(inFlight: number): boolean {
    return inFlight > 0 && this.now() - this.since >= this.timeoutMs;
  }

  /** Start over (after a reset: nothing is outstanding). */
  restart(): void {
    this.since = this.now();
  }
}
