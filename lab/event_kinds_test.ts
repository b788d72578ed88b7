import assert from "node:assert/strict";
import { LAB_EVENT_KINDS } from "./event_kinds.ts";

/** Every source file of the lab (tests and test data left out). */
async function* sources(dir: URL): AsyncGenerator<{ path: string; text: string }> {
  for await (const e of Deno.readDir(dir)) {
    const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory && e.name !== "testdata") yield* sources(url);
    else if (e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) {
      yield { path: url.pathname, text: await Deno.readTextFile(url) };
    }
  }
}

/**
 * The string literals a piece of code may give (`up ? "link-up" : "link-down"`: both), not those
 * it compares with (`what === "connected" ? …`).
 */
const literals = (code: string) =>
  [...code.replace(/[!=]==?\s*"[^"]*"/g, "").matchAll(/"([a-z][a-z0-9-]*)"/g)].map((m) => m[1]);

Deno.test("LAB_EVENT_KINDS holds every kind the lab emits or its workers post, and no other", async () => {
  const found = new Map<string, string>();
  for await (const { path, text } of sources(new URL("./", import.meta.url))) {
    // `events.emit("link-down", …)`, `this.#events.emit(up ? "link-up" : "link-down", …)`.
    for (const m of text.matchAll(/\bemit\(\s*([^,)]*)[,)]/g)) {
      for (const kind of literals(m[1])) found.set(kind, path);
    }
    // A worker's `post({ type: "event", kind: "device-reset", … })`.
    for (const m of text.matchAll(/type:\s*"event",\s*kind:\s*([^,\n]+)/g)) {
      for (const kind of literals(m[1])) found.set(kind, path);
    }
    // The control listener's `onTrouble("control-socket-failed", …)`.
    for (const m of text.matchAll(/onTrouble\(\s*"([a-z-]+)"/g)) found.set(m[1], path);
  }
  // lab.ts: `${h.kind}-failed` for each kind of worker.
  const workers = await Deno.readTextFile(new URL("./workers.ts", import.meta.url));
  const union = /kind: ("[a-z]+"(?:\s*\|\s*"[a-z]+")+);/.exec(workers);
  assert.ok(union !== null, "workers.ts no longer lists its worker kinds as a union");
  for (const kind of literals(union[1])) found.set(`${kind}-failed`, "lab/lab.ts");
  // The scan finds what it should (a regression of its own would pass in silence).
  for (const kind of ["link-down", "device-reset", "iommu-fault", "guest-failed", "drill-step"]) {
    assert.ok(found.has(kind), `the scan no longer finds ${kind}`);
  }
  const missing = [...found.keys()].filter((k) => !LAB_EVENT_KINDS.includes(k));
  assert.deepEqual(
    missing,
    [],
    `emitted but not in LAB_EVENT_KINDS: ${
      missing.map((k) => `${k} (${found.get(k)})`).join(", ")
    }`,
  );
  const stale = LAB_EVENT_KINDS.filter((k) => !found.has(k));
  assert.deepEqual(stale, [], "in LAB_EVENT_KINDS but emitted nowhere");
  assert.deepEqual([...LAB_EVENT_KINDS].sort(), LAB_EVENT_KINDS, "kept sorted");
});

Deno.test("docs/drills.md lists every event kind an assertion may count", async () => {
  const docs = await Deno.readTextFile(new URL("../docs/drills.md", import.meta.url));
  const listed = docs.slice(docs.indexOf("The kinds the lab logs"));
  const missing = LAB_EVENT_KINDS.filter((k) => !listed.includes(`\`${k}\``));
  assert.deepEqual(missing, [], "add them to the list in docs/drills.md (Assertions)");
});
