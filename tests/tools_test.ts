/**
 * The first step of the test task: the programs the end-to-end tests need are found on PATH, and
 * where they are missing and cannot be installed the step fails at once with one line that names
 * the packages and the command to install them.
 */

import assert from "node:assert/strict";
import { manualInstallLine, missingTools, onPath, TEST_TOOLS } from "./tools.ts";

Deno.test("onPath finds executables and ignores folders, plain files and empty entries", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/tool`, "#!/bin/sh\n");
    Deno.chmodSync(`${dir}/tool`, 0o755);
    Deno.writeTextFileSync(`${dir}/plain`, "data");
    Deno.mkdirSync(`${dir}/folder`);
    assert.equal(onPath("tool", `::${dir}`), true);
    assert.equal(onPath("plain", dir), false);
    assert.equal(onPath("folder", dir), false);
    assert.equal(onPath("tool", ""), false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("every test tool is missing from an empty PATH, and the line names each package once", () => {
  const missing = missingTools(TEST_TOOLS, "/nonexistent");
  assert.equal(missing.length, TEST_TOOLS.length);
  const line = manualInstallLine(missing, "no apt-get");
  assert.equal(line.split("\n").length, 1);
  for (const t of TEST_TOOLS) assert.ok(line.includes(t.debianPackage), t.debianPackage);
  assert.match(line, /sudo apt-get install -y --no-install-recommends curl tshark tmux /);
});

Deno.test("one missing tool is 'it', several are 'them'", () => {
  // It said "tshark missing and VLAB_TEST_NO_INSTALL=1 forbids installing them; install them".
  const tshark = TEST_TOOLS.filter((t) => t.command === "tshark");
  assert.equal(
    manualInstallLine(tshark, "VLAB_TEST_NO_INSTALL=1 forbids installing"),
    "vlab tests: tshark is missing and VLAB_TEST_NO_INSTALL=1 forbids installing; install it " +
      "with: sudo apt-get update && sudo apt-get install -y --no-install-recommends tshark",
  );
  const two = TEST_TOOLS.filter((t) => t.command === "tshark" || t.command === "tmux");
  assert.match(
    manualInstallLine(two, "no apt-get"),
    /^vlab tests: tshark, tmux are missing and no apt-get; install them with: /,
  );
});

Deno.test("without the tools and without leave to install, the step fails in its first second with one line", async () => {
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-run",
      "--allow-env",
      "--allow-read",
      "--allow-sys=uid",
      "tests/tools.ts",
    ],
    env: { PATH: "/nonexistent", VLAB_TEST_NO_INSTALL: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  const stderr = new TextDecoder().decode(out.stderr).trim();
  assert.equal(out.code, 1);
  assert.equal(stderr.split("\n").length, 1, stderr);
  assert.match(
    stderr,
    /^vlab tests: curl, tshark, tmux, script, socat, dot, promtool, xmllint, cc are missing /,
  );
  assert.ok(ms < 5000, `took ${ms} ms`);
});
