import assert from "node:assert/strict";
import { processState, stateOfStat } from "./proc.ts";
import { pathExists } from "./testing.ts";
import { LabError } from "./errors.ts";
import {
  createLabDir,
  findLabs,
  labDir,
  type LabDirHold,
  labPaths,
  type LabRecord,
  readRecord,
  stateRoot,
  writeRecord,
} from "./state.ts";

/** Run `fn` with `VLAB_STATE_DIR` at a fresh (not yet created) folder; restore it after. */
async function withStateDir(fn: (root: string) => void | Promise<void>): Promise<void> {
  const tmp = Deno.makeTempDirSync({ prefix: "vlab-state-" });
  const before = Deno.env.get("VLAB_STATE_DIR");
  const root = `${tmp}/root`;
  Deno.env.set("VLAB_STATE_DIR", root);
  try {
    await fn(root);
  } finally {
    if (before === undefined) Deno.env.delete("VLAB_STATE_DIR");
    else Deno.env.set("VLAB_STATE_DIR", before);
    Deno.removeSync(tmp, { recursive: true });
  }
}

/** The pid of a child that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true", { stdin: "null", stdout: "null", stderr: "null" }).spawn();
  const status = await child.status;
  assert.equal(status.success, true);
  return child.pid;
}

function record(name: string, pid: number, extra: Partial<LabRecord> = {}): LabRecord {
  return {
    name,
    pid,
    socket: labPaths(name).socket,
    source: "topologies/pair.yaml",
    startedAt: "2024-01-02T03:04:05.000Z",
    vms: 2,
    ...extra,
  };
}

/** A live lab as `vlab up` leaves it: its folder, held by this process, and its record. */
function liveLab(name: string, pid = Deno.pid): { hold: LabDirHold; record: LabRecord } {
  const hold = createLabDir(name);
  const r = record(name, pid);
  writeRecord(r);
  return { hold, record: r };
}

/**
 * The folder a lab leaves when its process dies (a crash, `kill -9`): marker, record, lock
 * released. Made by a child process that takes the lock and exits.
 */
