/**
 * A host-to-guest vsock stream for scripts (`VmHandle.vsockConnect`): connect to the VM's
 * `vsock.sock` in the lab's state folder, speak Firecracker's protocol (`CONNECT <port>\n`,
 * answered `OK <hostport>\n`), and hand back the Unix socket, which from then on carries the
 * stream to and from the guest's port (`read`, `write`, `closeWrite` for SHUTDOWN, `close`).
 * Runs on the main thread of the script's process.
 *
 * @module
 */

import { VSOCK_MAX_CONNECTIONS, VSOCK_PORT_MAX } from "../devices/vsock/config.ts";
import { FAILED_VM_HINT, LabError } from "./errors.ts";
import { quote } from "../devices/base/quote.ts";

/** Longest `OK <hostport>\n` answer read. */
const MAX_ANSWER = 32;

/**
 * Why the host cannot connect to a vsock port of VM `vm` in state `state` (a `VmState`: its
 * guest is not running, so nothing it listened on is there), or null when it is `running`.
 * A crashed VM reboots with a fresh guest: a connect meanwhile read as "refused" (or as a socket
 * that cannot be opened), as if nothing had ever listened.
 *
 * @example
 * ```ts
 * import { vmNotServing } from "./vsock_connect.ts";
 * vmNotServing("a", 7, "restarting")?.message; // "Cannot connect to vsock port 7 of VM \"a\": it crashed and is rebooting"
 * vmNotServing("a", 7, "running"); // null
 * ```
 */
export function vmNotServing(vm: string, port: number, state: string): LabError | null {
  if (state === "running") return null;
  const at = `Cannot connect to vsock port ${port} of VM ${quote(vm)}`;
  if (state === "restarting") {
    return new LabError(
      "workload-failed",
      `${at}: it crashed and is rebooting`,
      "Wait until `vlab status` shows it running, then start its listener again (the rebooted " +
        "guest runs none of the old workloads)",
    );
  }
  if (state === "failed") {
    return new LabError("workload-failed", `${at}: it has failed`, FAILED_VM_HINT);
  }
  return new LabError(
    "workload-failed",
    `${at}: it is ${state}`,
    "See `vlab status` and the event log",
  );
}

/**
 * Open a stream from the host (CID 2) to `port` of the guest behind `socketPath` (`null`: the VM
 * has no vsock device), whose VM is in `state` (a `VmState`; not given: not checked). Throws a
 * `LabError` with the codes `vlab vsock` uses: `unknown-vm` (no vsock device), `control-error`
 * (the socket cannot be opened), `workload-failed` (refused: nothing listens on the port; or the
 * VM is not running, see `vmNotServing`); a `RangeError` for a port that is not a u32.
 *
 * @example
 * ```ts ignore
 * import { vsockConnect } from "./vsock_connect.ts";
 * const conn = await vsockConnect(lab.vsockSocket("a"), { vm: "a", port: 7 });
 * await conn.write(new TextEncoder().encode("hi"));
 * ```
 */
export async function vsockConnect(
  socketPath: string | null,
  o: { vm: string; port: number; state?: string },
): Promise<Deno.UnixConn> {
  const { vm, port } = o;
  if (!Number.isInteger(port) || port < 0 || port > VSOCK_PORT_MAX) {
    // A caller's bug (the port is a number in the script, not text a user typed).
    throw new RangeError(
      `Cannot use ${port} as a vsock port: ports are integers from 0 to ${VSOCK_PORT_MAX} ` +
        "(4294967295 is VMADDR_PORT_ANY)",
    );
  }
  if (socketPath === null) {
    throw new LabError(
      "unknown-vm",
      `Cannot connect to vsock port ${port} of VM ${quote(vm)}: it has no vsock device`,
      "Give it `vsock: { cid: N }` in the topology",
    );
  }
  const down = o.state === undefined ? null : vmNotServing(vm, port, o.state);
  if (down !== null) throw down;
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socketPath });
  } catch (e) {
    // Deno's words carry "(os error 2)" and the call: the reason alone, in the sentence.
    const text = e instanceof Error ? e.message : String(e);
    const why = e instanceof Deno.errors.NotFound
      ? "is gone"
      : e instanceof Deno.errors.ConnectionRefused
      ? "takes no connection (nothing serves it)"
      : `cannot be opened: ${text.replace(/\s*\(os error \d+\).*$/s, "").toLowerCase()}`;
    throw new LabError(
      "control-error",
      `Cannot connect to vsock port ${port} of VM ${quote(vm)}: its socket ${
        quote(socketPath)
      } ${why}`,
      "Check with `vlab status` that the lab and the VM run; a socket removed under a running " +
        "lab comes back when the lab starts again",
    );
  }
  try {
    const line = new TextEncoder().encode(`CONNECT ${port}\n`);
    for (let off = 0; off < line.length;) off += await conn.write(line.subarray(off));
    const answer = await readLine(conn);
    if (answer === null || !/^OK [0-9]+$/.test(answer)) {
      throw new LabError(
        "workload-failed",
        `Cannot connect to vsock port ${port} of VM ${quote(vm)}: refused`,
        `Start a listener there first, such as \`vlab exec ${vm} -- vsock-echo -p ${port}\` (a VM takes at most ${VSOCK_MAX_CONNECTIONS} vsock connections at once)`,
      );
    }
    return conn;
  } catch (e) {
    try {
      conn.close();
    } catch {
      // Closed already.
    }
    if (e instanceof LabError) throw e;
    throw new LabError(
      "workload-failed",
      `Cannot connect to vsock port ${port} of VM ${quote(vm)}: ${
        e instanceof Error ? e.message : String(e)
      }`,
      "The host socket closed during CONNECT; check the lab's event log",
    );
  }
}

