import assert from "node:assert/strict";
import {
  type BenchDeps,
  cleanUpOnInterrupt,
  formatBenchOutput,
  INTERRUPTED,
  runBenchKeepingPartial,
} from "./bench_partial.ts";
import { VlabError } from "./errors.ts";
import { LabError } from "../lab/errors.ts";
import { formatIommuReport, type IommuBenchReport } from "../lab/bench/iommu.ts";
import { DEFAULT_VSOCK_OPTIONS, formatVsockReport, vsockReport } from "../lab/bench/vsock.ts";

/** Fake stdout, signals and exit; `signal()` fires the listeners as Ctrl-C would. */
function fakeDeps() {
  const printed: string[] = [];
  const exits: number[] = [];
  let listeners: (() => void)[] = [];
  const deps: BenchDeps = {
    print: (text) => void printed.push(text),
    onSignal: (fn) => {
      listeners.push(fn);
      return () => listeners = listeners.filter((l) => l !== fn);
    },
    exit: (code) => void exits.push(code),
    line: { progress: () => {}, done: () => {} },
  };
  return {
    deps,
    printed,
    exits,
    signal: () => listeners.forEach((l) => l()),
    listeners: () => listeners,
  };
}

const iommuView = { text: formatIommuReport, json: (r: object) => r };
const oneRow: IommuBenchReport = {
  rows: [{
    mode: "none",
    frameSize: 64,
    pps: 1000,
    ratio: 1,
    ratios: [1],
    interval: { low: 1, high: 1, coverage: 0 },
    verdict: null,
    iotlbHitRate: null,
  }],
  unmapFlushedMs: { median: null, p99: null, samples: 0 },
  notMeasured: [],
};

Deno.test("a bench that fails prints what it measured, marked incomplete, as valid JSON", async () => {
  const f = fakeDeps();
  await assert.rejects(
    runBenchKeepingPartial({
      name: "iommu",
      json: true,
      hint: "measure less",
      view: iommuView,
      run: (_progress, partial) => {
        partial(oneRow);
        return Promise.reject(new Error("the sink stopped"));
      },
    }, f.deps),
    (e: unknown) =>
      e instanceof VlabError && e.code === "bench-failed" &&
      e.message === "Cannot run bench iommu: the sink stopped",
  );
  assert.equal(f.printed.length, 1);
  const out = JSON.parse(f.printed[0]);
  assert.equal(out.incomplete, "failed: the sink stopped");
  assert.equal(out.rows.length, 1);
  assert.equal(f.listeners().length, 0, "the signal listener is removed");
});

Deno.test("a bench that fails before measuring anything prints JSON with --json, nothing without", async () => {
  for (const json of [true, false]) {
    const f = fakeDeps();
    await assert.rejects(runBenchKeepingPartial({
      name: "vsock",
      json,
      hint: "",
      view: { text: formatVsockReport, json: (r: object) => r },
      run: () => Promise.reject(new Error("no lab")),
    }, f.deps));
    assert.deepEqual(
      f.printed.map((p) => json ? JSON.parse(p) : p),
      json ? [{ incomplete: "failed: no lab" }] : [],
    );
  }
});

Deno.test("Ctrl-C during a bench prints the runs measured so far, marked interrupted, then exits 130", async () => {
  const f = fakeDeps();
  const report = vsockReport(DEFAULT_VSOCK_OPTIONS, {
    streamRuns: [2],
    unixRuns: [4],
    rates: [100],
    rtts: [10],
  });
  let finish = () => {};
  const running = runBenchKeepingPartial({
    name: "vsock",
    json: false,
    hint: "",
    view: { text: formatVsockReport, json: (r: object) => r },
    run: (_progress, partial) => {
      partial(report);
      return new Promise((resolve) => finish = () => resolve(report));
    },
  }, f.deps);
  f.signal();
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(f.exits, [130]);
  assert.equal(f.printed.length, 1);
  assert.match(f.printed[0], /ratio vsock \/ Unix\s+0\.50/);
  assert.ok(f.printed[0].endsWith(`\n\nincomplete: ${INTERRUPTED}`));
  finish();
  await running;
});

Deno.test("formatBenchOutput marks only an incomplete report", () => {
  const view = { text: () => "table", json: () => ({ rows: [1] }) };
  assert.equal(formatBenchOutput({}, view), "table");
  assert.equal(formatBenchOutput({}, view, { incomplete: "why" }), "table\n\nincomplete: why");
  assert.deepEqual(JSON.parse(formatBenchOutput({}, view, { json: true })), { rows: [1] });
  assert.deepEqual(JSON.parse(formatBenchOutput({}, view, { json: true, incomplete: "why" })), {
    rows: [1],
    incomplete: "why",
  });
});

Deno.test("cleanUpOnInterrupt cleans up and exits 130 on a signal, and stops listening after", async () => {
  const f = fakeDeps();
  const cleaned: string[] = [];
  let finish = () => {};
  const running = cleanUpOnInterrupt(
    () => void cleaned.push("removed"),
    () => new Promise<string>((resolve) => finish = () => resolve("done")),
    f.deps,
  );
  assert.equal(f.listeners().length, 1);
  f.signal();
  assert.deepEqual(cleaned, ["removed"]);
  assert.deepEqual(f.exits, [130]);
  finish();
  assert.equal(await running, "done");
  assert.equal(f.listeners().length, 0);

  // A body that ends on its own leaves nothing listening and cleans nothing up.
  const g = fakeDeps();
  const failing = cleanUpOnInterrupt(
    () => cleaned.push("again"),
    () => Promise.reject(new Error("x")),
    g.deps,
  );
  await assert.rejects(failing, /x/);
  assert.equal(g.listeners().length, 0);
  assert.deepEqual(g.exits, []);
  assert.deepEqual(cleaned, ["removed"]);
});

Deno.test("a bench that fails with a LabError keeps its hint (what to change), not the bench's", async () => {
  const f = fakeDeps();
  await assert.rejects(
    runBenchKeepingPartial({
      name: "vsock",
      json: false,
      hint: "Run it again with VLAB_DEBUG=1, or measure less (--bytes, --runs)",
      view: { text: formatVsockReport, json: (r: object) => r },
      run: () => Promise.reject(new LabError("lab-failed", "its socket is too long", "Set TMPDIR")),
    }, f.deps),
    (e: unknown) =>
      e instanceof VlabError && e.message === "Cannot run bench vsock: its socket is too long" &&
      e.hint === "Set TMPDIR",
  );
});
