import assert from "node:assert/strict";
import { vlabChildEnv, vlabRunArgs } from "../../cli/deno_run.ts";
import { CProgram, disposeCompiledNow } from "./c_build.ts";
import type { CommandRunner } from "./command.ts";
import { reason } from "./c_testing.ts";

Deno.test("a C reference compiles into a folder of its own, which dispose removes", async () => {
  const built = await CProgram.compile("c_wakeup.c");
  assert.ok(built.ok, reason(built));
  const { dir } = built.value;
  assert.match(dir, /\/vlab-c-wakeup-[^/]+$/);
  assert.ok([...Deno.readDirSync(dir)].some((e) => e.name === "c_wakeup"));
  const out = await built.value.run(["1", "x"]);
  assert.equal(out.code, 2, "the program itself ran, and refused its arguments");
  await built.value.dispose();
  assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound);
  built.value.disposeNow(); // gone already: no error
});

Deno.test("without a C compiler, or with a compile error, compiling says why in one line", async () => {
  const none = await CProgram.compile("c_ring.c", "vlab-no-such-cc");
  assert.equal(
    reason(none),
    "no C compiler: `vlab-no-such-cc` is not on PATH (install gcc, or name one in CC)",
  );
  const absent = await CProgram.compile("c_ring.c", "/nonexistent/cc");
  assert.equal(
    reason(absent),
    "no C compiler: `/nonexistent/cc` does not exist (install gcc, or name one in CC)",
  );
  const failing: CommandRunner = () =>
    Promise.resolve({ code: 1, stdout: "", stderr: "c_ring.c:1: error: broken\nmore\n" });
  const broken = await CProgram.compile("c_ring.c", "cc", failing);
  assert.equal(
    reason(broken),
    "`cc` could not compile lab/bench/c_ring.c: c_ring.c:1: error: broken",
  );
  const silent = await CProgram.compile("c_ring.c", "false");
  assert.equal(
    reason(silent),
    "`false` could not compile lab/bench/c_ring.c: exit 1",
  );
});

Deno.test("disposeCompiledNow removes every program not yet disposed of", async () => {
  const a = await CProgram.compile("c_wakeup.c");
  const b = await CProgram.compile("c_wakeup.c");
  const c = await CProgram.compile("c_wakeup.c");
  assert.ok(a.ok && b.ok && c.ok);
  await c.value.dispose();
  disposeCompiledNow();
  for (const p of [a, b]) assert.throws(() => Deno.statSync(p.value.dir), Deno.errors.NotFound);
  disposeCompiledNow(); // nothing left: no error
});

Deno.test("without a temporary folder to build in, compiling says why in one line", async () => {
  const saved = Deno.env.get("TMPDIR");
  Deno.env.set("TMPDIR", "/nonexistent/vlab-tmp");
  try {
    const built = await CProgram.compile("c_wakeup.c");
    assert.match(
      reason(built),
      /^no temporary folder to build it in \(.*; set TMPDIR to one you may write\)$/,
    );
  } finally {
    if (saved === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", saved);
  }
});

// Long enough to be interrupted: a thousand runs of the first point; the workers' modes alone
// take a minute.
for (
  const { args, program } of [
    { args: ["rings", "--vs-c", "--batch", "1", "--runs", "1000"], program: "c_ring" },
    { args: ["wakeup", "--vs-c", "--rounds", "100000"], program: "c_wakeup" },
  ]
) {
  Deno.test(`Ctrl-C during bench ${args[0]} --vs-c removes the ${program} folder and exits 130`, async () => {
    const tmp = Deno.makeTempDirSync({ prefix: "vlab-c-sigint-" });
    const prefix = `vlab-${program.replaceAll("_", "-")}-`;
    const dirs = () => [...Deno.readDirSync(tmp)].filter((e) => e.name.startsWith(prefix));
    const built = () =>
      dirs().length === 1 &&
      [...Deno.readDirSync(`${tmp}/${dirs()[0].name}`)].some((e) => e.name === program);
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: vlabRunArgs(["bench", ...args]),
        env: vlabChildEnv({ TMPDIR: tmp, NO_COLOR: "1" }),
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const deadline = Date.now() + 20_000;
      while (!built() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(built(), `${program} was not built within 20 s`);
      await new Promise((r) => setTimeout(r, 300));
      child.kill("SIGINT");
      const status = await child.status;
      await child.stderr.cancel();
      assert.equal(status.code, 130);
      assert.deepEqual(dirs(), []);
    } finally {
      Deno.removeSync(tmp, { recursive: true });
    }
  });
}

Deno.test("Ctrl-C while the C reference compiles removes its folder, with what the compiler writes after", async () => {
  // The folder was known to disposeCompiledNow only once the compiler was done: a signal during
  // the compile left it, and the compiler then wrote the binary into it.
  const tmp = Deno.makeTempDirSync({ prefix: "vlab-c-compile-sigint-" });
  const cc = `${tmp}/slow-cc`;
  const pidFile = `${tmp}/cc.pid`;
  Deno.writeTextFileSync(cc, `#!/bin/sh\necho $$ > '${pidFile}'\nsleep 0.5\nexec cc "$@"\n`);
  Deno.chmodSync(cc, 0o755);
  const folders = () =>
    [...Deno.readDirSync(tmp)].filter((e) => e.name.startsWith("vlab-c-wakeup-"));
  const compiling = () => {
    try {
      return Number(Deno.readTextFileSync(pidFile).trim());
    } catch {
      return 0;
    }
  };
  const alive = (pid: number) => {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
    } catch {
      return false;
    }
  };
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: vlabRunArgs(["bench", "wakeup", "--vs-c", "--rounds", "1"]),
      env: vlabChildEnv({ TMPDIR: tmp, CC: cc, NO_COLOR: "1" }),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    let deadline = Date.now() + 20_000;
    while (compiling() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const pid = compiling();
    child.kill("SIGINT");
    const status = await child.status;
    assert.ok(pid > 0, "the compiler did not start within 20 s");
    assert.equal(status.code, 130);
    // The compiler (ours, orphaned now) finishes its job: wait for it, then nothing is left.
    deadline = Date.now() + 20_000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(!alive(pid), "the compiler still runs after 20 s");
    assert.deepEqual(folders().map((e) => e.name), []);
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});
