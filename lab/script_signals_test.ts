import assert from "node:assert/strict";
import { listening, stopOnSignals, type Stoppable } from "./script_signals.ts";

/** A lab that records its stop; `stopped` resolves on `stop()` or `end()`. */
function fakeLab(): Stoppable & { stops: number; end(): void } {
  let end!: () => void;
  const stopped = new Promise<void>((r) => end = r);
  const lab = {
    stops: 0,
    stopped,
    end,
    stop() {
      lab.stops++;
      end();
      return stopped;
    },
  };
  return lab;
}

Deno.test({
  name: "SIGTERM stops every script lab, then exits with 143; listeners go with the labs",
  sanitizeOps: false,
  async fn() {
    const [a, b] = [fakeLab(), fakeLab()];
    let exited: number | null = null;
    const exit = (code: number) => void (exited = code);
    stopOnSignals(a, exit);
    stopOnSignals(b, exit);
    assert.ok(listening());
    Deno.kill(Deno.pid, "SIGTERM");
    for (let i = 0; i < 200 && exited === null; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(exited, 143);
    assert.deepEqual([a.stops, b.stops], [1, 1]);
    assert.ok(!listening(), "listeners left behind after the signal");
  },
});

Deno.test({
  name: "SIGHUP (the script's terminal closing) stops its labs, then exits with 129",
  sanitizeOps: false,
  async fn() {
    // Deno's default SIGHUP action killed the script: its lab's folder was left stale.
    const lab = fakeLab();
    let exited: number | null = null;
    stopOnSignals(lab, (code) => void (exited = code));
    Deno.kill(Deno.pid, "SIGHUP");
    for (let i = 0; i < 200 && exited === null; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(exited, 129);
    assert.equal(lab.stops, 1);
    assert.ok(!listening(), "listeners left behind after the signal");
  },
});

Deno.test({
  name: "a second SIGHUP while the labs stop (a closing terminal sends two) waits for the stop",
  sanitizeOps: false,
  async fn() {
    // An interactive shell sends its job SIGHUP, then the kernel does as the shell exits: the
    // second one exited at once, the lab's folder left stale.
    let end!: () => void;
    const stopped = new Promise<void>((r) => end = r);
    const lab = { stops: 0, stopped, stop: () => (lab.stops++, stopped) };
    const exits: number[] = [];
    stopOnSignals(lab, (code) => void exits.push(code));
    Deno.kill(Deno.pid, "SIGHUP");
    for (let i = 0; i < 200 && lab.stops === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(lab.stops, 1);
    Deno.kill(Deno.pid, "SIGHUP");
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(exits, [], "exited before its lab stopped");
    end();
    for (let i = 0; i < 200 && exits.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(exits, [129]);
    assert.ok(!listening(), "listeners left behind after the signal");
  },
});

Deno.test("a script that stops its labs itself gets its signals back", async () => {
  const [a, b] = [fakeLab(), fakeLab()];
  stopOnSignals(a, () => assert.fail("no signal was sent"));
  stopOnSignals(b, () => assert.fail("no signal was sent"));
  a.end();
  await a.stopped;
  await Promise.resolve();
  assert.ok(listening(), "b still runs: its Ctrl-C must still stop it");
  b.end();
  await b.stopped;
  await Promise.resolve();
  assert.ok(!listening());
});
