/**
 * `deno task vlab` runs the CLI in the project's folder; the paths a user types are relative to
 * where they typed them (deno task's `INIT_CWD`). A topology file next to the caller is found,
 * and a bare shipped name still means the shipped file.
 */

import assert from "node:assert/strict";
import { CONFIG_PATH, vlabChildEnv, vlabRunArgs } from "../cli/deno_run.ts";

/** `deno task vlab ARGS` from `cwd`, as a user's shell would start it (no INIT_CWD of ours). */
async function vlabTaskIn(cwd: string, ...args: string[]) {
  const env: Record<string, string> = {};
  for (const k of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "NO_COLOR"]) {
    const v = Deno.env.get(k);
    if (v !== undefined) env[k] = v;
  }
  env.NO_COLOR = "1";
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "--config", CONFIG_PATH, "vlab", ...args],
    cwd,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("deno task vlab reads a relative path from the caller's folder, not the project's", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "vlab-cwd-" });
  try {
    Deno.writeTextFileSync(
      `${dir}/mine.yaml`,
      "name: mine\nvms:\n  a: { nics: { eth0: { ip: 10.5.0.1/24 } } }\n" +
        "  b: { nics: { eth0: { ip: 10.5.0.2/24 } } }\nlinks:\n  - endpoints: [a, b]\n",
    );
    const mine = await vlabTaskIn(dir, "validate", "mine.yaml");
    assert.equal(mine.code, 0, mine.stderr);
    assert.match(mine.stdout, /^mine\.yaml: valid: lab mine, 2 VMs/m);
    const shipped = await vlabTaskIn(dir, "validate", "pair");
    assert.equal(shipped.code, 0, shipped.stderr);
    assert.match(shipped.stdout, /topologies\/pair\.yaml: valid: lab pair/);
    // Every link is counted, vsock links too (vsock-pair has a NIC link and a vsock link).
    const vsock = await vlabTaskIn(dir, "validate", "vsock-pair");
    assert.match(vsock.stdout, /valid: lab vsock-pair, 2 VMs, 0 switches, 2 links$/m);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** `vlab validate topologies/pair.yaml` started as a test starts the CLI, in this folder. */
async function validateRelative(env: Record<string, string>): Promise<Deno.CommandOutput> {
  return await new Deno.Command(Deno.execPath(), {
    args: vlabRunArgs(["validate", "topologies/pair.yaml"]),
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
}

Deno.test("a CLI a test starts stays in the test's folder when the run was started elsewhere", async () => {
  // `cd /tmp && deno task --config …/deno.json test` gives the test process INIT_CWD=/tmp.
  const elsewhere = Deno.makeTempDirSync({ prefix: "vlab-init-cwd-" });
  const saved = Deno.env.get("INIT_CWD");
  Deno.env.set("INIT_CWD", elsewhere);
  try {
    // Inherited, it sends the CLI there (what a user's `deno task vlab` is meant to get) ...
    const inherited = await validateRelative({ NO_COLOR: "1" });
    assert.equal(inherited.code, 1, "the CLI did not go back to INIT_CWD");
    // ... so the tests' children name their own folder.
    const own = await validateRelative(vlabChildEnv({ NO_COLOR: "1" }));
    assert.equal(own.code, 0, new TextDecoder().decode(own.stderr));
  } finally {
    if (saved === undefined) Deno.env.delete("INIT_CWD");
    else Deno.env.set("INIT_CWD", saved);
    Deno.removeSync(elsewhere, { recursive: true });
  }
});

Deno.test("every test that starts the CLI with vlabRunArgs gives it vlabChildEnv", () => {
  const root = new URL("../", import.meta.url);
  const files: string[] = [];
  for (const dir of ["tests", "lab", "cli", "devices"]) {
    const walk = (rel: string) => {
      for (const e of Deno.readDirSync(new URL(rel, root))) {
        const path = `${rel}/${e.name}`;
        if (e.isDirectory) walk(path);
        else if (path.endsWith(".ts") && (dir === "tests" || path.endsWith("_test.ts"))) {
          files.push(path);
        }
      }
    };
    walk(dir);
  }
  const starters = files.filter((f) => {
    const text = Deno.readTextFileSync(new URL(f, root));
    return text.includes("vlabRunArgs(") && text.includes("new Deno.Command(");
  });
  assert.ok(starters.length >= 10, `found ${starters.length} files that start the CLI`);
  const missing = starters.filter((f) =>
    f !== "tests/cli_cwd_test.ts" &&
    !Deno.readTextFileSync(new URL(f, root)).includes("vlabChildEnv(")
  );
  assert.deepEqual(missing, [], "start the CLI with env: vlabChildEnv({...})");
});
