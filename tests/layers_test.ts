/**
 * The layer check: every import in the project goes down the layer order of
 * `docs/architecture.md` (or stays in its layer), and no two folders (nor two files) import each
 * other, directly or through others. Test files are left out (a test may use the public API of
 * a layer above; nothing imports a test), and so are imports of JSON data. The order is written once, in {@linkcode LAYERS}; a failure names the file,
 * the import and the rule it breaks.
 *
 * @module
 */

import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Folders of the project by layer, lowest first: a file may import from its own layer and the
 * layers before it. A folder not listed takes the layer of its nearest listed parent.
 */
export const LAYERS: ReadonlyArray<ReadonlyArray<string>> = [
  ["devices/base"],
  ["devices/memory"],
  ["devices/virtio"],
  ["devices/iommu"],
  ["devices/net", "devices/vsock"],
  // vhost-pci-net: a device kind built on the net device model (it serves a virtio-net NIC).
  ["devices/vhost_pci"],
  ["lab/wire"],
  ["lab/guest", "lab/host"],
  ["lab/kinds", "lab/topology", "lab/bench", "lab"],
  ["cli"],
  ["."],
  ["tests"],
];

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SKIP = new Set(["node_modules", ".tools", ".git", "testdata"]);

/** Every TypeScript source file of the project, relative to the root, with "/" separators. */
function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 8) return;
    for (const entry of Deno.readDirSync(join(ROOT, dir))) {
      const rel = dir === "" ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory && !SKIP.has(entry.name) && !entry.name.startsWith(".")) {
        walk(rel, depth + 1);
      } else if (entry.isFile && /\.tsx?$/.test(entry.name)) out.push(rel);
    }
  };
  walk("", 0);
  return out.sort();
}

/**
 * The relative specifiers a file imports or re-exports (static and dynamic); with `valuesOnly`,
 * without the type-only ones (erased at run time, so a cycle through them is harmless).
 */
function importsOf(text: string, valuesOnly = false): string[] {
  const out: string[] = [];
  // JSDoc examples import their own module: comments are not imports.
  let code = text.replace(/\/\*[\s\S]*?\*\//g, "");
  if (valuesOnly) {
    code = code.replace(/\b(?:import|export)\s+type\b[^;]*?from\s*["'][^"']+["']/g, "");
  }
  const re = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g;
  for (const m of code.matchAll(re)) out.push(m[1]);
  return out;
}

/** The folder of a file ("." for the root). */
function folderOf(file: string): string {
  const d = dirname(file);
  return d === "" ? "." : d;
}

/**
 * The listed folder a folder belongs to (itself or its nearest listed parent): the unit of the
 * cycle check, so that a worker entry and its own subfolders (`lab/host/kinds/`) are one unit.
 */
function unitOf(folder: string): string {
  for (let f = folder;; f = dirname(f)) {
    if (LAYERS.some((names) => names.includes(f))) return f;
    if (f === "." || f === "") return ".";
  }
}

/** The layer of a folder: its own entry or its nearest listed parent's. */
function layerOf(folder: string): number {
  for (let f = folder;; f = dirname(f)) {
    const i = LAYERS.findIndex((names) => names.includes(f));
    if (i >= 0) return i;
    if (f === "." || f === "") return LAYERS.length - 1;
  }
}

/** The folder an import lands in, relative to the root. */
function resolveFolder(file: string, spec: string): string {
  const target = normalize(join(dirname(file), spec)).replaceAll("\\", "/");
  return folderOf(relative(".", target).replaceAll("\\", "/"));
}

interface Edge {
  file: string;
  spec: string;
  from: string;
  to: string;
}

function edges(valuesOnly = false): Edge[] {
  const out: Edge[] = [];
  for (const file of sourceFiles()) {
    const text = Deno.readTextFileSync(join(ROOT, file));
    // A test may import the public API (mod.ts) of a layer above; nothing imports a test.
    if (file.endsWith("_test.ts") || file.endsWith("_test.tsx")) continue;
    for (const spec of importsOf(text, valuesOnly)) {
      // Data (deno.json's version) is not a layer.
      if (spec.endsWith(".json")) continue;
      out.push({ file, spec, from: folderOf(file), to: resolveFolder(file, spec) });
    }
  }
  return out;
}

/** A cycle in the folder graph (a list of folders, first = last), or null. */
function folderCycle(all: Edge[]): { path: string[]; witness: Edge[] } | null {
  const next = new Map<string, Map<string, Edge>>();
  for (const e of all) {
    const from = unitOf(e.from);
    const to = unitOf(e.to);
    if (from === to) continue;
    let m = next.get(from);
    if (!m) next.set(from, m = new Map());
    if (!m.has(to)) m.set(to, e);
  }
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    state.set(n, 1);
    stack.push(n);
    for (const to of next.get(n)?.keys() ?? []) {
      if (state.get(to) === 1) return [...stack.slice(stack.indexOf(to)), to];
      if (!state.has(to)) {
        const c = visit(to);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 2);
    return null;
  };
  for (const n of [...next.keys()].sort()) {
    if (state.has(n)) continue;
    const path = visit(n);
    if (path) {
      const witness = path.slice(1).map((to, i) => next.get(path[i])!.get(to)!);
      return { path, witness };
    }
  }
  return null;
}

Deno.test("no module imports from a layer above its own (docs/architecture.md, Layers)", () => {
  const bad = edges().filter((e) => layerOf(e.to) > layerOf(e.from)).map((e) =>
    `${e.file} imports "${e.spec}": ${e.from} (layer ${
      layerOf(e.from)
    }) may not import ${e.to} (layer ${layerOf(e.to)})`
  );
  assert.deepEqual(bad, [], `upward imports:\n${bad.join("\n")}`);
});

Deno.test("no two folders of the layer table import each other, directly or through others", () => {
  const cycle = folderCycle(edges());
  assert.equal(
    cycle,
    null,
    cycle === null
      ? ""
      : `folder cycle ${cycle.path.join(" → ")}:\n${
        cycle.witness.map((e) => `  ${e.file} imports "${e.spec}"`).join("\n")
      }`,
  );
});

Deno.test("no two files import values from each other, directly or through others", () => {
  const next = new Map<string, string[]>();
  for (const e of edges(true)) {
    const target = relative(".", normalize(join(dirname(e.file), e.spec))).replaceAll("\\", "/");
    if (!next.has(e.file)) next.set(e.file, []);
    next.get(e.file)!.push(target);
  }
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  let found: string[] | null = null;
  const visit = (n: string) => {
    state.set(n, 1);
    stack.push(n);
    for (const to of next.get(n) ?? []) {
      if (found) return;
      if (state.get(to) === 1) found = [...stack.slice(stack.indexOf(to)), to];
      else if (!state.has(to)) visit(to);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of [...next.keys()].sort()) if (!state.has(n) && !found) visit(n);
  assert.equal(found, null, `import cycle: ${(found ?? []).join(" → ")}`);
});

Deno.test("the layer check sees an upward import and a folder cycle", () => {
  const up: Edge = {
    file: "lab/wire/x.ts",
    spec: "../topology/t.ts",
    from: "lab/wire",
    to: "lab/topology",
  };
  assert.ok(layerOf(up.to) > layerOf(up.from));
  assert.equal(layerOf("lab/guest/net"), layerOf("lab/guest"));
  const cycle = folderCycle([
    up,
    { file: "lab/topology/t.ts", spec: "../wire/x.ts", from: "lab/topology", to: "lab/wire" },
  ]);
  assert.deepEqual(cycle?.path, ["lab/topology", "lab/wire", "lab/topology"]);
});
