/**
 * The device's connections as published in shared memory: a table of at most
 * {@linkcode VSOCK_CONN_ROWS} rows (the busiest connections first), one `Float64Array` word per
 * field, after the vsock device counters in the control block. The device worker writes it
 * about once a second (`writeConnTable`); the supervisor, `/metrics`, the snapshot and the
 * dashboard read it (`readConnTable`) without a message.
 *
 * Layout: word 0 is a sequence number, odd while the writer is in the middle of an update (the
 * reader retries, a few times, when it changes under it: display data, not a lock); word 1 the
 * number of open connections (it may exceed the rows); word 2 the rows written; then the rows,
 * each {@linkcode VSOCK_CONN_ROW_WORDS} words in `VsockConnWord` order.
 *
 * @module
 */

import type { TrackedConnection } from "./conntrack.ts";

/** Rows published (the busiest connections). */
export const VSOCK_CONN_ROWS = 16;

/** Word offsets inside a row. */
export const VsockConnWord = {
  guestPort: 0,
  peerCid: 1,
  peerPort: 2,
  /** 0 guest-connecting, 1 peer-connecting, 2 established. */
  state: 3,
  /** Payload bytes guest → peer. */
  bytesFromGuest: 4,
  /** Payload bytes peer → guest. */
  bytesToGuest: 5,
  /** Guest packets that used up the peer's credit. */
  creditStalls: 6,
  /** Bytes the guest may still send (the peer's credit). */
  peerCredit: 7,
  /** Bytes the device may still queue for the guest (the guest's credit). */
  guestCredit: 8,
} as const;

/** Words per row. */
export const VSOCK_CONN_ROW_WORDS = 9;

/** Words of the whole table (header and rows). */
export const VSOCK_CONN_TABLE_WORDS = 3 + VSOCK_CONN_ROWS * VSOCK_CONN_ROW_WORDS;

/** A published connection's state (the row's `state` word is its index here). */
export type VsockConnState = "guest-connecting" | "peer-connecting" | "established";

const STATES: readonly VsockConnState[] = ["guest-connecting", "peer-connecting", "established"];

/** One published connection. */
export interface VsockConnectionRow {
  /** The guest's port. */
  guestPort: number;
  /** The peer's CID (2: the host). */
  peerCid: number;
  /** The peer's port. */
  peerPort: number;
  /** Who connects, or established. */
  state: VsockConnState;
  /** Payload bytes guest → peer. */
  bytesFromGuest: number;
  /** Payload bytes peer → guest. */
  bytesToGuest: number;
  /** Guest packets that used up the peer's credit. */
  creditStalls: number;
  /** Bytes the guest may still send now. */
  peerCredit: number;
  /** Bytes the device may still queue for the guest now. */
  guestCredit: number;
}

/** The published table. */
export interface VsockConnTable {
  /** Open connections (the rows are the busiest of them). */
  total: number;
  /** The rows. */
  rows: VsockConnectionRow[];
}

function credit(bufAlloc: number, sent: number, fwdCnt: number): number {
  return Math.max(0, bufAlloc - ((sent - fwdCnt) >>> 0));
}

/**
 * Publish `conns` (the device's `connections()`): the busiest first, at most
 * {@linkcode VSOCK_CONN_ROWS}.
 *
 * @example
 * ```ts
 * import { readConnTable, VSOCK_CONN_TABLE_WORDS, writeConnTable } from "./conn_table.ts";
 * const words = new Float64Array(VSOCK_CONN_TABLE_WORDS);
 * writeConnTable(words, []);
 * readConnTable(words).total; // 0
 * ```
 */
export function writeConnTable(words: Float64Array, conns: readonly TrackedConnection[]): void {
  if (words.length < VSOCK_CONN_TABLE_WORDS) {
    throw new RangeError(`a connection table needs ${VSOCK_CONN_TABLE_WORDS} words`);
  }
  const top = [...conns].sort((a, b) => (b.bytesIn + b.bytesOut) - (a.bytesIn + a.bytesOut))
    .slice(0, VSOCK_CONN_ROWS);
  words[0] = words[0] % 2 === 0 ? words[0] + 1 : words[0] + 2; // odd: writing
  words[1] = conns.length;
  words[2] = top.length;
  top.forEach((c, i) => {
    const at = 3 + i * VSOCK_CONN_ROW_WORDS;
    words[at + VsockConnWord.guestPort] = c.guestPort;
    words[at + VsockConnWord.peerCid] = c.peerCid;
    words[at + VsockConnWord.peerPort] = c.peerPort;
    words[at + VsockConnWord.state] = STATES.indexOf(c.state);
    words[at + VsockConnWord.bytesFromGuest] = c.bytesOut;
    words[at + VsockConnWord.bytesToGuest] = c.bytesIn;
    words[at + VsockConnWord.creditStalls] = c.creditStalls;
    words[at + VsockConnWord.peerCredit] = credit(c.peerBufAlloc, c.fromGuest, c.peerFwdCnt);
    words[at + VsockConnWord.guestCredit] = credit(c.guestBufAlloc, c.toGuest, c.guestFwdCnt);
  });
  words[0] += 1; // even: done
}

/**
 * Read the published table; a table caught mid-update is read again (at most 4 times, then
 * taken as it is). Values are checked so that a torn or garbage table yields rows in range.
 */
export function readConnTable(words: Float64Array): VsockConnTable {
  let out: VsockConnTable = { total: 0, rows: [] };
  for (let attempt = 0; attempt < 4; attempt++) {
    const seq = words[0];
    const n = Math.max(0, Math.min(VSOCK_CONN_ROWS, Math.trunc(words[2]) || 0));
    const rows: VsockConnectionRow[] = [];
    for (let i = 0; i < n; i++) {
      const at = 3 + i * VSOCK_CONN_ROW_WORDS;
      const w = (k: number) => words[at + k];
      rows.push({
        guestPort: w(VsockConnWord.guestPort),
        peerCid: w(VsockConnWord.peerCid),
        peerPort: w(VsockConnWord.peerPort),
        state: STATES[w(VsockConnWord.state)] ?? "established",
        bytesFromGuest: w(VsockConnWord.bytesFromGuest),
        bytesToGuest: w(VsockConnWord.bytesToGuest),
        creditStalls: w(VsockConnWord.creditStalls),
        peerCredit: w(VsockConnWord.peerCredit),
        guestCredit: w(VsockConnWord.guestCredit),
      });
    }
    out = { total: words[1], rows };
    if (seq % 2 === 0 && words[0] === seq) break;
  }
  return out;
}
