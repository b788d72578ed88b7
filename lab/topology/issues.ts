/**
 * Topology problems as data, and the one printer that renders them.
 *
 * Checks produce {@link Problem}s carrying a path as an array (`["links", 0, "endpoints", 1]`);
 * the loader turns them into {@link TopologyIssue}s with a printable path and a line and column.
 *
 * @module
 */

import { escapeControl, quote } from "../../devices/base/quote.ts";
import type { TopologyIssue } from "./types.ts";

/** One step of a path into the document: a map key or a sequence index. */
export type PathSegment = string | number;

/** A problem before it is located in the source text. */
export interface Problem {
  /** Stable code, e.g. `"unknown-key"`. */
  code: string;
  /** Path of the offending node. */
  path: PathSegment[];
  /** Point at the map key of the last segment rather than at its value. */
  atKey?: boolean;
  /** Sentence-case message without a final period. */
  message: string;
  /** What to do about it, or null. */
  hint: string | null;
}

/**
 * Every problem code a topology can get, with the hint given when the check that found it has
 * no more precise one. docs/topology.md lists the same codes; every printed problem has a hint.
 *
 * @example
 * ```ts
 * import { PROBLEM_CODES } from "./issues.ts";
 * PROBLEM_CODES.has("unknown-key"); // true
 * ```
 */
export const PROBLEM_CODES: ReadonlyMap<string, string> = new Map([
  ["unreadable", "check the path and that the file can be read"],
  ["too-large", "a topology file is at most 1 MiB; split the lab or shorten the file"],
  ["too-deep", "a topology nests a few levels deep; remove the extra brackets or indentation"],
  ["wrong-kind", "give the command the kind of file it takes; docs/cli.md lists them"],
  ["yaml-syntax", "check the YAML at this line: indentation with spaces, quotes and brackets"],
  ["duplicate-key", "a map holds each key once; remove or rename one of them"],
  ["unknown-key", "remove it; docs/topology.md lists every key"],
  ["missing-key", "add it; docs/topology.md lists the required keys"],
  ["wrong-type", "docs/topology.md gives the type of every key"],
  ["leading-zero", "write the integer without its leading zero (0o10 for octal)"],
  ["seed-notation", "write the seed in decimal digits, as --seed takes it"],
  ["unknown-value", "docs/topology.md lists the allowed values"],
  ["out-of-range", "docs/topology.md gives the range of every key"],
  ["bad-unit", 'write a value with its unit, such as "16MiB", "10ms", "1%" or "100mbit"'],
  ["bad-name", 'use 1-16 of a-z, 0-9, "_" and "-", starting with a letter'],
  ["duplicate-name", "VMs and switches share one namespace; rename one of them"],
  ["duplicate-link-name", "give one of the links another `name`"],
  ["bad-ip", 'write an IPv4 address with a prefix length, e.g. "10.0.0.1/24"'],
  ["bad-address", "use a unicast host address inside its subnet"],
  ["subnet-mismatch", "give NICs on one segment addresses in one subnet, or link them apart"],
  ["duplicate-ip", "give each NIC on one L2 segment an address of its own"],
  ["bad-mac", 'write six hex octets, such as "02:00:00:00:00:01", or leave `mac` out'],
  ["mac-not-unicast", 'use a unicast locally administered address such as "02:00:00:00:00:01"'],
  ["mac-zero", 'use a unicast locally administered address such as "02:00:00:00:00:01"'],
  ["duplicate-mac", "remove `mac` to use the derived address, or pick another"],
  ["bad-queue-size", "use 8, 16, …, 32768, or `layout: packed` which takes any size"],
  ["bad-memory-size", "write a multiple of 4KiB: guest memory is a whole number of pages"],
  ["memory-too-small", "raise the VM's `memory`, or use a smaller queue_size"],
  ["bad-endpoints", "a link has two endpoints; use a switch to join more than two NICs"],
  ["bad-endpoint", 'write "vm:nic", "vm" (its only NIC) or "switch"'],
  ["unknown-endpoint", "name a VM, NIC or switch defined in the file"],
  ["ambiguous-nic", 'write "vm:nic" to say which NIC'],
  ["no-nic", "add a NIC to the VM under its `nics`"],
  ["nic-reused", "a NIC takes one link; join more than two NICs through a switch"],
  ["self-link", "a link joins two different NICs or switches"],
  ["switch-full", "raise the switch's `ports_max`"],
  ["switch-loop", "vlab switches have no STP, so a loop would flood frames forever; remove a link"],
  ["reorder-without-delay", "set `delay` above 0: netem reorders by sending some frames early"],
  ["distribution-without-jitter", "distribution shapes the jitter: set `jitter` above 0 too"],
  [
    "distribution-without-delay",
    "distribution shapes the jitter around the delay: set `delay` too",
  ],
  ["gap-without-reorder", "gap says which frames a reorder may send early: set `reorder` too"],
  ["overhead-without-rate", "overhead counts toward the rate limit: set `rate` too"],
  ["duplicate-cid", "give each VM's vsock a CID of its own"],
  ["no-vsock", "add `vsock: { cid: N }` to the VM"],
  ["vsock-link", 'a vsock link joins two different VMs with vsock: endpoints: ["a", "b"]'],
  [
    "vsock-impairment",
    "on a vsock link use delay (with jitter), rate (with overhead) or limit of 16 or more",
  ],
  ["no-iommu", "add `iommu: { mode: static }` to the VM"],
  ["vhost-pci-link", 'a vhost-pci link joins two VMs\' NICs: endpoints: ["a:eth0", "b:eth0"]'],
  ["too-many", "split the lab into smaller ones; docs/topology.md gives the limits"],
  ["invalid", "docs/topology.md describes every key"],
]);

