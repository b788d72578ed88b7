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

Deno.test("lowerPriority lowers every thread of the process, not only its main thread", async () => {
  // In a process of its own: a nice value never goes back up without privileges.
  const script = `
    import { lowerPriority } from ${
    JSON.stringify(new URL("./dashboard_command.ts", import.meta.url).href)
  };
    await lowerPriority();
    const nice = [...Deno.readDirSync("/proc/self/task")].map((t) =>
      Number(Deno.readTextFileSync("/proc/self/task/" + t.name + "/stat").replace(/^.*\\) /, "").split(" ")[16])
    );
    console.log(JSON.stringify(nice));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    env: { VLAB_DASHBOARD_NICE: "7" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const nice: number[] = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.ok(nice.length > 1, `threads: ${nice}`);
  assert.deepEqual(nice.filter((n) => n !== 7), [], `nice of each thread: ${nice}`);
});
