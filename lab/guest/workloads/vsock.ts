/**
 * The vsock workloads, over the guest's vsock socket table:
 *
 * - `vsock-echo [-p PORT=7]`: accept connections and send every byte back, until aborted or
 *   `-t` seconds;
 * - `vsock-send CID PORT [-b BYTES=1048576] [--chunk N=65536]`: connect, write a deterministic
 *   byte stream (byte `i` is `(i·131 + i/4096) mod 256`, `vsock_stream.ts`) in writes of
 *   `--chunk` bytes, keep a running checksum (FNV-1a over 32-bit words), close; while the
 *   peer has no credit it waits for the connection's `writable` event, not for a timer; what the
 *   peer sends back (a vsock-echo's echo) is read and dropped, so it never stalls the peer;
 * - `vsock-sink [-p PORT=5000] [-t SECONDS=10]`: accept one connection, read it to its end
 *   (for at most `-t` seconds; `-t 0`: until the end or stopped), check every byte against the stream's pattern at its offset (a lost, duplicated or
 *   reordered byte is a mismatch at the offset where it lands), report bytes, throughput and
 *   the checksum, which must equal the sender's.
 *
 * @module
 */

import {
  type Connection,
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
} from "../../../devices/vsock/connection.ts";
import { VsockShutdown } from "../../../devices/vsock/header.ts";
import { VSOCK_MAX_CONNECTIONS, VsockCid } from "../../../devices/vsock/config.ts";
import {
  Changes,
  type VsockWorkloadService,
  waitFor,
  waitUntil,
  type WorkloadError,
  type WorkloadOptions,
} from "./options.ts";
import {
  STREAM_PERIOD,
  STREAM_SPAN,
  StreamChecksum,
  streamPattern,
  StreamVerifier,
} from "./vsock_stream.ts";
import { count } from "../../../devices/base/plural.ts";

export { FNV_BASIS, streamByte, StreamChecksum, StreamVerifier } from "./vsock_stream.ts";

/** `vsock-send`'s result. */
export interface VsockSendResult {
  /** Workload kind. */
  kind: "vsock-send";
  /** Bytes written. */
  bytes: number;
  /** The stream's checksum (FNV-1a over its 32-bit words), as a u32. */
  checksum: number;
  /** Seconds from connected to closed. */
  seconds: number;
  /** Payload throughput. */
  gbitPerSecond: number;
  /** Writes cut short because the peer had no credit. */
  creditStalls: number;
  /** One-line summary. */
  text: string;
}

/** `vsock-sink`'s result. */
export interface VsockSinkResult {
  /** Workload kind. */
  kind: "vsock-sink";
  /** Bytes read. */
  bytes: number;
  /** The checksum of what was read (as `vsock-send`'s), as a u32. */
  checksum: number;
  /** Bytes that differ from the stream's pattern at their offset (loss, duplicate, reorder). */
  mismatches: number;
  /** Whether the stream ended with SHUTDOWN (not a reset or the deadline). */
  complete: boolean;
  /** Why the connection closed ("done", "reset", "transport-reset", …); null: still open or
   * never accepted. */
  closeReason: string | null;
  /** Seconds from accepted to end of stream. */
  seconds: number;
  /** Payload throughput. */
  gbitPerSecond: number;
  /** One-line summary. */
  text: string;
}

/** `vsock-echo`'s result. */
export interface VsockEchoResult {
  /** Workload kind. */
  kind: "vsock-echo";
  /** Connections accepted. */
  connections: number;
  /** Bytes echoed. */
  bytes: number;
  /** One-line summary. */
  text: string;
}

const noVsock = (workload: string): WorkloadError => ({
  kind: "error",
  message: `Cannot run ${workload}: this VM has no vsock device`,
  hint: "Add `vsock: { cid: N }` to the VM in the topology",
});

const gbit = (bytes: number, seconds: number) => seconds > 0 ? bytes * 8 / seconds / 1e9 : 0;

/**
 * Connect to `cid:port` and send `bytes` bytes of the pattern stream in `chunk`-byte writes.
 *
 * @example
 * ```ts ignore
 * import { runVsockSend } from "./vsock.ts";
 * const r = await runVsockSend(vsock, { cid: 4, port: 5000, bytes: 1 << 20, chunk: 65536 }, opts);
 * ```
 */
