/**
 * `vlab vsock` listens for Ctrl-C and SIGTERM from its start: a SIGTERM while it asks the lab
 * about the VM, or while its connection is being opened (after the socket's connect, before the
 * guest's `OK`), ends it with 130 as one while connected does. It listened only once connected:
 * those ended it with 143, unannounced. The lab here is a fake one this test holds (its folder,
 * its lock, a control socket answering `GET /lab`, and a's `vsock.sock`), so that each signal
 * arrives at a known step.
 */

import assert from "node:assert/strict";
import { inStateDir } from "../lab/testing.ts";
import { VSOCK_SOCKET } from "../lab/state.ts";
import { holdFakeLab } from "../lab/fake_lab_testing.ts";
import { vlabChildEnv, vlabRunArgs } from "./deno_run.ts";

/** The status `vlab vsock` reads: VM a, running, with a vsock device. */
const STATUS = {
  vms: [{ name: "a", state: "running", devices: [{ kind: "virtio-vsock", detail: "cid 3" }] }],
};

/** Resolves when `text` has come on `conn` (null: it ended first). */
async function readUntil(conn: Deno.Conn, text: string): Promise<string | null> {
  const buf = new Uint8Array(64);
  let got = "";
  while (!got.includes(text)) {
    const n = await conn.read(buf);
    if (n === null) return null;
    got += new TextDecoder().decode(buf.subarray(0, n));
  }
  return got;
}

/** Start `vlab vsock a 7` in the state folder `dir`, stdin held open. */
function vsockClient(dir: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: vlabRunArgs(["vsock", "a", "7"]),
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
    env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: dir }),
  }).spawn();
}

/**
 * `step`'s value once it comes, or fail if `child` ends first (it never reached the step: its
 * error is in the message), or after 20 s: every wait of this test is bounded.
 */
async function before<T>(child: Deno.ChildProcess, step: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), 20_000));
  const ended = child.status.then(() => "ended" as const);
  const value = step.then((v) => ({ v }));
  value.catch(() => {}); // a step given up (the listener closed in the end) rejects unheard
  const r = await Promise.race([value, ended, late]);
  clearTimeout(timer);
  if (typeof r === "object") return r.v;
  if (r === "late") child.kill("SIGKILL");
  await child.status;
  const stderr = new TextDecoder().decode((await child.stderr.getReader().read()).value);
  await child.stdin.close().catch(() => {});
  return assert.fail(`vlab vsock ${r} before ${what}: ${stderr}`);
}

/** Its exit code, or SIGKILL and fail after 20 s (a client that never ends). */
async function endOf(child: Deno.ChildProcess, what: string): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((r) => timer = setTimeout(() => r(null), 20_000));
  const status = await Promise.race([child.status, late]);
  clearTimeout(timer);
  const stderr = new TextDecoder().decode((await child.stderr.getReader().read()).value);
  if (status === null) {
    child.kill("SIGKILL");
    await child.status;
    assert.fail(`${what}: vlab vsock did not end within 20 s`);
  }
  await child.stdin.close().catch(() => {});
  assert.equal(status.code, 130, `${what}: ${stderr}`);
  return status.code;
}

Deno.test({
  name: "vlab vsock ends with 130 on a SIGTERM while it asks the lab or opens its connection",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir("vlab-vsock-int-", async (root) => {
      // GET /lab answers at once, or (holdStatus) once the client was signalled.
      let asked: () => void = () => {};
      let holdStatus: Promise<void> | null = null;
      const lab = holdFakeLab("fake", {
        vms: 1,
        serve: async (req) => {
          if (new URL(req.url).pathname !== "/lab") return new Response("{}", { status: 404 });
          asked();
          if (holdStatus !== null) await holdStatus;
          return Response.json(STATUS);
        },
      });
      const paths = lab.paths;
      // Released in the end whatever happened: the server's shutdown waits for a held answer.
      let release: () => void = () => {};
      Deno.mkdirSync(`${paths.dir}/a`);
      const vsock = Deno.listen({ transport: "unix", path: `${paths.dir}/a/${VSOCK_SOCKET}` });
      try {
        // 1. SIGTERM while the lab is asked about the VM.
        holdStatus = new Promise((r) => release = r);
        const seen = new Promise<void>((r) => asked = r);
        const first = vsockClient(root);
        await before(first, seen, "asking the lab");
        first.kill("SIGTERM");
        await endOf(first, "SIGTERM while asking the lab");
        release();
        holdStatus = null;
        // 2. SIGTERM after the connect, while the CONNECT line waits for the guest's OK.
        const second = vsockClient(root);
        const conn = await before(second, vsock.accept(), "connecting");
        const line = await before(second, readUntil(conn, "CONNECT 7\n"), "the CONNECT line");
        assert.notEqual(line, null, "the CONNECT line");
        second.kill("SIGTERM");
        await endOf(second, "SIGTERM while connecting");
        // Nothing left behind: the connection being opened is closed (the child has ended).
        assert.equal(await readUntil(conn, "never"), null);
        conn.close();
      } finally {
        release();
        vsock.close();
        await lab.close();
      }
    }),
});
