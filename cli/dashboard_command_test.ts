import assert from "node:assert/strict";
import type { SwitchMacTable } from "../lab/switch_macs.ts";
import { dashboardNice, labGone, priorityNow, socketSource } from "./dashboard_command.ts";
import { createLabDir } from "../lab/state.ts";
import { fakeRecord } from "../lab/fake_lab_testing.ts";
import { resolveTopologyPath } from "../lab/topology/mod.ts";
import { CONFIG_PATH, VLAB_PERMISSION_FLAGS, vlabChildEnv, vlabRunArgs } from "./deno_run.ts";
import { shellQuote } from "./child.ts";
import { idleGroupGone, idleGroupsAllowed } from "./idle_cgroup_testing.ts";

const TABLE: SwitchMacTable = {
  switch: "sw1",
  agingMs: 300_000,
  macs: [{ mac: "52:54:00:00:01:01", port: 0, link: "h1-sw1", peer: "h1:eth0", ageMs: 1500 }],
};

/** A control socket that answers the MAC table routes as lab/server.ts does; records paths. */
async function withServer(fn: (socket: string, paths: string[]) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vlab-dash-" });
  const socket = `${dir}/control.sock`;
  const paths: string[] = [];
  const server = Deno.serve({ path: socket, transport: "unix", onListen: () => {} }, (req) => {
    const path = req.url.replace(/^http:\/\/[^/]*/, "");
    paths.push(path);
    if (path === "/switches/sw1") return Response.json(TABLE);
    if (path === "/switches/r1") {
      const error = { code: "unknown-switch", message: 'The lab has no switch "r1"', hint: "" };
      return Response.json({ error }, { status: 404 });
    }
    const error = {
      code: "switch-not-answering",
      message: 'Switch "sw2" did not answer',
      hint: "See its state with vlab status",
    };
    return Response.json({ error }, { status: 503 });
  });
  try {
    await fn(socket, paths);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

function record(socket: string) {
  return fakeRecord("t", { socket, source: "t.yaml", startedAt: "", vms: 0 });
}

Deno.test("the socket source reads a switch's MAC table with GET /switches/NAME", async () => {
  await withServer(async (socket, paths) => {
    const source = socketSource(record(socket));
    try {
      assert.ok(source.macs !== undefined);
      assert.deepEqual(await source.macs("sw1"), TABLE);
      assert.equal(await source.macs("r1"), null, "no L2 switch of that name: no table");
      assert.deepEqual(paths, ["/switches/sw1", "/switches/r1"]);
    } finally {
      source.close();
    }
  });
});

Deno.test("the socket source rejects with the lab's message when a switch did not answer", async () => {
  await withServer(async (socket, paths) => {
    const source = socketSource(record(socket));
    try {
      await assert.rejects(
        () => source.macs!("sw2"),
        (e) => e instanceof Error && e.message === 'Switch "sw2" did not answer',
      );
      await assert.rejects(() => source.macs!("a/b"), /did not answer/);
      assert.deepEqual(paths, ["/switches/sw2", "/switches/a%2Fb"], "the name is one segment");
    } finally {
      source.close();
    }
  });
});

/**
 * Run `lowerPriority` in a process of its own (a lowered priority never goes back up without
 * privileges) with `env`; what it returned, each thread's nice value and policy after it, its CPU
 * group before and after `leave`, and whether that group was still there after.
 */
async function lowered(env: Record<string, string>) {
  const script = `
    import { lowerPriority } from ${
    JSON.stringify(new URL("./dashboard_command.ts", import.meta.url).href)
  };
    import { ownThreads, readProcText } from ${
    JSON.stringify(new URL("../lab/proc.ts", import.meta.url).href)
  };
    const cpuGroup = () => (readProcText("/proc/" + Deno.pid + "/cgroup") ?? "").split("\\n")
      .find((l) => /^\\d+:([^:]*,)?cpu(,[^:]*)?:/.test(l) || l.startsWith("0::")) ?? "";
    const before = cpuGroup();
    const lowered = await lowerPriority();
    const own = ownThreads();
    if (!Array.isArray(own)) throw new Error(own.reason);
    const threads = own.map(({ tid }) => {
      const stat = readProcText("/proc/" + Deno.pid + "/task/" + tid + "/stat") ?? "";
      const f = stat.replace(/^.*\\) /, "").split(" ");
      return { nice: Number(f[16]), policy: Number(f[38]) };
    }).filter((t) => !Number.isNaN(t.policy)); // a thread that ended meanwhile
    const during = cpuGroup();
    lowered.leave();
    console.log(JSON.stringify({ set: lowered.set, threads, before, during, after: cpuGroup() }));
  `;
  // With vlab's own permission flags, as `deno task vlab` runs it: Deno reads /proc and writes
  // /sys only with --allow-all, which vlab does not ask for.
  const file = await Deno.makeTempFile({ prefix: "vlab-lower-", suffix: ".ts" });
  await Deno.writeTextFile(file, script);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...VLAB_PERMISSION_FLAGS, "--config", CONFIG_PATH, file],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => Deno.remove(file));
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout)) as {
    set: string;
    threads: { nice: number; policy: number }[];
    before: string;
    during: string;
    after: string;
  };
}

