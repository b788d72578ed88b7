import assert from "node:assert/strict";
import { createDoorbells } from "./wire/doorbell.ts";
import type { SwitchStart } from "./wire/messages.ts";
import { type WorkerHandle, WorkerSet, type WorkerSetHooks } from "./workers.ts";

const SCRIPTED = new URL("./testdata/scripted_worker.ts", import.meta.url);
const START = { type: "start" } as unknown as SwitchStart;

/** A set over two threads' doorbells, recording what its hooks hear. */
function setUp() {
  const heard = { events: [] as string[], failed: [] as string[] };
  const hooks: WorkerSetHooks = {
    stopped: () => false,
    event: (h, kind, detail) => heard.events.push(`${h.owner} ${kind} ${JSON.stringify(detail)}`),
    failed: (h, message) => heard.failed.push(`${h.kind} ${h.owner}: ${message}`),
    startAgain: () => "`vlab up pair`",
  };
  return { set: new WorkerSet(createDoorbells(2), hooks), heard };
}

function spawnOne(set: WorkerSet, stats = new Float64Array(1), onDown?: (m: string) => void) {
  return set.spawn(SCRIPTED, { thread: 0, owner: "a", kind: "guest", stats }, START, onDown);
}

function endAll(set: WorkerSet, extra: WorkerHandle[] = []): void {
  for (const w of [...set.all, ...extra]) w.worker.terminate();
}

Deno.test("a worker is found once ready, with its statistics' names, and answers a request", async () => {
  const { set } = setUp();
  try {
    await spawnOne(set);
    const w = set.find("a", "guest");
    assert.ok(w !== undefined);
    assert.deepEqual(w.statsNames, ["frames"]);
    assert.equal(set.find("a", "device"), undefined);
    const id = 1;
    assert.deepEqual(await set.request(w, { type: "inspect", id }), {
      type: "inspect-result",
      id,
      info: id,
    });
  } finally {
    endAll(set);
  }
});

Deno.test("requestWithin gives up on a worker that does not answer; answerPending fails the rest once", async () => {
  const { set } = setUp();
  try {
    await spawnOne(set);
    const w = set.find("a", "guest")!;
    const t0 = performance.now();
    assert.equal(await set.requestWithin(w, { type: "inspect", id: 2 }, 50), null);
    assert.ok(performance.now() - t0 < 2000);
    // An answered request within the time is returned as it came.
    const m = await set.requestWithin(w, { type: "inspect", id: 3 }, 5000);
    assert.equal(m?.type, "inspect-result");
    // A request still pending is answered with the failure, and only once.
    const pending = set.request(w, { type: "inspect", id: 4 });
    const failure = { message: "gone", hint: "start it again" };
    set.answerPending(w, failure);
    set.answerPending(null, { message: "twice", hint: "" });
    assert.deepEqual(await pending, { type: "exec-result", id: 4, ok: false, ...failure });
  } finally {
    endAll(set);
  }
});

Deno.test("a worker's events reach the hook; a failure before any onDown fails its requests", async () => {
  const { set, heard } = setUp();
  try {
    await spawnOne(set);
    const w = set.find("a", "guest")!;
    const waiting = set.request(w, { type: "inspect", id: 6 }); // never answered by the worker
    w.worker.postMessage({ type: "exec", id: 7, argv: ["event"] });
    w.worker.postMessage({ type: "exec", id: 8, argv: ["fail"] });
    const m = await waiting;
    assert.equal(m.type, "exec-result");
    assert.ok(m.type === "exec-result" && !m.ok);
    assert.equal(m.message, "The guest worker of a failed: boom");
    assert.deepEqual(heard.events, ['a tick {"n":1}']);
    assert.deepEqual(heard.failed, ["guest a: boom"]);
    assert.equal(w.failed, "boom");
  } finally {
    endAll(set);
  }
});

