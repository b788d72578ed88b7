/**
 * The client side of the control socket, for the CLI and scripts: find the lab the user means
 * (cleaning stale state on the way) and send it a request over its Unix socket.
 *
 * @module
 */

import { LabError } from "./errors.ts";
import { findLabs, type LabRecord, removeLabDir } from "./state.ts";

/**
 * The running lab called `name`, or the only running lab when `name` is undefined.
 *
 * @example
 * ```ts ignore
 * import { resolveLab } from "./client.ts";
 * const record = await resolveLab(undefined); // throws a LabError when no lab (or several) run
 * ```
 */
export async function resolveLab(name: string | undefined): Promise<LabRecord> {
  const running = (await findLabs({ clean: true })).flatMap((l) =>
    l.status === "running" ? [l.record] : []
  );
  if (name !== undefined) {
    const found = running.find((r) => r.name === name);
    if (found) return found;
    throw new LabError(
      "no-lab",
      `No lab named "${name}" is running`,
      running.length > 0
        ? `Running labs: ${running.map((r) => r.name).join(", ")}`
        : "Start one with `vlab up`",
    );
  }
  if (running.length === 1) return running[0];
  if (running.length === 0) {
    throw new LabError("no-lab", "No lab is running", "Start one with `vlab up` (or `vlab up -d`)");
  }
  throw new LabError(
    "ambiguous-lab",
    `${running.length} labs are running: say which one`,
    `Add --lab NAME, one of ${running.map((r) => r.name).join(", ")}`,
  );
}

/**
 * Send a request to a lab's control socket; close the returned client once the body is read.
 * A socket that does not answer means the lab died:
 * its state is removed and a `no-lab` error is thrown.
 */
export async function controlFetch(
  record: LabRecord,
  path: string,
  init: RequestInit = {},
): Promise<{ res: Response; client: Deno.HttpClient }> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: record.socket } });
  try {
    return { res: await fetch(`http://vlab${path}`, { ...init, client }), client };
  } catch (e) {
    client.close();
    const msg = e instanceof Error ? e.message : String(e);
    if (/refused|not found|No such file|ENOENT|connect/i.test(msg)) {
      removeLabDir(record.name);
      throw new LabError(
        "no-lab",
        `Lab "${record.name}" does not answer on its control socket (its state was removed)`,
        "Start it again with `vlab up`",
      );
    }
    throw new LabError("control-error", `Cannot reach lab "${record.name}": ${msg}`, "Try again");
  }
}

/** Send a request and parse a JSON answer; a JSON error answer becomes a `LabError`. */
export async function controlJson<T>(
  record: LabRecord,
  path: string,
  init: RequestInit = {},
): Promise<T> {
  const { res, client } = await controlFetch(record, path, init);
  const body = await res.json().catch(() => null);
  client.close();
  if (!res.ok) {
    const e = (body as { error?: { code?: string; message?: string; hint?: string } })?.error;
    const code = e?.code === "unknown-vm" || e?.code === "unknown-link" ||
        e?.code === "workload-failed"
      ? e.code
      : "control-error";
    throw new LabError(
      code,
      e?.message ?? `The lab answered ${res.status}`,
      e?.hint ?? "See the lab's event log",
    );
  }
  return body as T;
}
