import assert from "node:assert/strict";
import type { LabSnapshot, RingSelector, RingView } from "../../lab/snapshot_types.ts";
import { type DashboardOptions, runDashboard, type SnapshotSource } from "./run.ts";
import { FakeStdin, FakeStdout, KEY, loadFixture, waitFor } from "./testing.tsx";

/** A source replaying the pair fixtures with a moving clock; counts calls and overlaps. */
class FakeSource implements SnapshotSource {
  snapshots = 0;
  rings: RingSelector[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** How long each snapshot takes, ms (the source's own latency, not a test sleep). */
  latencyMs = 0;
  /** Fail from this call on (1-based), with this message. */
  failFrom = Infinity;
  readonly #base = loadFixture<LabSnapshot>("pair_1");

  async snapshot(): Promise<LabSnapshot> {
    this.snapshots++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
      if (this.snapshots >= this.failFrom) throw new Error("connection refused");
      return { ...this.#base, takenAt: this.#base.takenAt + 100 * this.snapshots };
    } finally {
      this.inFlight--;
    }
  }

  ring(sel: RingSelector): Promise<RingView | null> {
    this.rings.push(sel);
    return Promise.resolve(loadFixture<RingView>("ring_split"));
  }
}

function start(source: FakeSource, options: Partial<DashboardOptions> = {}) {
  const stdin = new FakeStdin();
  const stdout = new FakeStdout();
  const done = runDashboard({
    source,
    foreground: true,
    intervalMs: 5,
    stdin: stdin as unknown as DashboardOptions["stdin"],
    stdout: stdout as unknown as DashboardOptions["stdout"],
    noColor: true,
    ...options,
  });
  let result: string | null = null;
  done.then((r) => (result = r));
  return { stdin, stdout, done, result: () => result };
}

Deno.test("runDashboard polls the source and resolves stop after q and y in the foreground", async () => {
  const source = new FakeSource();
  const run = start(source);
  await waitFor(() => source.snapshots >= 3, "three snapshots");
  run.stdin.press("q");
  run.stdin.press("y");
  assert.equal(await run.done, "stop");
});

Deno.test("runDashboard resolves detach on q when attached", async () => {
  const source = new FakeSource();
  const run = start(source, { foreground: false });
  await waitFor(() => source.snapshots >= 1, "a snapshot");
  run.stdin.press(KEY.ctrlC);
  assert.equal(await run.done, "detach");
});

Deno.test("runDashboard never has two snapshot requests in flight", async () => {
  const source = new FakeSource();
  source.latencyMs = 30; // six intervals per request
  const run = start(source, { foreground: false });
  await waitFor(() => source.snapshots >= 4, "four snapshots");
  assert.equal(source.maxInFlight, 1);
  run.stdin.press("q");
  await run.done;
});

Deno.test("runDashboard asks for the ring only while the ring view is open", async () => {
  const source = new FakeSource();
  const run = start(source, { foreground: false });
  await waitFor(() => source.snapshots >= 1, "a snapshot");
  assert.equal(source.rings.length, 0);
  run.stdin.press("2");
  run.stdin.press(KEY.down);
  run.stdin.press(KEY.enter);
  await waitFor(() => source.rings.length >= 3, "ring requests");
  assert.deepEqual(source.rings[0], { vm: "a", nic: "eth0", queue: 1 });
  run.stdin.press(KEY.escape);
  // Once closed, a request already under way may complete; after that, snapshots come alone.
  let rings = source.rings.length;
  let since = source.snapshots;
  await waitFor(() => {
    if (source.rings.length !== rings) {
      rings = source.rings.length;
      since = source.snapshots;
    }
    return source.snapshots >= since + 3;
  }, "three snapshots without a ring request");
  assert.equal(source.rings.length, rings);
  run.stdin.press("q");
  await run.done;
});

Deno.test("runDashboard stops polling while paused and resumes after p", async () => {
  const source = new FakeSource();
  const run = start(source, { foreground: false });
  await waitFor(() => source.snapshots >= 2, "two snapshots");
  run.stdin.press("p");
  // Paused: wait for polling to go quiet, then check it stays quiet over 20 intervals.
  let last = -1;
  await waitFor(() => {
    const quiet = source.snapshots === last;
    last = source.snapshots;
    return quiet && source.inFlight === 0;
  }, "polling to stop");
  const paused = source.snapshots;
  await new Promise((r) => setTimeout(r, 100)); // a window to observe no polling (20 intervals)
  assert.equal(source.snapshots, paused);
  run.stdin.press("p");
  await waitFor(() => source.snapshots > paused, "polling to resume");
  run.stdin.press("q");
  await run.done;
});

Deno.test("runDashboard detaches by itself shortly after the lab went away", async () => {
  const source = new FakeSource();
  source.failFrom = 3;
  const run = start(source, { stoppedLingerMs: 20 });
  assert.equal(await run.done, "detach");
  assert.equal(source.snapshots, 3);
});

Deno.test("runDashboard detaches on a key once the lab went away", async () => {
  const source = new FakeSource();
  source.failFrom = 2;
  const run = start(source, { stoppedLingerMs: 60_000 });
  await waitFor(() => source.snapshots >= 2, "the failing snapshot");
  // Keys before the failure is drawn do nothing harmful (space is not bound); keep pressing.
  await waitFor(() => {
    run.stdin.press(" ");
    return run.result() !== null;
  }, "the dashboard to end");
  assert.equal(await run.done, "detach");
});
