/**
 * The static module graph of an entry, from `deno info --json`: what Deno loads before the entry
 * runs (its imports, transitively, without dynamic `import()`). For the tests that keep entries
 * lean (workers, the CLI).
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

/**
 * The modules an entry loads before it runs: its graph without dynamic imports (`entry` relative
 * to this folder).
 */
export async function staticGraph(entry: string): Promise<string[]> {
  const path = fileURLToPath(new URL(entry, import.meta.url));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: InfoModule[];
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const todo = [...info.roots];
  while (todo.length > 0) {
    const s = todo.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const d of bySpecifier.get(s)?.dependencies ?? []) {
      if (d.code !== undefined && d.isDynamic !== true) todo.push(d.code.specifier);
    }
  }
  return [...seen];
}
