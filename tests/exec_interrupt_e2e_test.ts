/**
 * `vlab exec` interrupted (Ctrl-C, SIGTERM): the workload stops in the guest and what it had
 * done is printed (a ping's statistics so far, as iputils prints them on Ctrl-C), exit 130. It
 * used to print nothing: the aborted request stopped the workload, and its partial result was
 * lost with the connection.
 */

import assert from "node:assert/strict";
import { vlabChildEnv, vlabRunArgs } from "../cli/deno_run.ts";
import { vlabIn } from "./run.ts";

const decoder = new TextDecoder();
const E2E = { sanitizeResources: false, sanitizeOps: false } as const;

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test({
    name: `exec: ${signal} stops the workload, prints what it did so far and exits 130`,
    ...E2E,
    fn: async () => {
      const stateDir = await Deno.makeTempDir({ prefix: "vlab-e2e-" });
      const vlab = vlabIn(stateDir);
      try {
        const up = await vlab("up", "pair", "-d");
        assert.equal(up.code, 0, up.stderr);
        // 100 pings 0.1 s apart: 10 s unless interrupted.
        const child = new Deno.Command(Deno.execPath(), {
          args: vlabRunArgs(["exec", "a", "--", "ping", "10.0.0.2", "-c", "100", "-i", "0.1"]),
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
          env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: stateDir }),
        }).spawn();
        const output = child.output();
        try {
          // Its pings are under way: the workload is listed, and frames cross the link.
          const deadline = performance.now() + 10_000;
          const sent = async () => {
            const s = JSON.parse((await vlab("status", "--json")).stdout);
            return s.vms[0].nics[0].device.txFrames as number;
          };
          while (await sent() < 6) {
            assert.ok(performance.now() < deadline, "the ping sent nothing");
            await new Promise((r) => setTimeout(r, 50));
          }
          const t0 = performance.now();
          child.kill(signal);
          const out = await output;
          const stdout = decoder.decode(out.stdout);
          assert.equal(out.code, 130, stdout + decoder.decode(out.stderr));
          assert.ok(performance.now() - t0 < 5000, "it ended at once, not after its 100 pings");
          const stats = /^(\d+) packets transmitted, (\d+) received/m.exec(stdout);
          assert.ok(stats, `the statistics so far are printed:\n${stdout}`);
          assert.ok(Number(stats[1]) > 0 && Number(stats[1]) < 100, stats[0]);
          assert.match(stdout, /^64 bytes from 10\.0\.0\.2: icmp_seq=1 /m);

          // The guest stopped it: no frame leaves a after the answer.
          const after = await sent();
          await new Promise((r) => setTimeout(r, 500));
          assert.equal(await sent(), after, "the workload kept running in the guest");
        } finally {
          try {
            child.kill("SIGKILL");
          } catch {
            // Already ended.
          }
          await output.catch(() => {});
        }
      } finally {
        await vlab("down", "--all");
        await Deno.remove(stateDir, { recursive: true }).catch(() => {});
      }
    },
  });
}

Deno.test({
  name: "exec: vlab down while it runs prints what it did and fails with no-lab, not exit 0",
  ...E2E,
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-e2e-" });
    const vlab = vlabIn(stateDir);
    try {
      const up = await vlab("up", "pair", "-d");
      assert.equal(up.code, 0, up.stderr);
      const running = vlab("exec", "a", "--", "ping", "10.0.0.2", "-c", "100", "-i", "0.1");
      const deadline = performance.now() + 10_000;
      const sent = async () => {
        const s = JSON.parse((await vlab("status", "--json")).stdout);
        return s.vms[0].nics[0].device.txFrames as number;
      };
      while (await sent() < 6) {
        assert.ok(performance.now() < deadline, "the ping sent nothing");
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal((await vlab("down")).code, 0);
      const out = await running;
      // It printed the pings of a cut run and exited 0, as if `-c 100` had been 15.
      assert.equal(out.code, 1, out.stdout + out.stderr);
      assert.match(out.stdout, /^\d+ packets transmitted, \d+ received/m);
      assert.match(
        out.stderr,
        /^vlab: The workload was cut short: lab "pair" stopped while it ran$/m,
      );
      assert.match(out.stderr, /^hint: /m);
    } finally {
      await vlab("down", "--all");
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "exec --json: the result says cancelled null, client (Ctrl-C) or lab-stopped (vlab down)",
  ...E2E,
  fn: async () => {
    // It used to print the bare partial result: a script could not tell a cut run from a whole one.
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-e2e-" });
    const vlab = vlabIn(stateDir);
    const ping = ["exec", "--json", "a", "--", "ping", "10.0.0.2", "-c", "100", "-i", "0.1"];
    const sent = async () => {
      const s = JSON.parse((await vlab("status", "--json")).stdout);
      return s.vms[0].nics[0].device.txFrames as number;
    };
    const underWay = async (from: number) => {
      const deadline = performance.now() + 10_000;
      while (await sent() < from + 6) {
        assert.ok(performance.now() < deadline, "the ping sent nothing");
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      const up = await vlab("up", "pair", "-d");
      assert.equal(up.code, 0, up.stderr);

      const whole = await vlab("exec", "--json", "a", "--", "ping", "10.0.0.2", "-c", "1");
      assert.equal(whole.code, 0, whole.stderr);
      assert.equal(JSON.parse(whole.stdout).cancelled, null);

      const child = new Deno.Command(Deno.execPath(), {
        args: vlabRunArgs(ping),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: stateDir }),
      }).spawn();
      const output = child.output();
      try {
        await underWay(await sent());
        child.kill("SIGINT");
        const out = await output;
        assert.equal(out.code, 130, decoder.decode(out.stderr));
        const r = JSON.parse(decoder.decode(out.stdout));
        assert.equal(r.cancelled, "client");
        assert.ok(r.transmitted > 0 && r.transmitted < 100, String(r.transmitted));
      } finally {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already ended.
        }
        await output.catch(() => {});
      }

      const running = vlab(...ping);
      await underWay(await sent());
      assert.equal((await vlab("down")).code, 0);
      const out = await running;
      assert.equal(out.code, 1, out.stderr);
      const r = JSON.parse(out.stdout);
      assert.equal(r.cancelled, "lab-stopped");
      assert.ok(r.transmitted > 0 && r.transmitted < 100, String(r.transmitted));
    } finally {
      await vlab("down", "--all");
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
