/**
 * From a drill file (YAML) or a plain object to a validated {@linkcode Drill}, or every problem
 * at once with its `file:line:col` and a hint, the way topologies are validated: the same YAML
 * reader and locator (`parseYamlDocument`), the same zod-to-problem translation
 * (`schemaProblems`), the same printer (`formatIssues`). An inline topology's problems point
 * into the drill file; a topology file's problems point into that file.
 *
 * @module
 */

import { dirname, isAbsolute, join } from "node:path";
import { z } from "zod";
import { parse as parseYaml } from "yaml";
import { isScalar, type Node, Scalar } from "yaml";
import { err, ok, type Result } from "../../devices/base/result.ts";
import { didYouMean, formatIssues, type PathSegment, type Problem } from "../topology/issues.ts";
import { type LocatedDocument, parseYamlDocument, topologyFromObject } from "../topology/load.ts";
import { loadTopologyFile, resolveTopologyPath, shippedTopologies } from "../topology/files.ts";
import { schemaProblems } from "../topology/structure.ts";
import type { Topology, TopologyIssue } from "../topology/types.ts";
import { type ExprError, parseExpr } from "./expr.ts";
import { checkReferences } from "./references.ts";
import { durationMs, stepKinds } from "./steps.ts";
import "./fault_steps.ts";
import { quote } from "../topology/quote.ts";
import type { Drill, DrillAssertion, DrillStep } from "./types.ts";

/** A drill problem: a topology issue plus the file it is in. */
export interface DrillIssue extends TopologyIssue {
  /** The file the line and column are in. */
  file: string;
}

const topSchema = z.strictObject({
  name: z.string().optional(),
  description: z.string().optional(),
  topology: z.unknown(),
  seed: z.int().min(0).max(0xffff_ffff).optional(),
  timeout: durationMs.optional(),
  timeline: z.array(z.unknown()),
  assert: z.array(z.string()).optional(),
});

/** The page problems point to. */
const DOCS = "docs/drills.md";

const COMMON = ["at", "every", "for", "jitter"];
const commonSchema = z.strictObject({
  at: durationMs.optional(),
  every: durationMs.optional(),
  for: durationMs.optional(),
  jitter: durationMs.optional(),
});

/** Most runs a repeated step may make (`for` / `every`). */
export const MAX_RUNS = 10_000;

type Locate = (p: Problem) => { line: number; column: number } | null;

/** Turn a printed topology path (`links[0].endpoints[1]`, `vms["a b"]`) back into segments. */
function pathSegments(path: string): PathSegment[] {
  const out: PathSegment[] = [];
  const re = /([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g;
  for (const m of path.matchAll(re)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(m[3]) as string);
  }
  return out;
}

interface Ctx {
  file: string;
  locate: Locate | null;
  issues: DrillIssue[];
  /** Offset of an assertion's first character in the text, if it maps 1:1. */
  assertStart: (i: number, text: string) => { line: number; column: number; exact: boolean } | null;
}

function add(ctx: Ctx, problems: readonly Problem[]): void {
  for (const p of problems) {
    const at = ctx.locate?.(p) ?? null;
    ctx.issues.push({
      code: p.code,
      path: p.path.map(String).join("."),
      line: at?.line ?? null,
      column: at?.column ?? null,
      message: p.message,
      hint: p.hint,
      file: ctx.file,
    });
  }
}

async function resolveTopology(
  value: unknown,
  ctx: Ctx,
): Promise<{ topology: Topology; data: Record<string, unknown> } | null> {
  if (typeof value === "string") {
    const bare = !value.includes("/") && !value.includes(".y");
    const path = bare
      ? resolveTopologyPath(value)
      : isAbsolute(value) || ctx.file.startsWith("<")
      ? value
      : join(dirname(ctx.file), value);
    if (bare && path === value) {
      add(ctx, [{
        code: "unknown-topology",
        path: ["topology"],
        message: `Unknown shipped topology ${quote(value)}`,
        hint: didYouMean(value, shippedTopologies()) ?? "give a file path such as ./lab.yaml",
      }]);
      return null;
    }
    const r = await loadTopologyFile(path);
    if (!r.ok) {
      for (const i of r.error) ctx.issues.push({ ...i, file: path });
      return null;
    }
    const data = parseYaml(await Deno.readTextFile(path)) as Record<string, unknown>;
    return { topology: r.value, data };
  }
  // A missing topology is reported by the schema.
  if (value === undefined) return null;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    add(ctx, [{
      code: "wrong-type",
      path: ["topology"],
      message: "topology must be a shipped name, a file path or a map",
      hint: `shipped topologies: ${shippedTopologies().join(", ")}`,
    }]);
    return null;
  }
  const r = topologyFromObject(value, ctx.file);
  if (!r.ok) {
    add(
      ctx,
      r.error.map((i) => ({
        code: i.code,
        path: ["topology", ...pathSegments(i.path)],
        message: i.message,
        hint: i.hint,
        atKey: i.code === "unknown-key",
      })),
    );
    return null;
  }
  return { topology: r.value, data: value as Record<string, unknown> };
}

