/**
 * Where event logs are kept: `<state root>/logs/<lab>-<start time>.jsonl`, one file per run,
 * written while the lab runs and kept after it stops, so a run can be examined afterwards.
 * Only the newest {@linkcode KEEP_LOGS} are kept: each start removes older logs of finished
 * runs. Only files whose names vlab gives are ever removed, and never the log of a running lab.
 *
 * @module
 */

import { stateRoot } from "./state.ts";
import { LOGS_FOLDER } from "./topology/schema.ts";

/** How many event logs the logs folder keeps (the newest; running labs' logs are always kept). */
export const KEEP_LOGS = 20;

/** A log file name as vlab writes it: `<lab>-2026-12-02T04-30-12.345Z.jsonl`. */
const LOG_NAME = /^.+-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z)\.jsonl$/;

/** The logs folder. */
export function logsDir(): string {
  return `${stateRoot()}/${LOGS_FOLDER}`;
}

/**
 * The event log path of a run of lab `name` started at `startedAt` (the folder is created,
 * mode 0700).
 *
 * @example
 * ```ts ignore
 * import { eventLogPath } from "./logs.ts";
 * eventLogPath("pair", new Date(0)); // …/logs/pair-1970-01-01T00-00-00.000Z.jsonl
 * ```
 */
export function eventLogPath(name: string, startedAt: Date): string {
  Deno.mkdirSync(logsDir(), { recursive: true, mode: 0o700 });
  return `${logsDir()}/${name}-${startedAt.toISOString().replaceAll(":", "-")}.jsonl`;
}

/**
 * Remove the oldest event logs beyond the newest `keep`, never one in `inUse` (paths of logs of
 * running labs), never a file whose name vlab did not give. Returns the removed paths.
 *
 * @example
 * ```ts ignore
 * import { pruneLogs } from "./logs.ts";
 * pruneLogs({ keep: 20, inUse: new Set() });
 * ```
 */
export function pruneLogs(options: { keep: number; inUse: ReadonlySet<string> }): string[] {
  const logs: { path: string; stamp: string }[] = [];
  try {
    for (const e of Deno.readDirSync(logsDir())) {
      const m = e.isFile ? LOG_NAME.exec(e.name) : null;
      if (m) logs.push({ path: `${logsDir()}/${e.name}`, stamp: m[1] });
    }
  } catch {
    return [];
  }
  // Newest first; the stamp sorts as text.
  logs.sort((a, b) => b.stamp.localeCompare(a.stamp) || b.path.localeCompare(a.path));
  const removed: string[] = [];
  for (const log of logs.slice(Math.max(0, options.keep))) {
    if (options.inUse.has(log.path)) continue;
    try {
      Deno.removeSync(log.path);
      removed.push(log.path);
    } catch {
      // Gone already.
    }
  }
  return removed;
}
