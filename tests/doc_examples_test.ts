/**
 * What a newcomer copies out of the docs works as written: every relative link of the README and
 * of docs/ leads to a file and, for a Markdown file, to a heading of it (GitHub's anchors), and
 * every script-shaped TypeScript example (one that starts its own lab) imports from `./mod.ts`
 * every name of it that it uses, so that it runs when saved beside `mod.ts` as the docs say.
 */

import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The Markdown files a user reads: the README, docs/ and topologies/README.md. */
function docFiles(): string[] {
  const docs = [...Deno.readDirSync(join(ROOT, "docs"))]
    .filter((e) => e.isFile && e.name.endsWith(".md"))
    .map((e) => join(ROOT, "docs", e.name));
  return [join(ROOT, "README.md"), join(ROOT, "topologies", "README.md"), ...docs.sort()];
}

/** Drops fenced code blocks, whose `#` lines and `](…)` are no headings or links. */
function prose(markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, "");
}

/** GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces to `-`. */
export function anchorOf(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, "").replaceAll(" ", "-");
}

/** Every anchor of a Markdown file, repeated headings numbered as GitHub numbers them. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of prose(markdown).matchAll(/^#{1,6}\s+(.+)$/gm)) {
    const base = anchorOf(m[1]);
    const n = seen.get(base);
    seen.set(base, n === undefined ? 0 : n + 1);
    out.add(n === undefined ? base : `${base}-${n + 1}`);
  }
  return out;
}

Deno.test("anchorOf matches GitHub's for the headings the docs link to", () => {
  assert.equal(anchorOf("`vlab fault …`"), "vlab-fault-");
  assert.equal(
    anchorOf(
      "`vlab link LINK set KEY=VALUE… [--direction forward|reverse|both]`, `vlab link LINK clear`",
    ),
    "vlab-link-link-set-keyvalue---direction-forwardreverseboth-vlab-link-link-clear",
  );
  assert.equal(anchorOf("Link (`links[i]`)"), "link-linksi");
});

Deno.test("every relative link of the README and docs/ leads to a file and a heading of it", () => {
  const broken: string[] = [];
  for (const file of docFiles()) {
    const text = prose(Deno.readTextFileSync(file));
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1];
      if (/^[a-z]+:/.test(link)) continue;
      const [path, anchor] = link.split("#", 2);
      const target = path === "" ? file : join(dirname(file), path);
      const where = `${relative(ROOT, file)}: (${link})`;
      let isFile = false;
      try {
        isFile = Deno.statSync(target).isFile || Deno.statSync(target).isDirectory;
      } catch {
        broken.push(`${where}: no such file`);
        continue;
      }
      if (isFile && anchor && target.endsWith(".md")) {
        if (!anchorsOf(Deno.readTextFileSync(target)).has(anchor)) {
          broken.push(`${where}: no heading with that anchor`);
        }
      }
    }
  }
  assert.deepEqual(broken, []);
});

/** The ```ts blocks of a Markdown file that start a lab of their own (`const lab = await …`). */
function scriptBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1])
    .filter((code) => /^\s*const lab = await /m.test(code));
}

Deno.test("every TypeScript example that starts its own lab imports what it uses from mod.ts", async () => {
  const mod = await import("../mod.ts");
  const exported = Object.keys(mod);
  const missing: string[] = [];
  let count = 0;
  for (const file of [join(ROOT, "README.md"), join(ROOT, "docs", "experiments.md")]) {
    for (const [i, code] of scriptBlocks(Deno.readTextFileSync(file)).entries()) {
      count++;
      const imports = /^import \{([^}]*)\} from "\.\/mod\.ts";$/m.exec(code);
      const imported = new Set(
        (imports?.[1] ?? "").split(",").map((n) => n.trim().replace(/^type\s+/, "")),
      );
      const body = code.replace(/^import .*$/gm, "");
      for (const name of exported) {
        // A use, not a property (`crash.ok`) or an object key (`{ ok: true }`) of the same name.
        const used = new RegExp(`(?<![.\\w$])${name}\\b(?!\\s*:)`).test(body);
        if (used && !imported.has(name)) {
          missing.push(
            `${relative(ROOT, file)} example ${i + 1} uses ${name} without importing it`,
          );
        }
      }
    }
  }
  assert.ok(count >= 5, `found only ${count} script examples`);
  assert.deepEqual(missing, []);
});
