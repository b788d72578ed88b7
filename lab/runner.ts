/**
 * Bring a lab up as a *registered* lab: its state folder, event log, control socket and
 * `lab.json`, around a {@linkcode Lab}. `vlab up` and `mod.ts`'s `startLab` both use it, so a
 * lab started from a script is visible to `vlab ls`, `vlab status` and `vlab down`.
 *
 * Tear-down is one function, {@linkcode RegisteredLab.stop}: shut the server, stop the workers,
 * remove the folder. It runs on `POST /down`, on Ctrl-C and SIGTERM, and when the script calls
 * it; a crash of the process leaves the folder behind, and the next command that lists labs
 * removes it as stale.
 *
 * @module
 */

import { LabError } from "./errors.ts";
import { EventLog } from "./events.ts";
import { Lab } from "./lab.ts";
import type { LabPlan } from "./plan.ts";
import { serveControl } from "./server.ts";
import { createLabDir, findLabs, labPaths, removeLabDir, writeRecord } from "./state.ts";

/** A lab with its state folder and control socket. */
export interface RegisteredLab {
  /** The running lab. */
  lab: Lab;
  /** The control socket's path. */
  socket: string;
  /** Stop everything and remove the state folder (idempotent). */
  stop(): Promise<void>;
  /** Resolves once the lab has stopped (by `stop`, `POST /down` or a signal). */
  stopped: Promise<void>;
}

/**
 * Start `plan` as a registered lab.
 *
 * @example
 * ```ts ignore
 * import { launchLab } from "./runner.ts";
 * const running = await launchLab(plan);
 * await running.stop();
 * ```
 */
export async function launchLab(plan: LabPlan): Promise<RegisteredLab> {
  const existing = (await findLabs({ clean: true })).find((l) =>
    l.status === "running" && l.record.name === plan.name
  );
  if (existing && existing.status === "running") {
    throw new LabError(
      "lab-exists",
      `Cannot start lab "${plan.name}": it is already running (pid ${existing.record.pid})`,
      `Stop it with \`vlab down ${plan.name}\`, or give this topology another name`,
    );
  }
  const paths = labPaths(plan.name);
  try {
    createLabDir(plan.name);
  } catch (e) {
    throw new LabError(
      "lab-exists",
      `Cannot create the state folder ${paths.dir}: ${e instanceof Error ? e.message : e}`,
      "Check that the folder is writable (set VLAB_STATE_DIR to use another place)",
    );
  }
  const events = new EventLog(paths.events);
  let lab: Lab;
  try {
    lab = await Lab.start(plan, { events });
  } catch (e) {
    removeLabDir(plan.name);
    throw new LabError(
      "lab-failed",
      `Cannot start lab "${plan.name}": ${e instanceof Error ? e.message : String(e)}`,
      "Run again with VLAB_DEBUG=1 for details",
    );
  }
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => resolveStopped = r);
  let stopping: Promise<void> | null = null;
  const stop = () =>
    stopping ??= (async () => {
      try {
        await server.shutdown();
      } catch {
        // Already closed.
      }
      await lab.stop();
      removeLabDir(plan.name);
      resolveStopped();
    })();
  const server = serveControl(lab, { path: paths.socket, onDown: () => void stop() });
  writeRecord({
    name: plan.name,
    pid: Deno.pid,
    socket: paths.socket,
    source: plan.source,
    startedAt: new Date(lab.startedAt).toISOString(),
    vms: plan.vms.length,
  });
  return { lab, socket: paths.socket, stop, stopped };
}
