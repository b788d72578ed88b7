/**
 * From YAML text or a plain value to a {@link Topology} or the full list of problems.
 *
 * The pipeline: YAML syntax (the `yaml` library, with a `LineCounter` for positions) → shape
 * (`structure.ts`, zod) → build with defaults (`build.ts`) → graph checks (`checks.ts`). When
 * the shape is wrong, the offending values are removed and the later stages still run on what
 * is left, so one run reports every problem; problems that the removal would cause (an endpoint
 * naming a VM whose entry was broken) are dropped. Each problem is then located at its node.
 *
 * @module
 */

import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { err, ok, type Result } from "../../devices/base/result.ts";
import { buildTopology } from "./build.ts";
import { checkGraph } from "./checks.ts";
import { hintFor, type PathSegment, pathToString, type Problem } from "./issues.ts";
import type { RawTopology } from "./schema.ts";
import { checkStructure } from "./structure.ts";
import { checkCounts, MAX_TOPOLOGY_BYTES } from "./limits.ts";
import { quote } from "./quote.ts";
import { aliasIssues, duplicateKeyIssues, syntaxIssues } from "./yaml_errors.ts";
import type { Topology, TopologyIssue } from "./types.ts";

type Locator = (problem: Problem) => { line: number; column: number } | null;

function clone(value: unknown): unknown {
  try {
    return structuredClone(value);
  } catch {
    return undefined;
  }
}

