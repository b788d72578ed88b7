import assert from "node:assert/strict";
import { serveResilient } from "./control_listener.ts";
import { watchSocketModes } from "./host/unix_socket_testing.ts";

function serve(path: string) {
  return serveResilient(() => new Response("ok"), {
    path,
    onError: () => new Response("bug", { status: 500 }),
    onTrouble: () => {},
  });
}

Deno.test("the control socket is never at control.sock, nor reachable by others, with a mode other than 0600", async () => {
  // Bound at its path and then made 0600, it took the umask's mode for a moment (0777 under
  // umask 0): another user could connect, in a folder they may search.
  const dir = Deno.makeTempDirSync({ prefix: "vlab-control-" });
  Deno.chmodSync(dir, 0o755);
  const path = `${dir}/control.sock`;
  Deno.writeTextFileSync(path, ""); // a stale file, replaced
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
  const { value: server, exposures } = await watchSocketModes([path], () => serve(path));
  try {
    assert.deepEqual(exposures, []);
    const info = Deno.lstatSync(path);
    assert.ok(info.isSocket);
    assert.equal(info.mode! & 0o777, 0o600);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["control.sock"]);
    const res = await fetch("http://vlab/", { client });
    assert.equal(await res.text(), "ok");
  } finally {
    client.close();
    await server.shutdown();
  }
  try {
    assert.deepEqual([...Deno.readDirSync(dir)], [], "its shutdown removes its socket");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
