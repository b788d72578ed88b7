import assert from "node:assert/strict";
import { controlJson, resolveLab } from "./client.ts";
import { LabError } from "./errors.ts";
import { inStateDir } from "./testing.ts";
import type { LabRecord } from "./state.ts";
import { type FakeLab, fakeRecord, holdFakeLab } from "./fake_lab_testing.ts";

/**
 * Run `fn` with a lab this process holds live (its folder and lock) in a fresh VLAB_STATE_DIR,
 * with its lab.json written; then release it and put the environment back.
 */
function withLiveLab(
  name: string,
  fn: (lab: { p: FakeLab["paths"]; record: LabRecord }) => Promise<void>,
): Promise<void> {
  return inStateDir("vlab-client-", async () => {
    const lab = holdFakeLab(name);
    try {
      await fn({ p: lab.paths, record: lab.record });
    } finally {
      await lab.close();
    }
  });
}

Deno.test({
  name: "a request refused by a saturated socket (EAGAIN) keeps the live lab's state",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withLiveLab("pair", async ({ p, record }) => {
      // A listener that never accepts, its backlog filled: the next connect gets EAGAIN.
      const listener = Deno.listen({ transport: "unix", path: p.socket });
      const conns: Deno.Conn[] = [];
      try {
        for (let i = 0; i < 5000; i++) {
          try {
            conns.push(await Deno.connect({ transport: "unix", path: p.socket }));
          } catch (e) {
            assert.ok(e instanceof Deno.errors.WouldBlock, `connect failed with ${e}`);
            break;
          }
        }
        assert.ok(conns.length < 5000, "the socket's backlog never filled");
        const e = await controlJson(record, "/lab").then(() => null, (e) => e);
        assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
        assert.equal(e.code, "control-error");
        assert.match(e.message, /^Lab "pair" is running but its control socket did not take/);
        assert.match(e.message, /Resource temporarily unavailable/);
        assert.deepEqual(
          JSON.parse(Deno.readTextFileSync(p.record)),
          record,
          "lab.json was removed",
        );
      } finally {
        for (const c of conns) c.close();
        listener.close();
      }
    }),
});

Deno.test({
  name: "a request to a lab whose process is gone cleans its state and says no-lab",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir("vlab-client-", async (tmp) => {
      // A lab folder left by a process that died (its lock is released with it).
      const code = `
        const { createLabDir, writeRecord, labPaths } = await import(${
        JSON.stringify(new URL("./state.ts", import.meta.url).href)
      });
        createLabDir("pair");
        writeRecord({ name: "pair", pid: 1, socket: labPaths("pair").socket, source: "pair",
          startedAt: "2024-01-01T00:00:00.000Z", vms: 2 });
        Deno.exit(0);
      `;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", code],
        env: { VLAB_STATE_DIR: tmp },
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const record = JSON.parse(Deno.readTextFileSync(`${tmp}/pair/lab.json`));
      const e = await controlJson(record, "/lab").then(() => null, (e) => e);
      assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
      assert.equal(e.code, "no-lab");
      assert.deepEqual([...Deno.readDirSync(tmp)], []);
    }),
});

