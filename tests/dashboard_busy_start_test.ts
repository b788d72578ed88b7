/**
 * `vlab dashboard` on a machine whose every CPU is busy: it draws its first frame at once, then
 * lowers its priority. It took the idle policy before it loaded its renderer, so its start ran
 * only on CPU time nothing else wanted, and a user on a busy machine saw nothing for 30 s or more.
 */

// test-shards: alone (it keeps every CPU busy on purpose)

import assert from "node:assert/strict";
import { within } from "../lab/testing.ts";
import { spawnVlab, withLab } from "./run.ts";

Deno.test({
  name: "vlab dashboard with every CPU busy draws within seconds, then runs at the idle priority",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withLab("pair", async (_vlab, stateDir) => {
      // A busy loop at the normal priority on every CPU, for the few seconds the test lasts:
      // killed in every case, whatever fails after the first is started.
      const hogs: Deno.ChildProcess[] = [];
      const killHogs = async () => {
        for (const hog of hogs) hog.kill("SIGKILL");
        await Promise.all(hogs.map((h) => h.status));
      };
      let child: Deno.ChildProcess;
      try {
        for (let i = 0; i < navigator.hardwareConcurrency; i++) {
          hogs.push(
            new Deno.Command("sh", {
              args: ["-c", "while :; do :; done"],
              stdin: "null",
              stdout: "null",
              stderr: "null",
            }).spawn(),
          );
        }
        // --report-cpu: the dashboard without a terminal, a JSON line a second on stderr.
        child = spawnVlab(["dashboard", "--report-cpu"], { stateDir });
      } catch (e) {
        await killHogs();
        throw e;
      }
      const drawn = new Response(child.stdout).arrayBuffer().catch(() => null);
      const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let stderr = "";
      try {
        // A report that counts a frame drawn, at the priority taken after it (the idle policy,
        // or nice 10 where `chrt` cannot).
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), 20_000));
        try {
          while (!/"updates":[1-9][^\n]*"priority":"(?!normal)/.test(stderr)) {
            const next = await Promise.race([reader.read(), late]);
            assert.ok(next !== "late", `no frame drawn in 20 s with every CPU busy: ${stderr}`);
            assert.ok(!next.done, `the dashboard ended: ${stderr}`);
            stderr += next.value;
          }
        } finally {
          clearTimeout(timer);
        }
      } finally {
        await killHogs();
        try {
          child.kill("SIGTERM");
        } catch {
          // Ended.
        }
        await reader.cancel().catch(() => {});
        // Bounded: one that ignored SIGTERM is killed, not waited for (it would hang the suite).
        await within(15_000, "the dashboard's end", child.status).catch(() => {
          child.kill("SIGKILL");
        });
        await child.status;
        await drawn;
      }
    });
  },
});