function checkSteps(raw: unknown[], topology: Topology | null, ctx: Ctx): DrillStep[] {
  const kinds = stepKinds();
  const steps: DrillStep[] = [];
  const workloads = new Set<string>();
  for (const [index, entry] of raw.entries()) {
    const path: PathSegment[] = ["timeline", index];
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      add(ctx, [{
        code: "wrong-type",
        path,
        message: `timeline[${index}] must be a map with one step kind`,
        hint: `step kinds: ${[...kinds.keys()].join(", ")}`,
      }]);
      continue;
    }
    const keys = Object.keys(entry);
    const own = keys.filter((k) => !COMMON.includes(k));
    const known = own.filter((k) => kinds.has(k));
    const problems: Problem[] = own.filter((k) => !kinds.has(k)).map((k) => ({
      code: "unknown-key",
      path: [...path, k],
      atKey: true,
      message: `Unknown step kind ${quote(k)} in timeline[${index}]`,
      hint: didYouMean(k, [...kinds.keys(), ...COMMON]),
    }));
    if (known.length === 0 && problems.length === 0) {
      problems.push({
        code: "no-step-kind",
        path,
        message: `timeline[${index}] has no step kind`,
        hint: `add one of ${[...kinds.keys()].map((k) => `\`${k}\``).join(", ")}`,
      });
    }
    if (known.length > 1) {
      problems.push({
        code: "several-step-kinds",
        path: [...path, known[1]],
        atKey: true,
        message: `timeline[${index}] has several step kinds: ${known.join(", ")}`,
        hint: "give each step its own timeline entry",
      });
    }
    const common = Object.fromEntries(
      Object.entries(entry).filter(([k]) => COMMON.includes(k)),
    );
    const c = commonSchema.safeParse(common);
    if (!c.success) {
      problems.push(
        ...schemaProblems(commonSchema, common, { what: `timeline[${index}]`, docs: DOCS }).map((
          p,
        ) => ({
          ...p,
          path: [...path, ...p.path],
        })),
      );
    }
    const kind = known.length === 1 ? known[0] : null;
    let args: unknown = null;
    if (kind !== null) {
      const spec = kinds.get(kind)!;
      const value = (entry as Record<string, unknown>)[kind];
      const parsed = spec.schema.safeParse(value);
      if (!parsed.success) {
        problems.push(
          ...schemaProblems(spec.schema, value, { what: `timeline[${index}].${kind}`, docs: DOCS })
            .map((p) => ({
              ...p,
              path: [...path, kind, ...p.path],
            })),
        );
      } else {
        args = parsed.data;
        if (topology !== null && spec.check !== undefined) {
          problems.push(...spec.check(args, { topology, workloads }, [...path, kind]));
        }
        const name = spec.defines?.(args) ?? null;
        if (name !== null) workloads.add(name);
      }
    }
    if (c.success) {
      const { every, for: forMs } = c.data;
      if ((every === undefined) !== (forMs === undefined)) {
        problems.push({
          code: "missing-key",
          path: [...path, every === undefined ? "for" : "every"],
          atKey: true,
          message: `timeline[${index}]: every and for go together`,
          hint: "repeat a step with `every: 500ms` and `for: 5s`",
        });
      } else if (every !== undefined && forMs !== undefined) {
        if (every <= 0 || forMs / every > MAX_RUNS) {
          problems.push({
            code: "out-of-range",
            path: [...path, "every"],
            message: `timeline[${index}] would run ${
              every <= 0 ? "forever" : Math.ceil(forMs / every)
            } times (at most ${MAX_RUNS})`,
            hint: "use a longer period or a shorter duration",
          });
        }
      }
    }
    add(ctx, problems);
    if (problems.length === 0 && kind !== null && c.success) {
      steps.push({
        index,
        kind,
        args,
        atMs: c.data.at ?? null,
        everyMs: c.data.every ?? null,
        forMs: c.data.for ?? null,
        jitterMs: c.data.jitter ?? 0,
      });
    }
  }
  return steps;
}

function checkAssertions(raw: string[], workloads: string[], ctx: Ctx): DrillAssertion[] {
  const out: DrillAssertion[] = [];
  for (const [i, text] of raw.entries()) {
    const start = ctx.assertStart(i, text);
    const issue = (e: ExprError) => {
      const exact = start?.exact === true;
      ctx.issues.push({
        code: e.code,
        path: `assert.${i}`,
        line: start?.line ?? null,
        column: start === null ? null : start.column + (exact ? e.at : 0),
        message: `${e.message} (assert[${i}], column ${e.at + 1} of the assertion)`,
        hint: e.hint,
        file: ctx.file,
      });
    };
    const parsed = parseExpr(text);
    if (!parsed.ok) {
      issue(parsed.error);
      continue;
    }
    const errors = checkReferences(parsed.value, workloads);
    for (const e of errors) issue(e);
    if (errors.length === 0) {
      out.push({
        text,
        expr: parsed.value,
        line: start?.line ?? null,
        column: start?.column ?? null,
      });
    }
  }
  return out;
}

async function validate(
  raw: unknown,
  file: string,
  located: LocatedDocument | null,
  text: string,
): Promise<Result<Drill, DrillIssue[]>> {
  const ctx: Ctx = {
    file,
    locate: located?.locate ?? null,
    issues: [],
    assertStart: (i, value) => {
      if (located === null) return null;
      const node = located.doc.getIn(["assert", i], true) as Node | undefined;
      if (node === undefined || node.range == null) return null;
      const quoted = isScalar(node) &&
        (node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE);
      const start = node.range[0] + (quoted ? 1 : 0);
      const pos = located.lineCounter.linePos(start);
      return {
        line: pos.line,
        column: pos.col,
        exact: text.slice(start, start + value.length) === value,
      };
    },
  };
  add(ctx, schemaProblems(topSchema, raw, { what: "The drill", docs: DOCS }));
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return err(ctx.issues);
  }
  const doc = raw as Record<string, unknown>;
  const top = topSchema.safeParse(raw);
  const resolved = await resolveTopology(doc.topology, ctx);
  const timeline = Array.isArray(doc.timeline) ? doc.timeline : [];
  const steps = checkSteps(timeline, resolved?.topology ?? null, ctx);
  const workloads = steps.map((s) => stepKinds().get(s.kind)?.defines?.(s.args) ?? null)
    .filter((n): n is string => n !== null);
  const asserts = Array.isArray(doc.assert) && doc.assert.every((a) => typeof a === "string")
    ? checkAssertions(doc.assert as string[], workloads, ctx)
    : [];
  if (ctx.issues.length > 0 || resolved === null || !top.success) {
    ctx.issues.sort((a, b) =>
      a.file.localeCompare(b.file) || (a.line ?? Infinity) - (b.line ?? Infinity) ||
      (a.column ?? 0) - (b.column ?? 0)
    );
    return err(ctx.issues);
  }
  const seed = top.data.seed ?? 1;
  const base = file.startsWith("<") ? "drill" : file.split("/").pop()!.replace(/\.ya?ml$/, "");
  const name = top.data.name ?? base;
  return ok({
    name,
    description: top.data.description ?? "",
    source: file,
    seed,
    topology: { ...resolved.topology, seed },
    topologyData: resolved.data,
    timeline: steps,
    assertions: asserts,
    timeoutMs: top.data.timeout ?? 120_000,
    document: { ...doc, name, topology: resolved.data, seed },
  });
}

/**
 * Parse and check a drill written in YAML. `file` names it in problems and anchors a relative
 * topology path.
 *
 * @example
 * ```ts ignore
 * import { parseDrill } from "./load.ts";
 * const r = await parseDrill("topology: pair\ntimeline: [{ wait: 1s }]\n", "d.yaml");
 * r.ok && r.value.timeline[0].kind; // "wait"
 * ```
 */
export async function parseDrill(text: string, file: string): Promise<Result<Drill, DrillIssue[]>> {
  const parsed = parseYamlDocument(text);
  if (!parsed.ok) return err(parsed.error.map((i) => ({ ...i, file })));
  return await validate(parsed.value.raw, file, parsed.value, text);
}

/**
 * Check a drill given as a plain object (snake_case keys, as in YAML); problems carry a path.
 *
 * @example
 * ```ts ignore
 * import { drillFromObject } from "./load.ts";
 * const r = await drillFromObject({ topology: "pair", timeline: [{ wait: "1s" }] });
 * ```
 */
export async function drillFromObject(
  value: unknown,
  source = "<object>",
): Promise<Result<Drill, DrillIssue[]>> {
  return await validate(value, source, null, "");
}

/**
 * Read and check a drill file; a missing file is one problem with code `unreadable`.
 *
 * @example
 * ```ts ignore
 * import { loadDrillFile } from "./load.ts";
 * const r = await loadDrillFile("drills/link-flap.yaml");
 * ```
 */
export async function loadDrillFile(path: string): Promise<Result<Drill, DrillIssue[]>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const missing = e instanceof Deno.errors.NotFound;
    return err([{
      code: "unreadable",
      path: "",
      line: null,
      column: null,
      message: `Cannot read drill file ${quote(path, 200)}: ${
        missing ? "no such file" : e instanceof Error ? e.message : String(e)
      }`,
      hint: missing ? "shipped drills are in drills/, for example drills/link-flap.yaml" : null,
      file: path,
    }]);
  }
  return await parseDrill(text, path);
}

/**
 * Render drill problems: `file:line:col: message` and a hint line each.
 *
 * @example
 * ```ts
 * import { formatDrillIssues } from "./load.ts";
 * formatDrillIssues([{ code: "x", path: "", line: 3, column: 5, message: "Bad", hint: null, file: "d.yaml" }]);
 * // "d.yaml:3:5: Bad"
 * ```
 */
export function formatDrillIssues(issues: readonly DrillIssue[]): string {
  return issues.map((i) => formatIssues([i], i.file)).join("\n");
}
