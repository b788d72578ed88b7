/**
 * The dashboard in a real terminal: tmux runs `vlab up topologies/pair.yaml`, the test sends keys
 * and reads the screen with `capture-pane`. The VMs appear, counters move while a ping runs, the
 * ring view opens, and `q` then `y` stops the lab and leaves nothing behind. The dashboard draws
 * from a child process of its own whose every thread runs under `SCHED_IDLE`, never on the
 * lab's threads.
 *
 * Needs tmux (the test task installs it: tests/tools.ts).
 */

import assert from "node:assert/strict";
import { vlabRunArgs } from "../cli/deno_run.ts";
import { labTerminal, run } from "./tmux.ts";

Deno.test({
  name: "the dashboard in tmux: VMs, moving counters, the ring view, q stops the lab cleanly",
  // The lab runs in a tmux pane, not in this process; subprocesses are awaited.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const t = await labTerminal("topologies/pair.yaml", 100, 30);
    const { stateDir, screen, waitFor } = t;
    try {
      await waitFor("both VMs running", (s) => /^▸? *a +running/m.test(s) && /b +running/.test(s));
      const first = await screen();
      assert.match(first, /vlab pair · seed 1/);
      assert.match(first, /features .*VERSION_1/);

      // Drawn by `vlab dashboard pair --foreground`, a process apart from the lab's, every thread
      // of it under the idle policy; the lab's process itself keeps the normal one.
      const drawing = processesOf(stateDir, "dashboard");
      assert.equal(drawing.length, 1, `dashboard processes: ${JSON.stringify(drawing)}`);
      assert.match(drawing[0].args, /dashboard pair --foreground/);
      assert.deepEqual(policies(drawing[0].pid).filter((p) => p !== SCHED_IDLE), []);
      const lab = processesOf(stateDir, "up");
      assert.equal(lab.length, 1, `lab processes: ${JSON.stringify(lab)}`);
      assert.notEqual(lab[0].pid, drawing[0].pid);
      assert.equal(policies(lab[0].pid)[0], SCHED_NORMAL);

      // Counters move while a ping runs: the queues panel shows request rates above zero.
      const ping = run(
        Deno.execPath(),
        vlabRunArgs(["exec", "a", "--", "ping", "10.0.0.2", "-c", "40", "-i", "0.05"]),
        {
          VLAB_STATE_DIR: stateDir,
        },
      );
      await t.keys("Tab");
      const queues = await waitFor(
        "request rates",
        (s) => /\[Queues\]/.test(s) && /req [1-9][\d.]*/.test(s),
      );
      assert.match(queues, /a\/eth0 tx +split +256/);

      // The ring view of the selected queue: the descriptor table with decoded flags and the
      // markers of where each side's index points.
      await t.keys("Enter");
      const ring = await waitFor(
        "the ring view",
        (s) => /receiveq · split · 256 entries/.test(s) && /◀/.test(s),
      );
      assert.match(ring, /WRITE/);
      assert.match(ring, /avail\.idx \d+/);
      assert.equal((await ping).code, 0);

      // q asks whether to stop the foreground lab; y stops it.
      await t.keys("q");
      await waitFor("the stop question", (s) => /Stop the lab\? \(y\/n\)/.test(s));
      await t.keys("y");
      await waitFor("vlab up to exit", (s) => /EXITED 0/.test(s));
      // Only the run's event log is kept.
      assert.deepEqual([...Deno.readDirSync(stateDir)].map((e) => e.name), ["logs"]);
      const ls = await run(Deno.execPath(), vlabRunArgs(["ls"]), { VLAB_STATE_DIR: stateDir });
      assert.match(ls.stdout, /no lab is running/);
    } finally {
      await t.close();
    }
  },
});

/** Linux's numbers for the policies in `/proc/PID/task/TID/stat` (field 41). */
const SCHED_NORMAL = 0;
const SCHED_IDLE = 5;

/** The vlab processes running `command` whose `VLAB_STATE_DIR` is `stateDir`. */
function processesOf(stateDir: string, command: string): { pid: number; args: string }[] {
  const found: { pid: number; args: string }[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^[0-9]+$/.test(e.name)) continue;
    try {
      const argv = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      const main = argv.findIndex((a) => a.endsWith("cli/main.ts"));
      if (main < 0 || argv[main + 1] !== command) continue;
      const env = Deno.readTextFileSync(`/proc/${e.name}/environ`).split("\0");
      if (!env.includes(`VLAB_STATE_DIR=${stateDir}`)) continue;
      found.push({ pid: Number(e.name), args: argv.slice(main + 1).join(" ") });
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** The scheduling policy of each thread of `pid`, main thread first. */
function policies(pid: number): number[] {
  const tids = [...Deno.readDirSync(`/proc/${pid}/task`)].map((t) => Number(t.name));
  tids.sort((a, b) => (a === pid ? -1 : b === pid ? 1 : a - b));
  return tids.map((tid) => {
    const stat = Deno.readTextFileSync(`/proc/${pid}/task/${tid}/stat`);
    // Fields after the command name (which may hold spaces) start at field 3.
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[38]);
  });
}
