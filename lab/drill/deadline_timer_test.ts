/**
 * The drill's timeout arms a timer that must not fire before it: the loader checks against the
 * timeout exactly (a vm-crash whose reboot surely ends at it or past it is refused, one that ends
 * sooner validates), and Deno truncates a fractional delay.
 */

import assert from "node:assert/strict";
import { inStateDir, LAB_TEST } from "../testing.ts";
import { runDrill } from "./run.ts";

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
