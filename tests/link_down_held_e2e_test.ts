/**
 * A link that goes down takes with it what its impairment stage holds, as Linux purges a device's
 * qdisc (and what netem holds) when the device goes down: a ping request delayed on the way is
 * never delivered, even when the link is up again before it was due, and it counts as `link down`
 * on its direction. Both kinds of producer: a switch port (the trunk between two switches) and a
 * NIC (a host's link to its switch).
 */

import assert from "node:assert/strict";
import { NO_IMPAIRMENT } from "../lab/host/impair.ts";
import { directionCounter } from "../lab/link_counts.ts";
import { LAB_TEST, startTestLab, trunkLab, waitForValue } from "../lab/testing.ts";

const TOPOLOGY = trunkLab("held-down");

interface PingResult {
  transmitted: number;
  received: number;
}

Deno.test({
  name: "a frame a link's delay holds is never delivered once the link went down (a switch " +
    "port's stage and a NIC's; down for good or up again before it was due)",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(TOPOLOGY);
    try {
      const ping = async () => {
        const r = await lab.exec("h1", ["ping", "10.0.0.3", "-c", "1", "-W", "1"]);
        assert.ok(r.ok, r.ok ? "" : r.message);
        return r.result as PingResult;
      };
      // ARP resolved both ways first: the next ping's first frame is the echo request.
      assert.equal((await ping()).received, 1, "the lab works");
      for (const [link, flap] of [["sw1-sw2", false], ["h1-sw1", true]] as const) {
        const plan = lab.plan.links.find((l) => l.name === link)!;
        const fwd = plan.forwardRing; // h1 → sw1, sw1 → sw2: the request's way
        // 700 ms: a delivered request's reply still comes within the ping's 1 s.
        lab.links.setImpairment(link, { ...NO_IMPAIRMENT, delayUs: 700_000 }, "forward");
        const count = () => directionCounter(lab)(fwd);
        const before = count();
        const framesIn = lab.ring(fwd).counters().framesIn;
        const pinging = ping();
        // The link goes down once the stage holds the request (a fixed 100 ms sleep raced the
        // request's way to the stage, and the down's way to the worker, on a loaded machine).
        await waitForValue(`${link}'s stage holding the request`, () => count().queued || null);
        lab.setLink(link, false);
        const linkDown = () => count().drops.linkDown - before.drops.linkDown;
        await waitForValue(`${link}'s link down drop`, () => linkDown() || null);
        // Up again long before the request was due: it was purged all the same.
        if (flap) lab.setLink(link, true);
        const result = await pinging;
        assert.equal(result.received, 0, `${link}: no reply`);
        assert.equal(
          lab.ring(fwd).counters().framesIn,
          framesIn,
          `${link}: the held request never went into the ring`,
        );
        assert.equal(linkDown(), 1, `${link}: the held request counts as link down`);
        lab.setLink(link, true);
        lab.links.setImpairment(link, NO_IMPAIRMENT, "forward");
      }
      assert.equal((await ping()).received, 1, "the lab works again");
    } finally {
      await lab.stop();
    }
  },
});
