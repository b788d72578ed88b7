import assert from "node:assert/strict";
import { parseVsockBenchOptions } from "./bench_vsock.ts";
import { VlabError } from "./errors.ts";
import { vlabChildEnv, vlabRunArgs } from "./deno_run.ts";

const RAW = { bytes: "1048576", runs: "3", connections: "20", pings: "100" };

Deno.test("bench vsock options parse into the benchmark's options", () => {
  assert.deepEqual(parseVsockBenchOptions(RAW), {
    bytes: 1 << 20,
    runs: 3,
    connections: 20,
    pings: 100,
  });
});

Deno.test("bad bench vsock options are usage errors naming the option", () => {
  for (
    const [key, value, option] of [
      ["bytes", "0", "--bytes"],
      ["runs", "x", "--runs"],
      ["connections", "-1", "--connections"],
      ["pings", "1.5", "--pings"],
    ] as const
  ) {
    assert.throws(
      () => parseVsockBenchOptions({ ...RAW, [key]: value }),
      (e) => e instanceof VlabError && e.code === "bad-option" && e.message.startsWith(option),
    );
  }
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`${signal} during bench vsock removes its lab's folder and exits 130`, async () => {
    // Ctrl-C ends the run with Deno.exit, which runs no `finally`: the folder of the bench's
    // lab (each VM's vsock.sock) stayed in $TMPDIR.
    const tmp = Deno.makeTempDirSync({ prefix: "vlab-vsock-sigint-" });
    const dirs = () =>
      [...Deno.readDirSync(tmp)].filter((e) => e.name.startsWith("vlab-bench-vsock-"));
    const started = () => {
      const [dir] = dirs();
      if (dir === undefined) return false;
      try {
        return Deno.statSync(`${tmp}/${dir.name}/a/vsock.sock`).isSocket === true;
      } catch {
        return false;
      }
    };
    try {
      // Its first second is the idle lab's CPU: a run that is still there when the signal comes.
      const child = new Deno.Command(Deno.execPath(), {
        args: vlabRunArgs(["bench", "vsock", "--bytes", "1", "--runs", "50"]),
        env: vlabChildEnv({ TMPDIR: tmp, NO_COLOR: "1" }),
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      const deadline = Date.now() + 20_000;
      while (!started() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const up = started();
      child.kill(signal);
      const status = await child.status;
      assert.ok(up, "the bench's lab did not start within 20 s");
      assert.equal(status.code, 130);
      assert.deepEqual(dirs().map((e) => e.name), []);
    } finally {
      Deno.removeSync(tmp, { recursive: true });
    }
  });
}