/** One `\n`-terminated line of at most `MAX_ANSWER` bytes; null on end of stream first. */
async function readLine(conn: Deno.UnixConn): Promise<string | null> {
  const one = new Uint8Array(1);
  let line = "";
  while (line.length < MAX_ANSWER) {
    const n = await conn.read(one);
    if (n === null) return null;
    if (n === 0) continue;
    if (one[0] === 0x0a) return line;
    line += String.fromCharCode(one[0]);
  }
  return null;
}

/** Bytes a {@linkcode LabVsockConn}'s `readable` and its read ahead read at a time. */
const READ_CHUNK = 64 * 1024;

/** Bytes read ahead of the script at most (and one chunk more): the rest waits in the socket. */
const READ_AHEAD = 64 * 1024;

/** How the stream ended: `cut` when it ended after the lab's stop; `error` when a read failed. */
interface End {
  cut: boolean;
  error?: { value: unknown };
}

/**
 * A host vsock stream as a script holds it (`VmHandle.vsockConnect`): the Unix socket, whose end
 * of stream says how it ended. The guest's close reads as the end (`read` answers null, as a
 * socket's does). The lab's stop closes every host socket of its VMs too, and must not read the
 * same (a script would take a stream cut by `vlab down` for one the guest had sent whole): an end
 * that comes once `stopped()` says the lab stopped (and a write then) throws `cut()`, a
 * `LabError` (`no-lab`), from `read` and `write` and through `readable` and `writable` alike.
 *
 * Which came first is decided when the end reaches this process, not when the script reads it:
 * reads run ahead of the script's while fewer than 64 KiB wait for it, so a guest's close that
 * came before the lab's stop, behind at most that many unread bytes, still reads as the end after
 * them, also when the script reads it after the stop. Behind more, the end waits in
 * the socket unseen, and one the lab's stop finds there reads as its cut.
 *
 * @example
 * ```ts ignore
 * import { LabVsockConn } from "./vsock_connect.ts";
 * const conn = new LabVsockConn(raw, { stopped: () => lab.stopped, cut: () => labStoppedError("pair", "read") });
 * for await (const chunk of conn.readable) console.log(chunk.length); // throws if the lab stops
 * ```
 */
export class LabVsockConn implements Deno.UnixConn {
  readonly #conn: Deno.UnixConn;
  readonly #stopped: () => boolean;
  readonly #cut: () => LabError;
  #readable: ReadableStream<Uint8Array<ArrayBuffer>> | null = null;
  #writable: WritableStream<Uint8Array<ArrayBufferLike>> | null = null;
  /** Bytes read ahead, in order, that the script has not read yet (`#queued` of them). */
  #queue: Uint8Array[] = [];
  #queued = 0;
  /** How the stream ended, once a read ahead met its end. */
  #end: End | null = null;
  #pumping = false;
  /** The script's choice ({@linkcode LabVsockConn.ref}): its waiting reads keep the process. */
  #refd = true;
  /** Reads of the script waiting for bytes or the end. */
  #waiting = 0;
  /** Resolved (and replaced) when a read ahead queued bytes or met the end. */
  #news = Promise.withResolvers<void>();

  /**
   * @param conn the socket, past its `CONNECT`/`OK`
   * @param o `stopped`: whether the lab stopped; `cut`: the error its end is then
   */
  constructor(conn: Deno.UnixConn, o: { stopped: () => boolean; cut: () => LabError }) {
    this.#conn = conn;
    this.#stopped = o.stopped;
    this.#cut = o.cut;
    // The read ahead alone keeps no process from exiting (a script done with the stream, which
    // never read it to its end, ends as before): only a read of the script that waits does.
    this.#conn.unref();
    this.#pump();
  }

  /** The local address (the host's end of `vsock.sock`). */
  get localAddr(): Deno.UnixAddr {
    return this.#conn.localAddr;
  }

