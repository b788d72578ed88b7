/**
 * Where `vlab capture -w FILE` writes: stdout for `-` (and `/dev/stdout`), else a file that is
 * checked before the lab is asked anything, so that a folder or a missing folder is a clear
 * `write-failed` error rather than a failure half-way.
 *
 * @module
 */

import { quote } from "../lab/topology/mod.ts";
import { VlabError } from "./errors.ts";

/** Longest `capture --duration`, seconds (a week; timers cannot run much longer). */
export const MAX_CAPTURE_SECONDS = 604_800;

/** Names of this process's standard output, written to as `-` is (never opened or truncated). */
const STDOUT_NAMES = new Set(["-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]);

function captureWriteError(path: string, why: string, hint: string): VlabError {
  return new VlabError("write-failed", `Cannot write the capture to ${quote(path)}: ${why}`, {
    hint,
  });
}

/**
 * Check, before anything is asked of the lab, that `capture -w FILE` can write FILE: it is not a
 * folder and its folder exists. Throws a `write-failed` error.
 *
 * @example
 * ```ts
 * import { checkCaptureSink } from "./capture_sink.ts";
 * await checkCaptureSink("-"); // stdout: always fine
 * ```
 */
export async function checkCaptureSink(path: string): Promise<void> {
  if (STDOUT_NAMES.has(path)) return;
  const stat = await Deno.stat(path).catch(() => null);
  if (stat?.isDirectory) {
    throw captureWriteError(
      path,
      "it is a folder",
      "Give a file name such as a-b.pcap, or - for stdout",
    );
  }
  if (stat !== null) return;
  const slash = path.lastIndexOf("/");
  const folder = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  const parent = await Deno.stat(folder).catch(() => null);
  if (parent === null || !parent.isDirectory) {
    throw captureWriteError(
      path,
      `folder ${quote(folder)} does not exist`,
      "Create the folder first, or write to - (stdout)",
    );
  }
}

/**
 * Where `capture -w FILE` writes: stdout for `-` (and `/dev/stdout`), else FILE, created or
 * truncated. A path that cannot be opened is a `write-failed` error naming it and why.
 *
 * @example
 * ```ts
 * import { openCaptureSink } from "./capture_sink.ts";
 * (await openCaptureSink("/dev/stdout")) === Deno.stdout; // true
 * ```
 */
export async function openCaptureSink(path: string): Promise<Deno.FsFile | typeof Deno.stdout> {
  if (STDOUT_NAMES.has(path)) return Deno.stdout;
  await checkCaptureSink(path);
  try {
    return await Deno.open(path, { create: true, write: true, truncate: true });
  } catch (e) {
    const why = e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : e instanceof Error
      ? e.message
      : String(e);
    throw captureWriteError(path, why, "Give a file you can write, or - for stdout");
  }
}
