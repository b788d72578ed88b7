/**
 * The control socket's listener, kept alive: `Deno.serve` on a Unix socket, restarted when it
 * fails. Used by the control server (`server.ts`), on the main thread.
 *
 * When the process runs out of file descriptors (a thousand idle clients against the common
 * limit of 1,024), `Deno.serve`'s accept loop ends with "Too many open files" and rejects its
 * `finished` promise; nobody awaited it, so the rejection ended the whole lab. Here the failure
 * is caught and reported, and the listener is started again with a growing back-off (50 ms to
 * 1 s) until it binds. Meanwhile new clients are refused (the socket file is gone); the
 * connections already open are still served, and the lab runs on.
 *
 * The socket is put at its path by `bindOwnerOnly` (`host/unix_socket.ts`): owner-only from the
 * moment another user could reach it, and removed at the end only if it is still this one's.
 *
 * @module
 */

import { bindOwnerOnly, type OwnSocket } from "./host/unix_socket.ts";

/** Options of {@linkcode serveResilient}. */
export interface ResilientServeOptions {
  /** Socket path (a stale file there is replaced at each start). */
  path: string;
  /** Answers a request that threw. */
  onError: (error: unknown) => Response;
  /** Told about each listener failure and each restart (for the lab's event log). */
  onTrouble: (kind: "control-socket-failed" | "control-socket-restarted", message: string) => void;
}

/** A listener that restarts itself; `shutdown` stops it for good. */
export interface ResilientServer {
  /** Stop listening, finish the requests in flight, and stop restarting. */
  shutdown(): Promise<void>;
}

const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 1000;

/**
 * Serve `handler` on a Unix socket (mode 0600), restarting the listener whenever it fails.
 * The first start throws if it cannot bind (the caller decides); later restarts retry.
 *
 * @example
 * ```ts ignore
 * import { serveResilient } from "./control_listener.ts";
 * const server = serveResilient((req) => new Response("ok"), {
 *   path: "/tmp/x.sock",
 *   onError: () => new Response("bug", { status: 500 }),
 *   onTrouble: (kind, message) => console.error(kind, message),
 * });
 * await server.shutdown();
 * ```
 */
export function serveResilient(
  handler: (req: Request) => Response | Promise<Response>,
  options: ResilientServeOptions,
): ResilientServer {
  const servers: Deno.HttpServer[] = [];
  const files: OwnSocket[] = [];
  let closing = false;
  let backoff = BACKOFF_MIN_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const listen = (): void => {
    // Owner-only from the moment it can be reached, put over a stale file in one step (bound at
    // the path and then made 0600, it took the umask's mode, 0755, for a moment).
    const { bound: server, file } = bindOwnerOnly(
      options.path,
      (at) => Deno.serve({ path: at, onListen() {}, onError: options.onError }, handler),
      (s) => void s.shutdown().catch(() => {}),
    );
    servers.push(server);
    files.push(file);
    server.finished.then(() => {}, (error) => {
      if (closing) return;
      // No listener behind it any more: its file goes, as when it was bound at the path itself.
      file.remove();
      options.onTrouble("control-socket-failed", messageOf(error));
      retry();
    });
  };

  const retry = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (closing) return;
      try {
        listen();
        backoff = BACKOFF_MIN_MS;
        options.onTrouble("control-socket-restarted", `listening again on ${options.path}`);
      } catch {
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
        retry();
      }
    }, backoff);
  };

  listen();
  return {
    async shutdown() {
      closing = true;
      clearTimeout(timer);
      await Promise.all(servers.map((s) => s.shutdown().catch(() => {})));
      for (const f of files) f.remove();
    },
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
