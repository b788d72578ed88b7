import assert from "node:assert/strict";
import {
  createLabDir,
  findLabs,
  labDir,
  labPaths,
  type LabRecord,
  processAlive,
  readRecord,
  removeLabDir,
  socketAnswers,
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

/** A lab folder with a record, as `vlab up` leaves it. */
function makeLab(name: string, pid: number): LabRecord {
  createLabDir(name);
  const r = record(name, pid);
  writeRecord(r);
  return r;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

Deno.test("paths follow VLAB_STATE_DIR", async () => {
  await withStateDir((root) => {
    assert.equal(stateRoot(), root);
    assert.equal(labDir("pair"), `${root}/pair`);
    assert.deepEqual(labPaths("pair"), {
      dir: `${root}/pair`,
      record: `${root}/pair/lab.json`,
      socket: `${root}/pair/control.sock`,
      events: `${root}/pair/events.jsonl`,
    });
  });
});

Deno.test("createLabDir makes the root and the lab folder with mode 0700, once", async () => {
  await withStateDir((root) => {
    createLabDir("pair");
    assert.equal(Deno.statSync(root).mode! & 0o777, 0o700);
    assert.equal(Deno.statSync(`${root}/pair`).mode! & 0o777, 0o700);
    assert.equal(Deno.statSync(`${root}/pair`).isDirectory, true);
    assert.throws(() => createLabDir("pair"), Deno.errors.AlreadyExists);
    createLabDir("star"); // a second lab beside it
    assert.equal(Deno.statSync(`${root}/star`).mode! & 0o777, 0o700);
  });
});

Deno.test("writeRecord and readRecord round-trip lab.json, leaving no temporary file", async () => {
  await withStateDir((root) => {
    const r = makeLab("pair", 1234);
    assert.deepEqual(readRecord("pair"), r);
    writeRecord({ ...r, vms: 3 }); // replaces it
    assert.equal(readRecord("pair")?.vms, 3);
    assert.deepEqual([...Deno.readDirSync(`${root}/pair`)].map((e) => e.name), ["lab.json"]);
    assert.equal(readRecord("nope"), null, "no folder");
    Deno.writeTextFileSync(`${root}/pair/lab.json`, "{ not json");
    assert.equal(readRecord("pair"), null, "unreadable");
  });
});

Deno.test("removeLabDir removes everything in the folder and never throws", async () => {
  await withStateDir((root) => {
    makeLab("pair", 1);
    Deno.writeTextFileSync(`${root}/pair/events.jsonl`, "{}\n");
    removeLabDir("pair");
    assert.equal(exists(`${root}/pair`), false);
    assert.doesNotThrow(() => removeLabDir("pair"));
  });
});

Deno.test("processAlive: this process yes, a reaped child no", async () => {
  assert.equal(processAlive(Deno.pid), true);
  assert.equal(processAlive(await deadPid()), false);
});

Deno.test("socketAnswers: false for no socket, true for a listening one", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "vlab-sock-" });
  try {
    const path = `${dir}/s.sock`;
    assert.equal(await socketAnswers(path, 500), false);
    const server = Deno.serve({ path, onListen() {} }, () => new Response("ok"));
    try {
      assert.equal(await socketAnswers(path, 2000), true);
    } finally {
      await server.shutdown();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("findLabs finds nothing when the root does not exist", async () => {
  await withStateDir(async (root) => {
    assert.equal(exists(root), false);
    assert.deepEqual(await findLabs({ clean: true }), []);
  });
});

Deno.test("a lab whose process is gone is stale; clean: false keeps it, clean: true removes it", async () => {
  await withStateDir(async (root) => {
    const pid = await deadPid();
    makeLab("pair", pid);
    const expected = [{ status: "stale", name: "pair", reason: `its process ${pid} is gone` }];
    assert.deepEqual(await findLabs({ clean: false }), expected);
    assert.equal(exists(`${root}/pair`), true);
    assert.deepEqual(await findLabs({ clean: true }), expected);
    assert.equal(exists(`${root}/pair`), false);
    assert.deepEqual(await findLabs({ clean: true }), []);
  });
});

Deno.test("a lab whose process lives but whose socket does not answer is stale", async () => {
  await withStateDir(async (root) => {
    makeLab("nosocket", Deno.pid);
    // Something left at the socket path that nobody listens on.
    const left = makeLab("refused", Deno.pid);
    Deno.writeTextFileSync(left.socket, "");
    const reason = `its process ${Deno.pid} is gone or hung: its control socket does not answer`;
    const expected = [
      { status: "stale", name: "nosocket", reason },
      { status: "stale", name: "refused", reason },
    ];
    assert.deepEqual(await findLabs({ clean: false }), expected);
    assert.equal(exists(`${root}/nosocket`), true);
    assert.deepEqual(await findLabs({ clean: true }), expected);
    assert.equal(exists(`${root}/nosocket`), false);
    assert.equal(exists(`${root}/refused`), false);
  });
});

Deno.test("a lab whose process lives and whose socket answers is running and kept", async () => {
  await withStateDir(async (root) => {
    const r = makeLab("pair", Deno.pid);
    const server = Deno.serve({ path: r.socket, onListen() {} }, () => new Response("ok"));
    try {
      const dead = await deadPid();
      makeLab("zombie", dead);
      assert.deepEqual(await findLabs({ clean: true }), [
        { status: "running", record: r },
        { status: "stale", name: "zombie", reason: `its process ${dead} is gone` },
      ]);
      assert.equal(exists(`${root}/pair/lab.json`), true);
      assert.equal(exists(`${root}/zombie`), false);
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("a folder without lab.json is left alone for 30 s, then stale", async () => {
  await withStateDir(async (root) => {
    createLabDir("young");
    createLabDir("old");
    const old = new Date(Date.now() - 60_000);
    Deno.utimeSync(`${root}/old`, old, old);
    Deno.writeTextFileSync(`${root}/not-a-lab.txt`, "x"); // files in the root are skipped
    assert.deepEqual(await findLabs({ clean: true }), [
      { status: "stale", name: "old", reason: "it has no lab.json" },
    ]);
    assert.equal(exists(`${root}/old`), false);
    assert.equal(exists(`${root}/young`), true);
    assert.equal(exists(`${root}/not-a-lab.txt`), true);
  });
});

Deno.test("findLabs lists labs in name order", async () => {
  await withStateDir(async () => {
    const pid = await deadPid();
    for (const name of ["star", "alpha", "pair"]) makeLab(name, pid);
    const found = await findLabs({ clean: false });
    assert.deepEqual(found.map((f) => f.status === "stale" ? f.name : f.record.name), [
      "alpha",
      "pair",
      "star",
    ]);
  });
});
