import assert from "node:assert/strict";
import {
  benchSockets,
  benchSocketTooLong,
  formatVsockReport,
  quantile,
  runVsockBench,
  vsockReport,
} from "./vsock.ts";
import { LabError } from "../errors.ts";

Deno.test("quantile takes the nearest rank", () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.equal(quantile(xs, 0.99), 99);
  assert.equal(quantile(xs, 0.5), 50);
  assert.equal(quantile([7], 0.99), 7);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

Deno.test({
  name: "bench vsock smoke: tiny sizes give every figure, positive and finite",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lines: string[] = [];
    const r = await runVsockBench(
      { bytes: 256 * 1024, runs: 1, connections: 3, pings: 5 },
      (l) => lines.push(l),
    );
    for (const k of ["streamGbit", "unixGbit", "ratio", "connectionsPerSecond", "rttMedianUs"]) {
      const v = r[k as keyof typeof r] as number;
      assert.ok(Number.isFinite(v) && v > 0, `${k} = ${v}`);
    }
    assert.ok(r.rttP99Us >= r.rttMedianUs);
    for (const k of ["idleCpuPct", "servingCpuPct"] as const) {
      assert.ok(Number.isFinite(r[k]) && r[k] >= 0, `${k} = ${r[k]}`);
    }
    assert.equal(r.streamRuns.length, 1);
    assert.ok(lines.some((l) => /Unix-socket stream/.test(l)));
    assert.match(formatVsockReport(r), /ratio vsock \/ Unix/);
  },
});

Deno.test("the vsock report names the stream's size without rounding it to a whole MiB", () => {
  const report = (bytes: number) =>
    formatVsockReport({
      options: { bytes, runs: 1, connections: 1, pings: 1 },
      streamGbit: 1,
      streamRuns: [1],
      unixGbit: 2,
      unixRuns: [2],
      ratio: 0.5,
      connectionsPerSecond: 100,
      rttMedianUs: 50,
      rttP99Us: 90,
      idleCpuPct: 0.5,
      servingCpuPct: 0.55,
    });
  assert.match(report(1_572_864), /64 KiB writes, 1\.500 MiB/);
  assert.match(report(256 * 2 ** 20), /64 KiB writes, 256 MiB/);
  assert.match(report(65_536), /64 KiB writes, 64 KiB\)/);
  // Below a MiB it read "0.000 MiB" for a stream of one byte.
  assert.match(report(1), /64 KiB writes, 1 byte\)/);
  assert.match(report(1000), /64 KiB writes, 1000 bytes\)/);
  assert.match(report(1), /medians of 1 run\n/);
  assert.match(report(1), /lab CPU, idle; vsock-echo waiting +0\.50 %; 0\.55 % of a core$/);
  // Every figure starts in one column, whatever the size's width (they were one off or more).
  for (const bytes of [1, 1_572_864, 256 * 2 ** 20]) {
    const columns = report(bytes).split("\n").slice(1).map((l) =>
      /^ {2}.+? {2,}(?=\S)/.exec(l)![0]
    );
    assert.equal(new Set(columns.map((c) => c.length)).size, 1, report(bytes));
  }
});

Deno.test("a partial vsock report shows '-' for the figures no run measured yet, not NaN", () => {
  const r = vsockReport({ bytes: 1 << 20, runs: 3, connections: 10, pings: 50 }, {
    streamRuns: [2],
    unixRuns: [4],
    rates: [],
    rtts: [],
  });
  const text = formatVsockReport(r);
  // One run of the three asked: it said "medians of 3 runs".
  assert.match(text, /^vsock bench: medians of 1 of 3 runs\n/);
  assert.doesNotMatch(text, /NaN/);
  assert.match(text, /Gbit\/s\n/);
  assert.match(text, /host to guest +- \/s/);
  assert.match(text, /median - µs, p99 - µs/);
  assert.match(text, /vsock-echo waiting +- %; - % of a core$/);
});

Deno.test("bench vsock under a TMPDIR too deep for a Unix socket says so before it starts a lab", async () => {
  // It failed a second into the run with "path must be shorter than SUN_LEN".
  const base = Deno.makeTempDirSync({ prefix: "vlab-vsock-deep-" });
  const deep = `${base}/${"d".repeat(100)}`;
  Deno.mkdirSync(deep);
  const saved = Deno.env.get("TMPDIR");
  Deno.env.set("TMPDIR", deep);
  try {
    await assert.rejects(
      runVsockBench({ bytes: 1, runs: 1, connections: 1, pings: 1 }),
      (e) =>
        e instanceof LabError &&
        /^its lab's socket "\/.+" is longer than a Unix socket path can be \(107 bytes\)$/
          .test(e.message) &&
        e.hint === "Set TMPDIR to a shorter folder (the bench's lab is made there)",
    );
    assert.deepEqual([...Deno.readDirSync(deep)], [], "its folder is removed");
  } finally {
    if (saved === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", saved);
    Deno.removeSync(base, { recursive: true });
  }
});

Deno.test("bench vsock's socket check covers every socket it makes: at the boundary length all fit", () => {
  // A folder whose `a/vsock.sock` is exactly 107 bytes (the longest a Unix socket path can be):
  // it passed the check, and the reference socket, `unix-ref.sock`, was 108 bytes.
  const boundary = `/tmp/${"d".repeat(107 - "/tmp/".length - "/a/vsock.sock".length)}`;
  assert.equal(new TextEncoder().encode(`${boundary}/a/vsock.sock`).length, 107);
  for (const dir of [boundary, `${boundary}d`, "/tmp/x"]) {
    const tooLong = benchSocketTooLong(dir);
    const lengths = benchSockets(dir).all.map((p) => new TextEncoder().encode(p).length);
    // Every socket it makes is checked: passed, all fit; refused, one does not.
    assert.equal(tooLong === null, lengths.every((n) => n <= 107), `${dir}: ${lengths}`);
  }
  assert.equal(benchSocketTooLong(boundary), null);
  assert.equal(benchSocketTooLong(`${boundary}d`), `${boundary}d/a/vsock.sock`);
  assert.ok(benchSockets("/t").all.includes(benchSockets("/t").reference));
});
