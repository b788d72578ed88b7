/**
 * The kind of vlab file a text is, told before its problems are: `vlab validate` checks a
 * drill as a drill and a topology as a topology, and a document with a YAML-level problem (an
 * unknown tag, a duplicate key, an alias to nothing) has a kind all the same. Its top-level keys
 * as written tell it ({@linkcode vlabFileKind}); the document is not built, so nothing in it
 * can fail the look.
 *
 * @module
 */

import { isMap, isScalar, parseDocument } from "yaml";
import { type VlabFileKind, vlabFileKind, vlabTextKind } from "./file_kind.ts";
import { MAX_TOPOLOGY_BYTES } from "./limits.ts";
import { tooDeepAt } from "./depth.ts";
import { withoutYamlEnv } from "./yaml_env.ts";

/**
 * The kind of vlab file `text` is, whatever its problems: a report a drill wrote (Markdown,
 * JUnit XML, SVG) by its text, a YAML or JSON document by its top-level keys; null for text of
 * no known kind, more than {@linkcode MAX_TOPOLOGY_BYTES}, or nested too deep to read.
 *
 * @example
 * ```ts
 * import { textFileKind } from "./text_kind.ts";
 * textFileKind("topology: pair\ntimeline: []\nassert:\n  - !p.received\n"); // "drill"
 * textFileKind("name: x\nname: y\nvms: {}\n"); // "topology"
 * textFileKind("just text"); // null
 * ```
 */
export function textFileKind(text: string): VlabFileKind | null {
  return textFileLook(text).kind;
}

/** What {@linkcode textFileLook} tells of a text without building its document. */
export interface TextFileLook {
  /** The kind of vlab file the text is ({@linkcode textFileKind}). */
  kind: VlabFileKind | null;
  /**
   * A drill's top-level `topology:` as a message names it: the text of a plain or quoted
   * scalar, `{}` for anything else written there (an inline topology), undefined when absent.
   */
  topology: string | Record<string, never> | undefined;
  /** Where the document's top-level map starts (1-based), as a problem of the whole file is placed. */
  at: { line: number; column: number };
}

/**
 * The kind of vlab file `text` is ({@linkcode textFileKind}) and the top-level `topology:` a
 * drill names, both read from the keys as written: a loader that refuses a drill's YAML-level
 * problem still says it is a drill, and which topology to give instead.
 *
 * @example
 * ```ts
 * import { textFileLook } from "./text_kind.ts";
 * textFileLook("topology: star\ntimeline: []\ntimeline: []\n").topology; // "star"
 * ```
 */
export function textFileLook(text: string): TextFileLook {
  const top = { line: 1, column: 1 };
  if (text.length > MAX_TOPOLOGY_BYTES) return { kind: null, topology: undefined, at: top };
  const written = vlabTextKind(text);
  if (written !== null) return { kind: written, topology: undefined, at: top };
  if (tooDeepAt(text) !== null) return { kind: null, topology: undefined, at: top };
  const doc = withoutYamlEnv(() =>
    parseDocument(text.replace(/\r(?!\n)/g, "\n"), {
      uniqueKeys: false,
      prettyErrors: false,
      logLevel: "silent",
    })
  );
  if (!isMap(doc.contents)) return { kind: null, topology: undefined, at: top };
  // Own data properties only: a key `__proto__` is a key like any other here.
  const keys = Object.fromEntries(
    doc.contents.items.flatMap((pair) =>
      isScalar(pair.key) && typeof pair.key.value === "string" ? [[pair.key.value, true]] : []
    ),
  );
  // The first `topology:` written, as a duplicate key's first is the one a reader reports.
  const pair = doc.contents.items.find((p) => isScalar(p.key) && p.key.value === "topology");
  const value = pair?.value;
  const topology = pair === undefined
    ? undefined
    : isScalar(value) && typeof value.value === "string"
    ? value.value
    : {};
  const start = doc.contents.range?.[0] ?? 0;
  const before = text.slice(0, start);
  const at = { line: before.split(/\r?\n|\r/).length, column: start - lastBreak(before) + 1 };
  return { kind: vlabFileKind(keys), topology, at };
}

/** The offset just after the last line break of `text`, 0 when it has none. */
function lastBreak(text: string): number {
  return Math.max(text.lastIndexOf("\n"), text.lastIndexOf("\r")) + 1;
}