Deno.test({
  name:
    "many requests in a row each answer at once (a client per request left every 25th waiting 5 s)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const tmp = Deno.makeTempDirSync({ prefix: "vlab-client-" });
    const socket = `${tmp}/control.sock`;
    const server = Deno.serve(
      { path: socket, transport: "unix", onListen: () => {} },
      () => Response.json({ name: "x" }),
    );
    const record = fakeRecord("x", { socket, vms: 0 });
    try {
      let slowest = 0;
      for (let i = 0; i < 60; i++) {
        const t0 = performance.now();
        assert.deepEqual(await controlJson(record, "/lab"), { name: "x" });
        slowest = Math.max(slowest, performance.now() - t0);
      }
      assert.ok(slowest < 2000, `the slowest of 60 requests took ${slowest.toFixed(0)} ms`);
    } finally {
      await server.shutdown();
      Deno.removeSync(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "a lab that takes the request and never answers is a control-error at the deadline",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withLiveLab("hung", async ({ p, record }) => {
      // A live lab (this process holds its lock) whose socket accepts and then says nothing, as
      // a lab whose event loop is stuck does: `vlab status` waited for it without end.
      const listener = Deno.listen({ transport: "unix", path: p.socket });
      const conns: Deno.Conn[] = [];
      const accepting = (async () => {
        for await (const c of listener) conns.push(c);
      })();
      let guard: ReturnType<typeof setTimeout> | undefined;
      try {
        const t0 = performance.now();
        const e = await Promise.race([
          controlJson(record, "/lab", {}, { timeoutMs: 300 }).then(() => null, (e) => e),
          new Promise((r) => guard = setTimeout(() => r("still waiting after 5 s"), 5000)),
        ]);
        const ms = performance.now() - t0;
        assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
        assert.equal(e.code, "control-error");
        assert.equal(e.message, `Lab "hung" did not answer GET /lab within 0.3 s`);
        assert.match(e.hint, new RegExp(`process ${Deno.pid} runs .*\`vlab down hung\``));
        assert.ok(ms < 3000, `answered after ${ms.toFixed(0)} ms`);
        assert.deepEqual(
          JSON.parse(Deno.readTextFileSync(p.record)),
          record,
          "lab.json was removed",
        );
        // The caller's own abort is still a cancel, not a lab that did not answer.
        const abort = new AbortController();
        setTimeout(() => abort.abort(), 50);
        const cancelled = await controlJson(record, "/lab", { signal: abort.signal }).then(
          () => null,
          (e) => e,
        );
        assert.ok(cancelled instanceof LabError);
        assert.match(cancelled.message, /was cancelled/);
      } finally {
        clearTimeout(guard);
        listener.close();
        await accepting.catch(() => {});
        for (const c of conns) c.close();
      }
    }),
});

Deno.test({
  name: "a command aimed at a lab still starting says so, not that no lab is running",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await inStateDir("vlab-client-", async () => {
      // Its folder and lock, no lab.json yet: what `vlab ls` lists as `starting`.
      const lab = holdFakeLab("star", { record: false });
      try {
        for (const name of [undefined, "star"]) {
          const e = await resolveLab(name, undefined, () => {}).then(() => null, (e) => e);
          assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
          assert.equal(e.code, "no-lab");
          // It said "No lab is running" and "Start one with `vlab up`": a second start.
          assert.equal(
            e.message,
            `Lab "star" is still starting (its process ${Deno.pid}): it cannot answer yet`,
          );
          assert.match(e.hint, /once `vlab ls` shows it running/);
        }
        const other = await resolveLab("pair", undefined, () => {}).then(() => null, (e) => e);
        assert.equal(other?.message, `No lab named "pair" is running`);
        // Its topology file where the name goes (vlab status star.yaml): the hint said to
        // start it, a second time.
        for (const file of ["star.yaml", "topologies/star.yaml"]) {
          const e = await resolveLab(file, undefined, () => {}).then(() => null, (e) => e);
          assert.equal(e?.message, `No lab named "${file}" is running`);
          assert.equal(
            e?.hint,
            `"${file}" is the topology file of lab "star", still starting: give the lab's name, star`,
          );
        }
      } finally {
        await lab.close();
      }
    });
  },
});

Deno.test({
  name: "a request to a lab whose folder went (it stopped) does not say its process is gone",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await inStateDir("vlab-client-", async (tmp) => {
      // What a client holds when the lab stops under it: the record of a lab whose folder and
      // socket are gone while its process (here, this one) still ends its run.
      const record = fakeRecord("pair", { socket: `${tmp}/pair/control.sock` });
      const e = await controlJson(record, "/lab").then(() => null, (e) => e);
      assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
      assert.equal(e.code, "no-lab");
      assert.equal(e.message, `Lab "pair" is not running any more (it stopped)`);
    });
  },
});

Deno.test({
  name:
    "a lab killed under a request (its connection closed before its lock went) is gone, not 'busy'",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir("vlab-client-", async () => {
      const lab = holdFakeLab("pair");
      const listener = Deno.listen({ transport: "unix", path: lab.paths.socket });
      // `kill -9` of a lab: the kernel closes its sockets and drops its lock in no set order.
      // Here the request's connection and the listener go first, the lock 50 ms later.
      const dying = (async () => {
        const conn = await listener.accept();
        await conn.read(new Uint8Array(4096));
        conn.close();
        listener.close();
        await new Promise((r) => setTimeout(r, 50));
        await lab.close();
      })();
      try {
        const e = await controlJson(lab.record, "/exec", {
          method: "POST",
          body: "{}",
        }).then(() => null, (e) => e);
        assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
        // It said 'Lab "pair" is running but its control socket did not take the request:
        // connection closed before message completed' with "It may be busy; try again".
        assert.equal(e.code, "no-lab", e.message);
        assert.match(e.message, /^Lab "pair" is not running any more/);
      } finally {
        await dying;
        await lab.close();
      }
    }),
});

Deno.test({
  name: "a live lab whose socket file was removed is said so, not 'busy; try again'",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withLiveLab("pair", async ({ p, record }) => {
      // The lab runs (this process holds its lock) and its control.sock is not there any more.
      const e = await controlJson(record, "/lab").then(() => null, (e) => e);
      assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
      assert.equal(e.code, "control-error");
      // It said "did not take the request: error sending request for url (http://vlab/lab):
      // client error (Connect): No such file or directory (os error 2)" and "try again".
      assert.equal(
        e.message,
        `Lab "pair" is running but its control socket "${p.socket}" is gone`,
      );
      assert.match(e.hint, /`vlab down pair`/);
    }),
});

