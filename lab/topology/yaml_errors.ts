/**
 * YAML syntax problems as topology issues, located where the user has to look.
 *
 * The `yaml` library reports an unclosed quote, brace or bracket where it noticed it: at the end
 * of the file, or at the next line that is not indented enough. The fix is at the opening
 * character, so this module finds the unclosed quoted scalars and flow collections in the CST and
 * points each such error at its opener. An alias whose anchor does not exist is found in the
 * document (the library only throws when converting) and reported at the alias.
 *
 * @module
 */

import {
  CST,
  type Document,
  isAlias,
  isScalar,
  type LineCounter,
  type Node,
  Parser,
  visit,
} from "yaml";
import { quote } from "../../devices/base/quote.ts";
import { count } from "../../devices/base/plural.ts";
import { withoutYamlEnv } from "./yaml_env.ts";
import { isMergeKey, issueAt, keyText } from "./yaml_merge.ts";
import type { TopologyIssue } from "./types.ts";

/** An opening character that is never closed. */
interface Opener {
  char: "{" | "[" | '"' | "'";
  offset: number;
  /** A quote's text to the end of the string the library read (it swallowed any closer in it). */
  source?: string;
}

const CLOSER: Record<Opener["char"], string> = { "{": "}", "[": "]", '"': '"', "'": "'" };
const WHAT: Record<Opener["char"], string> = {
  "{": "flow map",
  "[": "flow list",
  '"': "string",
  "'": "string",
};
const HINT: Record<Opener["char"], string> = {
  "{": "close it with `}`; a flow map that goes on over several lines must be indented",
  "[": "close it with `]`; a flow list that goes on over several lines must be indented",
  '"': 'end the string with `"`; write a quote inside it as `\\"`',
  "'": "end the string with `'`; write a quote inside it as `''`",
};

function closedDouble(source: string): boolean {
  const body = source.trimEnd().slice(1);
  const m = /(\\*)"$/.exec(body);
  return m !== null && m[1].length % 2 === 0;
}

function closedSingle(source: string): boolean {
  const m = /('+)$/.exec(source.trimEnd().slice(1));
  return m !== null && m[1].length % 2 === 1;
}

/** Every unclosed quote, brace and bracket of the text, in order of position. */
function unclosedOpeners(text: string): Opener[] {
  const found: Opener[] = [];
  const check = (token: CST.Token | undefined) => {
    if (token === undefined) return;
    if (token.type === "flow-collection") {
      const open = token.start.source as "{" | "[";
      if (!token.end.some((t) => t.source === CLOSER[open])) {
        found.push({ char: open, offset: token.offset });
      }
    } else if (token.type === "double-quoted-scalar" && !closedDouble(token.source)) {
      found.push({ char: '"', offset: token.offset, source: token.source });
    } else if (token.type === "single-quoted-scalar" && !closedSingle(token.source)) {
      found.push({ char: "'", offset: token.offset, source: token.source });
    }
  };
  for (const token of withoutYamlEnv(() => [...new Parser().parse(text)])) {
    if (token.type !== "document") continue;
    check(token.value);
    CST.visit(token, (item) => {
      check(item.key ?? undefined);
      check(item.value);
    });
  }
  return found.sort((a, b) => a.offset - b.offset);
}

/**
 * The unclosed braces and brackets that an unclosed quote made so: each `}` or `]` the string
 * swallowed would have closed the innermost one still open before the quote
 * (`{ eth0: { ip: "10.0.0.1/24 } }`: both braces are closed, behind the quote). The quote is the
 * one thing to fix; "this `{` has no closing `}`" of a brace that has one would be false.
 */
function swallowedBy(openers: readonly Opener[]): Set<Opener> {
  const out = new Set<Opener>();
  for (const quote of openers) {
    if (quote.source === undefined) continue;
    const open = openers.filter((o) =>
      o.source === undefined && o.offset < quote.offset && !out.has(o)
    );
    // The closers in the string's text, first to last, close the open flows innermost first.
    for (const closer of quote.source.match(/[}\]]/g) ?? []) {
      const inner = open.pop();
      if (inner === undefined) break;
      if (CLOSER[inner.char] !== closer) {
        open.push(inner);
        break;
      }
      out.add(inner);
    }
  }
  return out;
}

/** Which opener a library error is about: `"{"` for "… end with a }", and so on. */
function openerOf(message: string): Opener["char"] | null {
  const flow = /end with an? ([}\]])/.exec(message);
  if (flow) return flow[1] === "}" ? "{" : "[";
  const q = /Missing closing ("|')quote/.exec(message);
  return q ? q[1] as '"' | "'" : null;
}