async function deadLab(name: string, options: { record: boolean } = { record: true }) {
  const p = labPaths(name);
  const code = `
    Deno.mkdirSync(${JSON.stringify(stateRoot())}, { recursive: true, mode: 0o700 });
    const { createLabDir, writeRecord } = await import(${
    JSON.stringify(new URL("./state.ts", import.meta.url).href)
  });
    createLabDir(${JSON.stringify(name)});
    if (${options.record}) writeRecord(${JSON.stringify(record(name, 0))});
    Deno.exit(0); // without release: the kernel drops the lock, the files stay
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    env: { VLAB_STATE_DIR: stateRoot() },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(pathExists(p.marker), true);
  return p;
}

/** The state letter in `/proc/PID/stat`, read by `cat` (Deno reads `/proc` only with -A). */
function stateLetter(pid: number): string {
  const out = new Deno.Command("cat", { args: [`/proc/${pid}/stat`] }).outputSync();
  assert.equal(out.code, 0, `no /proc/${pid}/stat`);
  const stat = new TextDecoder().decode(out.stdout);
  return stat.slice(stat.lastIndexOf(")") + 2)[0];
}

Deno.test("paths follow VLAB_STATE_DIR", async () => {
  await withStateDir((root) => {
    assert.equal(stateRoot(), root);
    assert.equal(labDir("pair"), `${root}/pair`);
    assert.deepEqual(labPaths("pair"), {
      dir: `${root}/pair`,
      record: `${root}/pair/lab.json`,
      socket: `${root}/pair/control.sock`,
      marker: `${root}/pair/vlab.lock`,
    });
  });
});

Deno.test("a relative VLAB_STATE_DIR is taken from the current folder: paths are absolute", () => {
  const before = Deno.env.get("VLAB_STATE_DIR");
  Deno.env.set("VLAB_STATE_DIR", "rel/state");
  try {
    assert.equal(stateRoot(), `${Deno.cwd()}/rel/state`);
    assert.equal(labPaths("pair").socket, `${Deno.cwd()}/rel/state/pair/control.sock`);
  } finally {
    if (before === undefined) Deno.env.delete("VLAB_STATE_DIR");
    else Deno.env.set("VLAB_STATE_DIR", before);
  }
});

Deno.test("a VLAB_STATE_DIR or XDG_RUNTIME_DIR with a trailing or double slash gives plain paths", () => {
  const saved = ["VLAB_STATE_DIR", "XDG_RUNTIME_DIR"].map((k) => [k, Deno.env.get(k)] as const);
  try {
    // `vlab ls` showed /tmp/x//pair/control.sock.
    Deno.env.set("VLAB_STATE_DIR", "/tmp//x/");
    assert.equal(stateRoot(), "/tmp/x");
    assert.equal(labPaths("pair").socket, "/tmp/x/pair/control.sock");
    Deno.env.delete("VLAB_STATE_DIR");
    Deno.env.set("XDG_RUNTIME_DIR", "/run/user/1000/");
    assert.equal(stateRoot(), "/run/user/1000/vlab");
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
});

Deno.test("a blank VLAB_STATE_DIR is unset; a blank or relative XDG_RUNTIME_DIR is ignored", () => {
  const saved = ["VLAB_STATE_DIR", "XDG_RUNTIME_DIR"].map((k) => [k, Deno.env.get(k)] as const);
  const fallback = `/tmp/vlab-${Deno.uid() ?? "user"}`;
  try {
    // `VLAB_STATE_DIR=" "` made a folder named " " in the current folder.
    Deno.env.set("XDG_RUNTIME_DIR", "/run/user/1000");
    for (const blank of [" ", "\t", "  \n"]) {
      Deno.env.set("VLAB_STATE_DIR", blank);
      assert.equal(stateRoot(), "/run/user/1000/vlab", JSON.stringify(blank));
    }
    // The XDG spec has a relative XDG_RUNTIME_DIR ignored: it made "run/vlab" in the current folder.
    for (const bad of [" ", "run", "./x"]) {
      Deno.env.set("XDG_RUNTIME_DIR", bad);
      assert.equal(stateRoot(), fallback, JSON.stringify(bad));
    }
    Deno.env.set("XDG_RUNTIME_DIR", "/");
    assert.equal(stateRoot(), "/vlab");
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
});

Deno.test("createLabDir makes the root and the lab folder with mode 0700, once", async () => {
  await withStateDir((root) => {
    const pair = createLabDir("pair");
    assert.equal(Deno.statSync(root).mode! & 0o777, 0o700);
    assert.equal(Deno.statSync(`${root}/pair`).mode! & 0o777, 0o700);
    assert.equal(Deno.statSync(`${root}/pair`).isDirectory, true);
    assert.throws(() => createLabDir("pair"), /lab "pair" is starting/);
    const star = createLabDir("star"); // a second lab beside it
    assert.equal(Deno.statSync(`${root}/star`).mode! & 0o777, 0o700);
    pair.release();
    star.release();
    assert.deepEqual([...Deno.readDirSync(root)], []);
  });
});

Deno.test("writeRecord and readRecord round-trip lab.json, leaving no temporary file", async () => {
  await withStateDir((root) => {
    const { hold, record: r } = liveLab("pair", 1234);
    assert.deepEqual(readRecord("pair"), r);
    writeRecord({ ...r, vms: 3 }); // replaces it
    assert.equal(readRecord("pair")?.vms, 3);
    assert.deepEqual([...Deno.readDirSync(`${root}/pair`)].map((e) => e.name).sort(), [
      "lab.json",
      "vlab.lock",
    ]);
    assert.equal(readRecord("nope"), null, "no folder");
    Deno.writeTextFileSync(`${root}/pair/lab.json`, "{ not json");
    assert.equal(readRecord("pair"), null, "unreadable");
    hold.release();
  });
});

Deno.test("release removes the files vlab wrote and the folder, once", async () => {
  await withStateDir((root) => {
    const { hold } = liveLab("pair");
    Deno.writeTextFileSync(`${root}/pair/control.sock`, "");
    hold.release();
    assert.equal(pathExists(`${root}/pair`), false);
    assert.doesNotThrow(() => hold.release());
  });
});

Deno.test("release removes each VM's folder holding only its vsock.sock, keeps host software's files", async () => {
  await withStateDir((root) => {
    const { hold } = liveLab("pair");
    for (const vm of ["a", "b"]) {
      Deno.mkdirSync(`${root}/pair/${vm}`);
      Deno.writeTextFileSync(`${root}/pair/${vm}/vsock.sock`, "");
    }
    Deno.writeTextFileSync(`${root}/pair/b/vsock.sock_6000`, ""); // a host program's listener
    hold.release();
    assert.equal(pathExists(`${root}/pair/a`), false);
    assert.equal(pathExists(`${root}/pair/b/vsock.sock`), false);
    assert.equal(pathExists(`${root}/pair/b/vsock.sock_6000`), true);
  });
});

Deno.test("a lab stopped while host software listens on vsock.sock_PORT starts again in its folder", async () => {
  await withStateDir(async (root) => {
    const { hold } = liveLab("pair");
    Deno.mkdirSync(`${root}/pair/b`);
    Deno.writeTextFileSync(`${root}/pair/b/vsock.sock`, "");
    Deno.writeTextFileSync(`${root}/pair/b/vsock.sock_6000`, ""); // socat UNIX-LISTEN, still there
    hold.release();
    assert.deepEqual(await findLabs({ clean: true }), [], "not a lab any more, and not said so");
    const again = createLabDir("pair"); // was: "… exists and is not a vlab lab folder"
    assert.equal(pathExists(`${root}/pair/vlab.lock`), true);
    assert.equal(pathExists(`${root}/pair/b/vsock.sock_6000`), true, "the listener is kept");
    again.release();
    // The listener gone (socat removes its socket), its empty VM folder does not block either.
    Deno.removeSync(`${root}/pair/b/vsock.sock_6000`);
    createLabDir("pair").release();
    assert.equal(pathExists(`${root}/pair`), false);
  });
});

Deno.test("a dead lab's folder holding host listeners only is cleaned, said once, and started again", async () => {
  await withStateDir(async (root) => {
    const p = await deadLab("pair");
    Deno.mkdirSync(`${p.dir}/a`);
    Deno.writeTextFileSync(`${p.dir}/a/vsock.sock_7`, "");
    assert.deepEqual(await findLabs({ clean: true }), [{
      status: "stale",
      name: "pair",
      reason: "its process 0 is gone",
      kept: ["a/vsock.sock_7"],
    }]);
    assert.deepEqual(await findLabs({ clean: true }), [], "said once");
    createLabDir("pair").release();
    assert.equal(pathExists(`${root}/pair/a/vsock.sock_7`), true);
    // A marker that is not vlab's beside them is not taken for one.
    const forged = `${root}/mesh`;
    Deno.mkdirSync(`${forged}/a`, { recursive: true });
    Deno.writeTextFileSync(`${forged}/a/vsock.sock_7`, "");
    Deno.writeTextFileSync(`${forged}/vlab.lock`, "not the marker\n");
    assert.throws(() => createLabDir("mesh"), /is not a vlab lab folder/);
    assert.equal(Deno.readTextFileSync(`${forged}/vlab.lock`), "not the marker\n");
    // Anything else in a VM's folder is the user's and keeps the folder from being taken.
    Deno.writeTextFileSync(`${root}/pair/a/notes.txt`, "mine");
    assert.throws(() => createLabDir("pair"), /is not a vlab lab folder/);
    assert.equal(Deno.readTextFileSync(`${root}/pair/a/notes.txt`), "mine");
  });
});

Deno.test("processState reads /proc: running, stopped by SIGSTOP, gone", async () => {
  assert.equal(processState(Deno.pid), "running");
  assert.equal(processState(await deadPid()), "gone");
  assert.equal(processState(-1), "gone");
  assert.equal(stateOfStat("42 (a) b) T 1 42"), "stopped");
  assert.equal(stateOfStat("42 (deno) Z 1"), "zombie");
  assert.equal(stateOfStat("garbage"), "unknown");
  const child = new Deno.Command("sleep", { args: ["30"], stdin: "null" }).spawn();
  try {
    child.kill("SIGSTOP");
    const deadline = performance.now() + 5000;
    while (stateLetter(child.pid) !== "T" && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(processState(child.pid), "stopped");
    assert.equal(stateLetter(child.pid), "T", "probing resumed the process");
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});

Deno.test("findLabs finds nothing when the root does not exist", async () => {
  await withStateDir(async (root) => {
    assert.equal(pathExists(root), false);
    assert.deepEqual(await findLabs({ clean: true }), []);
  });
});

Deno.test("a state root under /dev, /proc or /sys is a lab-failed error that says why, not a crash", async () => {
  const before = Deno.env.get("VLAB_STATE_DIR");
  Deno.env.set("VLAB_STATE_DIR", "/dev/shm/vlab-no-such-root");
  try {
    // It threw Deno's NotCapable ("Requires all access to …, run again with the --allow-all
    // flag"), which every command looking for labs printed as an internal error, "a bug in vlab".
    const e = await (async () => await findLabs({ clean: true }))().then(() => null, (e) => e);
    assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
    assert.equal(e.code, "lab-failed");
    assert.equal(
      e.message,
      `Cannot read the state folder "/dev/shm/vlab-no-such-root": vlab may not open files under ` +
        "/dev, /proc or /sys (Deno asks for --allow-all)",
    );
    assert.match(e.hint, /VLAB_STATE_DIR/);
  } finally {
    if (before === undefined) Deno.env.delete("VLAB_STATE_DIR");
    else Deno.env.set("VLAB_STATE_DIR", before);
  }
});

Deno.test("a lab whose process is gone is stale; clean: false keeps it, clean: true removes it", async () => {
  await withStateDir(async (root) => {
    await deadLab("pair");
    const expected = [{ status: "stale", name: "pair", reason: "its process 0 is gone" }];
    assert.deepEqual(await findLabs({ clean: false }), expected);
    assert.equal(pathExists(`${root}/pair`), true);
    assert.deepEqual(await findLabs({ clean: true }), expected);
    assert.equal(pathExists(`${root}/pair`), false);
    assert.deepEqual(await findLabs({ clean: true }), []);
  });
});

Deno.test("a lab whose process lives is never cleaned, even while its socket refuses connections (EAGAIN)", async () => {
  await withStateDir(async (root) => {
    // Each a live lab of this process: no socket, a socket file nobody listens on, and a socket
    // whose backlog is full (connect gets EAGAIN), as under a flood of idle connections.
    const nosocket = liveLab("nosocket");
    const refused = liveLab("refused");
    Deno.writeTextFileSync(refused.record.socket, "");
    const busy = liveLab("busy");
    const listener = Deno.listen({ transport: "unix", path: busy.record.socket });
    const conns: Deno.Conn[] = [];
    let saturated = false;
    try {
      for (let i = 0; i < 5000 && !saturated; i++) {
        try {
          conns.push(await Deno.connect({ transport: "unix", path: busy.record.socket }));
        } catch (e) {
          assert.ok(e instanceof Deno.errors.WouldBlock, `connect failed with ${e}`);
          saturated = true;
        }
      }
      assert.ok(saturated, "the socket's backlog never filled");
      const found = await findLabs({ clean: true });
      assert.deepEqual(found, [
        { status: "running", record: busy.record, process: "running" },
        { status: "running", record: nosocket.record, process: "running" },
        { status: "running", record: refused.record, process: "running" },
      ]);
      for (const name of ["busy", "nosocket", "refused"]) {
        assert.equal(pathExists(`${root}/${name}/lab.json`), true, name);
      }
    } finally {
      for (const c of conns) c.close();
      listener.close();
      for (const l of [nosocket, refused, busy]) l.hold.release();
    }
  });
});

Deno.test("a liveness probe changes nothing: a lab frozen with SIGSTOP stays frozen and is listed as stopped", async () => {
  await withStateDir(async () => {
    const child = new Deno.Command("sleep", { args: ["30"], stdin: "null" }).spawn();
    const lab = liveLab("frozen", child.pid);
    try {
      child.kill("SIGSTOP");
      const deadline = performance.now() + 5000;
      while (stateLetter(child.pid) !== "T" && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(stateLetter(child.pid), "T");
      const found = await findLabs({ clean: true });
      assert.equal(stateLetter(child.pid), "T", "findLabs resumed the frozen process");
      assert.deepEqual(found, [{ status: "running", record: lab.record, process: "stopped" }]);
    } finally {
      lab.hold.release();
      child.kill("SIGKILL");
      await child.status;
    }
  });
});

Deno.test("a folder that is not a lab is never removed, however old", async () => {
  await withStateDir(async (root) => {
    Deno.mkdirSync(`${root}/photos`, { recursive: true });
    Deno.writeTextFileSync(`${root}/photos/cat.jpg`, "meow");
    Deno.mkdirSync(`${root}/empty`);
    // A lab.json alone proves nothing: vlab writes its marker first.
    Deno.mkdirSync(`${root}/lookalike`);
    Deno.writeTextFileSync(`${root}/lookalike/lab.json`, JSON.stringify(record("lookalike", 1)));
    Deno.mkdirSync(`${root}/forged`);
    Deno.writeTextFileSync(`${root}/forged/vlab.lock`, "not the marker\n");
    Deno.writeTextFileSync(`${root}/not-a-lab.txt`, "x");
    // A FIFO where the marker would be: opening it to read would hang.
    Deno.mkdirSync(`${root}/fifo`);
    const mkfifo = new Deno.Command("mkfifo", { args: [`${root}/fifo/vlab.lock`] }).outputSync();
    assert.equal(mkfifo.code, 0, "mkfifo failed");
    const old = new Date(Date.now() - 3600_000);
    for (const d of ["photos", "empty", "lookalike", "forged"]) {
      Deno.utimeSync(`${root}/${d}`, old, old);
    }
    assert.deepEqual(await findLabs({ clean: true }), []);
    assert.equal(Deno.readTextFileSync(`${root}/photos/cat.jpg`), "meow");
    for (const p of ["empty", "lookalike/lab.json", "forged/vlab.lock", "not-a-lab.txt", "fifo"]) {
      assert.equal(pathExists(`${root}/${p}`), true, p);
    }
  });
});

Deno.test("a stale lab loses only the files vlab wrote; a file of the user's keeps the folder", async () => {
  await withStateDir(async (root) => {
    const p = await deadLab("pair");
    Deno.writeTextFileSync(`${p.dir}/cat.jpg`, "meow");
    const found = await findLabs({ clean: true });
    assert.deepEqual(found, [{
      status: "stale",
      name: "pair",
      reason: "its process 0 is gone",
      kept: ["cat.jpg"],
    }]);
    assert.equal(Deno.readTextFileSync(`${root}/pair/cat.jpg`), "meow");
    assert.equal(pathExists(p.record), false);
    assert.throws(() => createLabDir("pair"), /holds files vlab did not write: cat\.jpg/);
  });
});

Deno.test("a socket's temporary folder left by a kill between bind and rename is vlab's, and cleaned", async () => {
  await withStateDir(async (root) => {
    const p = await deadLab("pair");
    Deno.mkdirSync(`${p.dir}/a`);
    // A lab killed (SIGKILL) while it put a socket at each path: the control socket's and a's
    // vsock.sock's temporary folders are left, each holding its bound socket.
    const unixSocket = new URL("./host/unix_socket.ts", import.meta.url).href;
    const code = `
      const { bindOwnerOnly } = await import(${JSON.stringify(unixSocket)});
      const listen = (at) => Deno.listen({ transport: "unix", path: at });
      bindOwnerOnly(${JSON.stringify(`${p.dir}/a/vsock.sock`)}, (at) => {
        const l = listen(at);
        bindOwnerOnly(${JSON.stringify(p.socket)}, (at) => {
          listen(at);
          Deno.kill(Deno.pid, "SIGKILL");
        }, () => {});
        return l;
      }, () => {});
    `;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(out.signal, "SIGKILL", new TextDecoder().decode(out.stderr));
    const left = (dir: string) =>
      [...Deno.readDirSync(dir)].filter((e) => e.name.startsWith(".vs"));
    assert.equal(left(p.dir).length, 1);
    assert.equal(left(`${p.dir}/a`).length, 1);
    // Was: kept, as files vlab did not write (".vsXXXXX/s", "a/.vsXXXXX/s"), and the lab's
    // next start refused.
    assert.deepEqual(await findLabs({ clean: true }), [{
      status: "stale",
      name: "pair",
      reason: "its process 0 is gone",
    }]);
    assert.equal(pathExists(`${root}/pair`), false);
  });
});

Deno.test("a start-up killed before lab.json is stale at once and does not block the next start", async () => {
  await withStateDir(async (root) => {
    await deadLab("pair", { record: false });
    assert.deepEqual(await findLabs({ clean: false }), [
      {
        status: "stale",
        name: "pair",
        reason: "its start-up was interrupted (it has no lab.json)",
      },
    ]);
    const hold = createLabDir("pair"); // no "File exists"
    assert.equal(pathExists(`${root}/pair/vlab.lock`), true);
    hold.release();
    // An empty folder (killed between mkdir and the marker) does not block a start either.
    Deno.mkdirSync(`${root}/star`);
    createLabDir("star").release();
    // Nor does an empty marker alone (killed between creating the marker and writing it); an
    // empty marker beside a file of the user's is not vlab's folder, and is left alone.
    Deno.mkdirSync(`${root}/ring`);
    Deno.writeTextFileSync(`${root}/ring/vlab.lock`, "");
    assert.deepEqual(await findLabs({ clean: false }), [
      {
        status: "stale",
        name: "ring",
        reason: "its start-up was interrupted (it has no lab.json)",
      },
    ]);
    createLabDir("ring").release();
    Deno.mkdirSync(`${root}/mesh`);
    Deno.writeTextFileSync(`${root}/mesh/vlab.lock`, "");
    Deno.writeTextFileSync(`${root}/mesh/notes.txt`, "mine");
    assert.throws(() => createLabDir("mesh"), /is not a vlab lab folder/);
    assert.equal(Deno.readTextFileSync(`${root}/mesh/notes.txt`), "mine");
  });
});

Deno.test("a lab that is starting (lock held, no lab.json yet) is neither running nor stale", async () => {
  await withStateDir(async (root) => {
    const hold = createLabDir("pair");
    const old = new Date(Date.now() - 3600_000);
    Deno.utimeSync(`${root}/pair`, old, old);
    assert.deepEqual(await findLabs({ clean: true }), [
      { status: "starting", name: "pair", pid: Deno.pid },
    ]);
    assert.equal(pathExists(`${root}/pair/vlab.lock`), true);
    hold.release();
  });
});

Deno.test("findLabs lists labs in name order", async () => {
  await withStateDir(async () => {
    for (const name of ["star", "alpha", "pair"]) await deadLab(name);
    const found = await findLabs({ clean: false });
    assert.deepEqual(found.map((f) => f.status === "running" ? f.record.name : f.name), [
      "alpha",
      "pair",
      "star",
    ]);
  });
});
