import assert from "node:assert/strict";
import { vlabChildEnv, vlabRunArgs } from "../../cli/deno_run.ts";
import { CWakeup } from "./c_wakeup.ts";
import { runWakeupBench } from "./wakeup.ts";
import { printingProgram } from "./c_testing.ts";

Deno.test("the C pair times every round trip, the bench adds its row last, bad arguments fail", async () => {
  const built = await CWakeup.build();
  assert.ok(built.ok, built.ok ? "" : built.error);
  try {
    const run = await built.value.measure(200, 2);
    assert.equal(run.rttUs.length, 200);
    assert.ok(run.rttUs.every((us) => us > 0 && us < 1_000_000), String(run.rttUs));
    // The echo sleeps between rings (0.2 ms apart), so most rings find it asleep.
    assert.ok(run.wakes >= 100, `wakes ${run.wakes}`);

    const rows = await runWakeupBench({ modes: ["block"], rounds: 50, sliceMs: 2 }, built.value);
    assert.deepEqual(rows.map((r) => r.mode), ["block", "c-futex"]);
    assert.equal(rows[1].rounds, 45, "a tenth dropped as warm-up, as for the workers");
    assert.ok(rows[1].p99Us >= rows[1].medianUs && rows[1].medianUs > 0);

    await assert.rejects(built.value.measure(0, 2), /C futex: exit 2: usage: c_wakeup/);
  } finally {
    await built.value.dispose();
  }
});

Deno.test("a C pair that loses a wake-up, misses rounds or prints nonsense fails", async () => {
  let stdout = "";
  const built = await CWakeup.build("cc", printingProgram(() => stdout));
  assert.ok(built.ok);
  stdout = JSON.stringify({ rttUs: [10, 1_000_000], wakes: 1, late: 1 });
  await assert.rejects(built.value.measure(2, 2), /1 round trips not answered within 1 s/);
  stdout = JSON.stringify({ rttUs: [10], wakes: 1, late: 0 });
  await assert.rejects(built.value.measure(2, 2), /1 round trips timed of 2/);
  stdout = "{";
  await assert.rejects(built.value.measure(2, 2), /unexpected output "\{"/);
  await built.value.dispose();
});

Deno.test("Ctrl-C during bench wakeup --vs-c removes the C pair's folder and exits 130", async () => {
  const tmp = Deno.makeTempDirSync({ prefix: "vlab-c-wakeup-sigint-" });
  const dirs = () => [...Deno.readDirSync(tmp)].filter((e) => e.name.startsWith("vlab-c-wakeup-"));
  try {
    const child = new Deno.Command(Deno.execPath(), {
      // Long enough to be interrupted: the workers' modes alone take a minute.
      args: vlabRunArgs(["bench", "wakeup", "--vs-c", "--rounds", "100000"]),
      env: vlabChildEnv({ TMPDIR: tmp, NO_COLOR: "1" }),
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const deadline = Date.now() + 20_000;
    const built = () =>
      dirs().length === 1 &&
      [...Deno.readDirSync(`${tmp}/${dirs()[0].name}`)].some((e) => e.name === "c_wakeup");
    while (!built() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(built(), "the C pair was not built within 20 s");
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
