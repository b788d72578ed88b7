/**
 * The host end of a VM's vsock device: the host is CID 2, as in Firecracker and
 * cloud-hypervisor, and speaks Firecracker's hybrid-vsock protocol over Unix sockets so that
 * their users' scripts work unchanged.
 *
 * - **Host-initiated**: the VM's `vsock.sock` listens; a client connects and writes
 *   `CONNECT <port>\n` (at most 32 bytes, the word case-insensitive, as Firecracker's muxer
 *   reads it). The host opens a stream connection to the guest's port; once the guest accepts,
 *   the client reads `OK <hostport>\n` and then the socket is a byte stream to the guest. A bad
 *   line, or a guest port nobody listens on (the guest answers RST), closes the client's socket.
 * - **Guest-initiated**: a guest connecting to CID 2 port P reaches a Unix socket listening at
 *   `vsock.sock_P` (created by host software), connected before the REQUEST is answered; no
 *   such socket, or nobody accepting on it: the guest gets RST.
 *
 * Flow control is the vsock credit end to end: host→guest bytes are read from the Unix socket
 * only while the guest grants credit, and guest→host bytes are taken from the connection (which
 * returns credit to the guest) only as fast as the Unix socket accepts them, so a slow host
 * reader stalls the guest's sender and never grows a queue in the device.
 *
 * Who calls it: the vsock kind's host slice (`vsock.ts`) in the device worker routes every packet
 * the guest sends to CID 2 here (`handle`), calls `pump` on every pass (queued packets into the
 * device, deadlines) and `close` at the end. The Unix-socket I/O runs as promises on the same
 * worker's event loop, which the worker's loop returns to between batches; every step that
 * queues a packet rings the worker's own doorbell (`wake`). Runs on the device worker's thread.
 *
 * @module
 */

import {
  type Connection,
  type ConnectionState,
  type DeliverOutcome,
  rstFor,
  VSOCK_PORT_MAX,
  VsockCid,
  type VsockHeader,
  VsockOp,
  VsockShutdown,
  VsockSockets,
} from "../../../devices/vsock/mod.ts";
import { listenOwnerOnly, type OwnSocket } from "../unix_socket.ts";

/** Longest `CONNECT <port>\n` line read (Firecracker's muxer reads at most 32 bytes). */
export const MAX_CONNECT_LINE = 32;

/** Bytes moved per Unix-socket read or write. */
const IO_CHUNK = 64 * 1024;

/** Construction options of {@linkcode HostVsock}. */
export interface HostVsockOptions {
  /** The Unix socket the host listens on (`…/vsock.sock`); `path_PORT` for guest-initiated. */
  path: string;
  /** The guest's CID. */
  guestCid: number;
  /**
   * Hand one packet to the device for the guest, as the device's `deliver` answers: `"busy"`
   * keeps it (retried later); `"not-live"` (no driver, a broken queue, an RX buffer the queue
   * refused) means it never reached the guest, and its sender gets RST, as a packet from the
   * link that finds the device not live does.
   */
  deliver: (h: Readonly<VsockHeader>, payload: Uint8Array | null) => DeliverOutcome;
  /** Wake the worker's loop (a packet is queued, or credit was returned). */
  wake: () => void;
  /** Clock in ms (REQUEST and close deadlines). */
  now: () => number;
  /** Host-side counters (`VsockDriverCounter` layout) or none. */
  counters?: Float64Array;
  /** Host connections open at once (default 1023, `VSOCK_MAX_CONNECTIONS`, as Firecracker). */
  maxConnections?: number;
}

/**
 * Parse a `CONNECT <port>\n` line the way Firecracker's muxer does: two whitespace-separated
 * words, the first `connect` in any case, the second a u32; null when it is not one.
 *
 * @example
 * ```ts
 * import { parseConnectLine } from "./vsock_host.ts";
 * parseConnectLine("CONNECT 52"); // 52
 * parseConnectLine("HELLO 52"); // null
 * ```
 */
export function parseConnectLine(line: string): number | null {
  const words = line.trim().split(/\s+/);
  if (words.length !== 2 || words[0].toLowerCase() !== "connect") return null;
  if (!/^[0-9]{1,10}$/.test(words[1])) return null;
  const port = Number(words[1]);
  return port <= VSOCK_PORT_MAX ? port : null; // not VMADDR_PORT_ANY
}

/** A wake-up that loops await (readable, writable): every waiter resumes on `fire`. */
class Signal {
  private waiters: (() => void)[] = [];
  /** Resume every pending wait. */
  fire(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }
  /** Wait for the next `fire`. */
  wait(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }
}

/**
 * The host's vsock endpoint of one VM (CID 2).
 *
 * @example
 * ```ts ignore
 * import { HostVsock } from "./vsock_host.ts";
 * const host = new HostVsock({ path: "/tmp/lab/a/vsock.sock", guestCid: 3,
 *   deliver: (h, p) => device.deliver(h, p), wake, now: () => performance.now() });
 * // in the worker's pump: host.pump(); for a guest packet to CID 2: host.handle(h, payload)
 * ```
 */
