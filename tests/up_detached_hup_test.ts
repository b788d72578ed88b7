/**
 * `vlab up -d` and the terminal that ran it closing (SIGHUP) while its lab starts: the lab was
 * asked for in the background, to outlive that terminal, and comes up.
 */

import assert from "node:assert/strict";
import { vlabChildEnv, vlabRunArgs } from "../cli/deno_run.ts";
import { runVlab } from "./run.ts";
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
