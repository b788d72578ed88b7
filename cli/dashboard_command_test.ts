import assert from "node:assert/strict";
import type { SwitchMacTable } from "../lab/switch_macs.ts";
import { socketSource } from "./dashboard_command.ts";

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
  return { name: "t", pid: Deno.pid, socket, source: "t.yaml", startedAt: "", vms: 0 };
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
 * privileges) with `env`; what it returned and each thread's nice value and policy after it.
 */
async function lowered(env: Record<string, string>) {
  const script = `
    import { lowerPriority } from ${
    JSON.stringify(new URL("./dashboard_command.ts", import.meta.url).href)
  };
    const set = await lowerPriority();
    const threads = [...Deno.readDirSync("/proc/self/task")].map((t) => {
      const f = Deno.readTextFileSync("/proc/self/task/" + t.name + "/stat").replace(/^.*\\) /, "").split(" ");
      return { nice: Number(f[16]), policy: Number(f[38]) };
    });
    console.log(JSON.stringify({ set, threads }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout)) as {
    set: string;
    threads: { nice: number; policy: number }[];
  };
}

/** SCHED_IDLE's number in Linux's `policy` field. */
const SCHED_IDLE = 5;

Deno.test("lowerPriority puts every thread of the process in SCHED_IDLE, not only its main thread", async () => {
  const { set, threads } = await lowered({ VLAB_DASHBOARD_NICE: "" });
  assert.equal(set, "idle");
  assert.ok(threads.length > 1, `threads: ${JSON.stringify(threads)}`);
  assert.deepEqual(threads.filter((t) => t.policy !== SCHED_IDLE), [], JSON.stringify(threads));
});

Deno.test("lowerPriority with VLAB_DASHBOARD_NICE renices every thread instead", async () => {
  const { set, threads } = await lowered({ VLAB_DASHBOARD_NICE: "7" });
  assert.equal(set, "nice 7");
  assert.ok(threads.length > 1, `threads: ${JSON.stringify(threads)}`);
  assert.deepEqual(threads.filter((t) => t.nice !== 7 || t.policy === SCHED_IDLE), []);
  const normal = await lowered({ VLAB_DASHBOARD_NICE: "0" });
  assert.equal(normal.set, "normal");
  assert.deepEqual(normal.threads.filter((t) => t.nice !== 0 || t.policy !== 0), []);
});
