/**
 * What kind of vlab file a document is, from its top-level keys, so that a file given to the
 * wrong command gets one clear problem ("a drill file, not a topology") with a hint naming the
 * command that takes it, instead of one "unknown key" per key of the other format.
 *
 * One mechanism for every reader: the topology loader (`load.ts`: `vlab up`, `validate`,
 * `graph`, a drill's `topology:`), the drill loader (`lab/drill/load.ts`: `vlab drill run`) and
 * the report reader (`lab/drill/input.ts`: `vlab drill replay`) each ask {@linkcode vlabFileKind}
 * and, when the file is of another known kind, report {@linkcode wrongKindProblem} alone. A
 * text whose document cannot be built (a duplicate key, an unknown tag, an alias to nothing) is
 * told from the same keys as written by `textFileKind` (`text_kind.ts`), which the loaders ask
 * then, and every command that looks at a file before it loads it (`vlab validate`, `graph`,
 * `down`, the hint that says how to start a lab again) asks first.
 * A document of no known kind (a typo in every key, an empty map) is left to the reader's own
 * checks, which say what is missing. Pure: no runtime, no YAML.
 *
 * @module
 */

import type { Problem } from "./issues.ts";
import { escapeControl } from "../../devices/base/quote.ts";

/**
 * The kinds of file vlab reads or writes: the three it reads, `vlab schema`'s output, and the
 * other reports a drill writes (`report.md`, the JUnit XML, `chart.svg`), which are read by none.
 */
export type VlabFileKind =
  | "topology"
  | "drill"
  | "report"
  | "schema"
  | "markdown-report"
  | "junit-report"
  | "chart";

/** Keys only a topology has at its top level. */
const TOPOLOGY_KEYS = ["vms", "switches", "links", "vsock_routers", "defaults"];

/**
 * The kind of vlab file a parsed document is, from its top-level keys, or null when it is no
 * map or has none of the keys that tell: a drill report has `steps` with `version` or
 * `document` (`vlab drill run --report`), the JSON Schema has `$schema` and `properties`
 * (`vlab schema`), a drill has `timeline` or `topology` and no `vms`, a topology has `vms`,
 * `switches`, `links`, `vsock_routers` or `defaults`.
 *
 * @example
 * ```ts
 * import { vlabFileKind } from "./file_kind.ts";
 * vlabFileKind({ topology: "pair", timeline: [] }); // "drill"
 * vlabFileKind({ name: "x", vms: {} }); // "topology"
 * vlabFileKind("text"); // null
 * ```
 */
export function vlabFileKind(value: unknown): VlabFileKind | null {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
  const has = (key: string) => Object.hasOwn(value, key);
  if (has("steps") && (has("version") || has("document"))) return "report";
  if (has("$schema") && has("properties")) return "schema";
  if ((has("timeline") || has("topology")) && !has("vms")) return "drill";
  if (TOPOLOGY_KEYS.some(has)) return "topology";
  return null;
}

/**
 * The kind of a file that is no YAML or JSON document but one of the other files a drill writes,
 * told from its text: the Markdown report (`# Drill NAME: PASS`), the JUnit XML
 * (`<testsuites name="vlab drills"`), the chart (`<svg`); null for any other text.
 *
 * @example
 * ```ts
 * import { vlabTextKind } from "./file_kind.ts";
 * vlabTextKind("# Drill flap: PASS\n\n- source: `d.yaml`\n"); // "markdown-report"
 * vlabTextKind("name: x\n"); // null
 * ```
 */