/**
 * The hint of a problem: its own, else the default of its code (never null for a known code).
 *
 * @example
 * ```ts
 * import { hintFor } from "./issues.ts";
 * hintFor("duplicate-ip", null); // "give each NIC on one L2 segment an address of its own"
 * ```
 */
export function hintFor(code: string, hint: string | null): string | null {
  return hint ?? PROBLEM_CODES.get(code) ?? PROBLEM_CODES.get("invalid") ?? null;
}

/**
 * Render a path as `links[0].endpoints[1]` or `vms.a.nics.eth0`; keys that are not plain names
 * are quoted (`vms["A B"]`).
 *
 * @example
 * ```ts
 * import { pathToString } from "./issues.ts";
 * pathToString(["links", 0, "endpoints", 1]); // "links[0].endpoints[1]"
 * ```
 */
export function pathToString(path: readonly PathSegment[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${quote(seg)}]`;
  }
  return out;
}

/**
 * The start of a message about an endpoint that names the wrong kind of node: `Endpoint "r1" is
 * a vsock router`, or `Endpoint "r1:eth0" names vsock router "r1"` when the endpoint says more
 * than the node's name.
 *
 * @example
 * ```ts
 * import { endpointIs } from "./issues.ts";
 * endpointIs("sw1", "sw1", "switch"); // 'Endpoint "sw1" is a switch'
 * endpointIs("sw1:eth0", "sw1", "switch"); // 'Endpoint "sw1:eth0" names switch "sw1"'
 * ```
 */
export function endpointIs(text: string, node: string, what: string): string {
  return text === node
    ? `Endpoint ${quote(text)} is a ${what}`
    : `Endpoint ${quote(text)} names ${what} ${quote(node)}`;
}

/** Longest word or candidate compared for a suggestion: beyond it, nothing is a typo. */
const SUGGEST_MAX_CHARS = 64;

/**
 * The candidate closest to a misspelt word, or undefined when none is close enough: the edit
 * distance ignores case and counts a swap of two neighbouring letters as one edit (optimal
 * string alignment), and a candidate is close when more than 40% of the longer word survives
 * the edits. The one "did you mean" of vlab: topology files, live changes and the command line.
 *
 * @example
 * ```ts
 * import { closestName } from "./issues.ts";
 * closestName("dealy", ["delay", "jitter"]); // "delay"
 * closestName("STATIC", ["strict", "static"]); // "static"
 * closestName("xyz", ["split", "packed"]); // undefined
 * ```
 */
export function closestName(word: string, candidates: readonly string[]): string | undefined {
  if (word.length > SUGGEST_MAX_CHARS) return undefined;
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const length = Math.max(word.length, candidate.length);
    // The distance is at least the difference in length: skip what cannot be close.
    const floor = Math.abs(word.length - candidate.length);
    if (length === 0 || candidate.length > SUGGEST_MAX_CHARS || (length - floor) / length <= 0.4) {
      continue;
    }
    const distance = editDistance(w, candidate.toLowerCase());
    if ((length - distance) / length <= 0.4) continue;
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance with adjacent transpositions (optimal string alignment), three rows. */
function editDistance(a: string, b: string): number {
  let before = new Array<number>(b.length + 1).fill(0);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let cur = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        cur[j] = Math.min(cur[j], before[j - 2] + 1);
      }
    }
    [before, prev, cur] = [prev, cur, before];
  }
  return prev[b.length];
}

/**
 * A "did you mean" hint for a misspelt word, or a list of what is allowed when nothing is close:
 * the first `max` (8) of them, then "…" (names of a lab can be many; pass `Infinity` for a list
 * that is short and whose every entry matters, such as the keys of a map).
 *
 * @example
 * ```ts
 * import { didYouMean } from "./issues.ts";
 * didYouMean("sw", ["sw1", "a"]); // "did you mean `sw1`?"
 * ```
 */
export function didYouMean(
  word: string,
  candidates: readonly string[],
  max = 8,
): string | null {
  const unique = [...new Set(candidates)];
  const best = closestName(word, unique);
  if (best !== undefined) return `did you mean \`${best}\`?`;
  if (unique.length === 0) return null;
  const shown = unique.slice(0, max).map((c) => `\`${c}\``).join(", ");
  return `expected one of ${shown}${unique.length > max ? ", …" : ""}`;
}

