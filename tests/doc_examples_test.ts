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

/** The files the fenced examples of a Markdown file write into the folder they run in. */
export function writtenFiles(markdown: string): string[] {
  const out: string[] = [];
  for (const [, lang, code] of markdown.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)) {
    if (lang === "ts") {
      for (const m of code.matchAll(/Deno\.write(?:Text)?File(?:Sync)?\("([^"]+)"/g)) {
        out.push(m[1]);
      }
      continue;
    }
    if (!["sh", "console", ""].includes(lang)) continue;
    for (const line of code.split("\n")) {
      // In a console block only the `$ ` lines are commands; the rest is their output.
      if (lang === "console" && !line.startsWith("$ ")) continue;
      const command = line.replace(/^\$ /, "").replace(/\s#.*$/, "");
      // `> FILE` and `>> FILE` (not `2>`, `&>` or an arrow `->`), and the options that write.
      const writes =
        /(?:(?:^|\s)>>?|--report(?=[\s=])|--junit(?=[\s=])|\s-w(?=\s))[\s=]*([^\s|;&]+)/g;
      for (const m of command.matchAll(writes)) {
        const path = m[1];
        // A concrete relative path: not stdout, not an absolute path, a variable or a placeholder.
        if (path === "-" || /^[/$~[<]/.test(path) || /^[A-Z.]+$/.test(path)) continue;
        out.push(path);
      }
    }
  }
  return out;
}

/** Whether a line of .gitignore (anchored `/x`, a folder `x/`, globs `*`) matches a path. */
function ignoredBy(patterns: string[], path: string): boolean {
  const parts = path.replace(/^\.\//, "").split("/");
  return patterns.some((raw) => {
    const folder = raw.endsWith("/");
    const anchored = raw.slice(0, -1).includes("/") || raw.startsWith("/");
    const pattern = raw.replace(/^\//, "").replace(/\/$/, "");
    const re = new RegExp(
      `^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", "[^/]*")}$`,
    );
    // Each leading part of the path, the path itself last: a folder pattern needs one below it.
    for (let n = 1; n <= parts.length; n++) {
      if (folder && n === parts.length && !path.endsWith("/")) break;
      const head = parts.slice(0, n).join("/");
      if (anchored ? re.test(head) : re.test(parts[n - 1])) return true;
    }
    return false;
  });
}

Deno.test("writtenFiles finds the files an example writes, not stdout or placeholders", () => {
  const md = [
    "```sh",
    "vlab graph | dot -Tsvg > lab.svg  # draw it",
    "vlab capture a-b -w - | tshark -r -",
    "vlab drill run d.yaml --report out/ --junit out/drill.xml",
    "vlab dashboard --report-cpu 2>cpu.jsonl",
    "vlab capture LINK -w FILE; socat - UNIX-CONNECT:$dir/vsock.sock > /tmp/x",
    "vlab pingall >> pingall.log",
    "```",
    "```console",
    "$ vlab pingall",
    "a -> b",
    "```",
    "```ts",
    'await Deno.writeFile("a-b.pcap", pcap);',
    "```",
  ].join("\n");
  assert.deepEqual(writtenFiles(md), [
    "lab.svg",
    "out/",
    "out/drill.xml",
    "pingall.log",
    "a-b.pcap",
  ]);
});

Deno.test("what the docs' examples write in the checkout is git-ignored, so task test's fmt skips it", () => {
  const patterns = Deno.readTextFileSync(join(ROOT, ".gitignore")).split("\n")
    .map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  const notIgnored: string[] = [];
  for (const file of docFiles()) {
    for (const path of writtenFiles(Deno.readTextFileSync(file))) {
      if (!ignoredBy(patterns, path)) notIgnored.push(`${relative(ROOT, file)}: ${path}`);
    }
  }
  assert.deepEqual(notIgnored, []);
});

/**
 * Every ```ts block of a Markdown file as a file `deno check` takes: a script (one with its own
 * `import … from "./mod.ts"`) as it is, a fragment (`lab.…` lines of a section) after a prelude
 * that declares the names it takes from the text around it (`lab`, `cid`, `LabError`). Imports
 * of `./mod.ts` name the checkout's, so the files can be checked from any folder.
 */
export function checkableBlocks(markdown: string, modUrl: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map(([, code]) => {
    const script = /^import .* from "\.\/mod\.ts";$/m.test(code);
    const prelude = script ? "" : [
      'import { LabError, type LabHandle } from "./mod.ts";',
      "declare const lab: LabHandle;",
      "declare const cid: number;",
      "void LabError;",
      "",
    ].join("\n");
    return (prelude + code).replaceAll('from "./mod.ts"', `from ${JSON.stringify(modUrl)}`);
  });
}

Deno.test("checkableBlocks gives a fragment what it takes from the text around it", () => {
  const md =
    '```ts\nlab.setLink("a-b", false);\n```\n```ts\nimport { startLab } from "./mod.ts";\n```\n';
  const [fragment, script] = checkableBlocks(md, "file:///x/mod.ts");
  assert.match(fragment, /^import \{ LabError, type LabHandle \} from "file:\/\/\/x\/mod\.ts";$/m);
  assert.match(fragment, /^declare const lab: LabHandle;$/m);
  assert.equal(script, 'import { startLab } from "file:///x/mod.ts";\n');
});

Deno.test("deno check accepts every TypeScript example of the README and docs/experiments.md", async () => {
  // `ping.text.split(…)` of the onLine example was a type error: exec resolved to a
  // Record<string, unknown>, so a script could not use the fields the docs show without a cast.
  const dir = await Deno.makeTempDir({ prefix: "vlab-doc-check-" });
  try {
    const modUrl = new URL("../mod.ts", import.meta.url).href;
    const files: string[] = [];
    for (const doc of ["README.md", join("docs", "experiments.md")]) {
      const blocks = checkableBlocks(Deno.readTextFileSync(join(ROOT, doc)), modUrl);
      for (const [i, code] of blocks.entries()) {
        const file = join(dir, `${doc.replaceAll(/[/.]/g, "_")}_${i + 1}.ts`);
        await Deno.writeTextFile(file, code);
        files.push(file);
      }
    }
    assert.ok(files.length >= 10, `found only ${files.length} examples`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", join(ROOT, "deno.json"), ...files],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stderr);
    // Each error names its example's file (README_md_1.ts, docs_experiments_md_3.ts).
    assert.equal(out.code, 0, text.replaceAll(`${dir}/`, ""));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