  /** The remote address (`vsock.sock`). */
  get remoteAddr(): Deno.UnixAddr {
    return this.#conn.remoteAddr;
  }

  /**
   * Read into `p`: the bytes read, or null at the end of the stream the guest closed. Throws the
   * `no-lab` `LabError` when the stream ended because the lab stopped (its end came after the
   * stop).
   */
  async read(p: Uint8Array): Promise<number | null> {
    if (p.length === 0) return 0;
    while (this.#queue.length === 0) {
      const end = this.#end;
      if (end !== null) {
        if (end.cut) throw this.#cut();
        if (end.error !== undefined) throw end.error.value;
        return null;
      }
      this.#waiting++;
      this.#hold();
      try {
        await this.#news.promise;
      } finally {
        this.#waiting--;
        this.#hold();
      }
    }
    const head = this.#queue[0];
    const n = Math.min(p.length, head.length);
    p.set(head.subarray(0, n));
    if (n === head.length) this.#queue.shift();
    else this.#queue[0] = head.subarray(n);
    this.#queued -= n;
    this.#pump();
    return n;
  }

  /**
   * Read the socket ahead of the script while fewer than `READ_AHEAD` bytes wait, until its end;
   * the end (or a failed read) notes whether the lab had stopped when it came.
   */
  #pump(): void {
    if (this.#pumping || this.#end !== null || this.#queued >= READ_AHEAD) return;
    this.#pumping = true;
    void (async () => {
      const buf = new Uint8Array(READ_CHUNK);
      while (this.#end === null && this.#queued < READ_AHEAD) {
        let n: number | null;
        try {
          n = await this.#conn.read(buf);
        } catch (e) {
          this.#end = { cut: this.#stopped(), error: { value: e } };
          break;
        }
        if (n === null) {
          this.#end = { cut: this.#stopped() };
          break;
        }
        if (n === 0) continue;
        this.#queue.push(buf.slice(0, n));
        this.#queued += n;
        this.#tell();
      }
      this.#pumping = false;
      this.#tell();
    })();
  }

  /** Let the socket's pending read keep the process while a read of the script waits on it. */
  #hold(): void {
    if (this.#refd && this.#waiting > 0) this.#conn.ref();
    else this.#conn.unref();
  }

  /** Wake the reads waiting for bytes or the end. */
  #tell(): void {
    this.#news.resolve();
    this.#news = Promise.withResolvers<void>();
  }

  /** Write `p`; throws the `no-lab` `LabError` once the lab stopped (it was a broken pipe). */
  async write(p: Uint8Array): Promise<number> {
    if (this.#stopped()) throw this.#cut();
    try {
      return await this.#conn.write(p);
    } catch (e) {
      if (this.#stopped()) throw this.#cut();
      throw e;
    }
  }

  /** Close the stream (both ways); closing it again does nothing. */
  close(): void {
    this.#closeQuietly();
  }

  /** Shut the stream down for sending (the guest reads its end); reading goes on. */
  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  /** A read that waits keeps the process from exiting (the default). */
  ref(): void {
    this.#refd = true;
    this.#hold();
  }

  /** Let the process exit while a read waits. */
  unref(): void {
    this.#refd = false;
    this.#hold();
  }

  /**
   * The stream's bytes, read with {@linkcode LabVsockConn.read}: it ends at the guest's close,
   * and errors with the `no-lab` `LabError` when the lab's stop ended it. Cancelling it closes
   * the stream; at its end, `close()` does.
   */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    this.#readable ??= new ReadableStream<Uint8Array<ArrayBuffer>>({
      pull: async (out) => {
        const buf = new Uint8Array(READ_CHUNK);
        const n = await this.read(buf);
        if (n === null) out.close();
        else out.enqueue(buf.slice(0, n));
      },
      cancel: () => this.#closeQuietly(),
    });
    return this.#readable;
  }

  /**
   * The stream's bytes out, written whole with {@linkcode LabVsockConn.write}: once the lab
   * stopped, a write rejects with the `no-lab` `LabError` (the socket's own `writable` failed
   * with its broken pipe). Closing or aborting it closes the stream, as the socket's own does.
   */
  get writable(): WritableStream<Uint8Array<ArrayBufferLike>> {
    this.#writable ??= new WritableStream<Uint8Array<ArrayBufferLike>>({
      write: async (chunk) => {
        for (let at = 0; at < chunk.length;) at += await this.write(chunk.subarray(at));
      },
      close: () => this.#closeQuietly(),
      abort: () => this.#closeQuietly(),
    });
    return this.#writable;
  }

  /** Close it, as `using` does. */
  [Symbol.dispose](): void {
    this.#closeQuietly();
  }

  #closeQuietly(): void {
    try {
      this.#conn.close();
    } catch {
      // Closed already.
    }
  }
}