Deno.test("a worker with onDown that goes down once up is handed to onDown, not failed", async () => {
  const { set, heard } = setUp();
  try {
    const down: string[] = [];
    await spawnOne(set, new Float64Array(1), (m) => down.push(m));
    set.find("a", "guest")!.worker.postMessage({ type: "exec", id: 1, argv: ["fail"] });
    const until = performance.now() + 5000;
    while (down.length === 0 && performance.now() < until) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(down, ["boom"]);
    assert.deepEqual(heard.failed, []);
    assert.equal(set.find("a", "guest")!.failed, null);
  } finally {
    endAll(set);
  }
});

Deno.test("a worker taken out keeps its counts for its successor's statistics", async () => {
  const { set } = setUp();
  const taken: WorkerHandle[] = [];
  try {
    const region = new Float64Array(1);
    await spawnOne(set, region);
    region[0] = 40; // what the first worker published
    const old = set.take("a", "guest");
    assert.ok(old !== undefined);
    taken.push(old);
    assert.equal(set.find("a", "guest"), undefined);
    assert.equal(set.take("a", "guest"), undefined);
    region[0] = 0; // its successor starts at 0 in the same region
    await spawnOne(set, region);
    region[0] = 2;
    assert.deepEqual(set.stats(), [{ kind: "guest", owner: "a", stats: { frames: 42 } }]);
  } finally {
    endAll(set, taken);
  }
});

Deno.test("frames a replaced worker's impairment stage still held count as its link-down drops", async () => {
  const { set } = setUp();
  const taken: WorkerHandle[] = [];
  const names = [
    "eth0_impair_offered",
    "eth0_impair_duplicated",
    "eth0_impair_lost",
    "eth0_impair_dropped_limit",
    "eth0_impair_delivered",
    "eth0_impair_purged",
    "eth0_link_down_dropped",
  ];
  const start = { type: "start", names } as unknown as SwitchStart;
  const spawn = (stats: Float64Array) =>
    set.spawn(SCRIPTED, { thread: 0, owner: "a", kind: "device", stats }, start);
  try {
    const region = new Float64Array(names.length);
    await spawn(region);
    // 100 offered, 5 duplicated, 10 lost, 2 over the limit, 60 delivered, 3 purged (and 4 more
    // dropped while down): 30 frames were held when the worker was taken.
    region.set([100, 5, 10, 2, 60, 3, 7]);
    taken.push(set.take("a", "device")!);
    region.fill(0);
    await spawn(region);
    region[0] = 1; // its successor offered one frame and holds it
    const [w] = set.stats();
    assert.equal(w.stats.eth0_link_down_dropped, 7 + 30);
    assert.equal(w.stats.eth0_impair_offered, 101);
  } finally {
    endAll(set, taken);
  }
});

Deno.test("a worker to spawn ahead that cannot be constructed is told to standbyFailed, not thrown", () => {
  const heard: string[] = [];
  const hooks: WorkerSetHooks = {
    stopped: () => false,
    event: () => {},
    failed: () => {},
    startAgain: () => "`vlab up pair`",
    standbyFailed: (kind, message) => heard.push(`${kind}: ${message}`),
  };
  const set = new WorkerSet(createDoorbells(2), hooks);
  const Original = globalThis.Worker;
  // As `new Worker` throws at a resource limit (too many threads).
  globalThis.Worker = class extends Original {
    constructor(url: string | URL, options?: WorkerOptions) {
      if (options?.name?.endsWith(" standby") === true) throw new Error("os error 11");
      super(url, options);
    }
  };
  try {
    assert.equal(set.warmStandby(SCRIPTED, ["net"], 2), false);
    assert.equal(set.warmGuestStandby(SCRIPTED, 1), false);
  } finally {
    globalThis.Worker = Original;
  }
  assert.deepEqual(heard, ["device: os error 11", "guest: os error 11"]);
  assert.equal(set.standbyCount("device"), 0);
  assert.equal(set.standbyCount("guest"), 0);
  // Nothing to spawn: true, and nothing constructed.
  assert.equal(set.warmStandby(SCRIPTED, ["net"], 0), true);
});
