/**
 * Where `vlab capture -w FILE` writes: stdout for `-` (and `/dev/stdout`), else a file that is
 * checked before the lab is asked anything, so that a folder, a missing folder or a path that
 * cannot be looked at is a clear `write-failed` error (with the system's reason) rather than a
 * failure half-way; a write that fails later (`/dev/full`) is one too.
 *
 * @module
 */

import { MAX_CAPTURE_MS } from "../lab/capture.ts";
import { quote } from "../lab/topology/mod.ts";
import { ioReason, OutputError, VlabError } from "./errors.ts";
import { count } from "../devices/base/plural.ts";

/** Longest `capture --duration`, seconds (a week: the lab's {@linkcode MAX_CAPTURE_MS}). */
export const MAX_CAPTURE_SECONDS = MAX_CAPTURE_MS / 1000;

/** Names of this process's standard output, written to as `-` is (never opened or truncated). */
const STDOUT_NAMES = new Set(["-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]);

function captureWriteError(path: string, why: string, hint: string): VlabError {
  return new VlabError("write-failed", `Cannot write the capture to ${quote(path)}: ${why}`, {
    hint,
  });
}

/**
 * Check, before anything is asked of the lab, that `capture -w FILE` can write FILE: it is not a
 * folder and its folder exists; for stdout (`-`, the default), that it is no terminal
 * (`stdoutIsTerminal`: the process's, or a test's). Throws a `write-failed` error.
 *
 * @example
 * ```ts
 * import { checkCaptureSink } from "./capture_sink.ts";
 * await checkCaptureSink("-"); // stdout: always fine
 * ```
 */
export async function checkCaptureSink(
  path: string,
  stdoutIsTerminal: () => boolean = () => Deno.stdout.isTerminal(),
): Promise<void> {
  if (STDOUT_NAMES.has(path)) {
    // pcap is binary: on a terminal it is garbage that may reprogram it (tshark refuses too).
    if (stdoutIsTerminal()) {
      throw captureWriteError(
        path,
        "standard output is a terminal, and pcap is binary",
        "Write it to a file (-w a-b.pcap) or into a reader: vlab capture a-b | tshark -r -",
      );
    }
    return;
  }
  const stat = await statOrNull(path);
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
  const parent = await statOrNull(folder);
  if (parent === null || !parent.isDirectory) {
    throw captureWriteError(
      path,
      parent === null
        ? `folder ${quote(folder)} does not exist`
        : `${quote(folder)} is not a folder`,
      "Create the folder first, or write to - (stdout)",
    );
  }
}

/**
 * What `path` is, or null when nothing is there. Any other failure (permission denied, a loop
 * of symbolic links, a file used as a folder) is the capture's `write-failed` error, with the
 * system's reason: it is not "missing".
 */
async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    // `-w notes.txt/a.pcap`: which of its folders is a file, as `--report` says it, not the
    // system's bare "not a directory".
    if (e instanceof Deno.errors.NotADirectory) {
      const file = fileOnTheWay(path);
      if (file !== null) {
        throw captureWriteError(
          path,
          `${quote(file)} is a file, not a folder`,
          "Give a path whose folders are folders, or - for stdout",
        );
      }
    }
    throw openError(path, e);
  }
}

/** The nearest parent of `path` that exists, when it is a file (not a folder); else null. */
function fileOnTheWay(path: string): string | null {
  let at = path;
  for (let n = 0; n < 256; n++) {
    const slash = at.lastIndexOf("/");
    if (slash <= 0) return null;
    at = at.slice(0, slash);
    try {
      return Deno.statSync(at).isFile ? at : null;
    } catch {
      // Not there either (or not reachable): look one level up.
    }
  }
  return null;
}

/**
 * Why `path` cannot be opened or looked at. Deno refuses the files under /dev, /proc and /sys
 * (`/dev/full`, a tty) without `--allow-all`, which the `vlab` task does not give: the message
 * says so in vlab's words (`ioReason`; Deno's own asks to run again with a flag the user cannot
 * pass to vlab), and the hint gives what works.
 */
function openError(path: string, e: unknown): VlabError {
  if (e instanceof Deno.errors.NotCapable) {
    return captureWriteError(
      path,
      ioReason(e),
      "Write to - (stdout) and redirect it (vlab capture a-b > FILE), or give a regular file",
    );
  }
  return captureWriteError(path, ioReason(e), "Give a file you can write, or - for stdout");
}

/**
 * The error a capture ends with when writing its sink failed: for a file, `write-failed`
 * naming the file and why (`/dev/full`: no space left on device), and, when `held` says what
 * the file kept (its whole records, see {@linkcode keepWholeRecords}), a hint that says so; for
 * stdout, the error as it is (a closed stdout ends the command quietly, see `main.ts`).
 *
 * @example
 * ```ts
 * import { captureSinkError } from "./capture_sink.ts";
 * import { OutputError } from "./errors.ts";
 *
 * const full = new OutputError("the output", new Error("No space left on device (os error 28)"));
 * (captureSinkError("/dev/full", full) as Error).message;
 * // 'Cannot write the capture to "/dev/full": no space left on device'
 * ```
 */
export function captureSinkError(
  path: string,
  error: unknown,
  held?: { kept: number; unit: "frame" | "packet" },
): unknown {
  if (STDOUT_NAMES.has(path) || !(error instanceof OutputError)) return error;
  return captureWriteError(
    path,
    ioReason(error.cause),
    held === undefined
      ? "Give a file you can write, or - for stdout"
      : `The file holds the first ${count(held.kept, held.unit)}, a valid pcap; ` +
        "free some space or give another file (or - for stdout)",
  );
}

/**
 * Cut `file` back to its first `bytes`, the end of its last whole record: a write that failed
 * in the middle of a record (a full disk, a file size limit) leaves none of it, so the file is
 * a valid pcap, never one that readers call "cut short in the middle of a packet".
 *
 * @example
 * ```ts ignore
 * import { keepWholeRecords } from "./capture_sink.ts";
 * keepWholeRecords(file, 24 + 16 + 60); // the global header and one 60-byte frame
 * ```
 */
export function keepWholeRecords(file: Deno.FsFile, bytes: number): void {
  try {
    file.truncateSync(bytes);
  } catch {
    // Nothing more to do: the write's error is the one the capture ends with.
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
    throw openError(path, e);
  }
}
