/**
 * `vlab up -d` while its lab starts: the terminal that ran it closing (SIGHUP; the lab was asked
 * for in the background, to outlive that terminal, and comes up), and a `vlab down` that stops the
 * lab before `up -d` saw it up.
 */

import assert from "node:assert/strict";
import { vlabChildEnv, vlabRunArgs } from "../cli/deno_run.ts";
import { readProc, runVlab } from "./run.ts";
import { shellQuote } from "../cli/child.ts";

Deno.test({
  name: "vlab up -d whose terminal closes while its lab starts (SIGHUP) leaves the lab to come up",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vlab-up-hup-" });
    const env = { VLAB_STATE_DIR: dir };
    const vlab = (...args: string[]) => runVlab(args, { env });
    // SIGHUP counted as Ctrl-C: `vlab up -d` stopped the lab it was starting ('Interrupted: the
    // background lab "pair" was stopped'), where before it, and after, the lab came up.
    const line = [Deno.execPath(), ...vlabRunArgs(["up", "-d", "pair"])].map(shellQuote).join(" ");
    const terminal = new Deno.Command("script", {
      args: ["-qfec", `${line} > ${shellQuote(`${dir}/out.txt`)} 2>&1`, "/dev/null"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      env: vlabChildEnv({ NO_COLOR: "1", ...env }),
    }).spawn();
    try {
      // The start's error file is made just before the background child is spawned: the
      // terminal closes while the lab starts (its child's Deno alone takes longer than 10 ms).
      const started = performance.now() + 30_000;
      while (![...Deno.readDirSync(dir)].some((e) => e.name.endsWith(".start.log"))) {
        assert.ok(performance.now() < started, "vlab up -d never began the start");
        await new Promise((r) => setTimeout(r, 10));
      }
      terminal.kill("SIGKILL");
      await terminal.status;
      const deadline = performance.now() + 30_000;
      while (!/^pair +running /m.test((await vlab("ls")).stdout)) {
        const out = await Deno.readTextFile(`${dir}/out.txt`).catch(() => "");
        assert.ok(performance.now() < deadline, `the lab never came up; vlab up -d said: ${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await vlab("down", "--all");
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "vlab up -d whose lab a vlab down stops before it saw it up says so, in words",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vlab-up-down-" });
    const env = { VLAB_STATE_DIR: dir };
    const vlab = (...args: string[]) => runVlab(args, { env });
    // `vlab up -d pair & vlab down pair`: the down waited for the start and stopped the lab
    // before `up -d` looked again; it said 'Internal error: No such file or directory (os error
    // 2): readfile …start.log' (the lab, once up, removes that file).
    const up = new Deno.Command(Deno.execPath(), {
      args: vlabRunArgs(["up", "-d", "pair"]),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: vlabChildEnv({ NO_COLOR: "1", ...env }),
    }).spawn();
    let stopped = false;
    try {
      // Stopped once its lab's process exists: the start log is made just before the spawn, and a
      // SIGSTOP between the two left no lab to come up (a CI run).
      const started = performance.now() + 30_000;
      while (!childOf(up.pid)) {
        assert.ok(performance.now() < started, "vlab up -d never started its lab");
        await new Promise((r) => setTimeout(r, 10));
      }
      // `up -d` does not look while the lab comes up and goes.
      up.kill("SIGSTOP");
      stopped = true;
      const deadline = performance.now() + 30_000;
      while (!/^pair +running /m.test((await vlab("ls")).stdout)) {
        assert.ok(performance.now() < deadline, "the lab never came up");
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal((await vlab("down", "pair")).code, 0);
      up.kill("SIGCONT");
      stopped = false;
      const out = await up.output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 1, stderr);
      assert.match(
        stderr,
        /^vlab: The background lab "pair" came up \(pid \d+\), then stopped at once\nhint: Something stopped it \(`vlab down`, a signal\); its event log in \S+ says how it ended\n$/,
      );
    } finally {
      if (stopped) up.kill("SIGCONT");
      await up.status;
      await vlab("down", "--all");
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Whether process `pid` has a child (its main thread's, as `/proc` lists them). */
function childOf(pid: number): boolean {
  return (readProc(`/proc/${pid}/task/${pid}/children`) ?? "").trim() !== "";
}
