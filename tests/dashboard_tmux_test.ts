/**
 * The dashboard in a real terminal: tmux runs `vlab up topologies/pair.yaml`, the test sends keys
 * and reads the screen with `capture-pane`. The VMs appear, counters move while a ping runs, the
 * ring view opens, and `q` then `y` stops the lab and leaves nothing behind. The dashboard draws
 * from a child process of its own whose every thread runs under `SCHED_IDLE`, never on the
 * lab's threads, and which runs in an idle CPU group of its own where the machine allows one (as
 * root), removed when it ends.
 *
 * Needs tmux (the test task installs it: tests/tools.ts).
 */

import assert from "node:assert/strict";
import { vlabRunArgs } from "../cli/deno_run.ts";
import { idleGroupGone, idleGroupsAllowed } from "../cli/idle_cgroup_testing.ts";
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

      // Drawn by `vlab dashboard pair --foreground`, a child process of the lab's, every thread
      // of it under the idle policy; the lab's process itself keeps the normal one.
      const listed = await run(Deno.execPath(), vlabRunArgs(["ls", "--json"]), {
        VLAB_STATE_DIR: stateDir,
      });
      const labPid = (JSON.parse(listed.stdout) as { pid: number }[])[0]?.pid;
      assert.ok(labPid, listed.stdout);
      // It lowers itself once it has drawn its first frame: a few ms after the screen shows.
      const lowered = performance.now() + 10_000;
      let tree = await processTree(labPid);
      const dashboards = (t: ProcessTree) =>
        t.children.filter((c) => /cli\/main\.ts dashboard /.test(c.args));
      while (
        dashboards(tree).length === 1 &&
        dashboards(tree)[0].policies.some((p) => p !== SCHED_IDLE) &&
        performance.now() < lowered
      ) {
        await new Promise((r) => setTimeout(r, 50));
        tree = await processTree(labPid);
      }
      const drawing = dashboards(tree);
      assert.equal(drawing.length, 1, `children of the lab: ${JSON.stringify(tree.children)}`);
      assert.match(drawing[0].args, /dashboard pair --foreground$/);
      assert.deepEqual(drawing[0].policies.filter((p) => p !== SCHED_IDLE), []);
      assert.equal(tree.policies[0], SCHED_NORMAL);
      const group = `/vlab-idle-${drawing[0].pid}`;
      if (idleGroupsAllowed()) assert.equal(drawing[0].cpuGroup, group);
      else assert.notEqual(drawing[0].cpuGroup, group);

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
      const exited = await waitFor("vlab up to exit", (s) => /EXITED 0/.test(s));
      // The line `vlab up` printed before the dashboard drew says how the dashboard stops it: it
      // said "Ctrl-C stops", but there Ctrl-C asks, as q does.
      assert.match(
        exited,
        /^try: vlab exec a -- ping \.\.\. · vlab status · q or Ctrl-C asks whether to stop$/m,
      );
      // Only the run's event log is kept, and the dashboard's CPU group is gone.
      assert.deepEqual([...Deno.readDirSync(stateDir)].map((e) => e.name), ["logs"]);
      assert.ok(idleGroupGone(group), `${group} removed`);
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

/** A process's threads' scheduling policies (main thread first) and its children's. */
interface ProcessTree {
  policies: number[];
  children: { pid: number; args: string; policies: number[]; cpuGroup: string }[];
}

/**
 * Read `pid`'s process tree from `/proc`, in a `deno eval` of its own: this test's permissions
 * (the test task's) do not reach another process's `/proc` entries.
 */
async function processTree(pid: number): Promise<ProcessTree> {
  const script = `
    const policies = (pid) => {
      const tids = [...Deno.readDirSync("/proc/" + pid + "/task")].map((t) => Number(t.name));
      tids.sort((a, b) => (a === pid ? -1 : b === pid ? 1 : a - b));
      return tids.map((tid) => {
        const stat = Deno.readTextFileSync("/proc/" + pid + "/task/" + tid + "/stat");
        // Fields after the command name (which may hold spaces) start at field 3; policy is 41.
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[38]);
      });
    };
    const pid = ${pid};
    const children = [];
    for (const t of Deno.readDirSync("/proc/" + pid + "/task")) {
      const text = Deno.readTextFileSync("/proc/" + pid + "/task/" + t.name + "/children");
      for (const c of text.split(" ").filter((c) => c !== "")) {
        const args = Deno.readTextFileSync("/proc/" + c + "/cmdline").split("\\0").join(" ").trim();
        // The group of the CPU controller: cgroup v1's cpu hierarchy, else the unified one.
        const lines = Deno.readTextFileSync("/proc/" + c + "/cgroup").split("\\n");
        const cpu = lines.find((l) => /^\\d+:([^:]*,)?cpu(,[^:]*)?:/.test(l)) ??
          lines.find((l) => l.startsWith("0::")) ?? "";
        const cpuGroup = cpu.replace(/^[^:]*:[^:]*:/, "");
        children.push({ pid: Number(c), args, policies: policies(Number(c)), cpuGroup });
      }
    }
    console.log(JSON.stringify({ policies: policies(pid), children }));
  `;
  const out = await run(Deno.execPath(), ["eval", script]);
  assert.equal(out.code, 0, out.stderr);
  return JSON.parse(out.stdout) as ProcessTree;
}
