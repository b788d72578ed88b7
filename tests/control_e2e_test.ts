/**
 * The control socket of a real `vlab up` process under pressure: more idle connections than the
 * process may open files (the lab runs on, refuses what it cannot take, and answers again once
 * they close), and Ctrl-C while a workload runs (the lab stops promptly and the workload's
 * client gets what it measured so far). Every test uses its own state folder (VLAB_STATE_DIR).
 *
 * The child process, its pipes and the sockets outlive a single tick of the event loop, so the
 * resource and op sanitizers are off; a child still alive at the end is killed in `finally`.
 */

import assert from "node:assert/strict";
import { within } from "../lab/testing.ts";
import { vlabChildEnv, vlabRunArgs } from "../cli/deno_run.ts";

const decoder = new TextDecoder();

interface Child {
  stateDir: string;
  socket: string;
  exited: () => boolean;
  status: Promise<Deno.CommandStatus>;
  output: () => string;
  kill: (signal: Deno.Signal) => void;
}

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000) {
  const deadline = performance.now() + ms;
  while (!(await ok())) {
    assert.ok(performance.now() < deadline, `timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `vlab up pair` in the foreground, its open-file limit set to `nofile` by the shell first. */
async function withLab(nofile: number, body: (lab: Child) => Promise<void>): Promise<void> {
  const stateDir = await Deno.makeTempDir({ prefix: "vlab-control-e2e-" });
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      `ulimit -n ${nofile} && exec "$0" "$@"`,
      Deno.execPath(),
      ...vlabRunArgs(["up", "pair"]),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: stateDir }),
  }).spawn();
  let text = "";
  let exited = false;
  const pipes = [child.stdout, child.stderr].map(async (s) => {
    for await (const chunk of s) text += decoder.decode(chunk, { stream: true });
  });
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const lab: Child = {
    stateDir,
    socket: `${stateDir}/pair/control.sock`,
    exited: () => exited,
    status,
    output: () => text,
    kill: (signal) => child.kill(signal),
  };
  try {
    await waitFor('"up in"', () => /up in/.test(text) || exited);
    assert.ok(!exited, `vlab up exited early:\n${text}`);
    await body(lab);
  } finally {
    if (!exited) {
      child.kill("SIGKILL");
      await status;
    }
    await Promise.all(pipes).catch(() => {});
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
}

/** One request on a fresh client; null when the socket refuses it. */
/** The datagrams VM `vm`'s guest stack took in (`/metrics`; its workers publish every ~100 ms). */
async function udpIn(lab: Child, vm: string): Promise<number> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: lab.socket } });
  try {
    const text = await (await fetch("http://vlab/metrics", { client })).text();
    const m = new RegExp(`^vlab_guest_stack_udp_in_total\\{[^}]*vm="${vm}"[^}]*\\} (\\d+)$`, "m")
      .exec(text);
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  } finally {
    client.close();
  }
}

async function call(
  socket: string,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: unknown } | null> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  try {
    const res = await fetch(`http://vlab${path}`, { ...init, client });
    return { status: res.status, body: await res.json() };
  } catch {
    return null;
  } finally {
    client.close();
  }
}

Deno.test({
  name: "more idle control connections than the open-file limit do not kill the lab",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withLab(256, async (lab) => {
      const conns: Deno.UnixConn[] = [];
      try {
        for (let i = 0; i < 400; i++) {
          try {
            conns.push(await Deno.connect({ transport: "unix", path: lab.socket }));
          } catch {
            break; // refused: the lab is out of descriptors and stopped accepting
          }
        }
        // Give the lab a request it must accept, so that it meets the limit for sure.
        assert.equal(await call(lab.socket, "/lab"), null, `${conns.length} connections held`);
        assert.ok(!lab.exited(), `the lab died:\n${lab.output()}`);
      } finally {
        for (const c of conns) c.close();
      }
      // Once the connections are gone, the lab answers again.
      await waitFor("the lab to answer again", async () => {
        assert.ok(!lab.exited(), `the lab died:\n${lab.output()}`);
        return (await call(lab.socket, "/lab"))?.status === 200;
      }, 10_000);
      const events = await call(lab.socket, "/events");
      const kinds = (events?.body as { kind: string }[]).map((e) => e.kind);
      assert.ok(kinds.includes("control-socket-failed"), kinds.join(", "));
      lab.kill("SIGINT");
      const s = await within(10_000, "stopping vlab up", lab.status);
      assert.equal(s.code, 0, lab.output());
      assert.doesNotMatch(lab.output(), /Uncaught|Too many open files/);
    }),
});

Deno.test({
  name: "Ctrl-C on vlab up with a sink running stops within seconds and answers the sink",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withLab(4096, async (lab) => {
      const exec = (vm: string, argv: string[]) =>
        call(lab.socket, "/exec", { method: "POST", body: JSON.stringify({ vm, argv }) });
      const sink = exec("b", ["sink", "-t", "0"]);
      // A request to b's guest after the sink's: once it is answered, the sink is bound.
      assert.equal((await call(lab.socket, "/vms/b"))?.status, 200);
      const flood = await exec("a", ["udp-flood", "10.0.0.2", "-n", "50", "-r", "10000"]);
      assert.equal(flood?.status, 200, JSON.stringify(flood?.body));
      // The flood's answer means its datagrams are queued, not delivered: wait until b's stack
      // took them (its published counters), or a loaded machine's Ctrl-C cuts them off in flight.
      await waitFor(
        "b's guest to take the 50 datagrams",
        async () => (await udpIn(lab, "b")) >= 50,
      );
      const t0 = performance.now();
      lab.kill("SIGINT");
      const s = await within(10_000, "stopping vlab up", lab.status);
      const ms = performance.now() - t0;
      assert.equal(s.code, 0, lab.output());
      assert.ok(ms < 8000, `vlab up took ${Math.round(ms)} ms to stop`);
      const answer = await within(2000, "the sink's answer", sink);
      assert.equal(answer?.status, 200, JSON.stringify(answer?.body));
      const result = (answer!.body as { result: { kind: string; received: number } }).result;
      assert.equal(result.kind, "sink");
      assert.equal(result.received, 50);
      assert.doesNotMatch(lab.output(), /request\.signal/);
    }),
});
