import assert from "node:assert/strict";
import {
  enterIdleCpuGroup,
  findCpuController,
  governIdleGroup,
  GOVERNOR,
  governorStart,
  type GovernorState,
  keepIdleGroup,
} from "./idle_cgroup.ts";

const V1_MOUNTS = [
  "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
  "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:7 - cgroup cgroup rw,cpu,cpuacct",
  "33 31 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset",
  "34 31 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
].join("\n");
const V2_MOUNTS = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";

Deno.test("findCpuController prefers cgroup v1's cpu hierarchy, co-mounted or not", () => {
  const cgroup = "4:cpuset:/\n3:cpu,cpuacct:/user.slice/session-2.scope\n0::/user.slice\n";
  assert.deepEqual(findCpuController(V1_MOUNTS, cgroup), {
    version: "v1",
    mount: "/sys/fs/cgroup/cpu,cpuacct",
    group: "/user.slice/session-2.scope",
  });
  // A name that merely starts with "cpu" is another controller.
  assert.equal(findCpuController(V1_MOUNTS.split("\n")[2], "4:cpuset:/\n"), null);
});

Deno.test("findCpuController falls back to the unified hierarchy", () => {
  assert.deepEqual(
    findCpuController(V2_MOUNTS, "0::/user.slice/user-1000.slice/session-3.scope\n"),
    {
      version: "v2",
      mount: "/sys/fs/cgroup",
      group: "/user.slice/user-1000.slice/session-3.scope",
    },
  );
  assert.equal(findCpuController("", "0::/\n"), null, "nothing mounted");
});

Deno.test("findCpuController takes a mount of part of the hierarchy into account", () => {
  const mounts = "40 30 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
  assert.deepEqual(findCpuController(mounts, "0::/docker/abc/app\n"), {
    version: "v2",
    mount: "/sys/fs/cgroup",
    group: "/app",
  });
  assert.deepEqual(findCpuController(mounts, "0::/docker/abc\n")?.group, "/");
  assert.equal(findCpuController(mounts, "0::/docker/abcd\n"), null, "outside the mount");
});

/** A fake tree: /proc/PID files and a v1 cpu hierarchy with process `pid` in `group`. */
async function fakeTree(opts: { pid: number; group: string; cpuIdle?: boolean; mounts?: string }) {
  const root = await Deno.makeTempDir({ prefix: "vlab-cgroup-" });
  const proc = `${root}/proc/${opts.pid}`;
  await Deno.mkdir(proc, { recursive: true });
  await Deno.writeTextFile(`${proc}/mountinfo`, opts.mounts ?? V1_MOUNTS);
  await Deno.writeTextFile(`${proc}/cgroup`, `3:cpu,cpuacct:${opts.group}\n0::/\n`);
  const top = `${root}/sys/fs/cgroup/cpu,cpuacct`;
  await Deno.mkdir(`${top}${opts.group}`, { recursive: true });
  if (opts.cpuIdle !== false) await Deno.writeTextFile(`${top}/cpu.idle`, "0");
  await Deno.writeTextFile(`${top}/cgroup.procs`, "");
  return { root, top, [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }) };
}

/** A pid no process has (above Linux's largest, 2^22). */
const DEAD = 9_999_999;

Deno.test("enterIdleCpuGroup makes an idle group at the top, moves the process, and leaves it", async () => {
  await using tree = await fakeTree({ pid: DEAD, group: "/user.slice" });
  const group = enterIdleCpuGroup({ root: tree.root, pid: DEAD });
  assert.ok("path" in group, JSON.stringify(group));
  assert.equal(group.path, `${tree.top}/vlab-idle-${DEAD}`);
  assert.equal((await Deno.readTextFile(`${group.path}/cpu.idle`)).trim(), "1");
  assert.equal((await Deno.readTextFile(`${group.path}/cgroup.procs`)).trim(), String(DEAD));
  group.leave();
  // In a fake tree the group keeps its files and stays; cgroupfs removes it (the test of
  // lowerPriority checks that on a machine that allows it).
  assert.equal((await Deno.readTextFile(`${tree.top}/cgroup.procs`)).trim(), String(DEAD));
});

Deno.test("enterIdleCpuGroup removes the groups of processes that are gone, not of live ones", async () => {
  await using tree = await fakeTree({ pid: 300, group: "/" });
  const live = `vlab-idle-${Deno.pid}`;
  for (const name of [`vlab-idle-${DEAD}`, live, "vlab-idle-x", "other"]) {
    await Deno.mkdir(`${tree.top}/${name}`);
  }
  const group = enterIdleCpuGroup({ root: tree.root, pid: 300 });
  assert.ok("path" in group, JSON.stringify(group));
  const left = [...Deno.readDirSync(tree.top)].filter((e) => e.isDirectory).map((e) => e.name);
  assert.deepEqual(left.sort(), ["other", live, "vlab-idle-300", "vlab-idle-x"].sort());
});

