/**
 * A rebooting VM's new guest starts `OLD_GUEST_GRACE_MS` after its crash at the earliest: the
 * reboot waits out the rest of it, a fractional number of ms, through the lab's boot wait, which
 * must not end before it (the drill's loader counts on it: `vmRebootLeastMs`).
 */

import assert from "node:assert/strict";
import { LAB_TEST, startTestLab, waitForValue } from "./testing.ts";

const PAIR = {
  name: "reboot-grace",
  vms: {
    a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
  },
  links: [{ endpoints: ["a:eth0", "b:eth0"] }],
};

/** How far ahead the crash's clock reads, ms: no timer of the lab's own is that long. */
const AHEAD_MS = 7_777;

Deno.test({
  name: "a reboot's wait for the rest of its grace gives its timer whole ms, rounded up",
  ...LAB_TEST,
  fn: async () => {
    // Before, the boot wait gave setTimeout the rest as it was (19.3 ms, say), and Deno truncates
    // a fractional delay: the new guest could start 19 ms after the crash, 1 ms short.
    const lab = await startTestLab(PAIR);
    const asked: number[] = [];
    const realTimeout = globalThis.setTimeout;
    const realNow = performance.now;
    try {
      globalThis.setTimeout = ((fn: () => void, ms?: number) => {
        asked.push(ms ?? 0);
        return realTimeout(fn, ms);
      }) as typeof setTimeout;
      // The crash's own clock reads 7.777 s ahead (its reboot starts in the call's synchronous
      // part): the rest of the grace is some 7.8 s less the devices' power-on, however long that
      // takes, so the reboot surely waits for it. The lab's stop ends the wait.
      performance.now = () => realNow.call(performance) + AHEAD_MS;
      const crashed = lab.fault({ kind: "vm-crash", vm: "b" });
      performance.now = realNow;
      const r = await crashed;
      assert.ok(r.ok, r.ok ? "" : r.message);
      const grace = await waitForValue(
        "the reboot's wait for the rest of its grace",
        () => asked.find((ms) => ms > AHEAD_MS - 3_000 && ms <= AHEAD_MS + 20) ?? null,
      );
      assert.ok(Number.isInteger(grace), `the boot wait gave its timer ${grace} ms`);
    } finally {
      globalThis.setTimeout = realTimeout;
      performance.now = realNow;
      await lab.stop();
    }
  },
});
