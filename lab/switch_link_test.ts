/**
 * A link between two switches goes down and up like any other: while it is down neither switch
 * sends into it, the frames it would have carried count as `link down` drops, and traffic across
 * resumes when it comes back up (it used to change nothing but the event log).
 */

import assert from "node:assert/strict";
import { directionCounter, switchCounters } from "./link_counts.ts";
import { LAB_TEST, startTestLab, trunkLab, waitForValue } from "./testing.ts";

const TRUNK_LAB = { ...trunkLab("trunk"), seed: 3 };

Deno.test({
  name: "a link between two switches taken down stops traffic across, counted as link down",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(TRUNK_LAB);
    try {
      // A ping whose replies must all come waits 2 s for each (it costs time only when one is
      // lost: the first crosses two switch workers with its ARP, which took longer than 0.3 s on
      // a loaded machine); one that may get nothing, 0.3 s.
      const ping = async (wait = "0.3") => {
        const r = await lab.exec("h1", ["ping", "10.0.0.3", "-c", "3", "-i", "0.05", "-W", wait]);
        if (!r.ok) assert.fail(r.message);
        return (r.result as { received: number }).received;
      };
      assert.equal(await ping("2"), 3, "across the trunk while it is up");
      const learned = await lab.macTable("sw1");
      assert.deepEqual(learned?.macs.filter((e) => e.link === "sw1-sw2").length, 1, "h3 learned");
      assert.equal(lab.setLink("sw1-sw2", false), true);
      // The switches hear of the change by message: a request to each VM's guest is no proof
      // that they have, so wait (bounded) for the first ping that gets nothing.
      await waitForValue("a ping that gets nothing", async () => (await ping()) === 0 || null);
      assert.equal(await ping(), 0, "nothing crosses a trunk that is down");
      const trunk = lab.plan.links.find((l) => l.name === "sw1-sw2")!;
      // Workers publish their statistics periodically: wait for the three pings' drops to show.
      const dropped = await waitForValue("link-down drops on the trunk", () => {
        const count = directionCounter(lab);
        const n = count(trunk.forwardRing).drops.linkDown + count(trunk.reverseRing).drops.linkDown;
        return n >= 3 ? n : null;
      });
      assert.ok(dropped >= 3, `${dropped} link-down drops`);
      // sw1 forgot h3, learned behind the trunk, when the trunk went down (as Linux's bridge
      // flushes a port going down); it kept it until it aged out, 300 s later.
      await waitForValue("sw1 forgetting the trunk's stations", async () => {
        const sw1 = await lab.macTable("sw1");
        return sw1 !== null && sw1.macs.every((e) => e.link !== "sw1-sw2") || null;
      });
      assert.equal(lab.setLink("sw1-sw2", true), true);
      await waitForValue("a ping that gets through", async () => (await ping()) > 0 || null);
      assert.equal(await ping("2"), 3, "traffic across resumes once the trunk is up");
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "an idle switch, and one no link joins, show their counters (all 0) before any traffic",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab({
      name: "idle",
      seed: 1,
      vms: { h1: { nics: { eth0: {} } } }, // no address: the guest sends nothing
      switches: { sw1: {}, lone: {} }, // lone: no link (0 ports) used to stop the lab starting
      links: [{ endpoints: ["h1", "sw1"] }],
    });
    try {
      for (const name of ["sw1", "lone"]) {
        const counters = await waitForValue(`the counters of ${name}`, () => {
          const w = lab.workerStats().find((w) => w.kind === "switch" && w.owner === name);
          const c = switchCounters(w?.stats ?? {});
          return Object.keys(c).length > 0 ? c : null;
        }, 2000);
        assert.equal(counters.forwarded, 0, name);
        assert.equal(counters.flooded, 0, name);
      }
    } finally {
      await lab.stop();
    }
  },
});