/**
 * The document's syntax errors as issues (code `yaml-syntax`, or `duplicate-key`), each at the
 * line and column to fix: an unclosed quote, brace or bracket at its opening character. `what`
 * names what the file holds, for "a topology is one document" (default `"a topology"`).
 *
 * @example
 * ```ts
 * import { LineCounter, parseDocument } from "yaml";
 * import { syntaxIssues } from "./yaml_errors.ts";
 * const text = 'name: "x\nvms: {}\n';
 * const lineCounter = new LineCounter();
 * const doc = parseDocument(text, { lineCounter, prettyErrors: false });
 * syntaxIssues(text, doc, { lineCounter })[0].column; // 7
 * ```
 */
export function syntaxIssues(
  text: string,
  doc: Document,
  options: { lineCounter: LineCounter; what?: string },
): TopologyIssue[] {
  const { lineCounter, what = "a topology" } = options;
  const openers = unclosedOpeners(text);
  const swallowed = swallowedBy(openers);
  const used = new Set<Opener>();
  const issues: TopologyIssue[] = [];
  const seen = new Set<string>();
  // After the first error that breaks the stream, the parser meets every token that follows as
  // "Unexpected … token" (a Markdown fence left on line 1 gave 150 of them): those follow from
  // it, and are counted in its hint rather than listed.
  const breaking = doc.errors.filter((e) => e.code !== "DUPLICATE_KEY");
  const firstAt = Math.min(...breaking.map((e) => e.pos[0]));
  const follows = (e: (typeof doc.errors)[number]) =>
    e.code === "UNEXPECTED_TOKEN" && e.pos[0] > firstAt;
  let followers = doc.errors.filter(follows).length;
  for (const e of doc.errors) {
    if (follows(e)) continue;
    let offset = e.pos[0];
    let message = e.message.replace(/\.$/, "");
    let hint = "check the YAML at this line: indentation with spaces, quotes and brackets";
    const char = openerOf(e.message);
    const opener = char === null
      ? undefined
      : openers.findLast((o) => o.char === char && o.offset <= e.pos[0] && !used.has(o));
    if (opener !== undefined) {
      used.add(opener);
      // Closed inside an unclosed string: the string's own issue says what to fix.
      if (swallowed.has(opener)) continue;
      offset = opener.offset;
      message = `Unclosed ${WHAT[opener.char]}: this \`${opener.char}\` has no closing \`${
        CLOSER[opener.char]
      }\``;
      hint = HINT[opener.char];
    }
    if (e.code === "MULTIPLE_DOCS") {
      message = `The file holds several YAML documents: ${what} is one document`;
      hint = "remove this `---` and what follows it, or move each document to a file of its own";
    }
    const duplicate = e.code === "DUPLICATE_KEY";
    if (duplicate) {
      const key = /^("[^"\n]*"|'[^'\n]*'|[^:\n]+?)\s*:/.exec(text.slice(e.pos[0]))?.[1] ?? "";
      if (key !== "") message = `Duplicate key ${quote(key)}`;
      hint = "a map holds each key once; remove or rename one of them";
    }
    // The library puts an indentation error at the start of the line's indentation; the key to
    // move is after it.
    while (text[offset] === " ") offset++;
    if (followers > 0 && e.pos[0] === firstAt) {
      hint += `; the YAML after it could not be read (${
        count(followers, "more parser error")
      } not shown)`;
      followers = 0; // said once
    }
    const at = lineCounter.linePos(offset);
    const key = `${at.line}:${at.col}:${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push({
      code: duplicate ? "duplicate-key" : "yaml-syntax",
      path: "",
      line: at.line,
      column: at.col,
      message,
      hint,
    });
  }
  return issues.sort((a, b) => a.line! - b.line! || a.column! - b.column!);
}

/**
 * Tags the `yaml` library does not know (`!foo 5`, `!env X`), as issues at the tag. The library
 * only warns and reads the value as if untagged (a string, for a scalar), which would leave a
 * user with "must be a number, got \"5\"" or a value accepted silently.
 *
 * @example
 * ```ts
 * import { LineCounter, parseDocument } from "yaml";
 * import { unknownTagIssues } from "./yaml_errors.ts";
 * const lineCounter = new LineCounter();
 * const doc = parseDocument("a: !foo 5\n", { lineCounter });
 * unknownTagIssues(doc, lineCounter)[0].message; // 'Unknown YAML tag "!foo": a topology holds plain values'
 * ```
 */
export function unknownTagIssues(
  doc: Document,
  lineCounter: LineCounter,
  what = "a topology",
): TopologyIssue[] {
  return doc.warnings.filter((w) => w.code === "TAG_RESOLVE_FAILED").map((w) => {
    const tag = /^Unresolved tag: (\S+)/.exec(w.message)?.[1] ?? "";
    const at = lineCounter.linePos(w.pos[0]);
    // One of YAML's own tags on a value it does not fit (`!!int abc`, `!!str { … }`): the
    // library names it by its URI, and it is no unknown tag.
    const core = tag.startsWith(CORE_TAG_PREFIX) ? tag.slice(CORE_TAG_PREFIX.length) : null;
    const shown = core === null ? tag : `!!${core}`;
    return {
      code: "yaml-syntax" as const,
      path: "",
      line: at.line,
      column: at.col,
      message: core === null
        ? `Unknown YAML tag ${quote(tag)}: ${what} holds plain values`
        : `YAML tag ${quote(shown)} does not fit this value`,
      hint: core === null
        ? `remove ${quote(tag)} and leave the value as it is`
        : `remove ${quote(shown)}${
          CORE_TAG_TAKES.has(core) ? `: it takes ${CORE_TAG_TAKES.get(core)}` : ""
        }`,
    };
  });
}

/** The URI prefix of YAML's own tags (`!!int` is `tag:yaml.org,2002:int`). */
const CORE_TAG_PREFIX = "tag:yaml.org,2002:";

/** What each of YAML's own tags takes, for the hint of one on a value it does not fit. */
const CORE_TAG_TAKES: ReadonlyMap<string, string> = new Map([
  ["str", "a single value (not a map or a list)"],
  ["int", "a whole number such as 5"],
  ["float", "a number such as 1.5"],
  ["bool", "true or false"],
  ["null", "an empty value"],
  ["map", "a map"],
  ["seq", "a list"],
]);

/**
 * Aliases (`*name`) whose anchor (`&name`) is not defined before them, and aliases inside the
 * very value their anchor marks (`a: &a { <<: *a }`, a value that would contain itself), as
 * issues at the alias. The second was "its aliases expand to too many nodes" at 1:1, or a
 * value nested in itself checked level after level.
 *
 * @example
 * ```ts
 * import { LineCounter, parseDocument } from "yaml";
 * import { aliasIssues } from "./yaml_errors.ts";
 * const lineCounter = new LineCounter();
 * const doc = parseDocument("a: *x\n", { lineCounter });
 * aliasIssues(doc, lineCounter)[0].message; // 'Unknown alias "*x": no anchor "&x" before it'
 * ```
 */
export function aliasIssues(doc: Document, lineCounter: LineCounter): TopologyIssue[] {
  const issues: TopologyIssue[] = [];
  visit(doc, {
    Alias(_key, node) {
      if (!isAlias(node)) return undefined;
      const target = node.resolve(doc);
      const at = node.range?.[0];
      const [from, to] = [target?.range?.[0], target?.range?.[2]];
      if (at !== undefined && from !== undefined && to !== undefined && from <= at && at < to) {
        issues.push(issueAt(
          node,
          lineCounter,
          "yaml-syntax",
          `Alias ${quote(`*${node.source}`)} is inside the value that ${
            quote(`&${node.source}`)
          } marks: that value would contain itself`,
          "an alias repeats a value written before it, not one it is part of: " +
            "write the keys out here, or move the anchor onto a value that holds no alias to it",
        ));
        return issues.length >= 100 ? visit.BREAK : undefined;
      }
      if (target !== undefined) return undefined;
      issues.push(issueAt(
        node,
        lineCounter,
        "yaml-syntax",
        `Unknown alias ${quote(`*${node.source}`)}: no anchor ${
          quote(`&${node.source}`)
        } before it`,
        "define the anchor (`key: &name value`) earlier in the file than the alias",
      ));
      return issues.length >= 100 ? visit.BREAK : undefined;
    },
  });
  return issues;
}

/**
 * Keys written twice in one map, as `duplicate-key` issues at the second one (with the document's
 * `source`, an empty key is placed at its `:`, past the indentation). The `yaml`
 * library's own check (`uniqueKeys`) compares every pair of keys, which takes tens of seconds on
 * a map of 20,000 VMs; this one is linear.
 *
 * @example
 * ```ts
 * import { LineCounter, parseDocument } from "yaml";
 * import { duplicateKeyIssues } from "./yaml_errors.ts";
 * const lineCounter = new LineCounter();
 * const doc = parseDocument("a: 1\na: 2\n", { lineCounter, uniqueKeys: false });
 * duplicateKeyIssues(doc, lineCounter)[0].line; // 2
 * ```
 */
export function duplicateKeyIssues(
  doc: Document,
  lineCounter: LineCounter,
  source = "",
): TopologyIssue[] {
  const issues: TopologyIssue[] = [];
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = pair.key as Node | null;
        // Several merge keys in one map are allowed (the first that has a key gives it).
        if (!isScalar(key) || isMergeKey(key)) continue;
        // As the plain value names it: an empty key and `""` are one key.
        const text = keyText(key);
        if (!seen.has(text)) {
          seen.add(text);
          continue;
        }
        // An empty key (`: v`) starts where its line does: point past the indentation, at `:`.
        let at = key.range?.[0] ?? 0;
        if (key.range?.[1] === at) { while (source[at] === " ") at++; }
        issues.push(issueAt(
          { range: [at] },
          lineCounter,
          "duplicate-key",
          `Duplicate key ${quote(text)}`,
          "a map holds each key once; remove or rename one of them",
        ));
      }
      return issues.length >= 100 ? visit.BREAK : undefined;
    },
  });
  return issues;
}
