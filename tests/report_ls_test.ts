/**
 * `vlab ls` and `vlab ls --json` with no lab, labs running, a lab still starting and a lab whose
 * process died (its folder left behind, as after SIGKILL). The labs here are folders this test
 * holds as a lab process does (their lock), so that no worker has to start.
 */

import assert from "node:assert/strict";
import { holdFakeLab } from "../lab/fake_lab_testing.ts";
import { inStateDir } from "../lab/testing.ts";
import { vlabIn } from "./run.ts";

/**
 * Hold a lab folder of the state folder in `VLAB_STATE_DIR` as its process does; with a record
 * unless it is still starting.
 */
function holdLab(name: string, record: boolean) {
  return holdFakeLab(name, {
    record,
    source: `${name}.yaml`,
    startedAt: "2026-12-06T18:00:00.000Z",
  });
}

/** The folder a lab killed with SIGKILL leaves: its marker (no longer locked) and its record. */
function leaveStaleLab(stateDir: string, name: string, pid: number): void {
  const dir = `${stateDir}/${name}`;
  Deno.mkdirSync(dir, { mode: 0o700 });
  Deno.writeTextFileSync(`${dir}/vlab.lock`, `vlab lab folder\n${pid}\n`);
  Deno.writeTextFileSync(
    `${dir}/lab.json`,
    JSON.stringify({
      name,
      pid,
      socket: `${dir}/control.sock`,
      source: `${name}.yaml`,
      startedAt: "2026-12-06T17:00:00.000Z",
      vms: 2,
    }),
  );
}

Deno.test({
  name: "vlab ls --json says on stderr which dead lab it removed, as vlab ls does",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-report-ls-" });
    try {
      const vlab = vlabIn(stateDir);
      const none = await vlab("ls", "--json");
      assert.equal(none.code, 0, none.stderr);
      assert.deepEqual(JSON.parse(none.stdout), []);
      assert.equal(none.stderr, "");
      leaveStaleLab(stateDir, "gone", 999_999_999);
      const json = await vlab("ls", "--json");
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout), []);
      // It was removed silently: the user never learnt that the lab had died.
      assert.equal(json.stderr, "removed stale lab gone: its process 999999999 is gone\n");
      assert.deepEqual([...Deno.readDirSync(stateDir)], []);
      leaveStaleLab(stateDir, "gone", 999_999_999);
      const text = await vlab("ls");
      assert.equal(text.stderr, "removed stale lab gone: its process 999999999 is gone\n");
      assert.equal(text.stdout, "no lab is running\n");
    } finally {
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "vlab ls --json lists a lab still starting, as vlab ls does, and every running lab",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir("vlab-report-ls-", async (stateDir) => {
      const holds = [holdLab("one", true)];
      try {
        const vlab = vlabIn(stateDir);
        const one = await vlab("ls", "--json");
        assert.equal(one.code, 0, one.stderr);
        assert.deepEqual(
          JSON.parse(one.stdout).map((r: { name: string; state: string }) => [r.name, r.state]),
          [["one", "running"]],
        );
        holds.push(holdLab("two", true), holdLab("boot", false));
        const text = await vlab("ls");
        assert.equal(text.code, 0, text.stderr);
        assert.match(text.stdout, new RegExp(`^one\\s+running\\s+2\\s+${Deno.pid}\\s`, "m"));
        assert.match(text.stdout, new RegExp(`^two\\s+running\\s+2\\s+${Deno.pid}\\s`, "m"));
        assert.match(text.stdout, new RegExp(`^boot\\s+starting\\s+-\\s+${Deno.pid}\\s`, "m"));
        const json = await vlab("ls", "--json");
        assert.equal(json.code, 0, json.stderr);
        const records = JSON.parse(json.stdout) as { name: string; state: string; pid: number }[];
        // The same labs as the table, each with its state: the starting one was left out.
        assert.deepEqual(records.map((r) => [r.name, r.state, r.pid]), [
          ["one", "running", Deno.pid],
          ["two", "running", Deno.pid],
          ["boot", "starting", Deno.pid],
        ]);
        assert.equal(json.stderr, "");
      } finally {
        for (const h of holds) await h.close();
      }
    }),
});
