/**
 * `Lab.exec` from a script: whatever a caller hands in, the promise settles with an answer. Words
 * that are not a non-empty array of strings are refused in one line plus a hint (they used to
 * reach the guest, whose parser threw before it answered: the promise never settled), and a
 * signal aborted before the call cancels the workload at once.
 */

import assert from "node:assert/strict";
import { LAB_TEST, startTestLab, within } from "../lab/testing.ts";

Deno.test({
  ...LAB_TEST,
  name: "Lab.exec answers every call: bad words are refused, an aborted signal cancels at once",
  fn: async () => {
    const lab = await startTestLab({
      name: "exec-api",
      vms: {
        a: { nics: { eth0: { ip: "10.31.0.1/24" } } },
        b: { nics: { eth0: { ip: "10.31.0.2/24" } } },
      },
      links: [{ endpoints: ["a:eth0", "b:eth0"] }],
    });
    try {
      const bad: [unknown, RegExp][] = [
        [["ping", "10.31.0.2", "-c", 1], /got number at index 3/],
        [["ping", null], /got null at index 1/],
        [null, /got null$/],
        [undefined, /got undefined$/],
        ["ping 10.31.0.2", /got string$/],
        [[], /got an empty array$/],
        [[{}], /got object at index 0/],
      ];
      for (const [argv, detail] of bad) {
        const r = await within(5000, JSON.stringify(argv), lab.exec("a", argv as string[]));
        assert.equal(r.ok, false, JSON.stringify(argv));
        if (r.ok) continue;
        assert.match(r.message, /^Cannot run a workload: its words must be a non-empty array/);
        assert.match(r.message, detail);
        assert.match(r.hint, /\["ping", "10\.0\.0\.2", "-c", "3"\]/);
      }
      // The guest still answers afterwards.
      const ping = await within(10_000, "ping", lab.exec("a", ["ping", "10.31.0.2", "-c", "1"]));
      assert.ok(ping.ok, ping.ok ? "" : ping.message);

      // Aborted before the call: 100 pings 100 ms apart would take 10 s; cancelled, it ends at once.
      const abort = new AbortController();
      abort.abort();
      const t0 = performance.now();
      const r = await within(
        5000,
        "aborted ping",
        lab.exec("a", ["ping", "10.31.0.2", "-c", "100", "-i", "0.1"], abort.signal),
      );
      assert.ok(performance.now() - t0 < 3000, "cancelled at once, not after 100 pings");
      if (r.ok) {
        const sent = (r.result as { transmitted: number }).transmitted;
        assert.ok(sent < 100, `sent ${sent} of 100 pings`);
      }
    } finally {
      await lab.stop();
    }
  },
});
