/**
 * The Unix sockets the lab listens on (its `control.sock`, each VM's `vsock.sock`): put at their
 * path owner-only and in one step, and removed only while they are still the lab's own. Used by
 * the host end of a VM's vsock (`kinds/vsock_host.ts`, on a device worker's thread) and by the
 * control socket's listener (`../control_listener.ts`, on the main thread).
 *
 * Two things a Deno listener does that the lab must not inherit:
 *
 * - A socket file takes its mode from the process umask when it is bound (0755 under the common
 *   022: any local user may connect), and a `chmod` can only come after the bind. Bound at its
 *   path and then made owner-only, a socket could be reached by another user in between, when its
 *   folder lets them (the control socket is documented as mode 0600, owner only).
 * - Deno unlinks a Unix listener's path when the listener closes (also when its worker ends, or
 *   its `Deno.serve` shuts down or fails), whatever file is at that path by then: a listener that
 *   ended after its successor bound the same path removed the successor's file (a device worker
 *   ending late after its successor listened: host clients got ENOENT).
 *
 * So {@linkcode bindOwnerOnly} binds in a folder of its own made beside `path` (mode 0700: no
 * other user can reach what is in it), makes the socket owner-only, renames it onto `path` (which
 * replaces a file there in one step: the path is never missing while a successor takes over) and
 * removes the folder. The listener's own unlink later hits the temporary path, long gone, and
 * {@linkcode OwnSocket.remove} removes `path` only if it is still the same file.
 *
 * A process killed in between (SIGKILL) leaves the temporary folder: {@linkcode removeLeftover}
 * lets the clean-up of a stale lab's folder (`state.ts`) prove it is vlab's, and remove it.
 *
 * @module
 */

/**
 * The name of the temporary folder {@linkcode bindOwnerOnly} binds in: `.vs` and five random
 * characters. With its socket `s`, `.vsXXXXX/s` is as long as `vsock.sock` and shorter than
 * `control.sock`, whose path lengths the lab checks (a Unix socket's path has at most 107 bytes).
 */
export const TEMP_FOLDER = /^\.vs[0-9a-z]{5}$/;

/** The socket's name in its temporary folder. */
const TEMP_SOCKET = "s";

/** Tries at a free temporary folder name (a name taken is a random clash). */
const TEMP_TRIES = 8;

/**
 * A socket file {@linkcode bindOwnerOnly} put at `path`, known by its device and inode: it can
 * tell whether the file at `path` is still its own.
 *
 * @example
 * ```ts ignore
 * import { listenOwnerOnly } from "./unix_socket.ts";
 * const { listener, file } = listenOwnerOnly("/tmp/lab/a/vsock.sock");
 * listener.close();
 * file.remove(); // a successor's file, put there since, stays
 * ```
 */
export class OwnSocket {
  /** Where the socket was put. */
  readonly path: string;
  readonly #dev: number;
  readonly #ino: number | null;

  /** The socket file at `path`, whose `lstat` (taken before it was renamed there) is `info`. */
  constructor(path: string, info: Deno.FileInfo) {
    this.path = path;
    this.#dev = info.dev;
    this.#ino = info.ino;
  }

  /** Whether the file at `path` is still this socket (same device and inode). */
  isHere(): boolean {
    try {
      const info = Deno.lstatSync(this.path);
      return info.dev === this.#dev && info.ino !== null && info.ino === this.#ino;
    } catch {
      return false;
    }
  }

  /** Remove `path` if it is still this socket's file (a successor's stays); never throws. */
  remove(): void {
    if (!this.isHere()) return;
    try {
      Deno.removeSync(this.path);
    } catch {
      // Gone already.
    }
  }
}

/** What {@linkcode bindOwnerOnly} bound, and the socket file it put at the path. */
export interface BoundOwnerOnly<T> {
  /** What `bind` returned (a listener, a server). */
  readonly bound: T;
  /** The socket file now at the path. */
  readonly file: OwnSocket;
}

