/**
 * `vlab vsock VM PORT` against a real `vlab up vsock-pair` process: stdin goes to the guest's
 * vsock-echo and its answer comes back on stdout; a port nobody listens on, an unknown VM and a
 * bad port fail with one clear line. Uses its own state folder (VLAB_STATE_DIR).
 */

import assert from "node:assert/strict";
import { vlabChildEnv, vlabRunArgs } from "../cli/deno_run.ts";
import { runVlab, withLab } from "./run.ts";
import { twoAtOnce } from "./two_at_once.ts";

const decoder = new TextDecoder();

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000) {
  const deadline = performance.now() + ms;
  while (!(await ok())) {
    assert.ok(performance.now() < deadline, `timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Run `vlab ARGS` with `input` on stdin, to its end. */
const vlab = (env: Record<string, string>, args: string[], input = "") =>
  runVlab(args, { env, stdin: input });

Deno.test({
  name: "vlab vsock a 7 bridges stdin and stdout to a's vsock-echo; refusals are one line",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-vsock-cli-" });
    const env = { NO_COLOR: "1", VLAB_STATE_DIR: stateDir };
    const up = new Deno.Command(Deno.execPath(), {
      args: vlabRunArgs(["up", "vsock-pair"]),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: vlabChildEnv(env),
    }).spawn();
    let text = "";
    let exited = false;
    const pipes = [up.stdout, up.stderr].map(async (s) => {
      for await (const chunk of s) text += decoder.decode(chunk, { stream: true });
    });
    const status = up.status.then((s) => (exited = true, s));
    try {
      await waitFor('"up in"', () => /up in/.test(text) || exited);
      assert.ok(!exited, `vlab up exited early:\n${text}`);
      // Before the echo starts (port 7 refuses), with the unknown VM and the bad port: two at once.
      const [refused, unknown, bad] = await twoAtOnce([
        { args: ["vsock", "a", "7"], input: "x" },
        { args: ["vsock", "zz", "7"], input: "" },
        { args: ["vsock", "a", "70000000000"], input: "" },
      ], ({ args, input }) => vlab(env, args, input));
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /Cannot connect to vsock port 7 of VM "a": refused/);
      // Longer than the test: `vlab down` below ends it. With -t 8, the eight `vlab` commands
      // that need it (each a Deno process) had to fit in 8 s, which a loaded machine can miss.
      const echo = vlab(env, ["exec", "a", "--", "vsock-echo", "-p", "7", "-t", "60"]);
      let got = "";
      await waitFor("an answer from a's vsock-echo", async () => {
        const r = await vlab(env, ["vsock", "a", "7"], "hello vsock\n");
        got = r.stdout;
        return r.code === 0;
      }, 15_000);
      assert.equal(got, "hello vsock\n");
      // Ctrl-C or SIGTERM while connected close it and exit 130 (SIGTERM ended it with 143).
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        const client = new Deno.Command(Deno.execPath(), {
          args: vlabRunArgs(["vsock", "a", "7"]),
          stdin: "piped",
          stdout: "piped",
          stderr: "null",
          env: vlabChildEnv(env),
        }).spawn();
        const writer = client.stdin.getWriter();
        await writer.write(new TextEncoder().encode("x"));
        const reader = client.stdout.getReader();
        const echoed = await reader.read(); // connected: the echo came back
        assert.equal(decoder.decode(echoed.value), "x", signal);
        client.kill(signal);
        const ended = await client.status;
        reader.releaseLock();
        await client.stdout.cancel();
        await writer.close().catch(() => {});
        assert.equal(ended.code, 130, signal);
      }
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /Cannot connect to VM "zz": no such VM/);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /Cannot use "70000000000" as a vsock port/);
      await vlab(env, ["down"]);
      await echo;
      await status;
      // The lab's folder, with each VM's vsock.sock and its folder, is gone.
      assert.throws(() => Deno.statSync(`${stateDir}/vsock-pair`), Deno.errors.NotFound);
    } finally {
      if (!exited) {
        up.kill("SIGKILL");
        await status;
      }
      await Promise.all(pipes).catch(() => {});
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});

/** Start `vlab vsock a 7` with stdin held open, and wait until a's vsock-echo answered it. */
async function connected(
  stateDir: string,
): Promise<{ child: Deno.ChildProcess; stderr: Promise<string> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: vlabRunArgs(["vsock", "a", "7"]),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: stateDir }),
  }).spawn();
  const stderr = new Response(child.stderr).text();
  await child.stdin.getWriter().write(new TextEncoder().encode("x"));
  const reader = child.stdout.getReader();
  const echoed = await reader.read();
  assert.equal(
    decoder.decode(echoed.value),
    "x",
    await Promise.race([stderr, Promise.resolve("")]),
  );
  reader.releaseLock();
  void child.stdout.cancel();
  return { child, stderr };
}

Deno.test({
  name: "vlab vsock fails with one line when the VM or its device worker crashes or the lab " +
    "stops under it (it said 0)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withLab("vsock-pair", async (vlab, stateDir) => {
      const listening = () =>
        waitFor("a's vsock-echo listening", async () =>
          (await vlab("vsock", "a", "7")).code === 0, 15_000);
      const echo = vlab("exec", "a", "--", "vsock-echo", "-p", "7");
      await listening();
      const crashed = await connected(stateDir);
      assert.equal((await vlab("fault", "vm-crash", "a")).code, 0);
      assert.equal((await crashed.child.status).code, 1);
      assert.match(
        await crashed.stderr,
        /^vlab: The connection to vsock port 7 of VM "a" was cut: the VM crashed and rebooted\nhint: /,
      );
      await echo;
      await waitFor("a running again", async () =>
        /\na +running/.test((await vlab("status")).stdout));
      const again = vlab("exec", "a", "--", "vsock-echo", "-p", "7");
      await listening();
      // The host's end of the connection lives in the device worker: its crash cut it (exit 0).
      const backend = await connected(stateDir);
      assert.equal((await vlab("fault", "backend-crash", "a")).code, 0);
      assert.equal((await backend.child.status).code, 1);
      assert.match(
        await backend.stderr,
        /^vlab: The connection to vsock port 7 of VM "a" was cut: the VM's device worker crashed and was replaced\nhint: /,
      );
      await waitFor("a running again", async () =>
        /\na +running/.test((await vlab("status")).stdout));
      await listening();
      const stopped = await connected(stateDir);
      assert.equal((await vlab("down")).code, 0);
      assert.equal((await stopped.child.status).code, 1);
      assert.equal(
        await stopped.stderr,
        'vlab: The connection to vsock port 7 of VM "a" was cut: lab "vsock-pair" stopped\n' +
          "hint: What the guest sent is printed above; start the lab again with `vlab up vsock-pair`\n",
      );
      await again;
    }),
});