export class HostVsock {
  /** The host's socket table (CID 2). */
  readonly sockets: VsockSockets;
  private readonly o: HostVsockOptions;
  private listener: Deno.UnixListener | null = null;
  /** The socket file this listener put at `path` (`close` removes only that one). */
  readonly #file: OwnSocket;
  private readonly clients = new Set<Deno.UnixConn>();
  private closed = false;
  #refused = 0;

  /**
   * Listen on `path`, owner-only, put there in one step over whatever is there (a stale socket
   * file, or the one of the worker this one replaces): see `listenOwnerOnly` (`unix_socket.ts`).
   */
  constructor(o: HostVsockOptions) {
    this.o = o;
    this.sockets = new VsockSockets({
      cid: VsockCid.HOST,
      sink: {
        send: (h, p) => {
          const r = o.deliver(h, p);
          if (r === "busy") return false;
          if (r === "not-live") this.notLive(h);
          return true;
        },
      },
      now: o.now,
      counters: o.counters,
      maxConnections: o.maxConnections,
    });
    const { listener, file } = listenOwnerOnly(o.path);
    this.listener = listener;
    this.#file = file;
    void this.acceptLoop(this.listener);
  }

  /** A packet from the guest to CID 2 (header and payload valid during the call). */
  handle(h: Readonly<VsockHeader>, payload: Uint8Array | null): void {
    // A REQUEST for a port with a socket file waits for the Unix connect (answered then).
    if (h.op === VsockOp.REQUEST && !this.closed && this.offerGuestConnect(h)) return;
    this.sockets.handle(h, payload);
    this.o.wake();
  }

  /** Move queued packets into the device and expire deadlines; true if anything moved. */
  pump(): boolean {
    const expired = this.sockets.tick();
    return this.sockets.flush() > 0 || expired > 0;
  }

  /**
   * Host clients of `vsock.sock` whose `CONNECT` was refused because the host already had its
   * connection limit open (1023, as Firecracker's muxer) or no free local port: their socket was
   * closed with no `OK` (published as the worker's `vsock_host_refused`).
   */
  get refusedConnections(): number {
    return this.#refused;
  }

  /** Packets waiting for room in the device. */
  get pendingOut(): number {
    return this.sockets.pendingOut;
  }

  /**
   * Stop listening and close every client; the socket file at `path` is removed if it is still
   * this listener's (a successor's, put there since, stays).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.listener?.close();
    } catch {
      // Closed already.
    }
    this.listener = null;
    for (const c of this.clients) closeQuietly(c);
    this.clients.clear();
    this.#file.remove();
  }

  private async acceptLoop(listener: Deno.UnixListener): Promise<void> {
    try {
      for await (const conn of listener) {
        if (this.closed) {
          closeQuietly(conn);
          break;
        }
        this.clients.add(conn);
        void this.serveClient(conn).finally(() => {
          this.clients.delete(conn);
          closeQuietly(conn);
        });
      }
    } catch {
      // The listener was closed.
    }
  }

  /**
   * A packet of the host's that the device could not take (`"not-live"`): its connection gets
   * the RST a guest that is not there would cause (a connect is refused, a stream is reset)
   * instead of waiting for an answer that cannot come. Handled after the send that met it (a
   * microtask): the socket table is in the middle of that send.
   */
  private notLive(h: Readonly<VsockHeader>): void {
    if (h.op === VsockOp.RST) return; // never an RST for an RST
    const rst = rstFor(h);
    queueMicrotask(() => {
      if (this.closed) return;
      this.sockets.handle(rst, null);
      this.o.wake();
    });
  }

  /** A host-initiated connection: the CONNECT line, then the bridge. */
  private async serveClient(unix: Deno.UnixConn): Promise<void> {
    const line = await readLine(unix, MAX_CONNECT_LINE);
    const port = line === null ? null : parseConnectLine(line);
    if (port === null || this.closed) return; // Firecracker drops the connection
    let conn: Connection;
    try {
      conn = this.sockets.connect(this.o.guestCid, port);
    } catch {
      // No free port or too many connections: drop, as for a bad line, and count it (a client
      // refused at the limit was seen nowhere).
      this.#refused++;
      return;
    }
    this.o.wake();
    await this.bridge(unix, conn, `OK ${conn.localPort}\n`);
  }