/** SCHED_IDLE's number in Linux's `policy` field. */
const SCHED_IDLE = 5;

Deno.test("lowerPriority puts every thread in SCHED_IDLE and, where allowed, an idle CPU group it leaves", async () => {
  const { set, threads, before, during, after } = await lowered({ VLAB_DASHBOARD_NICE: "" });
  assert.ok(threads.length > 1, `threads: ${JSON.stringify(threads)}`);
  assert.deepEqual(threads.filter((t) => t.policy !== SCHED_IDLE), [], JSON.stringify(threads));
  if (idleGroupsAllowed()) {
    assert.equal(set, "idle group");
    const group = during.replace(/^[^:]*:[^:]*:/, "");
    assert.match(group, /^\/vlab-idle-\d+$/, during);
    assert.equal(after.replace(/^[^:]*:[^:]*:/, ""), "/", "moved to the top group to end there");
    assert.ok(idleGroupGone(group), `${group} removed`);
  } else {
    assert.equal(set, "idle");
    assert.equal(during, before);
  }
});

Deno.test("a blank VLAB_DASHBOARD_NICE is unset (the default), not a bad nice value", () => {
  const saved = Deno.env.get("VLAB_DASHBOARD_NICE");
  try {
    for (const blank of ["", " ", "\t "]) {
      Deno.env.set("VLAB_DASHBOARD_NICE", blank);
      assert.equal(dashboardNice(), "", JSON.stringify(blank));
    }
    Deno.env.set("VLAB_DASHBOARD_NICE", " 5");
    assert.throws(() => dashboardNice(), /got " 5"/);
  } finally {
    if (saved === undefined) Deno.env.delete("VLAB_DASHBOARD_NICE");
    else Deno.env.set("VLAB_DASHBOARD_NICE", saved);
  }
});

Deno.test("lowerPriority with VLAB_DASHBOARD_NICE=idle takes the policy without a CPU group", async () => {
  const { set, threads, before, during } = await lowered({ VLAB_DASHBOARD_NICE: "idle" });
  assert.equal(set, "idle");
  assert.deepEqual(threads.filter((t) => t.policy !== SCHED_IDLE), [], JSON.stringify(threads));
  assert.equal(during, before);
});

Deno.test("lowerPriority with VLAB_DASHBOARD_NICE renices every thread instead", async () => {
  const { set, threads, before, during } = await lowered({ VLAB_DASHBOARD_NICE: "7" });
  assert.equal(set, "nice 7");
  assert.ok(threads.length > 1, `threads: ${JSON.stringify(threads)}`);
  assert.deepEqual(threads.filter((t) => t.nice !== 7 || t.policy === SCHED_IDLE), []);
  assert.equal(during, before, "no CPU group");
  const normal = await lowered({ VLAB_DASHBOARD_NICE: "0" });
  assert.equal(normal.set, "normal");
  assert.deepEqual(normal.threads.filter((t) => t.nice !== 0 || t.policy !== 0), []);
});

Deno.test("SIGTERM ends a drawing dashboard as q does, and nothing sends it again", async () => {
  // ink's signal-exit, finding no other \`process\` listener, sent the signal again once it had run;
  // the dashboard's own listener was gone by the time it came (its threads run only on idle CPU
  // time), and \`vlab dashboard\` died of it: exit 143, "Terminated", its CPU group left behind.
  const url = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
  const script = `
    import process from "node:process";
    import { onEndingSignal } from ${url("./dashboard_command.ts")};
    import { runDashboard } from ${url("./dashboard/run.ts")};
    import { FakeStdin, FakeStdout, loadFixture } from ${url("./dashboard/testing.tsx")};
    const sent = [];
    const kill = process.kill.bind(process);
    process.kill = (pid, signal) => (sent.push(String(signal)), kill(pid, signal));
    const snap = loadFixture("pair_1");
    const stop = new AbortController();
    const done = runDashboard({
      source: { snapshot: async () => snap, ring: async () => null },
      foreground: false,
      stdin: new FakeStdin(),
      stdout: new FakeStdout(),
      noColor: true,
      signal: stop.signal,
    });
    // After ink's listener, which then hears the signal first, as it did in a terminal.
    const off = onEndingSignal(() => stop.abort());
    setTimeout(() => Deno.kill(Deno.pid, "SIGTERM"), 200);
    const how = await done;
    off();
    await new Promise((resolve) => setTimeout(resolve, 300));
    Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify({ how, sent })));
  `;
  const file = await Deno.makeTempFile({ prefix: "vlab-sigterm-", suffix: ".ts" });
  await Deno.writeTextFile(file, script);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...VLAB_PERMISSION_FLAGS, "--config", CONFIG_PATH, file],
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => Deno.remove(file));
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.signal, null, `died of ${out.signal}: ${stderr}`);
  assert.equal(out.code, 0, stderr);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), { how: "detach", sent: [] });
});

