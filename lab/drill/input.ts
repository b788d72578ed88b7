/**
 * Reading what a drill command is given: a drill file (YAML) and, for a replay, a report
 * (`report.json`). Either is read only when it is a regular file of bounded size, so a FIFO
 * (`mkfifo f.yaml`) never blocks the command, `/dev/null` or `/dev/zero` is never taken for a
 * drill, and a folder, a missing file or a file too large is one problem with a hint. A report
 * that is not JSON is placed at its `file:line:col`.
 *
 * The topology loader makes the same checks on topology files (`lab/topology/files.ts`); its
 * reader is private to that module and speaks of topology files, so drills have this one.
 *
 * @module
 */

import { err, ok, type Result } from "../../devices/base/result.ts";
import { MAX_TOPOLOGY_BYTES } from "../topology/limits.ts";
import { quote } from "../topology/quote.ts";
import type { TopologyIssue } from "../topology/types.ts";

/** A problem with a file a drill command reads (a `DrillIssue` of `load.ts`). */
export type InputIssue = TopologyIssue & { file: string };

/** Largest drill file (1 MiB, a topology file's limit: a drill may hold its topology inline). */
export const MAX_DRILL_BYTES = MAX_TOPOLOGY_BYTES;

/** Largest report a replay reads (16 MiB: a report holds the drill and every event of its run). */
export const MAX_REPORT_BYTES = 16 * 1024 * 1024;

/** What is read: its name in messages, its size limit, and what to give instead. */
export interface InputKind {
  /** Its name in messages: `drill file`, `report`. */
  noun: string;
  /** Largest size, bytes. */
  maxBytes: number;
  /** The hint for a path that names nothing. */
  missingHint: string;
  /** The hint for a path that names no regular file (a folder, a FIFO, a device). */
  kindHint: string;
  /** The hint for a file over `maxBytes`. */
  limitHint: string;
}

/** A drill file as {@linkcode readInput} reads it. */
export const DRILL_FILE: InputKind = {
  noun: "drill file",
  maxBytes: MAX_DRILL_BYTES,
  missingHint: "shipped drills are in drills/, for example drills/link-flap.yaml",
  kindHint: "give a drill file (YAML, a regular file), for example drills/link-flap.yaml",
  limitHint: "a drill file is at most 1 MiB, as a topology file; shorten it or split the drill",
};

/**
 * A topology file a drill names, read again for its plain form once `loadTopologyFile` read and
 * checked it (it may have changed since).
 */
export const TOPOLOGY_FILE: InputKind = {
  noun: "topology file",
  maxBytes: MAX_TOPOLOGY_BYTES,
  missingHint: "give a topology file (relative to the drill file), or a shipped name such as pair",
  kindHint: "give a YAML file (a regular file)",
  limitHint: "a topology file is at most 1 MiB; split the lab or shorten the file",
};

/** A drill report as {@linkcode readInput} reads it. */
export const REPORT_FILE: InputKind = {
  noun: "report",
  maxBytes: MAX_REPORT_BYTES,
  missingHint: "give the report.json written by `vlab drill run --report DIR`",
  kindHint: "give the report.json written by `vlab drill run --report DIR` (a regular file)",
  limitHint: "a drill report is at most 16 MiB; give the report.json of `vlab drill run --report`",
};

function kindOf(info: Deno.FileInfo): string {
  if (info.isDirectory) return "it is a folder";
  if (info.isFifo) return "it is a FIFO";
  if (info.isCharDevice) return "it is a character device";
  if (info.isBlockDevice) return "it is a block device";
  if (info.isSocket) return "it is a socket";
  return "it is not a regular file";
}

/** An error's text without the runtime's `(os error N): call 'path'` tail. */
function reasonOf(e: unknown): string {
  const text = (e instanceof Error ? e.message : String(e)).split("\n")[0]
    .replace(/\s*\(os error \d+\).*$/, "");
  return text === "" ? "unknown error" : text.charAt(0).toLowerCase() + text.slice(1);
}

/**
 * The text of a drill file or a report, read only when `path` names a regular file of at most
 * `kind.maxBytes` in UTF-8; otherwise one problem with code `unreadable` (missing, not a regular
 * file, not readable, not UTF-8) or `too-large`, no line, and a hint.
 *
 * @example
 * ```ts
 * import { DRILL_FILE, readInput } from "./input.ts";
 * const r = await readInput("/dev/null", DRILL_FILE);
 * r.ok ? "" : r.error.message; // 'Cannot read drill file "/dev/null": it is a character device'
 * ```
 */
