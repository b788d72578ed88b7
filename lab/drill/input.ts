/**
 * Reading what a drill command is given: a drill file (YAML) and, for a replay, a report
 * (`report.json`). Either is read only when it is a regular file of bounded size, so a FIFO
 * (`mkfifo f.yaml`) never blocks the command, `/dev/null` or `/dev/zero` is never taken for a
 * drill, and a folder, a missing file or a file too large is one problem with a hint. A report
 * that is not JSON is placed at its `file:line:col`.
 *
 * The reading itself is the topology loader's (`readBoundedText` of `lab/topology/files.ts`):
 * one reader makes the same checks on every file a command is given.
 *
 * @module
 */

import { err, ok, type Result } from "../../devices/base/result.ts";
import { parse as parseJsonTree } from "@humanwhocodes/momoa";
import { readBoundedText, STDIN_SOURCE, type TextFileKind } from "../topology/files.ts";
import { MAX_TOPOLOGY_BYTES } from "../topology/limits.ts";
import { vlabFileKind, vlabTextKind, wrongKindProblem } from "../topology/file_kind.ts";
import { textFileLook } from "../topology/text_kind.ts";
import type { TopologyIssue } from "../topology/types.ts";
import { checkString } from "./check.ts";
import { closestName } from "../topology/issues.ts";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";

/** A problem with a file a drill command reads (a `DrillIssue` of `load.ts`). */
export type InputIssue = TopologyIssue & { file: string };

export { STDIN_SOURCE };

/** Largest drill file (1 MiB, a topology file's limit: a drill may hold its topology inline). */
export const MAX_DRILL_BYTES = MAX_TOPOLOGY_BYTES;

/**
 * Largest report a replay reads (256 MiB). A report holds the drill, every event of its run and
 * each workload's result, a ping's about 100 bytes a request: a 16 MiB limit refused the report
 * of a drill whose ping sent 200 000 (`-c 200000 -i 0.01`, 33 minutes).
 */
export const MAX_REPORT_BYTES = 256 * 1024 * 1024;

/** What is read: its name in messages, its size limit, and what to give instead. */
export type InputKind = TextFileKind;

/** A drill file as {@linkcode readInput} reads it. */
export const DRILL_FILE: InputKind = {
  noun: "drill file",
  maxBytes: MAX_DRILL_BYTES,
  missingHint: "shipped drills are in drills/, for example drills/link-flap.yaml",
  // A pipe given as a path (`vlab drill run <(make-drill)`) is read by `-` instead.
  kindHint:
    "give a drill file (YAML, a regular file), for example drills/link-flap.yaml; `vlab drill run -` reads one piped into it",
  limitHint: "a drill file is at most 1 MiB, as a topology file; shorten it or split the drill",
};

/**
 * A topology file a drill names, read once for its check and its plain form (the drill loader
 * makes its missing-file hint say the path is relative to the drill file).
 */
export const TOPOLOGY_FILE: InputKind = {
  noun: "topology file",
  maxBytes: MAX_TOPOLOGY_BYTES,
  missingHint: "give a topology file (relative to the drill file), or a shipped name such as pair",
  kindHint: "give a YAML file (a regular file)",
  limitHint: "a topology file is at most 1 MiB; split the lab or shorten the file",
};

/** The shipped drills: `drills/` of this checkout. */
const SHIPPED_DRILLS = new URL("../../drills/", import.meta.url);

/**
 * How a drill file that may not exist is read: its hint names the shipped drill closest to the
 * path (`link-flap`, `drills/link-flp.yaml`), as a topology's names the shipped topology, by a path
 * from the current folder (absolute when the checkout is not below it).
 */
function drillKind(path: string): InputKind {
  if (path === STDIN_SOURCE) return DRILL_FILE;
  let names: string[];
  try {
    names = [...Deno.readDirSync(SHIPPED_DRILLS)]
      .filter((e) => e.isFile && e.name.endsWith(".yaml"))
      .map((e) => e.name.slice(0, -".yaml".length));
  } catch {
    return DRILL_FILE; // no drills/ to read (a script without --allow-read there): the plain hint
  }
  const base = path.slice(path.lastIndexOf("/") + 1).replace(/\.ya?ml$/i, "");
  const near = names.includes(base) ? base : closestName(base, names);
  if (near === undefined) return DRILL_FILE;
  const full = fileURLToPath(new URL(`${near}.yaml`, SHIPPED_DRILLS));
  let shown = full;
  try {
    const rel = relative(Deno.cwd(), full);
    if (!rel.startsWith("..")) shown = rel;
  } catch {
    // The current folder is gone: the absolute path.
  }
  return { ...DRILL_FILE, missingHint: `did you mean \`${shown}\`? ${DRILL_FILE.missingHint}` };
}

