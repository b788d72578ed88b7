/**
 * From YAML text or a plain value to a {@link Topology} or the full list of problems.
 *
 * The pipeline: YAML syntax (the `yaml` library, with a `LineCounter` for positions) → plain
 * data (`plain.ts`: a value given by a program holds no function, Map, class instance, …) → a
 * copy of the value → shape (`structure.ts`, zod) → build with defaults (`build.ts`) → graph checks (`checks.ts`). When
 * the shape is wrong, the offending values are set aside (an optional key is removed; a value a
 * link cannot do without takes its whole link, which leaves a hole so the other links keep
 * their index) and the later stages still run on what is left, so one run reports every
 * problem; problems that setting aside would cause (an endpoint naming a VM whose entry was
 * refused, `no-vsock` for a refused `vsock`) are dropped. Each problem is then located at its
 * node.
 *
 * @module
 */

import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { withoutYamlEnv } from "./yaml_env.ts";
import { leadingZeroIssues } from "./leading_zero.ts";
import { err, ok, type Result } from "../../devices/base/result.ts";
import { buildTopology } from "./build.ts";
import { checkGraph } from "./checks.ts";
import {
  closestName,
  hintFor,
  type PathSegment,
  pathToString,
  type Problem,
  valueKind,
} from "./issues.ts";
import type { RawTopology } from "./schema.ts";
import { checkStructure, isRequiredKey, keysAt } from "./structure.ts";
import { checkCounts, MAX_TOPOLOGY_BYTES } from "./limits.ts";
import { plainCopy } from "./plain.ts";
import { quote } from "../../devices/base/quote.ts";
import { aliasIssues, duplicateKeyIssues, syntaxIssues, unknownTagIssues } from "./yaml_errors.ts";
import { findPair, keysAsWritten, mergeIssues } from "./yaml_merge.ts";
import { tooDeepAt } from "./depth.ts";
import { vlabFileKind, vlabTextKind, wrongKindProblem } from "./file_kind.ts";
import { textFileLook } from "./text_kind.ts";
import type { Topology, TopologyIssue } from "./types.ts";

type Locator = (problem: Problem) => { line: number; column: number } | null;

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

