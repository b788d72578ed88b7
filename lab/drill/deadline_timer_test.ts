/**
 * The drill's timeout arms a timer that must not fire before it: the loader checks against the
 * timeout exactly (a vm-crash whose reboot surely ends at it or past it is refused, one that ends
 * sooner validates), and Deno truncates a fractional delay. So does the wait for a step's due
 * time, counted on the drill's clock itself, not on its elapsed time rounded to 0.1 ms.
 */

import assert from "node:assert/strict";
import { inStateDir, LAB_TEST } from "../testing.ts";
import { drillClock, runDrill } from "./run.ts";

Deno.test({
  name: "a drill's fractional timeout arms its deadline for whole ms, rounded up",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-drill-deadline-", async () => {
      // Before, setTimeout was given 1500.5 ms: it may fire after 1500 ms, before the timeout.
      const asked: number[] = [];
      const real = globalThis.setTimeout;
      globalThis.setTimeout = ((fn: () => void, ms?: number) => {
        asked.push(ms ?? 0);
        return real(fn, ms);
      }) as typeof setTimeout;
      let r;
      try {
        r = await runDrill({ topology: "pair", timeout: "1500500us", timeline: [{ wait: "1ms" }] });
      } finally {
        globalThis.setTimeout = real;
      }
      assert.equal(r.error, undefined);
      assert.ok(asked.includes(1501), JSON.stringify(asked));
      assert.ok(!asked.includes(1500.5), JSON.stringify(asked));
    }),
});

Deno.test({
  name: "a drill's step starts once the drill's clock reaches its due time, not once its elapsed " +
    "time rounded to 0.1 ms does",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-drill-due-", async () => {
      // Before, the runner slept until a step's due time minus elapsedMs(), which is rounded to
      // 0.1 ms: at 99.96 ms it read 100.0, and a step due at 100 ms started 0.04 ms early. The
      // drill's clock here: real time from the drill's start (its first read), until the
      // runner's first read after the line of the step before, as that step ends: from then it
      // reads 99.96 ms, and moves on only when a timer set since fires, by that timer's delay,
      // then with real time again. So a step started without a timer started at 99.96 ms.
      const real = drillClock.now;
      const realTimeout = globalThis.setTimeout;
      let offset = 0;
      let t0: number | null = null;
      let armed = false;
      let held: number | null = null;
      const read = () => held ?? real() + offset;
      const clock = () => {
        const t = read();
        t0 ??= t;
        if (!armed) return t;
        armed = false;
        // Only forward: a machine that took 99.96 ms to get there leaves the clock be.
        if (t - t0 < 99.96) held = t0 + 99.96;
        return read();
      };
      globalThis.setTimeout = ((fn: () => void, ms = 0) => {
        const from = held;
        if (from === null) return realTimeout(fn, ms);
        return realTimeout(() => {
          if (held === from) {
            offset = from + ms - real();
            held = null;
          }
          fn();
        }, ms);
      }) as typeof setTimeout;
      const lines: { line: string; atMs: number }[] = [];
      let r;
      drillClock.now = clock;
      try {
        r = await runDrill({
          topology: "pair",
          timeline: [{ wait: "50ms" }, { at: "100ms", wait: "1ms" }],
        }, {
          onProgress: (line) => {
            if (line.includes("#0 wait 50 ms")) armed = true;
            lines.push({ line, atMs: read() - t0! });
          },
        });
      } finally {
        drillClock.now = real;
        globalThis.setTimeout = realTimeout;
      }
      assert.equal(r.error, undefined);
      assert.equal(r.steps.length, 2);
      // The step's line goes out as it starts.
      const step = lines.find((l) => l.line.includes("#1 wait 1 ms"));
      assert.ok(step !== undefined, JSON.stringify(lines));
      assert.ok(step.atMs >= 100, `the step due at 100 ms started at ${step.atMs} ms`);
    }),
});