export async function runVsockSend(
  vsock: VsockWorkloadService | undefined,
  req: { cid: number; port: number; bytes: number; chunk: number },
  opts: WorkloadOptions,
): Promise<VsockSendResult | WorkloadError> {
  if (!vsock) return noVsock("vsock-send");
  let conn: Connection;
  try {
    conn = vsock.sockets.connect(req.cid, req.port);
  } catch (e) {
    // No local port or connection slot left (Linux: EADDRNOTAVAIL): this VM's own limit.
    if (!(e instanceof RangeError)) throw e;
    const open = vsock.sockets.size;
    return {
      kind: "error",
      message: `Cannot connect to vsock ${req.cid}:${req.port}: this VM has ${open} vsock ` +
        "connections open, the most its socket table holds",
      hint: "Close some first (stop the vsock-echo or clients holding them); `vlab status` lists " +
        "the VM's connections",
    };
  }
  // Every event of the connection ends the wait it is in (connecting, out of credit, closing).
  const changes = new Changes();
  conn.onEvent = changes.ring;
  vsock.wake();
  await waitFor(opts, () => conn.state !== "connecting", opts.clock.now() + 5000, changes);
  if (conn.state !== "established") {
    conn.onEvent = null;
    const waiting = conn.state === "connecting";
    if (waiting) conn.close();
    // Stopped while the REQUEST was unanswered: it did not time out (that hint blamed a delay).
    if (waiting && opts.signal.aborted) {
      return {
        kind: "error",
        message: `Cannot connect to vsock ${req.cid}:${req.port}: stopped before the peer answered`,
        hint: "It was stopped (Ctrl-C, SIGTERM, its lab stopping) while it connected",
      };
    }
    return connectError(vsock, req, conn);
  }
  const t0 = opts.clock.now();
  // Writes come straight from the pattern table (no per-byte loop), `chunk` bytes at most; a
  // chunk larger than the table's slack is written from a buffer filled from it.
  const pattern = streamPattern();
  const buf = req.chunk > STREAM_SPAN ? new Uint8Array(req.chunk) : null;
  const sum = new StreamChecksum();
  let sent = 0;
  // What the peer sends back is read and dropped: a sender to a vsock-echo that left it queued
  // filled its receive buffer, the echo then stopped reading to wait for its credit, and the
  // stream stalled until the echo's -t (forever without one).
  const scratch = new Uint8Array(64 * 1024);
  const discard = () => {
    let got = 0;
    for (let i = 0; i < 64; i++) {
      const n = conn.read(scratch);
      if (n === 0) break;
      got += n;
    }
    if (got > 0) vsock.wake(); // the CREDIT_UPDATE it queued
  };
  // Bounded by the stream's size (each pass writes or waits) and the abort.
  while (sent < req.bytes && !opts.signal.aborted) {
    discard();
    if (conn.state !== "established") break;
    // A peer that shut down receiving takes nothing more (Linux: EPIPE), however long we wait.
    if ((conn.peerShutdown & VsockShutdown.RCV) !== 0) break;
    const len = Math.min(req.chunk, req.bytes - sent);
    const at = sent % STREAM_PERIOD;
    let data: Uint8Array;
    if (buf === null) data = pattern.subarray(at, at + len);
    else {
      data = buf.subarray(0, len);
      for (let k = 0; k < len; k += STREAM_SPAN) {
        const a = (sent + k) % STREAM_PERIOD;
        data.set(pattern.subarray(a, a + Math.min(STREAM_SPAN, len - k)), k);
      }
    }
    const n = conn.write(data, 0, len);
    vsock.wake();
    if (n > 0) {
      sum.update(data.subarray(0, n));
      sent += n;
    } else if (!conn.writable && conn.state === "established") {
      // No credit: the peer's CREDIT_UPDATE fires `writable` (the timer only bounds the wait, and
      // is cleared once the credit came: a stream runs out of credit many times a second).
      await opts.waitAtMost(100, changes.next());
    }
  }
  const peerShutRcv = (conn.peerShutdown & VsockShutdown.RCV) !== 0 && conn.state === "established";
  const hash = sum.digest();
  const ok = sent === req.bytes;
  // Stopped (Ctrl-C, SIGTERM, the lab stopping) with the stream still open: the peer must hear
  // it was cut (RST), as a vsock-sink that ends resets its sender, not take it for the whole
  // stream (a SHUTDOWN made the sink say "ended by the sender").
  const stopped = !ok && opts.signal.aborted && conn.state === "established";
  if (stopped) hangUp(conn, vsock);
  else {
    conn.close();
    vsock.wake();
    // The peer's RST ends it once it read the stream to its end; the close's own deadline (Linux's
    // 8 s) resets it otherwise. Bounded past that deadline.
    await waitFor(
      opts,
      () => conn.state === "closed",
      opts.clock.now() + DEFAULT_CLOSE_TIMEOUT_MS + 1000,
      changes,
    );
  }
  conn.onEvent = null;
  const seconds = (opts.clock.now() - t0) / 1000;
  const hex = hash.toString(16).padStart(8, "0");
  const rate = `${gbit(sent, seconds).toFixed(3)} Gbit/s, checksum ${hex}, ${
    count(conn.creditStalls, "credit stall")
  }`;
  // What it measured, whole or stopped early.
  const measured = {
    kind: "vsock-send" as const,
    bytes: sent,
    checksum: hash,
    seconds,
    gbitPerSecond: gbit(sent, seconds),
    creditStalls: conn.creditStalls,
  };
  if (stopped) {
    // What it sent so far, as every workload stopped early answers (a ping its statistics).
    return {
      ...measured,
      text: `vsock-send to ${req.cid}:${req.port}: stopped after ${sent} of ${
        count(req.bytes, "byte")
      } in ${seconds.toFixed(3)} s, ${rate}; the stream was reset`,
    };
  }
  if (!ok) {
    return {
      kind: "error",
      message: `Vsock stream to ${req.cid}:${req.port} ended after ${sent} of ${req.bytes} bytes: ${
        opts.signal.aborted ? "aborted" : endedWhy(conn, peerShutRcv)
      }`,
      hint: req.cid === VsockCid.HOST
        ? `The peer is the host (CID 2): see what the program on this VM's ` +
          `vsock.sock_${req.port} did, and the lab's event log`
        : "See the peer's vsock-sink result and the lab's event log",
    };
  }
  // No RST from the peer within the close's deadline: the time is not the stream's, and nothing
  // says the peer read its end.
  const unanswered = conn.closeReason !== "done"
    ? `; the peer did not answer its end within ${DEFAULT_CLOSE_TIMEOUT_MS / 1000} s (reset)`
    : "";
  return {
    ...measured,
    text: `vsock-send to ${req.cid}:${req.port}: ${count(sent, "byte")} in ${
      seconds.toFixed(3)
    } s, ${rate}${unanswered}`,
  };
}

