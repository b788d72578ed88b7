/**
 * `vlab exec` interrupted (Ctrl-C, SIGTERM): the workload stops in the guest and what it had
 * done is printed (a ping's statistics so far, as iputils prints them on Ctrl-C), exit 130. It
 * used to print nothing: the aborted request stopped the workload, and its partial result was
 * lost with the connection.
 */

import assert from "node:assert/strict";
import { type Run, spawnVlab, withLab } from "./run.ts";

const decoder = new TextDecoder();
const E2E = { sanitizeResources: false, sanitizeOps: false } as const;

type Vlab = (...args: string[]) => Promise<Run>;

/** Frames a's NIC has sent so far (its device's counter, from `vlab status --json`). */
async function sentFrames(vlab: Vlab): Promise<number> {
  const s = JSON.parse((await vlab("status", "--json")).stdout);
  return s.vms[0].nics[0].device.txFrames as number;
}

/** Wait until a's NIC has sent 6 frames more than `from`: a ping is under way. */
async function underWay(vlab: Vlab, from = 0): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (await sentFrames(vlab) < from + 6) {
    assert.ok(performance.now() < deadline, "the ping sent nothing");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** End `child` if it still runs, and wait for it. */
async function reap(child: Deno.ChildProcess, output: Promise<unknown>): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already ended.
  }
  await output.catch(() => {});
}

const PING = ["a", "--", "ping", "10.0.0.2", "-c", "100", "-i", "0.1"];

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test({
    name: `exec: ${signal} stops the workload, prints what it did so far and exits 130`,
    ...E2E,
    fn: () =>
      withLab("pair", async (vlab, stateDir) => {
        // 100 pings 0.1 s apart: 10 s unless interrupted.
        const child = spawnVlab(["exec", ...PING], { stateDir });
        const output = child.output();
        try {
          // Its pings are under way: frames cross the link.
          await underWay(vlab);
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

          // The guest stopped it: no echo request leaves a after the answer (a ping still
          // running sends 5 or more in these 0.5 s and more). One frame may: a's answer to b's
          // probe of its stale entry for a, 5 s after b's first reply (lab/guest/net/arp.ts),
          // which a loaded machine's slow status calls brought into this window.
          const after = await sentFrames(vlab);
          await new Promise((r) => setTimeout(r, 500));
          const more = await sentFrames(vlab) - after;
          assert.ok(more <= 1, `the workload kept running in the guest: ${more} frames`);
        } finally {
          await reap(child, output);
        }
      }),
  });
}

Deno.test({
  name: "exec: vlab down while it runs prints what it did and fails with no-lab, not exit 0",
  ...E2E,
  fn: () =>
    withLab("pair", async (vlab) => {
      const running = vlab("exec", ...PING);
      await underWay(vlab);
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
    }),
});

Deno.test({
  name: "exec --json: the result says cancelled null, client (Ctrl-C) or lab-stopped (vlab down)",
  ...E2E,
  fn: () =>
    // It used to print the bare partial result: a script could not tell a cut run from a whole one.
    withLab("pair", async (vlab, stateDir) => {
      const whole = await vlab("exec", "--json", "a", "--", "ping", "10.0.0.2", "-c", "1");
      assert.equal(whole.code, 0, whole.stderr);
      assert.equal(JSON.parse(whole.stdout).cancelled, null);

      const child = spawnVlab(["exec", "--json", ...PING], { stateDir });
      const output = child.output();
      try {
        await underWay(vlab, await sentFrames(vlab));
        child.kill("SIGINT");
        const out = await output;
        assert.equal(out.code, 130, decoder.decode(out.stderr));
        const r = JSON.parse(decoder.decode(out.stdout));
        assert.equal(r.cancelled, "client");
        assert.ok(r.transmitted > 0 && r.transmitted < 100, String(r.transmitted));
      } finally {
        await reap(child, output);
      }

      const running = vlab("exec", "--json", ...PING);
      await underWay(vlab, await sentFrames(vlab));
      assert.equal((await vlab("down")).code, 0);
      const out = await running;
      assert.equal(out.code, 1, out.stderr);
      const r = JSON.parse(out.stdout);
      assert.equal(r.cancelled, "lab-stopped");
      assert.ok(r.transmitted > 0 && r.transmitted < 100, String(r.transmitted));
    }),
});