  /**
   * A guest-initiated REQUEST: if a socket file is at `path_PORT`, connect to it first and only
   * then hand the REQUEST on (accepted, bridged), as Firecracker's muxer does; a file nobody
   * accepts on any more (stale) gets RST, "refused", never a RESPONSE and then a reset. True
   * when the REQUEST is held for that connect; false: no socket file, the socket table refuses
   * it now (no listener).
   */
  private offerGuestConnect(h: Readonly<VsockHeader>): boolean {
    const port = h.dstPort;
    const target = `${this.o.path}_${port}`;
    try {
      if (!Deno.statSync(target).isSocket) return false;
    } catch {
      return false;
    }
    const request = { ...h }; // the caller's header is valid during the call only
    void Deno.connect({ transport: "unix", path: target }).then(
      (unix) => {
        if (this.closed) {
          closeQuietly(unix);
          return;
        }
        const bridged = this.sockets.listen(port, (conn) => {
          this.clients.add(unix);
          void this.bridge(unix, conn, null).finally(() => {
            this.clients.delete(unix);
            closeQuietly(unix);
          });
        });
        this.sockets.handle(request, null);
        if (bridged) this.sockets.unlisten(port); // the next REQUEST checks the file again
        if (!this.clients.has(unix)) closeQuietly(unix); // not accepted (a duplicate REQUEST)
        this.o.wake();
      },
      () => {
        if (this.closed) return;
        this.sockets.handle(request, null); // no listener: RST, "refused"
        this.o.wake();
      },
    );
    return true;
  }

  /**
   * Copy bytes both ways between a Unix socket and a vsock connection until both directions
   * end (or either side resets); `greeting` is written once the guest accepted.
   */
  private async bridge(unix: Deno.UnixConn, conn: Connection, greeting: string | null) {
    const readable = new Signal();
    const writable = new Signal();
    const connected = new Signal();
    let onClosed!: () => void;
    const closed = new Promise<void>((r) => onClosed = r);
    conn.onEvent = (e) => {
      if (e === "connected") connected.fire();
      else if (e === "readable") readable.fire();
      else if (e === "writable") writable.fire();
      else {
        // closed: wake everyone.
        onClosed();
        connected.fire();
        readable.fire();
        writable.fire();
      }
    };
    if (conn.state === "connecting") await connected.wait();
    if (conn.state !== "established") return; // refused (unbound port) or timed out
    if (greeting !== null && !(await writeAll(unix, new TextEncoder().encode(greeting)))) {
      conn.reset("aborted");
      this.o.wake();
      return;
    }
    const wake = this.o.wake;
    // Guest → host: take bytes only as fast as the Unix socket accepts them (returns credit).
    const down = (async () => {
      const buf = new Uint8Array(IO_CHUNK);
      for (;;) {
        const n = conn.read(buf);
        if (n > 0) {
          wake(); // a CREDIT_UPDATE may be queued
          if (!(await writeAll(unix, buf.subarray(0, n)))) return false;
          continue;
        }
        if (conn.state === "closed" || conn.peerDone) break;
        await readable.wait();
      }
      try {
        await unix.closeWrite();
      } catch {
        // Closed already.
      }
      return conn.state !== "closed" || conn.closeReason === "done";
    })();
    // Host → guest: read from the Unix socket only while the guest grants credit.
    const up = (async () => {
      const buf = new Uint8Array(IO_CHUNK);
      for (;;) {
        if (conn.state !== "established") return;
        let n: number | null;
        try {
          n = await unix.read(buf);
        } catch {
          n = null;
        }
        if (n === null) {
          conn.shutdown(VsockShutdown.SEND);
          wake();
          return;
        }
        for (let off = 0; off < n;) {
          if (conn.state !== "established") return;
          const k = conn.write(buf, off, n - off);
          off += k;
          if (k > 0) wake();
          if (off < n) await writable.wait();
        }
      }
    })();
    // A reset (not an orderly close) ends both directions at once: closing the Unix socket
    // unblocks a pending read or write.
    void closed.then(() => {
      if (conn.closeReason !== "done") closeQuietly(unix);
    });
    await down;
    if (stateOf(conn) !== "closed") {
      // The guest has nothing more to send; end our side once the host side ends too.
      await up;
      conn.close();
      wake();
    }
    closeQuietly(unix);
    await up;
  }
}

/** Read one `\n`-terminated line of at most `max` bytes, byte by byte; null on EOF or error. */
async function readLine(unix: Deno.UnixConn, max: number): Promise<string | null> {
  const one = new Uint8Array(1);
  const bytes: number[] = [];
  while (bytes.length < max) {
    let n: number | null;
    try {
      n = await unix.read(one);
    } catch {
      return null;
    }
    if (n === null) return null;
    if (n === 0) continue;
    if (one[0] === 0x0a) return new TextDecoder().decode(new Uint8Array(bytes));
    bytes.push(one[0]);
  }
  return null;
}

/** Write every byte; false when the socket is gone. */
async function writeAll(unix: Deno.UnixConn, data: Uint8Array): Promise<boolean> {
  try {
    for (let off = 0; off < data.length;) off += await unix.write(data.subarray(off));
    return true;
  } catch {
    return false;
  }
}

/** A connection's state, read afresh (awaits change it behind the type checker's back). */
function stateOf(conn: Connection): ConnectionState {
  return conn.state;
}

function closeQuietly(c: Deno.Conn | Deno.Listener): void {
  try {
    c.close();
  } catch {
    // Closed already.
  }
}
