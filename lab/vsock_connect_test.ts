import assert from "node:assert/strict";
import { LabError } from "./errors.ts";
import { LabVsockConn, vmNotServing, vsockConnect } from "./vsock_connect.ts";

Deno.test("vsockConnect to a VM that crashed and is rebooting says so, before any socket (it read as refused or as a socket that cannot be opened)", async () => {
  // No socket at this path: a connect that tried it would be control-error.
  const path = `${Deno.makeTempDirSync()}/a/vsock.sock`;
  const e = await vsockConnect(path, { vm: "a", port: 7, state: "restarting" }).then(
    () => assert.fail("connected"),
    (e) => e,
  );
  assert.ok(e instanceof LabError);
  assert.equal(e.code, "workload-failed");
  assert.equal(e.message, 'Cannot connect to vsock port 7 of VM "a": it crashed and is rebooting');
  assert.match(e.hint, /^Wait until `vlab status` shows it running/);
  const failed = await vsockConnect(path, { vm: "a", port: 7, state: "failed" }).catch((e) => e);
  // It said "it is failed", and to see a status that did not say why.
  assert.equal(failed.message, 'Cannot connect to vsock port 7 of VM "a": it has failed');
  assert.match(failed.hint, /^`vlab status` says why; a failed VM does not run again/);
});

Deno.test("vmNotServing: null for a running VM; a running VM's connect goes on to its socket", async () => {
  assert.equal(vmNotServing("a", 7, "running"), null);
  const path = `${Deno.makeTempDirSync()}/a/vsock.sock`;
  const e = await vsockConnect(path, { vm: "a", port: 7, state: "running" }).catch((e) => e);
  assert.equal(e.code, "control-error");
  // One sentence, without Deno's "No such file or directory (os error 2)" after the path.
  assert.equal(
    e.message,
    `Cannot connect to vsock port 7 of VM "a": its socket ${JSON.stringify(path)} is gone`,
  );
  assert.match(e.hint, /^Check with `vlab status` that the lab and the VM run/);
});

Deno.test("vsockConnect to a socket file nobody serves says so in one line", async () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/vsock.sock`;
  try {
    // A process that listened and ended without closing: the file stays, nobody listens.
    const made = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} }); Deno.exit(0)`,
      ],
    }).output();
    assert.ok(made.success && Deno.statSync(path).isSocket);
    const e = await vsockConnect(path, { vm: "a", port: 7 }).catch((e) => e);
    assert.ok(e instanceof LabError);
    assert.match(e.message, /: its socket ".*" takes no connection \(nothing serves it\)$/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/**
 * A socket whose reads give `chunks` (bytes already in it) and then its end, at once or once
 * `end` resolves; `reads` counts the reads asked of it.
 */
function socketWith(chunks: Uint8Array[], end?: Promise<void>) {
  let reads = 0;
  const conn = {
    read: async (p: Uint8Array) => {
      const i = reads++;
      if (i >= chunks.length) {
        await end;
        return null;
      }
      p.set(chunks[i]);
      return chunks[i].length;
    },
    close: () => {},
    ref: () => {},
    unref: () => {},
  } as unknown as Deno.UnixConn;
  return { conn, reads: () => reads };
}

/** Let every settled read run its continuations (the socket's reads resolve in microtasks). */
const aTurn = () => new Promise((r) => setTimeout(r, 0));

const HI = new TextEncoder().encode("hi");

Deno.test("LabVsockConn: a guest's close that came before the lab's stop reads as the end after its bytes; one that came after throws no-lab", async () => {
  const cut = () => new LabError("no-lab", "cut short", "hint");
  let stopped = false;
  const o = { stopped: () => stopped, cut };
  // The guest sent "hi" and closed; the lab stopped before the script read any of it.
  const conn = new LabVsockConn(socketWith([HI]).conn, o);
  const streamed = new LabVsockConn(socketWith([HI]).conn, o);
  await aTurn();
  stopped = true;
  const buf = new Uint8Array(1);
  assert.equal(await conn.read(buf), 1);
  assert.equal(await conn.read(buf), 1);
  assert.equal(new TextDecoder().decode(buf), "i");
  assert.equal(await conn.read(buf), null);
  assert.equal(await conn.read(buf), null);
  // Through readable too.
  let got = 0;
  for await (const chunk of streamed.readable) got += chunk.length;
  assert.equal(got, 2);

  // The lab stopped first: the end that follows is its cut, after the bytes that came before.
  stopped = false;
  const { promise: ended, resolve: endNow } = Promise.withResolvers<void>();
  const late = new LabVsockConn(socketWith([HI], ended).conn, o);
  assert.equal(await late.read(new Uint8Array(8)), 2);
  stopped = true;
  endNow();
  await assert.rejects(
    late.read(new Uint8Array(8)),
    (e) => e instanceof LabError && e.code === "no-lab",
  );
});

Deno.test("LabVsockConn reads at most 64 KiB ahead of the script: the rest waits in the socket", async () => {
  const chunk = new Uint8Array(40 * 1024);
  const socket = socketWith([chunk, chunk, chunk, chunk]);
  const conn = new LabVsockConn(socket.conn, { stopped: () => false, cut: () => assert.fail() });
  await aTurn();
  assert.equal(socket.reads(), 2);
  let got = 0;
  for await (const c of conn.readable) got += c.length;
  assert.equal(got, 4 * chunk.length);
});

Deno.test("LabVsockConn: a script's read that waits keeps its process, the read ahead alone does not", async () => {
  // The read ahead's pending read of the socket kept a script that was done with a stream the
  // guest left open from exiting, until the guest closed it or the lab stopped.
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/vsock.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  try {
    const module = new URL("./vsock_connect.ts", import.meta.url).href;
    // Reads once (its bytes come 100 ms later), then ends with the stream open.
    const script = `import { LabVsockConn } from ${JSON.stringify(module)};
      const c = new LabVsockConn(await Deno.connect({ transport: "unix", path: ${
      JSON.stringify(path)
    } }), { stopped: () => false, cut: () => new Error("cut") });
      const buf = new Uint8Array(8);
      console.log(new TextDecoder().decode(buf.subarray(0, (await c.read(buf)) ?? 0)));`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-check", script],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const peer = await listener.accept();
    try {
      await new Promise((r) => setTimeout(r, 100));
      await peer.write(HI);
      const killer = setTimeout(() => child.kill(), 5000);
      const out = await child.output();
      clearTimeout(killer);
      assert.equal(new TextDecoder().decode(out.stderr), "");
      assert.equal(out.code, 0, "the script ended by itself");
      assert.equal(new TextDecoder().decode(out.stdout), "hi\n");
    } finally {
      peer.close();
    }
  } finally {
    listener.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