/** How many of the lab's CIDs a "no VM has CID" hint lists (a 64-VM lab's took 1.1 KB). */
export const CIDS_SHOWN = 8;

/**
 * The lab's vsock CIDs for a hint: the host, then each VM's CID with its name, in order; in a lab
 * of more than {@linkcode CIDS_SHOWN}, the ones nearest to `wanted` (where a typo lands) and how
 * many more there are.
 *
 * @example
 * ```ts
 * import { labCidsText } from "./vsock.ts";
 * labCidsText(new Map([[3, "a"], [4, "b"]]), 7); // "2 (the host), 3 (a), 4 (b)"
 * ```
 */
export function labCidsText(cids: ReadonlyMap<number, string> | undefined, wanted: number): string {
  const all = [...(cids ?? [])];
  const shown = all.length <= CIDS_SHOWN ? all : all
    .toSorted((x, y) => Math.abs(x[0] - wanted) - Math.abs(y[0] - wanted) || x[0] - y[0])
    .slice(0, CIDS_SHOWN)
    .toSorted((x, y) => x[0] - y[0]);
  const text = ["2 (the host)", ...shown.map(([cid, vm]) => `${cid} (${vm})`)].join(", ");
  const more = all.length - shown.length;
  return more > 0 ? `${text} and ${more} more (the nearest to ${wanted} shown)` : text;
}