/**
 * Put a listening Unix socket at `path`, owner-only (mode 0600) from the moment another user
 * could reach it, in one step over whatever file is there. `bind` must bind a Unix socket at the
 * path it is given before it returns (`Deno.listen`, `Deno.serve`); `unbind` stops what it returned
 * when a later step fails. Throws what a step threw (nothing is left behind then).
 *
 * Steps: a folder beside `path` (mode 0700), `bind` in it, `chmod 0600`, rename onto `path`,
 * remove the folder. The listener's own unlink at its close hits the temporary path, gone since.
 *
 * @example
 * ```ts ignore
 * import { bindOwnerOnly } from "./unix_socket.ts";
 * const { bound: server, file } = bindOwnerOnly(
 *   "/tmp/lab/control.sock",
 *   (at) => Deno.serve({ path: at, onListen() {} }, () => new Response("ok")),
 *   (server) => void server.shutdown(),
 * );
 * await server.shutdown();
 * file.remove();
 * ```
 */
export function bindOwnerOnly<T>(
  path: string,
  bind: (at: string) => T,
  unbind: (bound: T) => void,
): BoundOwnerOnly<T> {
  const dir = path.slice(0, path.lastIndexOf("/") + 1);
  for (let i = 0;; i++) {
    const folder = `${dir}.vs${randomName(5)}`;
    try {
      // Owner-only at once: the umask only takes permissions away from 0700.
      Deno.mkdirSync(folder, { mode: 0o700 });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists && i < TEMP_TRIES) continue;
      throw e;
    }
    const at = `${folder}/${TEMP_SOCKET}`;
    let bound: T;
    try {
      Deno.chmodSync(folder, 0o700); // the owner's own permissions, if the umask took them
      bound = bind(at);
    } catch (e) {
      tryRemove(folder);
      throw e;
    }
    try {
      Deno.chmodSync(at, 0o600);
      const file = new OwnSocket(path, Deno.lstatSync(at));
      Deno.renameSync(at, path);
      tryRemove(folder);
      return { bound, file };
    } catch (e) {
      try {
        unbind(bound);
      } catch {
        // Stopped already.
      }
      tryRemove(at);
      tryRemove(folder);
      throw e;
    }
  }
}

/** A Unix listener put at its path by {@linkcode listenOwnerOnly}. */
export interface OwnerOnlyListener {
  /** The listener. */
  readonly listener: Deno.UnixListener;
  /** Its socket file: `file.remove()` after closing the listener removes it if still there. */
  readonly file: OwnSocket;
}

/**
 * `Deno.listen` on a Unix socket at `path`, owner-only and in one step (see
 * {@linkcode bindOwnerOnly}).
 *
 * @example
 * ```ts ignore
 * import { listenOwnerOnly } from "./unix_socket.ts";
 * const { listener, file } = listenOwnerOnly("/tmp/lab/a/vsock.sock");
 * listener.close();
 * file.remove();
 * ```
 */
export function listenOwnerOnly(path: string): OwnerOnlyListener {
  const { bound, file } = bindOwnerOnly(
    path,
    (at) => Deno.listen({ transport: "unix", path: at }),
    (listener) => listener.close(),
  );
  return { listener: bound, file };
}

/**
 * Remove `path` if it is a temporary folder that {@linkcode bindOwnerOnly} left (its process
 * killed between its steps): named {@linkcode TEMP_FOLDER}, a folder (not a link to one) that
 * holds nothing or only its socket. True when it was one and is gone; anything else is left as
 * it is. Never throws.
 *
 * @example
 * ```ts ignore
 * import { removeLeftover } from "./unix_socket.ts";
 * removeLeftover("/tmp/vlab-1000/pair/.vsa1b2c"); // true: it was vlab's, and is gone
 * ```
 */
export function removeLeftover(path: string): boolean {
  if (!TEMP_FOLDER.test(path.slice(path.lastIndexOf("/") + 1))) return false;
  try {
    if (!Deno.lstatSync(path).isDirectory) return false;
    const inside = [...Deno.readDirSync(path)];
    if (inside.length > 1) return false;
    if (inside.length === 1) {
      const socket = `${path}/${TEMP_SOCKET}`;
      if (inside[0].name !== TEMP_SOCKET || !Deno.lstatSync(socket).isSocket) return false;
      Deno.removeSync(socket);
    }
    Deno.removeSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `n` random characters of [0-9a-z]. */
function randomName(n: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  return [...bytes].map((b) => (b % 36).toString(36)).join("");
}

/** Remove a file or an empty folder (never throws). */
function tryRemove(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // Gone.
  }
}
