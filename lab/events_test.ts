import assert from "node:assert/strict";
import { EventLog, type LabEvent, wallClockDetail } from "./events.ts";

Deno.test("emit records time, kind, subject and detail in memory", () => {
  const log = new EventLog(null);
  const before = Date.now();
  const e = log.emit("vm-ready", "a", { bootMs: 12 });
  const bare = log.emit("lab-up");
  assert.deepEqual(Object.keys(e).sort(), ["detail", "kind", "subject", "time"]);
  assert.deepEqual([e.kind, e.subject, e.detail], ["vm-ready", "a", { bootMs: 12 }]);
  assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const t = Date.parse(e.time);
  assert.ok(t >= before - 1 && t <= Date.now() + 1);
  assert.deepEqual(Object.keys(bare).sort(), ["kind", "time"], "absent fields are left out");
  assert.deepEqual(log.recent(), [e, bare]);
});

Deno.test("a file log appends one JSON object per line that parses back", () => {
  const dir = Deno.makeTempDirSync({ prefix: "vlab-events-" });
  try {
    const path = `${dir}/events.jsonl`;
    const log = new EventLog(path);
    const sent = [
      log.emit("lab-up", undefined, { vms: 2 }),
      log.emit("link-down", "a-b"),
      log.emit("vm-failed", "b", { error: 'quote " and\nnewline' }),
    ];
    const text = Deno.readTextFileSync(path);
    assert.ok(text.endsWith("\n"));
    const lines = text.trimEnd().split("\n");
    assert.equal(lines.length, 3);
    assert.deepEqual(lines.map((l) => JSON.parse(l)), sent);
    // A second log on the same file appends.
    new EventLog(path).emit("lab-down");
    const all = Deno.readTextFileSync(path).trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(all.map((e: LabEvent) => e.kind), [
      "lab-up",
      "link-down",
      "vm-failed",
      "lab-down",
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("subscribers receive every new event until they unsubscribe", () => {
  const log = new EventLog(null);
  log.emit("before");
  const a: string[] = [];
  const b: string[] = [];
  const offA = log.subscribe((e) => a.push(e.kind));
  log.subscribe((e) => b.push(`${e.kind}:${e.subject}`));
  log.emit("one", "x");
  offA();
  log.emit("two", "y");
  assert.deepEqual(a, ["one"]);
  assert.deepEqual(b, ["one:x", "two:y"]);
});

Deno.test("emit never throws when the state folder is gone, and memory keeps the event", () => {
  const dir = Deno.makeTempDirSync({ prefix: "vlab-events-" });
  const log = new EventLog(`${dir}/events.jsonl`);
  log.emit("lab-up");
  Deno.removeSync(dir, { recursive: true });
  const got: string[] = [];
  log.subscribe((e) => got.push(e.kind));
  const e = log.emit("lab-down", "pair");
  assert.equal(e.kind, "lab-down");
  assert.deepEqual(log.recent().map((x) => x.kind), ["lab-up", "lab-down"]);
  assert.deepEqual(got, ["lab-down"]);
  assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound, "nothing recreated the folder");
});

Deno.test("memory keeps the most recent 1000 events, oldest first", () => {
  const log = new EventLog(null);
  for (let i = 0; i < 1234; i++) log.emit("tick", undefined, { i });
  const recent = log.recent();
  assert.equal(recent.length, 1000);
  assert.equal(recent[0].detail?.i, 234);
  assert.equal(recent[999].detail?.i, 1233);
  assert.ok(recent.every((e, k) => e.detail?.i === 234 + k));
});

Deno.test("a file log keeps every event on disk beyond the memory bound", () => {
  const dir = Deno.makeTempDirSync({ prefix: "vlab-events-" });
  try {
    const log = new EventLog(`${dir}/events.jsonl`);
    for (let i = 0; i < 1001; i++) log.emit("tick", undefined, { i });
    const lines = Deno.readTextFileSync(`${dir}/events.jsonl`).trimEnd().split("\n");
    assert.equal(lines.length, 1001);
    assert.equal(log.recent().length, 1000);
    assert.equal(JSON.parse(lines[0]).detail.i, 0);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a subscriber that throws neither makes emit throw nor starves later subscribers, and its error is reported", async () => {
  // A script's callback that threw was swallowed without a word: the script waited on.
  const reported: unknown[] = [];
  const onError = (e: ErrorEvent) => {
    e.preventDefault();
    reported.push(e.error);
  };
  globalThis.addEventListener("error", onError);
  try {
    const log = new EventLog(null);
    const got: string[] = [];
    log.subscribe(() => {
      throw new Error("a bug in the script's callback");
    });
    log.subscribe((e) => got.push(e.kind));
    assert.doesNotThrow(() => log.emit("lab-up"));
    assert.deepEqual(got, ["lab-up"]);
    assert.equal(log.recent().length, 1);
    assert.deepEqual(reported, [], "reported once emit is done, not inside it");
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(reported.length, 1);
    assert.match(String(reported[0]), /a bug in the script's callback/);
  } finally {
    globalThis.removeEventListener("error", onError);
  }
});

Deno.test("subscribe refuses a listener that is no function", () => {
  const log = new EventLog(null);
  assert.throws(
    () => log.subscribe(5 as unknown as () => void),
    /^TypeError: events.subscribe: listener must be a function, got number$/,
  );
  assert.doesNotThrow(() => log.emit("lab-up"));
});

Deno.test("recent() is the events at the call: later events leave an earlier answer as it was", () => {
  const log = new EventLog(null);
  log.emit("lab-up");
  const before = log.recent();
  log.emit("link-down", "a-b");
  assert.deepEqual(before.map((e) => e.kind), ["lab-up"]);
  assert.deepEqual(log.recent().map((e) => e.kind), ["lab-up", "link-down"]);
});

Deno.test("count says how many events of a kind about a subject were emitted, beyond what recent keeps", () => {
  const log = new EventLog(null);
  for (let i = 0; i < 1005; i++) log.emit("backend-restarted", "a");
  log.emit("device-reset", "b", { nic: "eth0" });
  log.emit("lab-up");
  assert.equal(log.recent().length, 1000);
  assert.equal(log.count("backend-restarted", "a"), 1005);
  assert.equal(log.count("backend-restarted", "b"), 0);
  assert.equal(log.count("device-reset", "b"), 1);
  assert.equal(log.count("lab-up"), 1);
  assert.equal(log.count("toString"), 0);
});

Deno.test("wallClockDetail: a number under a key ending in At is a wall-clock time, nothing else", () => {
  assert.equal(wallClockDetail("firstWorkAt", 1796420782042.5), 1796420782042.5);
  assert.equal(wallClockDetail("startAt", 0), 0);
  assert.equal(wallClockDetail("pauseMs", 12), null);
  assert.equal(wallClockDetail("firstWorkAt", "12:00"), null);
  assert.equal(wallClockDetail("firstWorkAt", Infinity), null);
  assert.equal(wallClockDetail("At", 5), null);
});