/** Remove the value at `path` (the whole list when the path ends in an index); false if root. */
function removeAt(root: unknown, path: readonly PathSegment[]): boolean {
  const cut = typeof path[path.length - 1] === "number"
    ? path.slice(0, path.findLastIndex((s) => typeof s === "string") + 1)
    : path;
  if (cut.length === 0) return false;
  let cur: unknown = root;
  for (const seg of cut.slice(0, -1)) {
    if (cur === null || typeof cur !== "object") return true;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  if (cur !== null && typeof cur === "object" && !Array.isArray(cur)) {
    delete (cur as Record<string, unknown>)[cut[cut.length - 1] as string];
  }
  return true;
}

const ENDPOINT_CODES = new Set(["unknown-endpoint", "no-nic", "ambiguous-nic", "bad-endpoint"]);

/** Problems of a value: shape first, then (on what is left) build and graph checks. */
function problemsOf(
  raw: unknown,
  source: string,
): { topology: Topology | null; problems: Problem[] } {
  // Far too big a lab: say so, and spend no time on checking every part of it.
  const counts = checkCounts(raw);
  if (counts.length > 0) return { topology: null, problems: counts };
  const shape = checkStructure(raw);
  let usable = raw;
  const broken = new Set<string>();
  if (shape.length > 0) {
    usable = clone(raw);
    for (const p of shape) {
      if (!removeAt(usable, p.path)) return { topology: null, problems: shape };
      const whole = p.path.length === 2 || (p.path[2] === "nics" && p.path.length <= 4);
      if ((p.path[0] === "vms" || p.path[0] === "switches") && whole) {
        broken.add(String(p.path[1]));
      }
    }
    if (checkStructure(usable).length > 0) return { topology: null, problems: shape };
  }
  const built = buildTopology(usable as RawTopology, source);
  const later = [...built.problems, ...checkGraph(built.topology, built.origins)].filter((p) => {
    if (!ENDPOINT_CODES.has(p.code) || broken.size === 0) return true;
    const text = (usable as RawTopology).links?.[p.path[1] as number]
      ?.endpoints[p.path[3] as number];
    return !broken.has(String(text).split(":")[0]);
  });
  return { topology: built.topology, problems: [...shape, ...later] };
}

function toIssues(problems: readonly Problem[], locate: Locator | null): TopologyIssue[] {
  const seen = new Set<string>();
  const issues: TopologyIssue[] = [];
  for (const p of problems) {
    const path = pathToString(p.path);
    const key = `${p.code}|${path}|${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const at = locate?.(p) ?? null;
    issues.push({
      code: p.code,
      path,
      line: at?.line ?? null,
      column: at?.column ?? null,
      message: p.message,
      hint: hintFor(p.code, p.hint),
    });
  }
  if (locate !== null) {
    issues.sort((a, b) =>
      (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0)
    );
  }
  return issues;
}

function validate(
  raw: unknown,
  source: string,
  locate: Locator | null,
): Result<Topology, TopologyIssue[]> {
  const { topology, problems } = problemsOf(raw, source);
  if (problems.length > 0 || topology === null) return err(toIssues(problems, locate));
  return ok(topology);
}

function keyText(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

/** The node to point at for `path`: the deepest node that exists on the way. */
function nodeFor(doc: Document, path: readonly PathSegment[], atKey: boolean): Node | null {
  let node = doc.contents as Node | null;
  let best: Node | null = node;
  for (const [i, seg] of path.entries()) {
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === String(seg));
      if (pair === undefined) return best;
      const value = pair.value as Node | null;
      const empty = value === null || (isScalar(value) && value.value === null);
      if ((last && atKey) || empty) return (pair.key as Node) ?? best;
      node = value;
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg] as Node | undefined;
      if (item === undefined) return best;
      node = item;
    } else {
      return best;
    }
    best = node;
  }
  return best;
}

/**
 * Parse and check a topology written in YAML; problems carry the line and column of the node
 * that caused them.
 *
 * @example
 * ```ts
 * import { parseTopology } from "./load.ts";
 * const r = parseTopology("name: x\nvms: { a: {} }\n", "x.yaml");
 * r.ok && r.value.vms[0].memoryBytes; // 16777216
 * ```
 */
export function parseTopology(text: string, source: string): Result<Topology, TopologyIssue[]> {
  return boundedDepth(() => parseText(text, source));
}

/**
 * Run a parse, turning a stack overflow (a document nested thousands of levels deep, which the
 * `yaml` library and zod walk recursively) into one `too-deep` issue. Drill files use it too.
 *
 * @example
 * ```ts
 * import { boundedDepth } from "./load.ts";
 * import { ok } from "../../devices/base/result.ts";
 * boundedDepth(() => ok(1)); // { ok: true, value: 1 }
 * ```
 */
export function boundedDepth<T>(
  run: () => Result<T, TopologyIssue[]>,
): Result<T, TopologyIssue[]> {
  try {
    return run();
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    return err([{
      code: "too-deep",
      path: "",
      line: 1,
      column: 1,
      message: "Cannot read the document: it is nested too deeply",
      hint: "a topology nests a few levels deep; remove the extra brackets or indentation",
    }]);
  }
}

function parseText(text: string, source: string): Result<Topology, TopologyIssue[]> {
  if (text.length > MAX_TOPOLOGY_BYTES) {
    return err([{
      code: "too-large",
      path: "",
      line: null,
      column: null,
      message: `Cannot read ${quote(source)}: it is more than 1 MiB of text`,
      hint: "a topology file is at most 1 MiB; split the lab or shorten the file",
    }]);
  }
  const parsed = parseYamlDocument(text);
  if (!parsed.ok) return parsed;
  return validate(parsed.value.raw, source, parsed.value.locate);
}

/** A YAML document read for validation: its plain value and where each path is in the text. */
export interface LocatedDocument {
  /** The document as plain data. */
  raw: unknown;
  /** The line and column of a problem's node. */
  locate: (problem: Problem) => { line: number; column: number } | null;
  /** The parsed document (for callers that need node details, such as a scalar's quoting). */
  doc: Document;
  /** Offsets to line and column. */
  lineCounter: LineCounter;
}

/**
 * Parse YAML text the way topology files are parsed (duplicate keys and alias bombs refused):
 * syntax errors become issues with their line and column; otherwise the plain value and a
 * locator that points a problem's path at its node. Drill files use it too. It does not bound
 * the size or the depth: callers do (`MAX_TOPOLOGY_BYTES`, {@linkcode boundedDepth}).
 *
 * @example
 * ```ts
 * import { parseYamlDocument } from "./load.ts";
 * const r = parseYamlDocument("a:\n  b: 1\n");
 * r.ok && r.value.locate({ code: "x", path: ["a", "b"], message: "", hint: null }); // { line: 2, column: 6 }
 * ```
 */
export function parseYamlDocument(text: string): Result<LocatedDocument, TopologyIssue[]> {
  const lineCounter = new LineCounter();
  // Duplicate keys are found by duplicateKeyIssues: the library's check is quadratic.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  if (doc.errors.length > 0) return err(syntaxIssues(text, doc, lineCounter));
  const yamlIssues = [...duplicateKeyIssues(doc, lineCounter), ...aliasIssues(doc, lineCounter)];
  if (yamlIssues.length > 0) {
    return err(yamlIssues.sort((a, b) => a.line! - b.line! || a.column! - b.column!));
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    const aliasBomb = /alias count/i.test(why);
    return err([{
      code: "yaml-syntax",
      path: "",
      line: 1,
      column: 1,
      message: aliasBomb
        ? "Cannot read the YAML document: its aliases expand to too many nodes"
        : `Cannot read the YAML document: ${quote(why)}`,
      hint: aliasBomb
        ? "write the values out, or use fewer aliases of aliases"
        : "check the YAML syntax of the file",
    }]);
  }
  const locate: Locator = (p) => {
    const node = nodeFor(doc, p.path, p.atKey === true);
    if (node?.range == null) return { line: 1, column: 1 };
    const pos = lineCounter.linePos(node.range[0]);
    return { line: pos.line, column: pos.col };
  };
  return ok({ raw, locate, doc, lineCounter });
}

/**
 * Check a topology given as a plain value (snake_case keys, as in YAML); problems carry a path
 * and no line.
 *
 * @example
 * ```ts
 * import { topologyFromObject } from "./load.ts";
 * const r = topologyFromObject({ name: "x", vms: { a: {} } });
 * r.ok && r.value.source; // "<object>"
 * ```
 */
export function topologyFromObject(
  value: unknown,
  source = "<object>",
): Result<Topology, TopologyIssue[]> {
  return boundedDepth(() => validate(value, source, null));
}
