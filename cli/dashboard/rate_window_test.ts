import assert from "node:assert/strict";
import type { LabSnapshot, RingSelector, RingView } from "../../lab/snapshot_types.ts";
import { type CounterSample, RateWindow, windowRate } from "./rate_window.ts";
import { queueKey } from "./rates.ts";
import { type DashboardOptions, runDashboard, type SnapshotSource } from "./run.ts";
import { FakeStdin, FakeStdout, loadFixture, waitFor } from "./testing.tsx";

/** Readings every `everyMs` of a counter that steps by `step` every `periodMs`, from `phaseMs`. */
function bursts(
  n: number,
  opts: { everyMs: number; periodMs: number; step: number; phaseMs: number; t0?: number },
): CounterSample[] {
  const t0 = opts.t0 ?? 0;
  return Array.from({ length: n }, (_, i) => {
    const t = t0 + i * opts.everyMs;
    return { t, v: opts.step * Math.floor((t + opts.phaseMs) / opts.periodMs) };
  });
}

Deno.test("windowRate of 1000-frame bursts every 500 ms read every 100 ms is 2000/s at every phase", () => {
  for (let phase = 0; phase < 500; phase += 10) {
    const r = windowRate(bursts(21, { everyMs: 100, periodMs: 500, step: 1000, phaseMs: phase }));
    assert.equal(r, 2000, `phase ${phase}`);
  }
});

Deno.test("windowRate of bursts each seen over two readings (600, then 400) stays within 10% at every phase", () => {
  for (let phase = 0; phase < 500; phase += 10) {
    const samples = Array.from({ length: 31 }, (_, i) => {
      const t = i * 100 + phase;
      const whole = Math.floor(t / 500);
      return { t, v: 1000 * whole + (t % 500 < 100 ? -400 : 0) };
    });
    const r = windowRate(samples)!;
    assert.ok(Math.abs(r - 2000) <= 200, `phase ${phase}: ${r}`);
  }
});

Deno.test("windowRate of a counter published every 100 ms and read at a beating period stays within 5%", () => {
  // Statistics a worker publishes each 100 ms loop, read every 95 to 110 ms (jittered): over a
  // 100 ms window 0, 1 or 2 publications (0, 10k/s, 20k/s for a steady 10k/s).
  for (let seed = 1; seed <= 50; seed++) {
    let x = seed;
    const next = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
    const samples: CounterSample[] = [];
    let t = 0;
    const phase = next() * 100;
    for (let i = 0; i < 22; i++) {
      samples.push({ t, v: 1000 * Math.floor((t + phase) / 100) });
      t += 95 + 15 * next();
    }
    const r = windowRate(samples)!;
    assert.ok(Math.abs(r - 10_000) <= 500, `seed ${seed}: ${r}`);
  }
});

Deno.test("windowRate falls once a flow stops, to 0 when no step is left in the window", () => {
  // Steps of 100 every 100 ms, then nothing.
  const steady = bursts(21, { everyMs: 100, periodMs: 100, step: 100, phaseMs: 0 });
  assert.equal(windowRate(steady), 1000);
  const last = steady.at(-1)!;
  const quiet = (ms: number) => [...steady, { t: last.t + ms, v: last.v }];
  assert.equal(windowRate(quiet(100)), 1000); // one gap: it may come yet
  assert.ok(windowRate(quiet(500))! < 1000);
  assert.equal(windowRate([{ t: 0, v: 5 }, { t: 2000, v: 5 }, { t: 2100, v: 5 }]), 0);
});

Deno.test("windowRate of one step in the window is its mean over the window", () => {
  assert.equal(windowRate([{ t: 0, v: 0 }, { t: 1000, v: 0 }, { t: 2000, v: 4 }]), 2);
  assert.equal(windowRate([{ t: 0, v: 7 }]), undefined);
});

Deno.test("windowRate counts only from where a counter began again (a restarted VM)", () => {
  const r = windowRate([
    { t: 0, v: 900 },
    { t: 100, v: 1000 },
    { t: 200, v: 10 },
    { t: 300, v: 20 },
    { t: 400, v: 30 },
  ]);
  assert.equal(r, 100);
});