Deno.test("a lab gone from under the dashboard is said stopped, died or not answering, with its topology", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vlab-gone-" });
  const old = Deno.env.get("VLAB_STATE_DIR");
  Deno.env.set("VLAB_STATE_DIR", dir);
  try {
    const events = `${dir}/pair.jsonl`;
    const up = { time: "2026-12-06T21:58:00.000Z", kind: "lab-up", subject: "pair" };
    const down = { time: "2026-12-06T21:58:11.242Z", kind: "lab-down", subject: "pair" };
    await Deno.writeTextFile(events, [up, down].map((e) => JSON.stringify(e) + "\n").join(""));
    const rec = {
      ...record(`${dir}/pair/control.sock`),
      name: "pair",
      pid: 4242,
      source: resolveTopologyPath("pair"),
      events,
    };
    // vlab down (or q, or Ctrl-C in vlab up): the event log ends with lab-down.
    const stopped = labGone(rec, "no such file or directory");
    assert.equal(stopped.message, 'Lab "pair" was stopped at 21:58:11 UTC');
    assert.equal(
      stopped.hint,
      "It ended as `vlab down` ends a lab; start it again with `vlab up pair`",
    );
    // kill -9: no lab-down, and no process holds the lab's lock.
    await Deno.writeTextFile(events, JSON.stringify(up) + "\n");
    const died = labGone({ ...rec, source: "/my labs/lossy.yaml" }, "connection refused");
    assert.equal(
      died.message,
      'Lab "pair" died: its process 4242 is gone, no lab-down logged (killed?)',
    );
    assert.equal(
      died.hint,
      "The next vlab command removes what it left; start it again with `vlab up '/my labs/lossy.yaml'`",
    );
    // Still running (its lock held) and not answering: the system's reason.
    const hold = createLabDir("pair");
    try {
      const silent = labGone(rec, "connection refused");
      assert.equal(
        silent.message,
        'Lab "pair" no longer answers (control socket: connection refused)',
      );
    } finally {
      hold.release();
    }
  } finally {
    if (old === undefined) Deno.env.delete("VLAB_STATE_DIR");
    else Deno.env.set("VLAB_STATE_DIR", old);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--report-cpu into the terminal the dashboard draws on is refused, before a lab is asked", async () => {
  // Its JSON lines scrolled the screen once a second: the header and the tab bar went off the top.
  const dir = await Deno.makeTempDir({ prefix: "vlab-dash-" });
  try {
    const line = [Deno.execPath(), ...vlabRunArgs(["dashboard", "--report-cpu"])]
      .map(shellQuote).join(" ");
    // `script` gives it a terminal on stdin, stdout and stderr.
    const out = await new Deno.Command("script", {
      args: ["-qec", line, "/dev/null"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: dir }),
    }).output();
    const text = new TextDecoder().decode(out.stdout).replaceAll("\r", "");
    assert.equal(out.code, 2, text);
    assert.equal(
      text,
      "vlab: --report-cpu writes a JSON line a second to stderr, the terminal the dashboard " +
        "draws on\nhint: Send them to a file: vlab dashboard --report-cpu 2>cpu.jsonl\n",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--report-cpu's priority is the one the dashboard has at each report, not the one it took", () => {
  // A dashboard that left its idle CPU group (starved of its redraws) still said "idle group".
  let inGroup = true;
  const kept = { inGroup: () => inGroup };
  assert.equal(priorityNow("idle", kept), "idle group");
  inGroup = false;
  assert.equal(priorityNow("idle", kept), "idle");
  assert.equal(priorityNow("nice 10", kept), "nice 10");
});

Deno.test("a signal while the renderer loads ends vlab dashboard before it draws or asks the lab", async () => {
  // The check for it ran before the load, with no await since the listeners went in: it was
  // never true, and the dashboard drew its first frame (and asked the lab) only to end at once.
  // The command's SIGTERM listener is called in a microtask queued when it is installed: it runs
  // at the command's first await, the renderer's load, whose import cannot have resolved by then.
  const url = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
  const dir = await Deno.makeTempDir({ prefix: "vlab-dash-signal-" });
  const script = `
    import process from "node:process";
    import { dashboardCommand } from ${url("./dashboard_command.ts")};
    import { holdFakeLab } from ${url("../lab/fake_lab_testing.ts")};
    let asked = 0;
    const lab = holdFakeLab("dash-signal", { serve: () => (asked++, Response.json({})) });
    const on = process.on.bind(process);
    process.on = (event, listener) => {
      if (event === "SIGTERM") queueMicrotask(() => listener());
      return on(event, listener);
    };
    try {
      await dashboardCommand().parseAsync(["dash-signal", "--report-cpu"], { from: "user" });
    } finally {
      await lab.close();
    }
    Deno.stdout.writeSync(new TextEncoder().encode("asked " + asked));
  `;
  const file = `${dir}/signal.ts`;
  try {
    await Deno.writeTextFile(file, script);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...VLAB_PERMISSION_FLAGS, "--config", CONFIG_PATH, file],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: dir }),
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    // Nothing drawn before the script's own line, and no snapshot asked of the lab.
    assert.equal(new TextDecoder().decode(out.stdout), "asked 0", stderr);
    // --report-cpu's last line says so too.
    assert.match(stderr, /"updates":0/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