/**
 * Why `vsock-send` could not connect, with a hint for the cause: no VM has the CID (the lab's
 * CIDs listed), the host (CID 2) has no listener, the VM's own CID (no loopback), or the VM of
 * that CID refused (nothing listens on the port, or no vsock path to it).
 */
function connectError(
  vsock: VsockWorkloadService,
  req: { cid: number; port: number },
  conn: Connection,
): WorkloadError {
  const at = `Cannot connect to vsock ${req.cid}:${req.port}`;
  const cids = vsock.labCids;
  if (conn.closeReason === "no-such-cid") {
    return {
      kind: "error",
      message: `${at}: no VM has CID ${req.cid}`,
      code: "no-such-cid",
      hint: `The lab's vsock CIDs: ${
        labCidsText(cids, req.cid)
      }; \`vlab status\` shows each VM's CID`,
    };
  }
  const vm = cids?.get(req.cid);
  if (conn.closeReason === null || conn.closeReason === "timeout") {
    // Nothing answered the REQUEST in time: every refusal in the lab is an RST at once, so what
    // is left is a round trip longer than the timeout (a vsock link's delay).
    const s = DEFAULT_CONNECT_TIMEOUT_MS / 1000;
    return {
      kind: "error",
      message: `${at}: timed out (no answer within ${s} s)`,
      hint: `The round trip outlasted the ${s} s connect timeout (Linux's default): a vsock ` +
        `link's delay of ${s / 2} s or more each way does that; see its impairment with ` +
        "`vlab status` and lower it with `vlab link NAME set delay=…`",
    };
  }
  const why = endedWhy(conn, false);
  let hint: string;
  let refusedBy: number | undefined;
  if (req.cid === VsockCid.HOST) {
    hint = `The host is CID 2: listen on this VM's vsock.sock_${req.port} first (for example ` +
      `socat UNIX-LISTEN:<state folder>/<lab>/<vm>/vsock.sock_${req.port} -); a socket file ` +
      "left there by a program that ended refuses too: remove it";
  } else if (req.cid === vsock.sockets.cid) {
    hint = `CID ${req.cid} is this VM's own, and vlab has no vsock loopback: connect to ` +
      "another VM's CID, or to the host (CID 2)";
  } else if (vm !== undefined && vsock.joinedCids?.has(req.cid) === false) {
    // Every packet to a VM that no link joins this one to is answered with RST: no listener
    // there could take it.
    const self = cids?.get(vsock.sockets.cid);
    const me = self === undefined ? "this VM" : `VM "${self}"`;
    hint = `No vsock link or vsock router joins ${me} to VM "${vm}" (CID ${req.cid}): join them ` +
      `in the topology (links: - { kind: vsock, endpoints: [${self ?? "VM"}, ${vm}] }), or link ` +
      "both to one vsock router; `vlab status` shows the vsock links";
  } else if (vm !== undefined) {
    // Another VM joined to this one refused it: the lab may know why (it reboots after vm-crash).
    refusedBy = req.cid;
    // The path the lab has to it: a vsock link, or a router and its two links.
    const path = vsock.joinedPaths?.get(req.cid) ?? "the vsock link between the two VMs";
    hint = `CID ${req.cid} is VM "${vm}": start vsock-sink or vsock-echo on port ${req.port} ` +
      `there; if one runs, see \`vlab status\` for ${path} (down, or cut by a partition) or ` +
      `the ${VSOCK_MAX_CONNECTIONS} connections a VM takes at most`;
  } else {
    hint = "Start vsock-sink or vsock-echo on that port of the peer VM, and check the vsock link";
  }
  return {
    kind: "error",
    message: `${at}: ${why}`,
    hint,
    ...(refusedBy === undefined ? {} : { refusedBy }),
  };
}

/** Reset a connection the workload leaves while it is still open (its peer hears RST). */
function hangUp(conn: Connection | null, vsock: VsockWorkloadService): void {
  if (conn === null || conn.state === "closed") return;
  conn.onEvent = null;
  conn.reset("aborted");
  vsock.wake();
}

