/**
 * End-to-end tests of the `vlab` command line: each test runs `cli/main.ts` in a subprocess, the
 * way `deno task vlab` does, and checks its stdout, stderr and exit code.
 */

import assert from "node:assert/strict";
import meta from "../deno.json" with { type: "json" };
import { VLAB_PERMISSION_FLAGS } from "../cli/deno_run.ts";
import { runVlab } from "./run.ts";

const vlab = (...args: string[]) => runVlab(args);

/** Assert that stderr is exactly one `vlab:` line and one `hint:` line. */
function assertErrorLines(stderr: string, message: string | RegExp): void {
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 2, `two lines on stderr, got:\n${stderr}`);
  assert.match(lines[0], /^vlab: /);
  assert.match(lines[1], /^hint: \S/);
  if (typeof message === "string") assert.equal(lines[0], `vlab: ${message}`);
  else assert.match(lines[0], message);
}

Deno.test("the tests start vlab with the permission flags of the vlab task", () => {
  assert.equal(meta.tasks.vlab, `deno run ${VLAB_PERMISSION_FLAGS.join(" ")} cli/main.ts`);
});

Deno.test("--version prints the version from deno.json", async () => {
  const run = await vlab("--version");
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.trim(), meta.version);
  assert.equal(run.stderr, "");
});

Deno.test("--help lists the bench command and the exit codes", async () => {
  const run = await vlab("--help");
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^Usage: vlab /);
  assert.match(run.stdout, /^\s+bench\b/m);
  assert.match(run.stdout, /Exit codes: 0 success, 1 failure while running, 2 usage error/);
});

Deno.test("bench rings --help lists every option", async () => {
  const run = await vlab("bench", "rings", "--help");
  assert.equal(run.code, 0, run.stderr);
  for (
    const option of [
      "--layout",
      "--batch",
      "--mode",
      "--queue-size",
      "--runs",
      "--requests",
      "--outstanding",
      "--cache-model",
      "--same-core",
      "--json",
      "--svg",
    ]
  ) {
    assert.match(run.stdout, new RegExp(`^\\s+${option}\\b`, "m"), option);
  }
});

Deno.test("validate counts a vsock router as a router, not as a switch or nothing", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "vlab-router-" });
  try {
    Deno.writeTextFileSync(
      `${dir}/r.yaml`,
      "name: rt\nvms:\n  a: { vsock: { cid: 3 } }\n  b: { vsock: { cid: 4 } }\n" +
        "  c: { vsock: { cid: 5 } }\nvsock_routers: { r1: {} }\nlinks:\n" +
        "  - { kind: vsock, endpoints: [a, r1] }\n  - { kind: vsock, endpoints: [b, r1] }\n" +
        "  - { kind: vsock, endpoints: [c, r1] }\n",
    );
    const run = await vlab("validate", `${dir}/r.yaml`);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /: valid: lab rt, 3 VMs, 0 switches, 1 vsock router, 3 links$/m);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("an unknown option exits 2 with one vlab: line and one hint: line", async () => {
  const run = await vlab("--frobnicate");
  assert.equal(run.code, 2);
  assert.equal(run.stdout, "");
  assertErrorLines(run.stderr, 'Unknown option "--frobnicate" for "vlab"');
});

Deno.test("an unknown option of bench rings suggests the near one", async () => {
  const run = await vlab("bench", "rings", "--jsn");
  assert.equal(run.code, 2);
  assertErrorLines(run.stderr, 'Unknown option "--jsn" for "vlab bench rings"');
  assert.match(run.stderr, /^hint: Did you mean --json\?$/m);
});

Deno.test("an unknown command exits 2 and suggests the near one", async () => {
  const run = await vlab("bnech");
  assert.equal(run.code, 2);
  assertErrorLines(run.stderr, 'Unknown command "bnech" for "vlab"');
  assert.match(run.stderr, /^hint: Did you mean bench\?$/m);
});

Deno.test("bench rings --batch 0 exits 2 naming the option and the value", async () => {
  const run = await vlab("bench", "rings", "--batch", "0");
  assert.equal(run.code, 2);
  assert.equal(run.stdout, "");
  assertErrorLines(
    run.stderr,
    '--batch must be a comma list of integers from 1 to 32768, got "0"',
  );
});

Deno.test("bench rings --queue-size 300 on split exits 2 and points to packed", async () => {
  const run = await vlab("bench", "rings", "--layout", "split", "--queue-size", "300");
  assert.equal(run.code, 2);
  assertErrorLines(
    run.stderr,
    "--queue-size must be a power of 2 for the split layout, got 300",
  );
  assert.match(run.stderr, /--layout packed/);
});
