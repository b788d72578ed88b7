/**
 * Partitions and live impairments on a running lab with two switches: a cut between two sets of
 * VMs holds across switches (pings across it fail, pings within a side succeed, heal restores
 * them), each frame it stops is counted as a partition drop, and the event log records
 * `partition` and `heal`.
 */

import assert from "node:assert/strict";
import type { Lab } from "../lab/lab.ts";
import { labStatus } from "../lab/metrics.ts";
import { takeSnapshot } from "../lab/snapshot.ts";
import { NO_IMPAIRMENT } from "../lab/host/impair.ts";
import { LAB_TEST, startTestLab, waitForValue } from "../lab/testing.ts";

const TOPOLOGY = {
  name: "cut",
  vms: {
    a: { nics: { eth0: { ip: "10.9.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.9.0.2/24" } } },
    c: { nics: { eth0: { ip: "10.9.0.3/24" } } },
  },
  switches: { s1: {}, s2: {} },
  links: [
    { endpoints: ["a", "s1"] },
    { endpoints: ["b", "s1"] },
    { endpoints: ["s1", "s2"] },
    { endpoints: ["c", "s2"] },
  ],
};

/**
 * Replies to 2 pings from `from` to `to`. A ping that should get its replies waits 2 s for each
 * (`expected` > 0: it costs time only when one is lost, and a loaded machine's first ping, whose
 * ARP crosses two switch workers, took longer than 0.3 s); one that should not, 0.3 s.
 */
async function received(lab: Lab, from: string, to: string, expected = 2): Promise<number> {
  const wait = expected > 0 ? "2" : "0.3";
  const r = await lab.exec(from, ["ping", to, "-c", "2", "-i", "0.05", "-W", wait]);
  assert.ok(r.ok, r.ok ? "" : r.message);
  return (r.result as { received: number }).received;
}

/**
 * Ping until `expected` replies come back, at most 5 times: a change reaches the workers by
 * message, and a ping started in the same instant may cross before it (as with `tc`).
 */
async function settles(lab: Lab, from: string, to: string, expected: number, what: string) {
  let got = -1;
  for (let attempt = 0; attempt < 5 && got !== expected; attempt++) {
    got = await received(lab, from, to, expected);
  }
  assert.equal(got, expected, what);
}

/** Partition drops of every link direction, as `vlab status` and the snapshot show them. */
function partitionDrops(lab: Lab): { status: number; snapshot: number } {
  const status = labStatus(lab).links.reduce(
    (n, l) => n + l.forward.drops.partition + l.reverse.drops.partition,
    0,
  );
  const snapshot = takeSnapshot(lab).links.reduce(
    (n, l) => n + l.forward.drops.partition + l.reverse.drops.partition,
    0,
  );
  return { status, snapshot };
}

Deno.test({
  name: "a partition across two switches cuts pings across it, not within a side; heal restores",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(TOPOLOGY);
    try {
      assert.equal(await received(lab, "a", "10.9.0.3"), 2, "before the cut");
      const p = lab.links.partition(["a", "b"], ["c"], false);
      assert.ok(p.ok);
      await settles(lab, "a", "10.9.0.3", 0, "a → c across the cut");
      assert.equal(await received(lab, "c", "10.9.0.2", 0), 0, "c → b across the cut");
      assert.equal(await received(lab, "a", "10.9.0.2"), 2, "a → b on the same side");
      // Worker statistics are published periodically: wait for the drops to show.
      const drops = await waitForValue("partition drops in the statistics", () => {
        const n = partitionDrops(lab);
        return n.status > 0 ? n : null;
      });
      assert.ok(drops.snapshot >= drops.status, JSON.stringify(drops));
      assert.ok(
        labStatus(lab).links.find((l) => l.name === "a-s1")!.forward.drops.partition > 0,
        "a's frames to c are cut where a sends them",
      );
      assert.deepEqual(lab.links.heal(), [p.value.id]);
      await settles(lab, "a", "10.9.0.3", 2, "after heal");
      const kinds = lab.events.recent().map((e) => e.kind);
      assert.ok(kinds.includes("partition") && kinds.includes("heal"), kinds.join(", "));

      // One way, a to c: c's frames still reach a, a's answers do not reach c.
      const intoA = () => labStatus(lab).links.find((l) => l.name === "a-s1")!.reverse.frames;
      const before = intoA();
      assert.ok(lab.links.partition(["a"], ["c"], true).ok);
      await settles(lab, "c", "10.9.0.1", 0, "c → a with a's answers cut");
      assert.ok(intoA() > before, "c's frames reached a through both switches");
      assert.equal(lab.links.heal().length, 1);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "a live impairment on a switch port applies at once and clears",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(TOPOLOGY);
    try {
      // ARP first: a lost ARP request is retried on the guest's schedule, not at once.
      assert.equal(await received(lab, "a", "10.9.0.3"), 2, "before the impairment");
      // The s1-s2 link's producers are both switch workers.
      assert.equal(
        lab.links.setImpairment("s1-s2", { ...NO_IMPAIRMENT, lossPct: 100 }, "both"),
        true,
      );
      await settles(lab, "a", "10.9.0.3", 0, "a → c across the lossy s1-s2");
      assert.equal(await received(lab, "a", "10.9.0.2"), 2, "a → b does not cross s1-s2");
      lab.links.setImpairment("s1-s2", NO_IMPAIRMENT, "both");
      await settles(lab, "a", "10.9.0.3", 2, "after clear");
      assert.equal(lab.links.setImpairment("nope", NO_IMPAIRMENT, "both"), false);
    } finally {
      await lab.stop();
    }
  },
});