/**
 * Why a stream ended early: the connection's close reason (`reset`, `transport-reset`, …, as
 * the e2e tests and docs/design.md quote them), but in words where the code would mislead: an
 * orderly close ("done") came from the peer before the stream was sent.
 */
function endedWhy(conn: Connection, peerShutRcv: boolean): string {
  if (peerShutRcv) return "the peer shut down receiving";
  if (conn.closeReason === "done") return "the peer closed the connection";
  return conn.closeReason ?? "aborted";
}

/**
 * Accept one connection on `port` and read it to its end, checking the pattern.
 *
 * @example
 * ```ts ignore
 * import { runVsockSink } from "./vsock.ts";
 * const r = await runVsockSink(vsock, { port: 5000, seconds: 10 }, opts);
 * ```
 */
export async function runVsockSink(
  vsock: VsockWorkloadService | undefined,
  req: { port: number; seconds: number | null },
  opts: WorkloadOptions,
): Promise<VsockSinkResult | WorkloadError> {
  if (!vsock) return noVsock("vsock-sink");
  let conn: Connection | null = null;
  let t0 = 0;
  let t1: number | null = null;
  let ended = false;
  const changes = new Changes(); // accepted, closed
  const check = new StreamVerifier();
  const buf = new Uint8Array(64 * 1024 + 4);
  const drain = (c: Connection) => {
    // Bounded: each read takes queued bytes; at most the connection's buffer per call. Read
    // at the stream offset's alignment so the check goes a word at a time.
    for (let i = 0; i < 1024; i++) {
      const into = buf.subarray(check.position & 3, (check.position & 3) + 64 * 1024);
      const n = c.read(into);
      if (n === 0) break;
      check.update(into.subarray(0, n));
    }
    if (c.peerDone && c.rxQueued === 0 && !ended) {
      t1 ??= opts.clock.now();
      ended = c.state !== "closed" || c.closeReason === "done";
      c.close();
    }
    vsock.wake();
  };
  const accept = (c: Connection) => {
    // One stream per sink: stop listening at once, so another sender's REQUEST is refused
    // (RST, "refused") instead of being accepted and closed under it ("done").
    vsock.sockets.unlisten(req.port, accept);
    if (conn !== null) {
      c.reset("refused");
      return;
    }
    conn = c;
    t0 = opts.clock.now();
    c.onEvent = (e) => {
      if (e === "readable" || e === "closed") drain(c);
      if (e === "closed") changes.ring();
    };
    changes.ring();
  };
  const listening = vsock.sockets.listen(req.port, accept);
  if (!listening) {
    return {
      kind: "error",
      message: `Cannot listen on vsock port ${req.port}: in use`,
      hint: "Pick another port with -p",
    };
  }
  try {
    // No seconds (`-t 0`): until the stream ends or the workload is stopped.
    const deadline = req.seconds === null ? null : opts.clock.now() + req.seconds * 1000;
    await waitFor(
      opts,
      () => conn !== null && (conn as Connection).state === "closed",
      deadline,
      changes,
    );
  } finally {
    vsock.sockets.unlisten(req.port, accept); // a later sink may listen there now
    // Time is up (or aborted) with the stream still open: nobody reads it any more, so the
    // sender must hear so (RST) rather than have its bytes taken after this report.
    hangUp(conn, vsock);
  }
  // From accepted to the end of the stream (or now, when it did not end).
  const seconds = conn === null ? 0 : ((t1 ?? opts.clock.now()) - t0) / 1000;
  const bytes = check.position;
  const hash = check.checksum.digest();
  const mismatches = check.mismatches;
  const hex = hash.toString(16).padStart(8, "0");
  return {
    kind: "vsock-sink",
    bytes,
    checksum: hash,
    mismatches,
    complete: ended,
    closeReason: conn === null ? null : (conn as Connection).closeReason,
    seconds,
    gbitPerSecond: gbit(bytes, seconds),
    text: `vsock-sink on port ${req.port}: ${count(bytes, "byte")} in ${seconds.toFixed(3)} s, ` +
      `${gbit(bytes, seconds).toFixed(3)} Gbit/s, checksum ${hex}, ${
        count(mismatches, "byte")
      } out of place ` +
      `(loss, duplicate or reorder), ${
        ended
          ? "ended by the sender"
          : conn === null
          ? "no sender connected"
          : `not ended by the sender: ${sinkEndedWhy((conn as Connection).closeReason)}`
      }`,
  };
}