export function vlabTextKind(text: string): VlabFileKind | null {
  const start = text.trimStart();
  if (/^# Drill .*: (PASS|FAIL)\r?\n/.test(start)) return "markdown-report";
  if (start.startsWith("<?xml") && start.slice(0, 400).includes('<testsuites name="vlab drills"')) {
    return "junit-report";
  }
  if (start.startsWith("<svg")) return "chart";
  return null;
}

/**
 * The replay of the run a written report is of: the report.json beside it (`--report DIR` writes
 * report.md, chart.svg and report.json together), `file` being the written report's path as
 * the hint shows it, or `FILE`.
 */
function besideIt(file: string): string {
  const slash = file.lastIndexOf("/");
  const dir = file === "FILE" ? "DIR/" : slash < 0 ? "" : file.slice(0, slash + 1);
  return `replay the report.json beside it: \`vlab drill replay ${dir}report.json\``;
}

/** The reports a drill writes for people and CI: their hint already names the replay. */
const WRITTEN_KINDS: ReadonlySet<VlabFileKind> = new Set([
  "markdown-report",
  "junit-report",
  "chart",
]);

/** How each kind is named in a message, and the command that takes it. */
const KINDS: ReadonlyMap<VlabFileKind, { noun: string; command: (file: string) => string }> =
  new Map([
    ["topology", { noun: "a topology", command: (f: string) => `start it with \`vlab up ${f}\`` }],
    ["drill", {
      noun: "a drill file",
      command: (f: string) => `run it with \`vlab drill run ${f}\``,
    }],
    [
      "report",
      {
        noun: "a drill report (report.json)",
        command: (f: string) => `replay it with \`vlab drill replay ${f}\``,
      },
    ],
    [
      "schema",
      {
        noun: "the JSON Schema of topology files (`vlab schema`)",
        command: () => "point your editor at it (docs/topology.md)",
      },
    ],
    ["markdown-report", { noun: "a drill's Markdown report (report.md)", command: besideIt }],
    [
      "junit-report",
      {
        noun: "a drill's JUnit XML report",
        command: () =>
          "replay the run's report.json instead (`vlab drill run --report DIR` writes it)",
      },
    ],
    ["chart", { noun: "a drill's chart (chart.svg)", command: besideIt }],
  ]);

/** An argument as a shell takes it back: bare when plain, else in single quotes. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(text)
    ? text
    : `'${escapeControl(text).replace(/'/g, "'\\''")}'`;
}

/**
 * The one problem (code `wrong-kind`, at the document's top) of a document of kind `found` read
 * as a `wanted`, or null when the kinds agree or `found` is null. `options.file` is the path the
 * hint's command names (`FILE` when left out or not a path, as `<object>`); `options.topology`,
 * the `topology:` of a drill read as a topology, is named as what to give instead.
 *
 * @example
 * ```ts
 * import { wrongKindProblem } from "./file_kind.ts";
 * wrongKindProblem("drill", "topology", { file: "d.yaml", topology: "pair" })?.hint;
 * // "give its topology instead (pair), or run it with `vlab drill run d.yaml`"
 * ```
 */
export function wrongKindProblem(
  found: VlabFileKind | null,
  wanted: VlabFileKind,
  options: { file?: string; topology?: unknown } = {},
): Problem | null {
  if (found === null || found === wanted) return null;
  const file = options.file === undefined || options.file.startsWith("<")
    ? "FILE"
    : shellWord(options.file);
  const is = KINDS.get(found)!;
  const want = KINDS.get(wanted)!;
  let hint = is.command(file);
  if (found === "drill" && wanted === "topology") {
    const named = typeof options.topology === "string" && options.topology.length <= 200
      ? ` (${shellWord(options.topology)})`
      : options.topology !== undefined
      ? " (it is written inline under its `topology:`)"
      : "";
    hint = `give its topology instead${named}, or ${hint}`;
  } else if (wanted === "drill" && found === "topology") {
    hint = `${hint}; a drill names its topology under \`topology:\` (docs/drills.md)`;
  } else if (wanted === "report" && !WRITTEN_KINDS.has(found)) {
    hint = `${hint}; a replay takes the report.json written by \`vlab drill run --report DIR\``;
  }
  return {
    code: "wrong-kind",
    path: [],
    message: `This is ${is.noun}, not ${want.noun}`,
    hint,
  };
}
