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
  if (text.length > MAX_TOPOLOGY_BYTES) return null;
  const written = vlabTextKind(text);
  if (written !== null) return written;
  if (tooDeepAt(text) !== null) return null;
  const doc = withoutYamlEnv(() =>
    parseDocument(text.replace(/\r(?!\n)/g, "\n"), {
      uniqueKeys: false,
      prettyErrors: false,
      logLevel: "silent",
    })
  );
  if (!isMap(doc.contents)) return null;
  // Own data properties only: a key `__proto__` is a key like any other here.
  const keys = Object.fromEntries(
    doc.contents.items.flatMap((pair) =>
      isScalar(pair.key) && typeof pair.key.value === "string" ? [[pair.key.value, true]] : []
    ),
  );
  return vlabFileKind(keys);
}