/**
 * Why a `vsock-sink` that ran to its end failed at its one job, checking a whole stream, or null
 * when it did not: a byte out of place (lost, duplicated, reordered), a stream the sender did not
 * end (reset, or still open at `-t`), or no sender at all. `vlab exec` exits 1 then, and a drill
 * fails, as for a `vsock-send` whose stream broke; the result keeps every count.
 *
 * @example
 * ```ts
 * import { vsockSinkFailure } from "./vsock.ts";
 * vsockSinkFailure({ bytes: 9, mismatches: 0, complete: false, closeReason: "reset" });
 * // "its stream was not ended by the sender: reset (by the sender, a crash of its VM or device
 * //  worker, a vsock link going down or a partition)"
 * ```
 */
export function vsockSinkFailure(
  r: Pick<VsockSinkResult, "bytes" | "mismatches" | "complete" | "closeReason">,
): string | null {
  if (r.mismatches > 0) {
    return `${count(r.mismatches, "byte")} of ${r.bytes} out of place in its stream (lost, ` +
      "duplicated or reordered)";
  }
  if (r.complete) return null;
  if (r.closeReason === null && r.bytes === 0) return "no sender connected";
  return `its stream was not ended by the sender: ${sinkEndedWhy(r.closeReason)}`;
}

/** Why a sink's stream did not end with the sender's SHUTDOWN, in words. */
function sinkEndedWhy(reason: string | null): string {
  if (reason === "aborted") return "stopped first (-t or Ctrl-C)";
  if (reason === "reset") {
    return "reset (by the sender, a crash of its VM or device worker, a vsock link going down " +
      "or a partition)";
  }
  if (reason === "transport-reset") return "this VM's vsock transport was reset";
  return reason ?? "still open";
}

/**
 * Echo every connection on `port` until aborted or `seconds`.
 *
 * @example
 * ```ts ignore
 * import { runVsockEcho } from "./vsock.ts";
 * const r = await runVsockEcho(vsock, { port: 7, seconds: null }, opts);
 * ```
 */
export async function runVsockEcho(
  vsock: VsockWorkloadService | undefined,
  req: { port: number; seconds: number | null },
  opts: WorkloadOptions,
): Promise<VsockEchoResult | WorkloadError> {
  if (!vsock) return noVsock("vsock-echo");
  let connections = 0;
  let bytes = 0;
  const buf = new Uint8Array(64 * 1024);
  const open = new Set<Connection>();
  const accept = (c: Connection) => {
    connections++;
    open.add(c);
    const pump = () => {
      // Echo only what the peer has credit for; the rest stays queued until it is writable.
      for (let i = 0; i < 64 && c.writable; i++) {
        const n = c.read(buf.subarray(0, Math.min(buf.length, c.peerFree())));
        if (n === 0) break;
        bytes += c.write(buf, 0, n);
      }
      if (c.peerDone && c.rxQueued === 0) c.close();
      vsock.wake();
    };
    c.onEvent = (e) => {
      if (e === "closed") open.delete(c);
      if (e === "readable" || e === "writable" || e === "closed") pump();
    };
  };
  const listening = vsock.sockets.listen(req.port, accept);
  if (!listening) {
    return {
      kind: "error",
      message: `Cannot listen on vsock port ${req.port}: in use`,
      hint: "Pick another port with -p",
    };
  }
  try {
    await waitUntil(opts, req.seconds === null ? null : opts.clock.now() + req.seconds * 1000);
  } finally {
    vsock.sockets.unlisten(req.port, accept);
    for (const c of open) hangUp(c, vsock); // their peers must not go on talking to nobody
  }
  return {
    kind: "vsock-echo",
    connections,
    bytes,
    text: `vsock-echo on port ${req.port}: ${count(connections, "connection")}, ${
      count(bytes, "byte")
    } echoed`,
  };
}
