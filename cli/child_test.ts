import assert from "node:assert/strict";
import { endChild, shellQuote } from "./child.ts";

Deno.test("endChild ends a child with SIGTERM, and one that ignores it with SIGKILL", async () => {
  const polite = new Deno.Command("sleep", { args: ["30"] }).spawn();
  const t0 = performance.now();
  await endChild(polite, 5_000);
  assert.equal((await polite.status).signal, "SIGTERM");
  assert.ok(performance.now() - t0 < 4_000, "not kept waiting for the grace period");

  // A shell that ignores SIGTERM, waiting in the foreground (so that it does not exit on it).
  // It says when its trap is set: a fixed 200 ms wait let a shell slow to start (a loaded
  // machine) get the SIGTERM before its trap, and die of it.
  const stubborn = new Deno.Command("sh", {
    args: ["-c", "trap '' TERM; echo trapped; while :; do sleep 0.05; done"],
    stdout: "piped",
  }).spawn();
  const reader = stubborn.stdout.getReader();
  const said = await reader.read();
  reader.releaseLock();
  assert.equal(new TextDecoder().decode(said.value), "trapped\n");
  await endChild(stubborn, 300);
  assert.equal((await stubborn.status).signal, "SIGKILL");
  await stubborn.stdout.cancel();
});

Deno.test("endChild signals the other processes it is given too", async () => {
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  const other = new Deno.Command("sleep", { args: ["30"] }).spawn();
  await endChild(child, 5_000, [other.pid]);
  assert.equal((await other.status).signal, "SIGTERM");
  // A pid that is gone already is skipped, not an error.
  await endChild(child, 5_000, [other.pid]);
});

Deno.test("shellQuote gives the shell back each word as it was, quotes and all", async () => {
  const words = ["plain", "it's", "a b", "$HOME", "`x`", "'", "", "back\\slash", "new\nline"];
  for (const w of words) {
    const out = await new Deno.Command("sh", {
      args: ["-c", `printf %s ${shellQuote(w)}`],
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout), w);
  }
});