export async function readInput(
  path: string,
  kind: InputKind,
): Promise<Result<string, InputIssue>> {
  const problem = (reason: string, hint: string, code = "unreadable") =>
    err<InputIssue>({
      code,
      path: "",
      line: null,
      column: null,
      message: `Cannot read ${kind.noun} ${quote(path, 200)}: ${reason}`,
      hint,
      file: path,
    });
  const limit = kind.maxBytes >= 1024 * 1024
    ? `${kind.maxBytes / (1024 * 1024)} MiB`
    : `${kind.maxBytes} bytes`;
  let bytes: Uint8Array;
  try {
    // stat, not open: opening a FIFO blocks until a writer comes.
    const info = await Deno.stat(path);
    if (!info.isFile) return problem(kindOf(info), kind.kindHint);
    if (info.size > kind.maxBytes) {
      return problem(`it is ${info.size} bytes, more than ${limit}`, kind.limitHint, "too-large");
    }
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return problem("no such file", kind.missingHint);
    return problem(reasonOf(e), "check the path and its permissions");
  }
  // It may have grown since stat.
  if (bytes.length > kind.maxBytes) {
    return problem(`it is more than ${limit}`, kind.limitHint, "too-large");
  }
  try {
    return ok(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return problem("it is not UTF-8 text", "save the file as UTF-8");
  }
}

/** The character at `at` for a message: `"}"`, or `end of file`. */
function showChar(text: string, at: number): string {
  return at >= text.length ? "end of file" : quote(String.fromCodePoint(text.codePointAt(at)!));
}

/**
 * Where a JSON text stops being JSON, and why: the offset (UTF-16 units) of the first character
 * that cannot come there and a message; null when the text is JSON. Iterative: a deeply nested
 * text does not overflow the stack.
 *
 * @example
 * ```ts
 * import { jsonSyntaxError } from "./input.ts";
 * jsonSyntaxError('{"a": 1,\n  "b": }'); // { at: 16, message: 'Unexpected "}" where a value should be' }
 * jsonSyntaxError("[1, 2]"); // null
 * ```
 */
export function jsonSyntaxError(text: string): { at: number; message: string } | null {
  const n = text.length;
  const stack: string[] = [];
  type Want = "value" | "value-or-close" | "key" | "key-or-close" | "colon" | "next" | "end";
  let want: Want = "value";
  let i = 0;
  const fail = (at: number, message: string) => ({ at, message });
  const afterValue = (): Want => stack.length === 0 ? "end" : "next";
  const closer = () => stack.at(-1) === "{" ? "}" : "]";
  // A string from its opening quote: the offset after it, or the problem in it.
  const string = (start: number): number | { at: number; message: string } => {
    let j = start + 1;
    while (j < n) {
      const c = text.charCodeAt(j);
      if (c === 0x22) return j + 1;
      if (c === 0x5c) {
        const e = text[j + 1];
        if (e !== undefined && '"\\/bfnrt'.includes(e)) j += 2;
        else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(j + 2, j + 6))) j += 6;
        else return fail(j, "Bad escape in a string");
      } else if (c < 0x20) {
        return fail(j, "A control character (a line break, a tab) in a string must be escaped");
      } else j++;
    }
    return fail(start, "A string is not closed: it has no closing quote");
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  for (let steps = 0; steps <= n + 1; steps++) {
    while (i < n && " \t\n\r".includes(text[i])) i++;
    if (i >= n) {
      if (want === "end") return null;
      return fail(
        n,
        stack.length > 0
          ? `Unexpected end of file: a ${stack.at(-1) === "{" ? "map" : "list"} is not closed`
          : "Unexpected end of file: no JSON value",
      );
    }
    const c = text[i];
    if (want === "end") return fail(i, `Unexpected ${showChar(text, i)} after the JSON value`);
    if ((want === "value-or-close" || want === "key-or-close") && c === closer()) {
      stack.pop();
      i++;
      want = afterValue();
      continue;
    }
    if (want === "key" || want === "key-or-close") {
      if (c !== '"') {
        return fail(i, `Unexpected ${showChar(text, i)} where a key in quotes should be`);
      }
      const end = string(i);
      if (typeof end !== "number") return end;
      i = end;
      want = "colon";
    } else if (want === "colon") {
      if (c !== ":") {
        return fail(i, `Unexpected ${showChar(text, i)} where ":" should follow a key`);
      }
      i++;
      want = "value";
    } else if (want === "next") {
      if (c === ",") {
        i++;
        want = stack.at(-1) === "{" ? "key" : "value";
      } else if (c === closer()) {
        stack.pop();
        i++;
        want = afterValue();
      } else {
        return fail(i, `Unexpected ${showChar(text, i)} where "," or "${closer()}" should be`);
      }
    } else if (c === "{" || c === "[") {
      stack.push(c);
      i++;
      want = c === "{" ? "key-or-close" : "value-or-close";
    } else if (c === '"') {
      const end = string(i);
      if (typeof end !== "number") return end;
      i = end;
      want = afterValue();
    } else {
      const literal = ["true", "false", "null"].find((w) => text.startsWith(w, i));
      NUMBER.lastIndex = i;
      const number = literal === undefined ? NUMBER.exec(text) : null;
      const length = literal?.length ?? number?.[0].length ?? 0;
      if (length === 0) {
        return fail(i, `Unexpected ${showChar(text, i)} where a value should be`);
      }
      i += length;
      want = afterValue();
    }
  }
  return fail(i, "Cannot read the JSON");
}

/**
 * Read a drill report (`report.json`) for a replay: {@linkcode readInput}'s checks, then JSON;
 * text that is not JSON is one problem (code `bad-json`) at its `line` and `column`.
 *
 * @example
 * ```ts ignore
 * import { readReport } from "./input.ts";
 * const r = await readReport("out/report.json");
 * ```
 */
export async function readReport(path: string): Promise<Result<unknown, InputIssue>> {
  const text = await readInput(path, REPORT_FILE);
  if (!text.ok) return text;
  try {
    return ok(JSON.parse(text.value));
  } catch {
    const e = jsonSyntaxError(text.value) ?? { at: 0, message: "Cannot read the JSON" };
    const before = text.value.slice(0, e.at);
    const line = before.split("\n").length;
    const column = e.at - (before.lastIndexOf("\n") + 1) + 1;
    return err({
      code: "bad-json",
      path: "",
      line,
      column,
      message: `The report is not JSON: ${e.message}`,
      hint: REPORT_FILE.missingHint,
      file: path,
    });
  }
}
