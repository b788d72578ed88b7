import assert from "node:assert/strict";
import type { LabSnapshot, RingSelector, RingView } from "../../lab/snapshot_types.ts";
import type { SwitchMacTable } from "../../lab/switch_macs.ts";
import { type DashboardOptions, runDashboard, type SnapshotSource } from "./run.ts";
import { FakeStdin, FakeStdout, KEY, loadFixture, waitFor } from "./testing.tsx";

/**
 * A source replaying a fixture (the pair's by default) with a moving clock; counts calls and
 * overlaps. It reads no MAC table (`macs` is optional in a source).
 */
class FakeSource implements SnapshotSource {
  snapshots = 0;
  rings: RingSelector[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** How long each snapshot takes, ms (the source's own latency, not a test sleep). */
  latencyMs = 0;
  /** Fail from this call on (1-based), with this message. */
  failFrom = Infinity;
  readonly #base: LabSnapshot;

  constructor(fixture: "pair_1" | "star_1" = "pair_1") {
    this.#base = loadFixture<LabSnapshot>(fixture);
  }

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

/** The star's source with MAC tables: each read of sw1 finds one more station (up to four). */
class MacsSource extends FakeSource {
  macReads: string[] = [];
  /** Reject every read with this message instead. */
  failWith: string | null = null;
  /** Answer null (no MAC table: a vsock router, or a switch that did not answer) instead. */
  none = false;

  constructor() {
    super("star_1");
  }

  macs(name: string): Promise<SwitchMacTable | null> {
    this.macReads.push(name);
    if (this.failWith !== null) return Promise.reject(new Error(this.failWith));
    if (this.none) return Promise.resolve(null);
    const n = Math.min(4, this.macReads.length);
    const macs = Array.from({ length: n }, (_, i) => ({
      mac: `52:54:00:00:01:0${i + 1}`,
      port: i,
      link: `h${i + 1}-sw1`,
      peer: `h${i + 1}:eth0`,
      ageMs: 100 * (n - i),
    }));
    return Promise.resolve(name === "sw1" ? { switch: name, agingMs: 300_000, macs } : null);
  }
}

/** Open the Links panel, select the star's switch (after its four links), press enter. */
function openSwitch(run: ReturnType<typeof start>): void {
  run.stdin.press("3");
  run.stdin.press(KEY.pageDown);
  run.stdin.press(KEY.enter);
}

/** What the dashboard drew, without escape sequences. */
function drawn(run: ReturnType<typeof start>): string {
  // deno-lint-ignore no-control-regex
  return run.stdout.writes.join("").replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
}

Deno.test("runDashboard reads the open MAC table at every refresh, and no more once closed", async () => {
  const source = new MacsSource();
  const run = start(source, { foreground: false });
  await waitFor(() => source.snapshots >= 1, "a snapshot");
  assert.deepEqual(source.macReads, []);
  openSwitch(run);
  await waitFor(() => source.macReads.length >= 4, "four reads of the MAC table");
  assert.ok(source.macReads.every((n) => n === "sw1"), source.macReads.join(" "));
  run.stdin.press(KEY.escape);
  let reads = source.macReads.length;
  let since = source.snapshots;
  await waitFor(() => {
    if (source.macReads.length !== reads) {
      reads = source.macReads.length;
      since = source.snapshots;
    }
    return source.snapshots >= since + 3;
  }, "three snapshots without a MAC table read");
  assert.equal(source.macReads.length, reads);
  openSwitch(run);
  await waitFor(() => source.macReads.length > reads, "a read after opening it again");
  run.stdin.press("q");
  assert.equal(await run.done, "detach");
  assert.match(drawn(run), /52:54:00:00:01:04 +3 +h4-sw1 +h4:eth0 +0\.1 s/);
});

Deno.test("runDashboard over a source without MAC tables says so on one line and goes on", async () => {
  const source = new FakeSource("star_1");
  const run = start(source, { foreground: false });
  await waitFor(() => source.snapshots >= 1, "a snapshot");
  openSwitch(run);
  const opened = source.snapshots;
  await waitFor(() => source.snapshots >= opened + 3, "three more snapshots");
  run.stdin.press("q");
  assert.equal(await run.done, "detach");
  assert.match(drawn(run), /this dashboard cannot read MAC tables \(vlab fdb can\)/);
});

Deno.test("runDashboard over a source whose MAC table read fails shows why and goes on", async () => {
  const source = new MacsSource();
  source.failWith = 'Switch "sw1" did not answer\nsecond line';
  const run = start(source, { foreground: false });
  await waitFor(() => source.snapshots >= 1, "a snapshot");
  openSwitch(run);
  await waitFor(() => source.macReads.length >= 3, "three failed reads");
  run.stdin.press("q");
  assert.equal(await run.done, "detach");
  const screen = drawn(run);
  assert.match(screen, /cannot read the MAC table of sw1: Switch "sw1" did not answer/);
  assert.ok(!screen.includes("second line"), "one line of note");
  assert.ok(
    !screen.includes("lab stopped"),
    "a MAC table that cannot be read is not a stopped lab",
  );
});

Deno.test("runDashboard over a switch with no MAC table says so on one line", async () => {
  const source = new MacsSource();
  source.none = true;
  const run = start(source, { foreground: false });
  await waitFor(() => source.snapshots >= 1, "a snapshot");
  openSwitch(run);
  await waitFor(() => source.macReads.length >= 2, "two reads");
  run.stdin.press("q");
  assert.equal(await run.done, "detach");
  assert.match(
    drawn(run),
    /sw1: no MAC table \(a vsock router keeps none, or the switch did not answer\)/,
  );
});

Deno.test("runDashboard tells onUpdate of each new snapshot it draws, not of a repeated one", async () => {
  const source = new FakeSource();
  let stale = false;
  const real = source.snapshot.bind(source);
  // From the fourth call on, the lab answers with the snapshot it gave last (same takenAt).
  let last: LabSnapshot | null = null;
  source.snapshot = async () => {
    if (stale && last !== null) {
      source.snapshots++;
      return last;
    }
    last = await real();
    if (source.snapshots >= 3) stale = true;
    return last;
  };
  let updates = 0;
  const run = start(source, { onUpdate: () => void updates++ });
  await waitFor(() => source.snapshots >= 8, "eight snapshots");
  run.stdin.press("q");
  run.stdin.press("y");
  await run.done;
  assert.equal(updates, 3, "three new snapshots, then the same one again and again");
});

Deno.test("runDashboard says how long a lab that hangs has not answered", async () => {
  const source = new FakeSource();
  const real = source.snapshot.bind(source);
  // From the third call on, the lab takes the request and never answers (stopped with SIGSTOP).
  let release = () => {};
  source.snapshot = () =>
    source.snapshots >= 2
      ? new Promise<LabSnapshot>((resolve) => release = () => void real().then(resolve))
      : real();
  const run = start(source, { foreground: false, staleAfterMs: 50 });
  await waitFor(() => source.snapshots >= 2, "two snapshots");
  // The header says so from 50 ms on; the test cannot see frames before the end (CI draws only
  // the last), so it gives the dashboard time to draw it.
  await new Promise((r) => setTimeout(r, 300));
  run.stdin.press("q");
  assert.equal(await run.done, "detach");
  release();
  assert.match(drawn(run), /\[no answer for 1s\]/);
  assert.ok(!drawn(run).includes("lab stopped"), "a lab that hangs has not stopped");
});

Deno.test("runDashboard drops the no-answer marker once the lab answers again", async () => {
  const source = new FakeSource();
  const real = source.snapshot.bind(source);
  let release = () => {};
  let hung = false;
  source.snapshot = () => {
    if (source.snapshots === 2 && !hung) {
      hung = true;
      return new Promise<LabSnapshot>((resolve) => release = () => void real().then(resolve));
    }
    return real();
  };
  const run = start(source, { foreground: false, staleAfterMs: 50 });
  await waitFor(() => hung, "the hanging request");
  await new Promise((r) => setTimeout(r, 200));
  release();
  await waitFor(() => source.snapshots >= 6, "snapshots again");
  run.stdin.press("q");
  assert.equal(await run.done, "detach");
  // The last frame drawn (ink writes every frame outside CI, the last one only in CI).
  const frames = drawn(run).split("vlab pair");
  assert.ok(!frames[frames.length - 1].includes("no answer"), frames[frames.length - 1]);
});

Deno.test("runDashboard paused while a snapshot request is out draws nothing of its answer", async () => {
  // The display froze on p, then the answer of the request already out was drawn (a lab stopped
  // with SIGSTOP answered once continued: the header's uptime moved under [PAUSED]).
  const source = new FakeSource();
  let updates = 0;
  const run = start(source, { foreground: false, onUpdate: () => updates++ });
  await waitFor(() => updates >= 1, "a first snapshot drawn");
  source.latencyMs = 400; // time for the key to take effect, on a busy machine too
  await waitFor(() => source.inFlight === 1, "a request out");
  run.stdin.press("p");
  const seen = updates;
  await waitFor(() => source.inFlight === 0, "the request answered");
  await new Promise((r) => setTimeout(r, 20)); // a few intervals to draw it, if it would
  assert.equal(updates, seen);
  run.stdin.press("q");
  await run.done;
});

Deno.test("runDashboard whose signal was aborted before it started (a Ctrl-C before it drew) ends at once, detached, its screen given back", async () => {
  // `vlab dashboard` hands it a signal that SIGINT, SIGTERM or SIGHUP may have aborted while the
  // renderer loaded: an abort event that came before it listened must still end it.
  const source = new FakeSource();
  const stop = new AbortController();
  stop.abort();
  const run = start(source, { foreground: false, signal: stop.signal, altScreen: true });
  await waitFor(() => run.result() !== null, "the dashboard to end");
  assert.equal(await run.done, "detach");
  // The alternate screen it took is given back last (its poll timer is gone: the test's op
  // sanitizer would fail on it).
  const out = run.stdout.writes.join("");
  assert.ok(out.startsWith("\x1b[?1049h"), JSON.stringify(out.slice(0, 20)));
  assert.ok(out.endsWith("\x1b[?1049l"), JSON.stringify(out.slice(-20)));
});
