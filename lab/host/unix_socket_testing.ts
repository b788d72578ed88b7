/**
 * Test support for the lab's Unix socket files (`unix_socket.ts`): run code while watching, at
 * each step that binds, moves or changes the mode of a file, whether another user could connect
 * to a socket it bound. Test support only; nothing in the lab imports it.
 *
 * @module
 */

/**
 * Whether a user other than the owner could connect to the Unix socket at `path` (an absolute
 * path): a connect needs search permission on every folder of the path and write permission on
 * the socket, for the group or for others.
 *
 * @example
 * ```ts ignore
 * import { reachableByOthers } from "./unix_socket_testing.ts";
 * reachableByOthers("/tmp/vlab-1000/pair/control.sock"); // false: the state folder is 0700
 * ```
 */
export function reachableByOthers(path: string): boolean {
  if ((Deno.lstatSync(path).mode! & 0o022) === 0) return false;
  for (
    let at = path.slice(0, path.lastIndexOf("/"));
    at !== "";
    at = at.slice(0, at.lastIndexOf("/"))
  ) {
    if ((Deno.statSync(at).mode! & 0o011) === 0) return false;
  }
  return true;
}

/** What {@linkcode watchSocketModes} saw. */
export interface SocketWatch<T> {
  /** What the watched function returned. */
  value: T;
  /**
   * Each moment a socket it bound could be reached by another user, or a socket at one of the
   * watched paths had a mode other than 0600: "after Deno.serve: /tmp/x/control.sock mode 777".
   */
  exposures: string[];
}

/**
 * Run `f` with the umask at 0 (the loosest a user may set: a socket is bound with mode 0777) and
 * look, after each `Deno.listen`, `Deno.serve`, `Deno.chmodSync` and `Deno.renameSync` it makes on
 * this thread, at every Unix socket bound so far (followed through renames) and at the socket
 * at each of `paths`, if any. The umask and the functions are put back at the end.
 *
 * @example
 * ```ts ignore
 * import { watchSocketModes } from "./unix_socket_testing.ts";
 * const { exposures } = await watchSocketModes(["/tmp/x/a.sock"], () => listen("/tmp/x/a.sock"));
 * ```
 */
export async function watchSocketModes<T>(
  paths: string[],
  f: () => T | Promise<T>,
): Promise<SocketWatch<T>> {
  const exposures: string[] = [];
  const bound = new Set<string>();
  const look = (when: string) => {
    for (const p of bound) {
      try {
        const info = Deno.lstatSync(p);
        if (info.isSocket && reachableByOthers(p)) {
          exposures.push(`${when}: ${p} mode ${(info.mode! & 0o777).toString(8)}, reachable`);
        }
      } catch {
        // Gone (renamed, removed).
      }
    }
    for (const p of paths) {
      try {
        const info = Deno.lstatSync(p);
        const mode = info.mode! & 0o777;
        if (info.isSocket && mode !== 0o600) {
          exposures.push(`${when}: ${p} mode ${mode.toString(8)}`);
        }
      } catch {
        // Not there.
      }
    }
  };
  const pathOf = (args: unknown[]): string | undefined => {
    for (const a of args) {
      if (typeof a === "object" && a !== null && "path" in a && typeof a.path === "string") {
        return a.path;
      }
    }
    return undefined;
  };
  // deno-lint-ignore no-explicit-any
  const d = Deno as any;
  const original = {
    listen: d.listen,
    serve: d.serve,
    chmodSync: d.chmodSync,
    renameSync: d.renameSync,
  };
  d.listen = (...args: unknown[]) => {
    const r = original.listen.apply(Deno, args);
    const p = pathOf(args);
    if (p !== undefined) bound.add(p);
    look("after Deno.listen");
    return r;
  };
  d.serve = (...args: unknown[]) => {
    const r = original.serve.apply(Deno, args);
    const p = pathOf(args);
    if (p !== undefined) bound.add(p);
    look("after Deno.serve");
    return r;
  };
  d.chmodSync = (...args: unknown[]) => {
    const r = original.chmodSync.apply(Deno, args);
    look("after Deno.chmodSync");
    return r;
  };
  d.renameSync = (from: string | URL, to: string | URL) => {
    const r = original.renameSync.call(Deno, from, to);
    if (bound.has(String(from))) bound.add(String(to));
    look("after Deno.renameSync");
    return r;
  };
  const umask = Deno.umask(0);
  try {
    return { value: await f(), exposures };
  } finally {
    Deno.umask(umask);
    Object.assign(d, original);
  }
}
