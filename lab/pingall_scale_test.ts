/**
 * `vlab pingall` at scale: a lab of 64 VMs has 4032 ordered pairs, minutes of pinging. The rows
 * of the matrix come out as they are final (not all at the end), and a long run says up front how
 * long it can take and how to shorten it.
 */

import assert from "node:assert/strict";
import {
  formatPingall,
  type PairResult,
  pingallReport,
  PingallRows,
  pingallWorstSeconds,
  type PingPair,
  pingPairs,
  runPingall,
  selectVms,
} from "./pingall.ts";
import { LinePrinter, pingallDurationLine } from "../cli/pingall.ts";

const star = (n: number) =>
  ({
    vms: Array.from({ length: n }, (_, i) => ({
      name: `h${i}`,
      nics: [{ name: "eth0", ip: `10.0.${i >> 8}.${(i & 255) + 1}/16` }],
    })),
  }) as unknown as Parameters<typeof pingPairs>[0];

const ok = (p: PingPair): PairResult => ({ ...p, transmitted: 1, received: 1, error: null });

Deno.test("pingall prints each VM's row as soon as it is final, in lab order", async () => {
  const pairs = pingPairs(star(4));
  const lines: string[] = [];
  const rows = new PingallRows(["h0", "h1", "h2", "h3"], (l) => lines.push(l));
  // h3's pings hang until the test lets them go: the rows above it must be out by then.
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const seen: number[] = [];
  const run = runPingall(pairs, async (p) => {
    if (p.from === "h3") {
      seen.push(lines.length);
      await gate;
    } else await new Promise((r) => setTimeout(r, p.from === "h0" ? 5 : 1));
    return ok(p);
  }, { maxSources: 2, onSourceDone: (from, sofar) => rows.done(from, sofar) });
  while (seen.length === 0) await new Promise((r) => setTimeout(r, 1));
  // h1 finished before h0 but waits for it; by the time h3 pings, h0..h2 may be out.
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(lines, ["h0 -> h1 h2 h3", "h1 -> h0 h2 h3", "h2 -> h0 h1 h3"]);
  release();
  const results = await run;
  assert.deepEqual(
    lines,
    formatPingall(pingallReport(["h0", "h1", "h2", "h3"], results))
      .split("\n").slice(1, 5),
  );
});

Deno.test("pingall rows of VMs with no pair are printed in their place, not held back", () => {
  const lines: string[] = [];
  const rows = new PingallRows(["a", "x", "b"], (l) => lines.push(l), new Set(["a", "b"]));
  assert.deepEqual(lines, []);
  const results = [{
    from: "a",
    to: "b",
    dst: "10.0.0.2",
    transmitted: 1,
    received: 0,
    error: null,
  }];
  rows.done("a", results);
  assert.deepEqual(lines, ["a -> X", "x -> (shares no subnet with another VM)"]);
  assert.equal(rows.printed, 2);
});

Deno.test("pingall's worst case: 64 VMs, 4032 pairs, 8 at a time, 1.4 s a pair", () => {
  const pairs = pingPairs(star(64));
  assert.equal(pairs.length, 4032);
  assert.equal(pingallWorstSeconds(pairs, { count: 3, timeout: 1, maxSources: 8 }), 705.6);
  assert.equal(pingallWorstSeconds(pairs, { count: 1, timeout: 0.2, maxSources: 8 }), 100.8);
  // Uneven sources: the lanes balance as runPingall's do (each free lane takes the next source).
  assert.equal(pingallWorstSeconds(pingPairs(star(3)), { count: 1, timeout: 1, maxSources: 8 }), 2);
});

Deno.test("a long pingall says how many pairs and how long, a short one says nothing", () => {
  assert.equal(
    pingallDurationLine(pingPairs(star(64)), { count: 3, timeout: 1 }),
    "vlab: 4032 pairs, 8 VMs pinging at once: up to 12 min if no reply comes; `-c 1` or `--vms` shortens it",
  );
  assert.equal(
    pingallDurationLine(pingPairs(star(32)), { count: 1, timeout: 0.2 }),
    "vlab: 992 pairs, 8 VMs pinging at once: up to 25 s if no reply comes; `--vms` shortens it",
  );
  assert.equal(pingallDurationLine(pingPairs(star(4)), { count: 3, timeout: 1 }), null);
});

Deno.test("a lab of 64 VMs with no shared subnet prints one line, not 64 rows saying so", () => {
  const vms = Array.from({ length: 64 }, (_, i) => ({ name: `v${i}`, nics: [] }));
  const pairs = pingPairs({ vms } as unknown as Parameters<typeof pingPairs>[0]);
  assert.deepEqual(pairs, []);
  assert.equal(
    formatPingall(pingallReport(vms.map((v) => v.name), [])),
    [
      "*** Ping: testing ping reachability",
      "*** No two VMs share a subnet: nothing to ping",
      "*** Results: 0% dropped (0/0 received)",
    ].join("\n"),
  );
});

Deno.test("--vms picks VMs in lab order and names the ones the lab does not have", () => {
  const lab = ["h0", "h1", "h2", "h3"];
  assert.deepEqual(selectVms(lab, "h3, h1"), { vms: ["h1", "h3"], unknown: [] });
  assert.deepEqual(selectVms(lab, "h1,,zz,h1"), { vms: ["h1"], unknown: ["zz"] });
  assert.deepEqual(selectVms(lab, " , "), { vms: [], unknown: [] });
});

Deno.test("rows to a closed stdout: the first failed write is kept and reported once, no unhandled rejection", async () => {
  const written: string[] = [];
  const fails: unknown[] = [];
  const pipe = new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
  const printer = new LinePrinter((text) => {
    if (written.length === 2) throw pipe; // `| head -2` went away
    written.push(text);
  }, (e) => fails.push(e));
  for (let i = 0; i < 5; i++) printer.print(`row ${i}`);
  // An unhandled rejection would fail this test (Deno's sanitizer) before it got here.
  await printer.settled();
  assert.deepEqual(written, ["row 0\n", "row 1\n"]);
  assert.deepEqual(fails, [pipe]);
  assert.equal(printer.failed, pipe);
});