/**
 * Render issues for a terminal: `file:line:col: message`, then `  hint: …` when there is a hint;
 * `file: message` when the issue has no line (the message alone when it quotes the file's path
 * already, as a file that cannot be read does). Anything but a list of problems and a path is a
 * `TypeError` naming the argument.
 *
 * @example
 * ```ts
 * import { formatIssues } from "./issues.ts";
 * formatIssues([{ code: "unknown-key", path: "vms.a.lyout", line: 4, column: 5,
 *   message: 'Unknown key "lyout" in vms.a', hint: "did you mean `layout`?" }], "lab.yaml");
 * // 'lab.yaml:4:5: Unknown key "lyout" in vms.a\n  hint: did you mean `layout`?'
 * ```
 */
export function formatIssues(issues: readonly TopologyIssue[], source: string): string {
  checkIssueList("formatIssues", issues, false);
  if (typeof source !== "string") {
    throw new TypeError(
      `formatIssues: source must be the file's path (a string), got ${valueKind(source)}`,
    );
  }
  const lines: string[] = [];
  for (const issue of issues) {
    // A problem with no line is about the whole file; when its message names the file already
    // (`Cannot read topology file "lab.yaml": no such file`), the path is not printed twice.
    const where = typeof issue.line === "number"
      ? `${source}:${issue.line}:${issue.column ?? 1}: `
      : namesFile(issue.message, source)
      ? ""
      : `${source}: `;
    // Messages quote outside text already; escaping the whole line guarantees that no escape
    // sequence from a file (or its name) reaches the terminal.
    lines.push(escapeControl(`${where}${issue.message}`));
    if (typeof issue.hint === "string") lines.push(escapeControl(`  hint: ${issue.hint}`));
  }
  return lines.join("\n");
}

/** Whether a message quotes the file's path (as `quote` shows it, cut or not). */
function namesFile(message: string, source: string): boolean {
  return message.includes(quote(source)) || message.includes(quote(source, 200));
}

/**
 * How a value of the wrong type is named in a `TypeError`: the words of the lab API's `typeName`
 * (`lab/api.ts`, a layer above this one): `null`, `an array`, a class's name, or its `typeof`.
 */
/**
 * What a caller passed, for a `TypeError`'s message: its type or class, never its text.
 *
 * @example
 * ```ts
 * import { valueKind } from "./issues.ts";
 * valueKind([1]); // "an array"
 * valueKind(5); // "number"
 * ```
 */
export function valueKind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? (v.constructor?.name ?? "an object") : typeof v;
}

/**
 * Refuse anything but a list of problems (a topology's or a drill's `error` list) at the call
 * of a printer: a `TypeError` naming `call` and the first entry that is no problem (no message,
 * a line that is no number). `withFile` asks for each problem's `file` too (a drill's problems
 * carry the file they are in).
 *
 * @example
 * ```ts
 * import { checkIssueList } from "./issues.ts";
 * try {
 *   checkIssueList("formatIssues", null, false);
 * } catch (e) {
 *   String(e); // "TypeError: formatIssues: issues must be an array of problems (a result's error), got null"
 * }
 * ```
 */
export function checkIssueList(call: string, issues: unknown, withFile: boolean): void {
  const expect = (what: string, value: unknown, ok: boolean, expected: string) => {
    if (!ok) throw new TypeError(`${call}: ${what} must be ${expected}, got ${valueKind(value)}`);
  };
  expect("issues", issues, Array.isArray(issues), "an array of problems (a result's error)");
  for (const [i, issue] of (issues as unknown[]).entries()) {
    const what = `issues[${i}]`;
    const isMap = typeof issue === "object" && issue !== null && !Array.isArray(issue);
    expect(what, issue, isMap, "a problem (an object with a message)");
    const p = issue as Record<string, unknown>;
    expect(`${what}.message`, p.message, typeof p.message === "string", "a string");
    const place = (key: string) =>
      expect(
        `${what}.${key}`,
        p[key],
        p[key] == null || typeof p[key] === "number",
        "a number or null",
      );
    place("line");
    place("column");
    expect(
      `${what}.hint`,
      p.hint,
      p.hint == null || typeof p.hint === "string",
      "a string or null",
    );
    if (withFile) expect(`${what}.file`, p.file, typeof p.file === "string", "a string");
  }
}