Deno.test("enterIdleCpuGroup says in one line why it cannot, and changes nothing", async () => {
  {
    await using tree = await fakeTree({ pid: 1, group: "/", cpuIdle: false });
    const got = enterIdleCpuGroup({ root: tree.root, pid: 1 });
    assert.deepEqual(got, { reason: "the kernel has no cpu.idle (Linux 5.15 or later has)" });
  }
  {
    await using tree = await fakeTree({ pid: 1, group: "/", mounts: V2_MOUNTS });
    await Deno.writeTextFile(`${tree.root}/sys/fs/cgroup/cgroup.subtree_control`, "memory pids\n");
    const got = enterIdleCpuGroup({ root: tree.root, pid: 1 });
    assert.deepEqual(got, { reason: "the cgroup v2 root does not delegate the cpu controller" });
  }
  {
    await using tree = await fakeTree({ pid: 1, group: "/", mounts: "" });
    const got = enterIdleCpuGroup({ root: tree.root, pid: 1 });
    assert.deepEqual(got, { reason: "no CPU controller is mounted" });
  }
  {
    const got = enterIdleCpuGroup({ root: "/nonexistent-vlab-root", pid: 1 });
    assert.deepEqual(got, { reason: "cannot read /proc to find the CPU controller" });
  }
  {
    // The group's name is taken by a file: the group cannot be made, and the file stays.
    await using tree = await fakeTree({ pid: 7, group: "/" });
    await Deno.writeTextFile(`${tree.top}/vlab-idle-7`, "not a group");
    const got = enterIdleCpuGroup({ root: tree.root, pid: 7 });
    assert.ok("reason" in got, JSON.stringify(got));
    assert.ok(got.reason.startsWith("cannot make a CPU group: "), got.reason);
    assert.ok(!got.reason.includes("\n"), got.reason);
    assert.equal(await Deno.readTextFile(`${tree.top}/vlab-idle-7`), "not a group");
  }
});

Deno.test("governIdleGroup leaves the group after two short checks in a row, not after one", () => {
  let s = governorStart(0);
  let r = governIdleGroup(s, { beats: 10, wanted: 10, nowMs: 1_000 });
  assert.equal(r.action, "none");
  r = governIdleGroup(r.state, { beats: 7, wanted: 10, nowMs: 2_000 }); // short (< 8)
  assert.equal(r.action, "none");
  r = governIdleGroup(r.state, { beats: 8, wanted: 10, nowMs: 3_000 }); // 80 %: not short
  assert.equal(r.action, "none");
  assert.equal(r.state.shortChecks, 0, "a full check resets the count");
  r = governIdleGroup(r.state, { beats: 4, wanted: 10, nowMs: 4_000 });
  r = governIdleGroup(r.state, { beats: 4, wanted: 10, nowMs: 5_000 });
  assert.equal(r.action, "leave");
  assert.deepEqual(r.state, {
    inGroup: false,
    shortChecks: 0,
    since: 5_000 + GOVERNOR.firstBackoffMs,
    backoffMs: 2 * GOVERNOR.firstBackoffMs,
  });
  s = r.state;
  // Out of the group, it waits for its time out, whatever the rate, then enters again.
  r = governIdleGroup(s, { beats: 10, wanted: 10, nowMs: 14_999 });
  assert.equal(r.action, "none");
  r = governIdleGroup(s, { beats: 10, wanted: 10, nowMs: 15_000 });
  assert.equal(r.action, "enter");
  assert.deepEqual(r.state, { inGroup: true, shortChecks: 0, since: 15_000, backoffMs: 20_000 });
});

Deno.test("governIdleGroup doubles the time out while the group starves it, and resets it once settled", () => {
  const starve = (s: GovernorState, at: number) => {
    const once = governIdleGroup(s, { beats: 2, wanted: 10, nowMs: at });
    return governIdleGroup(once.state, { beats: 2, wanted: 10, nowMs: at + 1_000 });
  };
  let s = governorStart(0);
  const outs: number[] = [];
  let now = 1_000;
  for (let i = 0; i < 5; i++) {
    const r = starve(s, now);
    assert.equal(r.action, "leave");
    outs.push(r.state.since - (now + 1_000));
    now = r.state.since;
    s = governIdleGroup(r.state, { beats: 10, wanted: 10, nowMs: now }).state; // enter again
  }
  assert.deepEqual(outs, [10_000, 20_000, 40_000, 80_000, 80_000]);
  // In the group for 30 s without leaving: the next time out is the first again.
  const settled = starve(s, now + GOVERNOR.settledMs);
  assert.equal(settled.state.since - (now + GOVERNOR.settledMs + 1_000), GOVERNOR.firstBackoffMs);
});

Deno.test("keepIdleGroup's leave stops watching, leaves the group once, and stops its time in it", () => {
  let left = 0;
  let entered = 0;
  const kept = keepIdleGroup({ path: "/fake/vlab-idle-1", leave: () => void left++ }, 100, () => {
    entered++;
    return { reason: "not in a test" };
  });
  const inGroup = kept.groupMs();
  kept.leave();
  const atLeave = kept.groupMs();
  assert.ok(atLeave >= inGroup, `${atLeave} < ${inGroup}`);
  // Time out of the group does not count: 2 ms later the count has not moved.
  const t = performance.now();
  while (performance.now() - t < 2) {
    // spin: a timer would let the event loop run the governor's (cleared) timers
  }
  assert.equal(kept.groupMs(), atLeave);
  kept.leave();
  assert.equal(left, 1);
  assert.equal(entered, 0);
});

Deno.test("keepIdleGroup says the process is out of its group once the governor left it", async () => {
  // A period far shorter than a timer can beat: every check finds it short, and the second one
  // leaves the group. --report-cpu kept saying "idle group" after that.
  let left = 0;
  const kept = keepIdleGroup({ path: "/fake/vlab-idle-1", leave: () => void left++ }, 0.01, () => ({
    reason: "not in a test",
  }));
  try {
    assert.equal(kept.inGroup(), true);
    const t = performance.now();
    while (left === 0 && performance.now() - t < 5_000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(left, 1, "the governor left the group");
    assert.equal(kept.inGroup(), false);
  } finally {
    kept.leave();
  }
});