/** The pair's snapshot at step `i` (100 ms apart) with `frames` delivered a → b. */
function pairAt(base: LabSnapshot, i: number, frames: number): LabSnapshot {
  const [ab] = base.links;
  const [a, ...others] = base.vms;
  const [eth0] = a.devices;
  // a's transmitq (queue 1) took the same frames.
  const queues = eth0.queues.map((q) => q.index === 1 ? { ...q, requests: frames } : q);
  return {
    ...base,
    takenAt: base.takenAt + 100 * i,
    vms: [{ ...a, devices: [{ ...eth0, queues }, ...a.devices.slice(1)] }, ...others],
    links: [{ ...ab, forward: { ...ab.forward, frames, bytes: frames * 64 } }],
  };
}

Deno.test("RateWindow gives a link under bursts its mean rate, and forgets what the lab no longer has", () => {
  const base = loadFixture<LabSnapshot>("pair_1");
  const w = new RateWindow();
  assert.equal(w.add(pairAt(base, 0, 0)), null);
  const seen: number[] = [];
  for (let i = 1; i <= 40; i++) {
    const r = w.add(pairAt(base, i, 1000 * Math.floor((i + 2) / 5)));
    assert.ok(r !== null);
    if (i >= 10) seen.push(r.links.get("a-b")!.forward.frames);
    if (i >= 10) seen.push(r.queues.get(queueKey("a", "eth0", 1))!.requests);
    assert.equal(r.links.get("a-b")!.reverse.frames, 0);
    assert.ok(r.dtSeconds <= 3.1, `${r.dtSeconds}`);
  }
  assert.deepEqual(new Set(seen), new Set([2000]));
  // A snapshot that is not newer gives nothing; one without the link gives it no rate.
  assert.equal(w.add(pairAt(base, 40, 0)), null);
  const gone = w.add({ ...pairAt(base, 41, 0), links: [] });
  assert.equal(gone?.links.size, 0);
  assert.ok(gone?.queues.has(queueKey("a", "eth0", 1)));
});

/** The pair, its link delivering 1000 frames every 500 ms; it stands still after `last`. */
class BurstSource implements SnapshotSource {
  snapshots = 0;
  readonly #base = loadFixture<LabSnapshot>("pair_1");
  constructor(readonly last: number) {}
  snapshot(): Promise<LabSnapshot> {
    const i = Math.min(this.last, this.snapshots++);
    return Promise.resolve(pairAt(this.#base, i, 1000 * Math.floor((i + 2) / 5)));
  }
  ring(_sel: RingSelector): Promise<RingView | null> {
    return Promise.resolve(null);
  }
}

Deno.test("runDashboard shows a link releasing 1000 frames every 500 ms at 2.0k/s, not 10.0k/s or 0", async () => {
  // Steps 23 (a burst) and 24 (none) were the last before the screen froze: 10.0k/s and 0/s.
  for (const last of [23, 24]) {
    const source = new BurstSource(last);
    const stdin = new FakeStdin();
    const stdout = new FakeStdout();
    stdout.columns = 100;
    const done = runDashboard({
      source,
      foreground: false,
      intervalMs: 5,
      columns: 100,
      rows: 30,
      stdin: stdin as unknown as DashboardOptions["stdin"],
      stdout: stdout as unknown as DashboardOptions["stdout"],
      noColor: true,
    });
    await waitFor(() => source.snapshots > last + 2, "the last snapshots");
    stdin.press("3");
    await new Promise((r) => setTimeout(r, 200)); // redraws of the Links panel, on a busy machine too
    stdin.press("q");
    assert.equal(await done, "detach");
    // deno-lint-ignore no-control-regex
    const drawn = stdout.writes.join("").replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
    const line = drawn.split("\n").findLast((l) => l.includes("a:eth0 → b:eth0"));
    assert.match(line ?? "", /a:eth0 → b:eth0 +2\.0k\/s +128\.0 kB\/s/, `step ${last}`);
  }
});
