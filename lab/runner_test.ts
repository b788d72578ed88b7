import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { LabError } from "./errors.ts";
import { planLab } from "./plan.ts";
import { launchLab } from "./runner.ts";
import { inStateDir, LAB_TEST } from "./testing.ts";
import { topologyFromObject } from "./topology/mod.ts";

Deno.test("a lab named logs is refused: that folder of the state root holds the event logs", () =>
  inStateDir("vlab-runner-", async (tmp) => {
    Deno.mkdirSync(`${tmp}/logs`);
    Deno.writeTextFileSync(`${tmp}/logs/pair-2026-01-01T00-00-00.000Z.jsonl`, "{}\n");
    // The topology check refuses the name too: a topology made in code can still ask for it.
    const t = topologyFromObject({ name: "logs-lab", vms: { a: { nics: { eth0: {} } } } });
    assert.ok(t.ok, JSON.stringify(!t.ok && t.error));
    const e = await launchLab(planLab({ ...t.value, name: "logs" })).then(() => null, (e) => e);
    assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
    assert.equal(e.code, "lab-exists");
    assert.match(e.message, /is where vlab keeps event logs/);
    assert.deepEqual([...Deno.readDirSync(`${tmp}/logs`)].map((f) => f.name), [
      "pair-2026-01-01T00-00-00.000Z.jsonl",
    ]);
  }));

Deno.test("a state folder too long for its sockets is refused before any worker starts", async () => {
  const tmp = Deno.makeTempDirSync({ prefix: "vlab-runner-" });
  const root = `${tmp}/${"d".repeat(100)}`;
  const before = Deno.env.get("VLAB_STATE_DIR");
  Deno.env.set("VLAB_STATE_DIR", root);
  try {
    const t = topologyFromObject({ name: "long", vms: { a: { nics: { eth0: {} } } } });
    assert.ok(t.ok, JSON.stringify(!t.ok && t.error));
    // Before the fix the lab came up, its control socket failed (a TypeError), and its workers
    // kept the process alive for ever: bounded here by the test's own timer.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const e = await Promise.race([
      launchLab(planLab(t.value)).then(async (running) => {
        await running.stop();
        return null;
      }, (e) => e),
      new Promise((r) => timer = setTimeout(() => r("no answer in 10 s"), 10_000)),
    ]);
    clearTimeout(timer);
    assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
    assert.equal(e.code, "lab-failed");
    assert.match(e.message, /is longer than a Unix socket path can be \(107 bytes\)$/);
    assert.match(e.hint, /VLAB_STATE_DIR/);
    const left = [...Deno.readDirSync(tmp)].flatMap((d) =>
      d.isDirectory ? [...Deno.readDirSync(`${tmp}/${d.name}`)].map((f) => f.name) : []
    );
    assert.deepEqual(left.filter((f) => f !== "logs"), [], "a lab folder was left behind");
  } finally {
    if (before === undefined) Deno.env.delete("VLAB_STATE_DIR");
    else Deno.env.set("VLAB_STATE_DIR", before);
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test({
  ...LAB_TEST,
  name: "the event log is named after the lab's startedAt, to the millisecond",
  fn: () =>
    inStateDir("vlab-runner-", async () => {
      const t = topologyFromObject({ name: "when", vms: { a: { nics: { eth0: {} } } } });
      assert.ok(t.ok, JSON.stringify(!t.ok && t.error));
      const running = await launchLab(planLab(t.value));
      try {
        const stamp = new Date(running.lab.startedAt).toISOString().replaceAll(":", "-");
        assert.equal(running.events.split("/").at(-1), `when-${stamp}.jsonl`);
      } finally {
        await running.stop();
      }
    }),
});

Deno.test({
  ...LAB_TEST,
  name: "a lab this process starts, runs or still stops is refused by name, saying which",
  fn: () =>
    inStateDir("vlab-runner-", async () => {
      // A script that forgot to await stop() before starting its lab again heard "already
      // running (pid <its own>)" and "Stop it with `vlab down`".
      const t = topologyFromObject({ name: "again", vms: { a: { nics: { eth0: {} } } } });
      assert.ok(t.ok, JSON.stringify(!t.ok && t.error));
      const plan = planLab(t.value);
      const refused = async (pattern: RegExp) => {
        const e = await launchLab(plan).then(() => null, (e) => e);
        assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
        assert.equal(e.code, "lab-exists");
        assert.match(`${e.message} | ${e.hint}`, pattern);
      };
      const starting = launchLab(plan);
      await refused(/this process is starting it already \| Await the first start/);
      const running = await starting;
      try {
        await refused(/this process runs it already \| Stop it first \(await its stop\(\)\)/);
        const stopping = running.stop();
        await refused(/this process is still stopping it \| Await its stop\(\)/);
        await stopping;
        const again = await launchLab(plan);
        await again.stop();
      } finally {
        await running.stop();
      }
    }),
});

Deno.test({
  ...LAB_TEST,
  name: "two labs of one name under two state roots run at once in one process",
  fn: () =>
    inStateDir("vlab-runner-", async () => {
      const t = topologyFromObject({ name: "twin", vms: { a: { nics: { eth0: {} } } } });
      assert.ok(t.ok, JSON.stringify(!t.ok && t.error));
      const first = await launchLab(planLab(t.value));
      try {
        await inStateDir("vlab-runner-", async (other) => {
          const second = await launchLab(planLab(t.value));
          try {
            assert.ok(second.socket.startsWith(`${other}/`), second.socket);
          } finally {
            await second.stop();
          }
        });
      } finally {
        await first.stop();
      }
    }),
});

Deno.test("a plan larger than the machine's memory is refused before its folder is made", () =>
  inStateDir("vlab-runner-", async (dir) => {
    // 1000 VMs of 2 GiB: more than any machine the tests run on. vlab up refused it; a script's
    // startLab and a drill started it, and the guests would have been killed once they used it.
    const vms = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`v${i}`, {}]));
    const t = topologyFromObject({ name: "huge", defaults: { vm: { memory: "2GiB" } }, vms });
    assert.ok(t.ok, JSON.stringify(!t.ok && t.error));
    const e = await launchLab(planLab(t.value)).then(() => null, (e) => e);
    assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
    assert.equal(e.code, "not-enough-memory");
    assert.match(e.message, /^Cannot start lab "huge": it plans .*2000 GiB of shared memory/);
    assert.match(e.hint, /--dry-run/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((f) => f.name), []);
  }));