function samePath(a: readonly PathSegment[], b: readonly PathSegment[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

/** Stand-ins for the required top-level keys, so that the rest of the file is still checked. */
const STAND_IN: ReadonlyMap<string, unknown> = new Map<string, unknown>([
  ["name", "x"],
  ["vms", {}],
]);

/** What the shape stage set aside, so that later stages neither trip on it nor blame it. */
interface SetAside {
  /** Paths removed (or replaced by a stand-in) because of their value; not unknown keys. */
  removed: PathSegment[][];
  /** VMs and switches whose entry, NIC map or a NIC was removed. */
  broken: Set<string>;
  /** `vms` itself was replaced: no VM is known. */
  noVms: boolean;
}

/**
 * Whether `key` of the map at `path` says what the rest of its link means: a link's `kind`. A
 * link whose kind cannot be read is no link of any kind (checked as a net link, a vsock link's
 * endpoints would all be wrong), so it goes with its key.
 */
function decidesItsLink(path: readonly PathSegment[], key: string): boolean {
  return key === "kind" && path.length === 2 && path[0] === "links";
}

/**
 * Set aside the value at the problem's path so that the document keeps its shape: remove it
 * when its key is optional (or unknown, or an entry of a map by name); a required key, or a
 * link's `kind`, takes its parent with it (a link without its `endpoints`, or of an unknown
 * kind, is no link); an element of `links` leaves a hole (`null`, which the builder skips, so
 * that later links keep their index); an element of a list of values takes the list. The required top-level keys get a stand-in. False when
 * nothing can be set aside (the document itself is not a map).
 */
function setAside(doc: unknown, problem: Problem, aside: SetAside): boolean {
  let cut = [...problem.path];
  while (cut.length > 0) {
    const key = cut[cut.length - 1];
    const parentPath = cut.slice(0, -1);
    const parent = valueAt(doc, parentPath);
    // Already gone with an ancestor.
    if (parent === null || typeof parent !== "object") return true;
    if (typeof key === "number") {
      if (samePath(parentPath, ["links"]) && Array.isArray(parent)) {
        parent[key] = null;
        break;
      }
      cut = parentPath;
      continue;
    }
    if (parentPath.length === 0 && STAND_IN.has(key)) {
      (parent as Record<string, unknown>)[key] = structuredClone(STAND_IN.get(key));
      if (key === "vms") aside.noVms = true;
      break;
    }
    if (isRequiredKey(parentPath, key) || decidesItsLink(parentPath, key)) {
      cut = parentPath;
      continue;
    }
    delete (parent as Record<string, unknown>)[key];
    break;
  }
  if (cut.length === 0) return false;
  if (problem.code !== "unknown-key") aside.removed.push(cut);
  const whole = cut.length === 2 || (cut[2] === "nics" && cut.length <= 4);
  if ((cut[0] === "vms" || cut[0] === "switches") && whole) aside.broken.add(String(cut[1]));
  return true;
}

/** The document without the holes left by links set aside, for checking its shape again. */
function withoutHoles(doc: unknown): unknown {
  const links = (doc as { links?: unknown }).links;
  if (!Array.isArray(links)) return doc;
  return { ...(doc as object), links: links.filter((l) => l !== null) };
}

const ENDPOINT_CODES = new Set([
  "unknown-endpoint",
  "no-nic",
  "ambiguous-nic",
  "bad-endpoint",
  "no-vsock",
  "switch-full",
]);

/** Keys that decide whether a queue size is valid. */
const QUEUE_KEYS = new Set(["layout", "queue_size"]);
/** Keys that decide how much guest memory a VM needs (a NIC set aside whole only needs less). */
const SIZING_KEYS = new Set([
  "memory",
  "layout",
  "queue_size",
  "features",
  "mtu",
  "vsock",
  "iommu",
]);

/** Whether one of two paths is a prefix of the other (one layer applies to the other). */
function nested(a: readonly PathSegment[], b: readonly PathSegment[]): boolean {
  const n = Math.min(a.length, b.length);
  return a.slice(0, n).every((s, i) => s === b[i]);
}

/**
 * Whether a later stage's problem comes from a value that was set aside rather than from the
 * file: an endpoint naming a VM or switch whose entry was refused, `no-vsock` for a VM whose
 * `vsock` was refused, `switch-full` with a refused `ports_max`, `no-iommu` for a refused
 * `iommu`, `reorder-without-delay` with a refused `delay` (`distribution-without-jitter` with a
 * refused `jitter`, `distribution-without-delay` with a refused `delay`, `gap-without-reorder` with a refused `reorder`, `overhead-without-rate` with a
 * refused `rate`), sizes checked with a refused sizing
 * key.
 */
/** The key each two-key check needs (`direction_checks.ts`). */
const NEEDED_KEY: ReadonlyMap<string, string> = new Map([
  ["reorder-without-delay", "delay"],
  ["distribution-without-jitter", "jitter"],
  ["distribution-without-delay", "delay"],
  ["gap-without-reorder", "reorder"],
  ["overhead-without-rate", "rate"],
]);

function causedBySetAside(p: Problem, usable: unknown, aside: SetAside): boolean {
  const removed = (path: PathSegment[]) => aside.removed.some((r) => samePath(r, path));
  if (ENDPOINT_CODES.has(p.code) && p.path[0] === "links" && p.path[2] === "endpoints") {
    const node = String(valueAt(usable, p.path)).split(":")[0];
    return aside.noVms || aside.broken.has(node) || removed(["vms", node, "vsock"]) ||
      removed(["switches", node, "ports_max"]);
  }
  switch (p.code) {
    case "no-iommu":
      return removed(["vms", p.path[1], "iommu"]);
    case "reorder-without-delay":
    case "distribution-without-jitter":
    case "distribution-without-delay":
    case "gap-without-reorder":
    case "overhead-without-rate":
      return aside.removed.some((r) =>
        r[r.length - 1] === NEEDED_KEY.get(p.code) &&
        (r[0] === "defaults" || p.path[0] === "defaults" || r[1] === p.path[1])
      );
    case "bad-queue-size":
      // Checked with the layout and size of the NIC's layers (defaults, VM, NIC).
      return aside.removed.some((r) =>
        r[0] === "defaults" ||
        (QUEUE_KEYS.has(String(r[r.length - 1])) && nested(r.slice(0, -1), p.path.slice(0, -1)))
      );
    case "memory-too-small":
      // Checked with the VM's memory and the sizes of all its devices.
      return aside.removed.some((r) =>
        r[0] === "defaults" ||
        (r[0] === "vms" && SIZING_KEYS.has(String(r[r.length - 1])) &&
          (p.path[0] !== "vms" || r[1] === p.path[1]))
      );
    default:
      return false;
  }
}

/**
 * Problems of a value: values that are not plain data first, then shape, then (on what is left)
 * build and graph checks. Values refused at one stage are set aside, in a copy, before the next.
 */
function problemsOf(
  raw: unknown,
  source: string,
  options: { yaml: boolean },
): { topology: Topology | null; problems: Problem[] } {
  const aside: SetAside = { removed: [], broken: new Set(), noVms: false };
  const { copy: usable, foreign: foreignValues } = plainCopy(raw, options);
  const foreign = foreignValues.map((f) => f.problem);
  for (const f of foreignValues) {
    if (f.setAside && !setAside(usable, f.problem, aside)) {
      return { topology: null, problems: foreign };
    }
  }
  // Far too big a lab: say so, and spend no time on checking every part of it.
  const counts = checkCounts(usable);
  if (counts.length > 0) return { topology: null, problems: [...foreign, ...counts] };
  // A link set aside above leaves a hole, which is no problem of the file.
  const shape = checkStructure(usable).filter((p) =>
    !aside.removed.some((r) => samePath(r, p.path))
  );
  // What is reported of them: a key both missing and misspelt once, as the misspelt key.
  const shown = withoutMisspeltRequired(shape);
  for (const p of shape) {
    if (!setAside(usable, p, aside)) return { topology: null, problems: [...foreign, ...shown] };
  }
  // Setting aside leaves a document of the right shape; should it not, the later stages
  // cannot run on it.
  if (
    (foreign.length > 0 || shape.length > 0) &&
    checkStructure(withoutHoles(usable)).length > 0
  ) {
    return { topology: null, problems: [...foreign, ...shown] };
  }
  const built = buildTopology(usable as RawTopology, source);
  const later = [...built.problems, ...checkGraph(built.topology, built.origins)].filter((p) =>
    !causedBySetAside(p, usable, aside)
  );
  return { topology: built.topology, problems: [...foreign, ...shown, ...later] };
}

/**
 * `shape` without each `missing-key` whose key is written, misspelt, beside it: `vm:` for `vms`
 * was "Missing key \"vms\"" (hint: add `vms:`) and "Unknown key \"vm\"" (did you mean `vms`?),
 * two problems for one typo, the first of which told the user to add what is there. The
 * unknown key's did-you-mean is the one fix.
 */
function withoutMisspeltRequired(shape: readonly Problem[]): Problem[] {
  const typos = new Set<string>();
  for (const p of shape) {
    if (p.code !== "unknown-key") continue;
    const parent = p.path.slice(0, -1);
    const near = closestName(String(p.path[p.path.length - 1]), keysAt(parent));
    if (near !== undefined) typos.add(JSON.stringify([...parent, near]));
  }
  return shape.filter((p) => p.code !== "missing-key" || !typos.has(JSON.stringify(p.path)));
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
  // Another kind of vlab file (a drill, a report, the schema): one problem that says so, not
  // one "unknown key" per key of the other format.
  const wrong = wrongKindProblem(vlabFileKind(raw), "topology", {
    file: source,
    topology: (raw as { topology?: unknown } | null)?.topology,
  });
  if (wrong !== null) return err(toIssues([wrong], locate));
  // Located problems come from a YAML file: a value no plain data is one of YAML's tags.
  const { topology, problems } = problemsOf(raw, source, { yaml: locate !== null });
  if (problems.length > 0 || topology === null) {
    // Indentation is a file's: an object's problems keep their hints.
    const hinted = locate === null ? problems : problems.map((p) => withIndentHint(p, raw));
    return err(toIssues(hinted, locate));
  }
  return ok(topology);
}

/** The maps of entries by name, with what an entry is called in a hint. */
const NAMED_ENTRIES: readonly { at: (p: readonly PathSegment[]) => boolean; what: string }[] = [
  { at: (p) => p.length >= 4 && p[0] === "vms" && p[2] === "nics", what: "NIC" },
  { at: (p) => p.length >= 2 && p[0] === "vms", what: "VM" },
  { at: (p) => p.length >= 2 && p[0] === "switches", what: "switch" },
];

/**
 * A problem inside a VM, NIC or switch whose name is one of that entry's own keys (`nics:`,
 * `ip:`, `ports_max:`) gets the hint that the key is not indented enough: written at the
 * indentation of the names, `ip: 10.0.0.1/24` under `eth0:` is a NIC called "ip", and the
 * problem ("vms.a.nics.ip must be a map") named the wrong fix ("write a map here").
 */
function withIndentHint(p: Problem, raw: unknown): Problem {
  for (const { at, what } of NAMED_ENTRIES) {
    if (!at(p.path)) continue;
    const entry = p.path.slice(0, what === "NIC" ? 4 : 2);
    const name = String(entry[entry.length - 1]);
    const own = keysAt(entry);
    if (!own.includes(name)) return p;
    const names = Object.keys(valueAt(raw, entry.slice(0, -1)) ?? {});
    const before = names.slice(0, names.indexOf(name)).filter((n) => !own.includes(n)).pop();
    return {
      ...p,
      hint: `${quote(name)} is a ${what}'s key written at the indentation of the ${what} names, ` +
        `so it is read as a ${what} called ${quote(name)}: indent it under ${
          before === undefined ? `a ${what}` : `${quote(before)}`
        }`,
    };
  }
  return p;
}

/**
 * The node to point at for `path`: the deepest node that exists on the way. A key merged into a
 * map (`<<: *base`) is pointed at the alias that brought it, as a value reached through a plain
 * alias is.
 */
function nodeFor(doc: Document, path: readonly PathSegment[], atKey: boolean): Node | null {
  let node = doc.contents as Node | null;
  let best: Node | null = node;
  for (const [i, seg] of path.entries()) {
    const last = i === path.length - 1;
    if (isMap(node)) {
      const found = findPair(doc, node, String(seg));
      if (found === null) return best;
      if (found.alias !== null) return found.alias;
      const pair = found.pair;
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
  // A script's argument of the wrong type: named here, not a TypeError from inside the parser.
  if (typeof text !== "string") {
    throw new TypeError(
      `parseTopology: text must be the topology's YAML (a string), got ${valueKind(text)}`,
    );
  }
  if (typeof source !== "string") {
    throw new TypeError(
      `parseTopology: source must be the file's path (a string), got ${valueKind(source)}`,
    );
  }
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
    return err([tooDeep({ line: 1, column: 1 }, "a topology")]);
  }
}

/** The `too-deep` issue, at the place where the nesting passes the limit when it is known. */
function tooDeep(at: { line: number; column: number }, what: string): TopologyIssue {
  return {
    code: "too-deep",
    path: "",
    line: at.line,
    column: at.column,
    message: "Cannot read the document: it is nested too deeply",
    hint: `${what} nests a few levels deep; remove the extra brackets or indentation`,
  };
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
  // A report a drill wrote (Markdown, JUnit XML, SVG) is no YAML: say what it is.
  const written = wrongKindProblem(vlabTextKind(text), "topology", { file: source });
  if (written !== null) return err(toIssues([written], () => ({ line: 1, column: 1 })));
  const parsed = parseYamlDocument(text);
  if (!parsed.ok) {
    // A drill (or a report) with a YAML-level problem (an unknown tag, a duplicate key) is of its
    // kind all the same: one problem that says so, told from its keys as written, not the
    // problem in topology wording (`vlab up drill.yaml` said "a topology holds plain values").
    const look = textFileLook(text);
    const wrong = wrongKindProblem(look.kind, "topology", {
      file: source,
      topology: look.topology,
    });
    return wrong === null ? parsed : err(toIssues([wrong], () => look.at));
  }
  const r = validate(parsed.value.raw, source, parsed.value.locate);
  // A file of another kind (a drill) is that one problem: its own keys (`seed: 010`) are its
  // kind's to judge. A leading zero beside it hid the kind, and `vlab validate drill.yaml`
  // judged the drill as a topology.
  if (!r.ok && r.error.some((i) => i.code === "wrong-kind")) return r;
  // `cid: 010`: 10 here, 8 to a YAML 1.1 tool. A key that takes no number (`name: 010`) or no
  // such key says so itself.
  const zeros = leadingZeroIssues(parsed.value.doc.contents, parsed.value.lineCounter)
    .filter((z) => r.ok || !r.error.some((i) => i.path === z.path));
  if (zeros.length === 0) return r.ok ? r : err(withAnchorHints(r.error, parsed.value.doc));
  const issues = [...(r.ok ? [] : withAnchorHints(r.error, parsed.value.doc)), ...zeros];
  return err(
    issues.sort((a, b) =>
      (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0)
    ),
  );
}

/**
 * An unknown top-level key that holds an anchor for aliases below (`base: &h {…}`, then
 * `a: *h`) gets a hint that says where the anchor goes: "did you mean `name`?" alone sent the
 * user the wrong way (docs/topology.md: put the anchor on the first entry that uses it).
 */
function withAnchorHints(issues: TopologyIssue[], doc: Document): TopologyIssue[] {
  const anchors = new Map<string, string>();
  if (isMap(doc.contents)) {
    for (const pair of doc.contents.items) {
      const value = pair.value as Node | null;
      const anchor = value !== null && "anchor" in value ? value.anchor : undefined;
      if (isScalar(pair.key) && typeof anchor === "string") {
        anchors.set(pathToString([String(pair.key.value)]), anchor);
      }
    }
  }
  if (anchors.size === 0) return issues;
  return issues.map((i) => {
    const anchor = i.code === "unknown-key" ? anchors.get(i.path) : undefined;
    if (anchor === undefined) return i;
    const move = `move ${
      quote(`&${anchor}`)
    } onto the first entry that uses it and remove this key`;
    // A misspelt key may hold an anchor too (`lnks: &l […]`): keep its did-you-mean.
    return {
      ...i,
      hint: i.hint?.startsWith("did you mean")
        ? `${i.hint} If it only holds the anchor: ${move}`
        : `a topology takes no key of your own: ${move}`,
    };
  });
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
 * locator that points a problem's path at its node. Drill files use it too (`what` names what
 * the file holds in messages, default `"a topology"`). A document nested more than
 * `MAX_NESTING` levels deep is one `too-deep` issue where it passes the limit. It does not
 * bound the size: callers do (`MAX_TOPOLOGY_BYTES`).
 *
 * @example
 * ```ts
 * import { parseYamlDocument } from "./load.ts";
 * const r = parseYamlDocument("a:\n  b: 1\n");
 * r.ok && r.value.locate({ code: "x", path: ["a", "b"], message: "", hint: null }); // { line: 2, column: 6 }
 * ```
 */
export function parseYamlDocument(
  source: string,
  options: { what?: string } = {},
): Result<LocatedDocument, TopologyIssue[]> {
  // A lone CR is a line break in YAML (old Mac files); the library reads only LF and CRLF. One
  // character for one keeps every offset.
  const text = source.replace(/\r(?!\n)/g, "\n");
  const lineCounter = new LineCounter();
  const what = options.what ?? "a topology";
  // The library composes nodes recursively and reports running out of stack as a syntax error
  // at a node that changes from run to run: refuse a deep document before, where it passes the
  // limit.
  const deep = tooDeepAt(text);
  if (deep !== null) {
    const before = text.slice(0, deep);
    const line = before.split("\n").length;
    return err([tooDeep({ line, column: deep - before.lastIndexOf("\n") }, what)]);
  }
  // Duplicate keys are found by duplicateKeyIssues: the library's check is quadratic.
  // Merge keys (`<<: *base`) are merged, as YAML 1.1 and most tools do (yaml_merge.ts).
  const doc = withoutYamlEnv(() =>
    parseDocument(text, {
      lineCounter,
      prettyErrors: false,
      uniqueKeys: false,
      merge: true,
    })
  );
  // Should the stack run out all the same (a deep stack before the parse), say so, not where.
  if (doc.errors.some((e) => e.code === "RESOURCE_EXHAUSTION")) {
    return err([tooDeep({ line: 1, column: 1 }, what)]);
  }
  if (doc.errors.length > 0) {
    return err(syntaxIssues(text, doc, { lineCounter, what: options.what }));
  }
  keysAsWritten(doc);
  const yamlIssues = [
    ...duplicateKeyIssues(doc, lineCounter, text),
    ...aliasIssues(doc, lineCounter),
    ...mergeIssues(doc, lineCounter),
    ...unknownTagIssues(doc, lineCounter, what),
  ];
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