/** A drill report as {@linkcode readInput} reads it. */
export const REPORT_FILE: InputKind = {
  noun: "report",
  maxBytes: MAX_REPORT_BYTES,
  missingHint: "give the report.json written by `vlab drill run --report DIR`",
  kindHint:
    "give the report.json written by `vlab drill run --report DIR` (a regular file); `vlab drill replay -` reads one piped into it",
  limitHint: "a drill report is at most 256 MiB; give the report.json of `vlab drill run --report`",
};

/**
 * The text of a drill file or a report, read only when `path` names a regular file of at most
 * `kind.maxBytes` in UTF-8; otherwise one problem with code `unreadable` (missing, not a regular
 * file, not readable, binary, not UTF-8) or `too-large`, no line, and a hint.
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
  checkString("readInput", "path", path);
  const r = await readBoundedText(path, kind === DRILL_FILE ? drillKind(path) : kind);
  return r.ok ? r : err({ ...r.error, file: path });
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
  checkString("readReport", "path", path);
  const text = await readInput(path, REPORT_FILE);
  if (!text.ok) return text;
  return parseReport(text.value, path);
}

/**
 * A drill report's text (`report.json`, read by {@linkcode readReport} or from stdin) checked as
 * {@linkcode readReport} checks it: JSON, of a report's kind; `file` names it in problems.
 *
 * @example
 * ```ts
 * import { parseReport } from "./input.ts";
 * const r = parseReport("{", "<stdin>");
 * r.ok ? "" : r.error.code; // "bad-json"
 * ```
 */
export function parseReport(text: string, file: string): Result<unknown, InputIssue> {
  checkString("parseReport", "text", text);
  checkString("parseReport", "file", file);
  // The other reports a drill writes (Markdown, JUnit XML, SVG): say which, and where the
  // report.json is.
  const written = wrongKindProblem(vlabTextKind(text), "report", { file });
  if (written !== null) {
    const { code, message, hint } = written;
    return err({ code, path: "", line: 1, column: 1, message, hint, file });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    // A drill file or a topology (YAML) given to a replay: say what it is, not where it stops
    // being JSON, from its keys as written (a duplicate key or an unknown tag leaves its kind).
    const look = textFileLook(text);
    const wrong = wrongKindProblem(look.kind, "report", { file });
    if (wrong !== null) {
      const { code, message, hint } = wrong;
      return err({ code, path: "", ...look.at, message, hint, file });
    }
    const at = v8ErrorAt(e) ?? jsonErrorAt(text);
    const empty = text.trim() === "";
    return err({
      code: "bad-json",
      path: "",
      line: at?.line ?? null,
      column: at?.column ?? null,
      message: empty
        ? "The report is empty: a drill report is a JSON object"
        : `The report is not JSON: ${at?.message ?? (e instanceof Error ? e.message : e)}`,
      hint: REPORT_FILE.missingHint,
      file,
    });
  }
  // A drill or a topology written as JSON: said at the top of the file.
  const p = wrongKindProblem(vlabFileKind(value), "report", { file });
  if (p !== null) {
    const { code, message, hint } = p;
    return err({ code, path: "", line: 1, column: 1, message, hint, file });
  }
  return ok(value);
}

/**
 * The place and words of `JSON.parse`'s error when it gives a place ("Expected ':' after property
 * name in JSON at position 200 (line 10 column 13)"), or null: it is the parser that refused the
 * text, and at the end of a cut file momoa named the last token read ("Unexpected string" at a
 * well-formed key) instead of what is missing after it.
 */
function v8ErrorAt(e: unknown): { line: number; column: number; message: string } | null {
  const m = e instanceof SyntaxError
    ? /^(.+) in JSON at position \d+ \(line (\d+) column (\d+)\)$/.exec(e.message)
    : null;
  return m === null ? null : { line: Number(m[2]), column: Number(m[3]), message: m[1] };
}

/** momoa's names of JSON's punctuation, as a message shows them. */
const JSON_PUNCTUATION: Record<string, string> = {
  LBrace: '"{"',
  RBrace: '"}"',
  LBracket: '"["',
  RBracket: '"]"',
  Colon: '":"',
  Comma: '","',
};

/**
 * Where a text that `JSON.parse` refused stops being JSON (V8's own message often gives no
 * place): the line, column and message of momoa's parser (`@humanwhocodes/momoa`, a JSON
 * parser that keeps positions), or null when it finds none or its nesting is too deep for it.
 */
function jsonErrorAt(text: string): { line: number; column: number; message: string } | null {
  try {
    parseJsonTree(text);
  } catch (e) {
    const at = e as { line?: unknown; column?: unknown; message?: unknown };
    if (typeof at.line === "number" && typeof at.column === "number") {
      // "Unexpected token RBrace found. (2:8)": the place is given apart, the token as written.
      const message = String(at.message).replace(/\s*\(\d+:\d+\)$/, "")
        .replace(/ found\.?$/, "")
        .replace(/token (\w+)$/, (_, t: string) => JSON_PUNCTUATION[t] ?? t.toLowerCase());
      return { line: at.line, column: at.column, message };
    }
  }
  return null;
}
