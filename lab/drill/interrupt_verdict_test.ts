/**
 * A drill interrupted (Ctrl-C or SIGTERM: `vlab drill run` passes its signal) cuts its workloads
 * still running short: what they answer is the part they ran, no whole run. An assertion on one
 * is an error ("not judged", with the reason), as on a workload the lab's stop cut short; it was
 * judged pass or fail on that part. A workload that ended before the interruption is judged. So
 * with a drill its own timeout stopped (and one a failed step ended: run_test.ts).
 */

import assert from "node:assert/strict";
import { inStateDir, LAB_TEST } from "../testing.ts";
import { runDrill } from "./run.ts";

Deno.test({
  name: "an interrupted drill does not judge an assertion on a workload it cut short; one that " +
    "ended is judged",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-drill-int-", async () => {
      const abort = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const started = performance.now();
      try {
        const r = await runDrill({
          topology: "pair",
          timeline: [
            { exec: { vm: "b", argv: ["ping", "10.0.0.1", "-c", "1"], as: "quick" } },
            {
              exec: {
                vm: "a",
                argv: ["ping", "10.0.0.2", "-c", "100", "-i", "0.05"],
                background: true,
                as: "long",
              },
            },
          ],
          assert: ["long.transmitted > 0", "quick.received == 1"],
        }, {
          signal: abort.signal,
          onProgress: (line) => {
            // Ctrl-C a moment after the long ping started (it would run 5 s).
            if (line.includes("#1 exec a")) timer = setTimeout(() => abort.abort(), 300);
          },
        });
        assert.ok(performance.now() - started < 15_000, "the drill ran on after the interrupt");
        assert.equal(r.error, "The drill was interrupted");
        assert.equal(r.passed, false);
        // The ping the interruption cut short is not judged on the part it ran (it was a pass).
        const [long, quick] = r.assertions;
        assert.equal(long.verdict, "error", JSON.stringify(long));
        assert.match(
          long.error ?? "",
          /Workload "long" failed: The workload was cut short: the drill was interrupted while it ran/,
        );
        // What it measured stays in the result, as partial.
        const ping = r.workloads.long as { kind: string; partial?: { transmitted: number } };
        assert.equal(ping.kind, "error");
        const sent = ping.partial?.transmitted ?? 0;
        assert.ok(sent > 0 && sent < 100, JSON.stringify(ping));
        // The ping that ended before the interruption is judged.
        assert.equal(quick.verdict, "pass", JSON.stringify(quick));
        assert.equal((r.workloads.quick as { kind: string }).kind, "ping");
      } finally {
        clearTimeout(timer);
      }
    }),
});

Deno.test({
  name: "a drill that timed out does not judge an assertion on a workload it cut short; one that " +
    "ended is judged",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-drill-int-", async () => {
      const started = performance.now();
      const r = await runDrill({
        topology: "pair",
        timeout: "1s",
        timeline: [
          { exec: { vm: "b", argv: ["ping", "10.0.0.1", "-c", "1"], as: "quick" } },
          // It ends at its millionth datagram or at 5 s: the flood sends 100, the timeout cuts it
          // (the words of a ping that runs past the timeout would be refused by the loader).
          {
            exec: {
              vm: "b",
              argv: ["sink", "-t", "5", "-n", "1000000"],
              background: true,
              as: "sink",
            },
          },
          { exec: { vm: "a", argv: ["udp-flood", "10.0.0.2", "-n", "100", "-r", "1000"] } },
        ],
        assert: ["sink.received > 0", "quick.received == 1"],
      });
      assert.ok(performance.now() - started < 15_000, "the drill ran on past its timeout");
      assert.equal(r.error, "The drill did not end within 1000 ms");
      assert.equal(r.passed, false);
      // The sink the timeout cut short is not judged on the part it ran (it was a pass).
      const [sink, quick] = r.assertions;
      assert.equal(sink.verdict, "error", JSON.stringify(sink));
      assert.match(
        sink.error ?? "",
        /Workload "sink" failed: The workload was cut short: the drill timed out while it ran/,
      );
      const cut = r.workloads.sink as { kind: string; partial?: { received: number } };
      assert.equal(cut.kind, "error");
      assert.ok((cut.partial?.received ?? 0) > 0, JSON.stringify(cut));
      assert.equal(quick.verdict, "pass", JSON.stringify(quick));
    }),
});