Deno.test("a topology file given for a lab's name (vlab down lossy.yaml) is told the lab's name", async () => {
  // It said 'No lab named "lossy.yaml" is running' with 'Running labs: lossy'.
  await inStateDir("vlab-client-", async () => {
    const lab = holdFakeLab("lossy", { source: "lossy.yaml" });
    try {
      for (const file of ["lossy.yaml", "./lossy.yaml", "elsewhere/lossy.yml"]) {
        const e = await resolveLab(file, undefined, () => {}).then(() => null, (e) => e);
        assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
        assert.equal(e.code, "no-lab");
        assert.equal(e.message, `No lab named "${file}" is running`);
        assert.equal(
          e.hint,
          `"${file}" is the topology file of lab "lossy": give the lab's name, lossy`,
        );
      }
      const other = await resolveLab("other.yaml", undefined, () => {}).then(() => null, (e) => e);
      assert.equal(other?.hint, "Running labs: lossy");
    } finally {
      await lab.close();
    }
  });
});

Deno.test("no lab of that name: the hint starts that lab, not a bare `vlab up` (which starts pair)", async () => {
  await inStateDir("vlab-client-", async () => {
    const star = await resolveLab("star", undefined, () => {}).then(() => null, (e) => e);
    assert.ok(star instanceof LabError, `expected a LabError, got ${star}`);
    assert.equal(star.message, `No lab named "star" is running`);
    assert.match(star.hint, /^Start it with `vlab up star`; this command looks for labs in /);
    const mine = await resolveLab("lossy", undefined, () => {}).then(() => null, (e) => e);
    assert.ok(mine instanceof LabError, `expected a LabError, got ${mine}`);
    assert.match(
      mine.hint,
      /^Start it with `vlab up <topology\.yaml>` \(the file whose `name:` it is\); this command /,
    );
  });
});

Deno.test("no lab to stop: the hint says there is nothing to stop and that vlab ls lists what runs", async () => {
  await inStateDir("vlab-client-", async () => {
    // `vlab down star.yaml` with nothing running was told to start it.
    for (const name of ["star", "topologies/star.yaml", "lossy", undefined]) {
      const e = await resolveLab(name, undefined, () => {}, "stop").then(() => null, (e) => e);
      assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
      assert.equal(e.code, "no-lab");
      assert.match(
        e.hint,
        /^Nothing to stop: `vlab ls` lists the labs that run; this command looks for labs in /,
      );
    }
    // A command that uses the lab still says how to start it.
    const use = await resolveLab("star", undefined, () => {}).then(() => null, (e) => e);
    assert.match(use.hint, /^Start it with `vlab up star`/);
  });
});

Deno.test("no lab running: the hint names the state folder looked in, and whether VLAB_STATE_DIR chose it", async () => {
  // A `vlab down` run without the VLAB_STATE_DIR its lab was started with said only "No lab is
  // running" while that lab ran on (and `vlab down >/dev/null 2>&1` left it running unsaid).
  await inStateDir("vlab-client-", async (dir) => {
    for (const name of [undefined, "pair"]) {
      const e = await resolveLab(name, undefined, () => {}).then(() => null, (e) => e);
      assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
      assert.equal(e.code, "no-lab");
      assert.ok(
        e.hint.endsWith(
          `; this command looks for labs in ${dir} (VLAB_STATE_DIR): a lab started with ` +
            "another VLAB_STATE_DIR, or none, is not seen here",
        ),
        e.hint,
      );
    }
  });
  const saved = ["VLAB_STATE_DIR", "XDG_RUNTIME_DIR"].map((k) => [k, Deno.env.get(k)] as const);
  const runtime = await Deno.makeTempDir({ prefix: "vlab-client-xdg-" });
  try {
    Deno.env.set("XDG_RUNTIME_DIR", runtime);
    // A blank VLAB_STATE_DIR is unset (it was a folder " " in the current folder).
    for (const unset of [undefined, " "]) {
      if (unset === undefined) Deno.env.delete("VLAB_STATE_DIR");
      else Deno.env.set("VLAB_STATE_DIR", unset);
      const e = await resolveLab(undefined, undefined, () => {}).then(() => null, (e) => e);
      assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
      assert.equal(e.message, "No lab is running");
      assert.equal(
        e.hint,
        `Start one with \`vlab up\` (or \`vlab up -d\`); this command looks for labs in ${runtime}/vlab ` +
          "(VLAB_STATE_DIR is not set): a lab started with it set is not seen here",
      );
    }
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    await Deno.remove(runtime, { recursive: true });
  }
});