Deno.test({
  ...LAB_TEST,
  name: "a start without --allow-sys says once on stderr that it skips the memory check, and why",
  fn: () =>
    inStateDir("vlab-runner-", async (tmp) => {
      // A script's startLab without --allow-sys started the lab with no memory check, silently.
      const script = `${tmp}/start.ts`;
      Deno.writeTextFileSync(
        script,
        `import { startLab } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
        for (let i = 0; i < 2; i++) {
          const lab = await startLab({ name: "nosys", vms: { a: { nics: { eth0: {} } } } });
          await lab.stop();
        }
        console.log("done");
        `,
      );
      const root = fileURLToPath(new URL("..", import.meta.url));
      const run = async (sys: string[]) => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--no-prompt",
            "--config",
            `${root}deno.json`,
            "--allow-read",
            "--allow-write",
            "--allow-env",
            "--allow-net",
            "--allow-run",
            "--allow-ffi",
            ...sys,
            script,
          ],
          env: { VLAB_STATE_DIR: tmp },
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(30_000),
        }).output();
        const stderr = new TextDecoder().decode(out.stderr);
        assert.equal(new TextDecoder().decode(out.stdout), "done\n", stderr);
        return stderr;
      };
      const without = await run([]);
      assert.equal(
        without,
        "lab nosys: its plan is not compared with this machine's memory (a lab too big for it " +
          "is not refused): no permission to read it (run with --allow-sys)\n",
      );
      assert.equal(await run(["--allow-sys"]), "");
    }),
});
