/**
 * The kind of vlab file a text is, told before its problems are: `vlab validate` checks a
 * drill as a drill and a topology as a topology, and a document with a YAML-level problem (an
 * unknown tag, a duplicate key, an alias to nothing) has a kind all the same. Its top-level keys
 * as written tell it ({@linkcode vlabFileKind}); the document is not built, so nothing in it
 * can fail the look.
 *
 * @module
 */

import { type Document, isAlias, isMap, isScalar, parseDocument, type YAMLMap } from "yaml";
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
  /** The top-level `name:` (a topology's lab) when it is written as a string, else undefined. */
  name: string | undefined;
  /**
   * A drill's top-level `topology:`: the text of a string scalar, else an object (an inline
   * topology, with its `name:` when that is written as a string); undefined when absent.
   */
  topology: string | { name?: string } | undefined;
  /** Where the document's top-level map starts (1-based), as a problem of the whole file is placed. */
  at: { line: number; column: number };
}

/**
 * The kind of vlab file `text` is ({@linkcode textFileKind}), its lab's `name:` and the
 * `topology:` a drill names, all read from the top-level keys as written (the first of a
 * duplicate key): a loader that refuses a drill's YAML-level problem still says it is a drill
 * and which topology to give instead, and `vlab down FILE` still finds the lab of a file edited
 * since its lab started.
 *
 * @example
 * ```ts
 * import { textFileLook } from "./text_kind.ts";
 * textFileLook("topology: star\ntimeline: []\ntimeline: []\n").topology; // "star"
 * ```
 */
export function textFileLook(text: string): TextFileLook {
  const none = { kind: null, name: undefined, topology: undefined, at: { line: 1, column: 1 } };
  if (text.length > MAX_TOPOLOGY_BYTES) return none;
  const written = vlabTextKind(text);
  if (written !== null) return { ...none, kind: written };
  if (tooDeepAt(text) !== null) return none;
  const doc = withoutYamlEnv(() =>
    parseDocument(text.replace(/\r(?!\n)/g, "\n"), {
      uniqueKeys: false,
      prettyErrors: false,
      logLevel: "silent",
    })
  );
  if (!isMap(doc.contents)) return none;
  // Own data properties only: a key `__proto__` is a key like any other here.
  const keys = Object.fromEntries(
    doc.contents.items.flatMap((pair) =>
      isScalar(pair.key) && typeof pair.key.value === "string" ? [[pair.key.value, true]] : []
    ),
  );
  const top = doc.contents;
  const topology = valueOf(doc, top, "topology");
  const inline = isMap(topology) ? stringOf(doc, valueOf(doc, topology, "name")) : undefined;
  const start = top.range?.[0] ?? 0;
  const before = text.slice(0, start);
  const at = { line: before.split(/\r?\n|\r/).length, column: start - lastBreak(before) + 1 };
  return {
    kind: vlabFileKind(keys),
    name: stringOf(doc, valueOf(doc, top, "name")),
    topology: topology === undefined
      ? undefined
      : stringOf(doc, topology) ?? (inline === undefined ? {} : { name: inline }),
    at,
  };
}

/**
 * The value node of the first `key` of `map` (an alias resolved), null for a key with no value,
 * undefined when the key is absent.
 */
function valueOf(doc: Document, map: YAMLMap, key: string): unknown {
  const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key);
  if (pair === undefined) return undefined;
  // An alias to nothing resolves to undefined: a value all the same, not a missing key.
  return isAlias(pair.value) ? pair.value.resolve(doc) ?? null : pair.value ?? null;
}

/** The text of a string scalar node, else undefined. */
function stringOf(doc: Document, node: unknown): string | undefined {
  const n = isAlias(node) ? node.resolve(doc) : node;
  return isScalar(n) && typeof n.value === "string" ? n.value : undefined;
}

/** The offset just after the last line break of `text`, 0 when it has none. */
function lastBreak(text: string): number {
  return Math.max(text.lastIndexOf("\n"), text.lastIndexOf("\r")) + 1;
}
