import assert from "node:assert/strict";
import { bindOwnerOnly, listenOwnerOnly, removeLeftover, TEMP_FOLDER } from "./unix_socket.ts";
import { watchSocketModes } from "./unix_socket_testing.ts";

/** A fresh folder other users may search (0755), as a state folder some users set may be. */
function openFolder(): string {
  const dir = Deno.makeTempDirSync({ prefix: "vlab-unix-" });
  Deno.chmodSync(dir, 0o755);
  return dir;
}

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("a socket put at its path is never reachable by another user, and is 0600 there", async () => {
  const dir = openFolder();
  const path = `${dir}/vsock.sock`;
  Deno.writeTextFileSync(path, "stale"); // replaced in one step, not removed first
  try {
    const { value, exposures } = await watchSocketModes([path], () => listenOwnerOnly(path));
    assert.deepEqual(exposures, []);
    const { listener, file } = value;
    const info = Deno.lstatSync(path);
    assert.ok(info.isSocket);
    assert.equal(info.mode! & 0o777, 0o600);
    assert.deepEqual(names(dir), ["vsock.sock"], "no temporary folder left");
    const c = await Deno.connect({ transport: "unix", path });
    c.close();
    listener.close();
    assert.ok(file.isHere(), "the listener's own unlink hit its temporary path, not this one");
    file.remove();
    assert.deepEqual(names(dir), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a socket's end after its successor took the path leaves the successor's file", () => {
  const dir = openFolder();
  const path = `${dir}/control.sock`;
  try {
    const old = listenOwnerOnly(path);
    const next = listenOwnerOnly(path);
    old.listener.close();
    old.file.remove();
    assert.equal(old.file.isHere(), false);
    assert.ok(next.file.isHere());
    next.listener.close();
    next.file.remove();
    assert.deepEqual(names(dir), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a step that fails leaves nothing behind and stops what was bound", () => {
  const dir = openFolder();
  const path = `${dir}/vsock.sock`;
  try {
    // Nothing can be bound: the error is the caller's, with no temporary folder left.
    assert.throws(() =>
      bindOwnerOnly(path, () => {
        throw new Error("no bind");
      }, () => {}), /no bind/);
    assert.deepEqual(names(dir), []);
    // A folder that is not empty at the path: the rename fails, the listener is closed.
    Deno.mkdirSync(`${path}/x`, { recursive: true });
    let closed = 0;
    assert.throws(() =>
      bindOwnerOnly(
        path,
        (at) => Deno.listen({ transport: "unix", path: at }),
        (l) => {
          closed++;
          l.close();
        },
      )
    );
    assert.equal(closed, 1);
    assert.deepEqual(names(dir), ["vsock.sock"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("removeLeftover removes a temporary folder holding at most its socket, nothing else", () => {
  const dir = openFolder();
  const listeners: Deno.UnixListener[] = [];
  try {
    const socketIn = (folder: string) => {
      Deno.mkdirSync(folder);
      listeners.push(Deno.listen({ transport: "unix", path: `${folder}/s` }));
    };
    socketIn(`${dir}/.vsa1b2c`); // killed between bind and rename
    Deno.mkdirSync(`${dir}/.vs00000`); // killed between mkdir and bind
    assert.equal(removeLeftover(`${dir}/.vsa1b2c`), true);
    assert.equal(removeLeftover(`${dir}/.vs00000`), true);
    // Look-alikes are someone else's: another name, a file in it, a regular file `s`, a link.
    socketIn(`${dir}/.vsA1B2C`);
    socketIn(`${dir}/.vs-a1b2c3`);
    socketIn(`${dir}/.vsq1q2q`);
    Deno.writeTextFileSync(`${dir}/.vsq1q2q/notes`, "mine");
    Deno.mkdirSync(`${dir}/.vsr1r2r`);
    Deno.writeTextFileSync(`${dir}/.vsr1r2r/s`, "mine");
    Deno.mkdirSync(`${dir}/real`);
    Deno.symlinkSync(`${dir}/real`, `${dir}/.vst1t2t`);
    Deno.writeTextFileSync(`${dir}/.vsu1u2u`, "");
    const kept = [".vsA1B2C", ".vs-a1b2c3", ".vsq1q2q", ".vsr1r2r", ".vst1t2t", ".vsu1u2u"];
    for (const name of kept) assert.equal(removeLeftover(`${dir}/${name}`), false, name);
    assert.deepEqual(names(dir), [...kept, "real"].sort());
    assert.ok(TEMP_FOLDER.test(".vsa1b2c") && !TEMP_FOLDER.test(".vsa1b2c3"));
  } finally {
    for (const l of listeners) l.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
