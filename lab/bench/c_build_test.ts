import assert from "node:assert/strict";
import { CProgram, disposeCompiledNow } from "./c_build.ts";
import type { CommandRunner } from "./command.ts";

Deno.test("a C reference compiles into a folder of its own, which dispose removes", async () => {
  const built = await CProgram.compile("c_wakeup.c");
  assert.ok(built.ok, built.ok ? "" : built.error);
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
    none.ok ? "" : none.error,
    "no C compiler: `vlab-no-such-cc` is not on PATH (install gcc, or name one in CC)",
  );
  const absent = await CProgram.compile("c_ring.c", "/nonexistent/cc");
  assert.equal(
    absent.ok ? "" : absent.error,
    "no C compiler: `/nonexistent/cc` does not exist (install gcc, or name one in CC)",
  );
  const failing: CommandRunner = () =>
    Promise.resolve({ code: 1, stdout: "", stderr: "c_ring.c:1: error: broken\nmore\n" });
  const broken = await CProgram.compile("c_ring.c", "cc", failing);
  assert.equal(
    broken.ok ? "" : broken.error,
    "`cc` could not compile lab/bench/c_ring.c: c_ring.c:1: error: broken",
  );
  const silent = await CProgram.compile("c_ring.c", "false");
  assert.equal(
    silent.ok ? "" : silent.error,
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
      built.ok ? "" : built.error,
      /^no temporary folder to build it in \(.*; set TMPDIR to one you may write\)$/,
    );
  } finally {
    if (saved === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", saved);
  }
});
