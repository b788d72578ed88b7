/**
 * YAML merge keys (`<<: *base`), as topology and drill files may use them: the `yaml` library
 * merges them when it converts a document (`merge: true` in `parseYamlDocument`), and this module
 * does what the library does not: it finds where a merged key is written, so that a problem of
 * a value that came through a merge is located at the alias that brought it (as a problem of a
 * value that came through a plain alias is), and it reports a merge of something that is not a
 * map at that value, where the library would throw while converting.
 *
 * Merge semantics (https://yaml.org/type/merge.html, and the library's): a key written in the
 * map wins over a merged one, wherever it is written; among merges, the first `<<` and, in a
 * list, the first map that has the key wins.
 *
 * It also reads every plain map key as written (`keysAsWritten`): in a topology a key is a name,
 * and YAML would make `null:` the key `""` and `0x10:` the key `"16"`.
 *
 * Called by `load.ts` on the thread that validates.
 *
 * @module
 */

import {
  type Alias,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  type Pair,
  visit,
  type YAMLMap,
} from "yaml";
import type { TopologyIssue } from "./types.ts";

/** Merges followed at most through this many maps (a merge of a map into itself is a loop). */
const MAX_MERGE_DEPTH = 64;

/**
 * Whether a map key is the merge key `<<` (written plain: a quoted `"<<"` is an ordinary key).
 *
 * @example
 * ```ts
 * import { parseDocument, type YAMLMap } from "yaml";
 * import { isMergeKey } from "./yaml_merge.ts";
 * const doc = parseDocument("a: &a { x: 1 }\nb: { <<: *a }\n", { merge: true });
 * const b = (doc.contents as YAMLMap).items[1].value as YAMLMap;
 * isMergeKey(b.items[0].key); // true
 * ```
 */
export function isMergeKey(key: unknown): boolean {
  return isScalar(key) && typeof key.value === "symbol" && key.value.description === "<<";
}

/** A map key as `toJS` writes it in the plain value: an empty or null key is `""`. */
export function keyText(key: unknown): string {
  const value = isScalar(key) ? key.value : key;
  return value === null || value === undefined ? "" : String(value);
}

/** The nodes a merge key's value names: itself, or each item of a list. */
function sources(value: unknown): unknown[] {
  return isSeq(value) ? value.items : [value];
}

/** Where a key of a map is written: its pair, and the alias it came through, if any. */
export interface FoundPair {
  /** The pair that gives the key its value. */
  pair: Pair;
  /** The alias (`*base`) of the merge that brought the pair into the map, or null. */
  alias: Alias | null;
}

/**
 * The pair that gives `key` its value in `map`, following merge keys: the map's own pair, else
 * the first merged map's (through aliases). Null when no pair has the key.
 *
 * @example
 * ```ts
 * import { parseDocument, type YAMLMap } from "yaml";
 * import { findPair } from "./yaml_merge.ts";
 * const doc = parseDocument("a: &a { x: 1 }\nb: { <<: *a }\n", { merge: true });
 * const b = (doc.contents as YAMLMap).items[1].value as YAMLMap;
 * findPair(doc, b, "x")?.alias?.source; // "a"
 * ```
 */
export function findPair(doc: Document, map: YAMLMap, key: string, depth = 0): FoundPair | null {
  const own = map.items.find((p) => !isMergeKey(p.key) && keyText(p.key) === key);
  if (own !== undefined) return { pair: own, alias: null };
  if (depth >= MAX_MERGE_DEPTH) return null;
  for (const p of map.items) {
    if (!isMergeKey(p.key)) continue;
    for (const source of sources(p.value)) {
      const target = isAlias(source) ? source.resolve(doc) : source;
      if (!isMap(target)) continue;
      const found = findPair(doc, target, key, depth + 1);
      if (found !== null) {
        return { pair: found.pair, alias: isAlias(source) ? source : found.alias };
      }
    }
  }
  return null;
}

/**
 * Merge keys whose value is not a map, an alias of a map, or a list of those, as `yaml-syntax`
 * issues at that value (the library would throw "Merge sources must be maps" without a place).
 *
 * @example
 * ```ts
 * import { LineCounter, parseDocument } from "yaml";
 * import { mergeIssues } from "./yaml_merge.ts";
 * const lineCounter = new LineCounter();
 * const doc = parseDocument("a: { <<: 1 }\n", { lineCounter, merge: true });
 * mergeIssues(doc, lineCounter)[0].column; // 10
 * ```
 */
/**
 * A problem of the YAML itself, placed at where `node` starts in the file (its line:column).
 *
 * @example
 * ```ts
 * import { LineCounter, parseDocument } from "yaml";
 * import { issueAt } from "./yaml_merge.ts";
 * const lineCounter = new LineCounter();
 * const doc = parseDocument("a: 1\n", { lineCounter });
 * issueAt(doc.contents!, lineCounter, "yaml-syntax", "m", "h").line; // 1
 * ```
 */
export function issueAt(
  node: { range?: readonly number[] | null },
  lineCounter: LineCounter,
  code: "yaml-syntax" | "duplicate-key",
  message: string,
  hint: string,
): TopologyIssue {
  const at = lineCounter.linePos(node.range?.[0] ?? 0);
  return { code, path: "", line: at.line, column: at.col, message, hint };
}

export function mergeIssues(doc: Document, lineCounter: LineCounter): TopologyIssue[] {
  const issues: TopologyIssue[] = [];
  visit(doc, {
    Pair(_key, pair) {
      if (!isMergeKey(pair.key)) return undefined;
      for (const source of sources(pair.value)) {
        const target = isAlias(source) ? source.resolve(doc) : source;
        // An alias without its anchor is reported as such (aliasIssues).
        if (isMap(target) || (isAlias(source) && target === undefined)) continue;
        // An empty value (`<<:` and nothing) has no text of its own: point at its key.
        const empty = source == null || (isScalar(source) && source.source === "");
        const node = (empty ? pair.key : source) as Node;
        issues.push(issueAt(
          node,
          lineCounter,
          "yaml-syntax",
          `Cannot merge ${describe(target)}: a merge key (\`<<\`) takes a map`,
          "write `<<: *name` where `&name` marks a map, or `<<: [*a, *b]` for several",
        ));
      }
      return issues.length >= 100 ? visit.BREAK : undefined;
    },
  });
  return issues;
}

/** What a merge source is, as the message says it. */
function describe(node: unknown): string {
  if (isSeq(node)) return "a list inside a list";
  if (isScalar(node)) return node.value === null ? "nothing" : "a single value";
  return "nothing";
}

/**
 * Make every plain map key that YAML reads as something else than a string (`null`, `~`, `true`,
 * `1e3`, `0x10`) the text written, so that the plain value and every message name the key as
 * the file does (`Bad VM name "0x10"`, not `"16"`; a VM may be called `null`). Merge keys stay.
 *
 * @example
 * ```ts
 * import { parseDocument } from "yaml";
 * import { keysAsWritten } from "./yaml_merge.ts";
 * const doc = parseDocument("null: 1\n0x10: 2\n");
 * keysAsWritten(doc);
 * doc.toJS(); // { null: 1, "0x10": 2 }
 * ```
 */
export function keysAsWritten(doc: Document): void {
  visit(doc, {
    Pair(_key, pair) {
      const key = pair.key;
      if (!isScalar(key) || key.type !== "PLAIN" || typeof key.source !== "string") return;
      if (typeof key.value === "string" || isMergeKey(key) || key.source === "") return;
      key.value = key.source;
    },
  });
}
