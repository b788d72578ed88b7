/**
 * Every drop cause of a link direction and every wait show alike in `vlab status` (`labStatus`,
 * its table), the dashboard's snapshot and `/metrics`; a frame that waited is not a drop.
 */

import assert from "node:assert/strict";
import { formatStatus } from "../cli/status.ts";
import { labStatus, prometheusMetrics } from "./metrics.ts";
import { takeSnapshot } from "./snapshot.ts";
import { LAB_TEST, startTestLab, waitForValue } from "./testing.ts";
import { totalDrops } from "./link_counts.ts";
import { impairQueued, strandedImpairCounts } from "./impair_stats.ts";

const FLOOD_LAB = {
  name: "flood-counts",
  seed: 5,
  vms: {
    a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.0.0.2/24", layout: "packed" } } },
  },
  // a → b through a 10 mbit/s rate limit with a short queue; b → a unimpaired.
  links: [{ endpoints: ["a:eth0", "b:eth0"], forward: { rate: "10mbit", limit: 64 } }],
};

/** The metric sample value with these labels (fails the test when absent). */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + "{")) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) {
      return Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  assert.fail(`no ${name} ${JSON.stringify(labels)}`);
}

Deno.test({
  name:
    "drops at a rate limit's queue and waits for RX buffers show in status, snapshot and metrics",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(FLOOD_LAB);
    try {
      // Both directions at once, as fast as the rings allow, for a bounded time.
      const [ab, ba] = await Promise.all([
        lab.exec("a", ["udp-flood", "10.0.0.2", "-p", "9", "-s", "1000", "--max", "-t", "1"]),
        lab.exec("b", ["udp-flood", "10.0.0.1", "-p", "9", "-s", "64", "--max", "-t", "1"]),
      ]);
      assert.ok(ab.ok && ba.ok, "both floods ran");
      // The backlog left in the link rings drains after the floods end: read once it has.
      const status = await waitForValue("the backlog to drain", () => {
        const s = labStatus(lab);
        const same = s.links[0].reverse.waits.rxBuffer === s.vms[0].nics[0].device.rxBufferWaits;
        return same && s.links[0].reverse.frames === labStatus(lab).links[0].reverse.frames
          ? s
          : null;
      });
      const snap = takeSnapshot(lab);
      const metrics = prometheusMetrics(lab);
      const [fwd, rev] = [status.links[0].forward, status.links[0].reverse];

      // a → b: the rate limit's queue overflowed; every such drop is counted as one, everywhere.
      assert.ok(fwd.drops.queueLimit > 1000, `queue-limit drops ${fwd.drops.queueLimit}`);
      assert.equal(fwd.dropped, totalDrops(fwd.drops));
      assert.equal(snap.links[0].forward.drops.queueLimit >= fwd.drops.queueLimit, true);
      const m = sample(metrics, "vlab_link_drops_total", {
        link: "a-b",
        direction: "forward",
        cause: "queue_limit",
      });
      assert.ok(m >= fwd.drops.queueLimit, `metrics ${m} < status ${fwd.drops.queueLimit}`);
      assert.match(formatStatus(status), /forward .*queue limit \d+/);

      // b → a: nothing impaired, nothing dropped; a's RX ring ran dry and frames waited.
      assert.equal(rev.dropped, 0, JSON.stringify(rev.drops));
      assert.equal(totalDrops(snap.links[0].reverse.drops), 0);
      assert.ok(rev.waits.rxBuffer > 0, "a 64-byte flood makes frames wait for RX buffers");
      assert.equal(rev.waits.rxBuffer, status.vms[0].nics[0].device.rxBufferWaits);
      assert.equal(
        sample(metrics, "vlab_link_drops_total", {
          link: "a-b",
          direction: "reverse",
          cause: "loss",
        }),
        0,
      );
      assert.ok(
        sample(metrics, "vlab_link_waits_total", {
          link: "a-b",
          direction: "reverse",
          cause: "rx_buffer",
        }) > 0,
      );
      assert.doesNotMatch(formatStatus(status), /reverse [^\n]*dropped/);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "the guest stack's drops reach status, the snapshot and metrics with their cause",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab({
      ...FLOOD_LAB,
      name: "guest-drops",
      links: [FLOOD_LAB.links[0]],
    });
    try {
      // Datagrams to a port nobody bound: b's stack drops them (no listener).
      const r = await lab.exec("a", [
        "udp-flood",
        "10.0.0.2",
        "-p",
        "4242",
        "-n",
        "20",
        "-r",
        "2000",
      ]);
      assert.ok(r.ok);
      const drops = await waitForValue("b's published stack drops", () => {
        const d = labStatus(lab).vms[1].guestDrops;
        return (d.noListener ?? 0) >= 20 ? d : null;
      });
      assert.ok(drops.noListener >= 20, JSON.stringify(drops));
      assert.equal(takeSnapshot(lab).vms[1].guestDrops?.noListener, drops.noListener);
      assert.ok(
        sample(prometheusMetrics(lab), "vlab_guest_stack_drops_total", {
          vm: "b",
          cause: "no_listener",
        }) >= 20,
      );
      assert.match(
        formatStatus(labStatus(lab)),
        /^ {2}b {2}guest stack dropped \d+ \(.*no listener \d+/m,
      );
    } finally {
      await lab.stop();
    }
  },
});

/** A NIC's stage that holds 3 frames: 10 offered + 2 copies - 1 lost - 1 over the limit - 5 - 2. */
const ETH0_HOLDS_3 = {
  eth0_impair_offered: 10,
  eth0_impair_duplicated: 2,
  eth0_impair_lost: 1,
  eth0_impair_dropped_limit: 1,
  eth0_impair_delivered: 5,
  eth0_impair_purged: 2,
};

Deno.test("strandedImpairCounts: what each stage held, as its producer's link-down drops and purged", () => {
  assert.deepEqual(
    strandedImpairCounts({
      ...ETH0_HOLDS_3,
      eth1_impair_offered: 4,
      eth1_impair_delivered: 4,
      vsock_impair_offered: 3,
      frames: 9,
    }),
    {
      eth0_link_down_dropped: 3,
      eth0_impair_purged: 3,
      vsock_link_down_dropped: 3,
      vsock_impair_purged: 3,
    },
  );
});

Deno.test("impairQueued: what a stage holds now, never below 0", () => {
  const stats = ETH0_HOLDS_3;
  assert.equal(impairQueued(stats, "eth0_impair_"), 3);
  assert.equal(impairQueued({ ...stats, eth0_impair_delivered: 9 }, "eth0_impair_"), 0);
  assert.equal(impairQueued(stats, "eth1_impair_"), 0);
});

Deno.test({
  name:
    "what a rate limit's queue holds shows as queued in status, snapshot and metrics, then drains",
  ...LAB_TEST,
  fn: async () => {
    // 1 mbit/s: 200 frames of 1000 bytes take 1.6 s to leave; a flood sends them in milliseconds.
    const lab = await startTestLab({
      ...FLOOD_LAB,
      name: "queued-counts",
      links: [{ endpoints: ["a:eth0", "b:eth0"], forward: { rate: "1mbit", limit: 1000 } }],
    });
    try {
      const sent = await lab.exec("a", [
        "udp-flood",
        "10.0.0.2",
        "-p",
        "9",
        "-s",
        "1000",
        "--max",
        "-n",
        "200",
      ]);
      assert.ok(sent.ok, "the flood ran");
      // Workers publish their statistics a few times a second: the queue shows at the next. One
      // published while the flood still ran (a loaded machine) may show its first frames only:
      // wait for the queue the whole flood left (200 frames, draining at 125 a second).
      const fwd = await waitForValue("the queue to show", () => {
        const d = labStatus(lab).links[0].forward;
        return d.queued > 50 ? d : null;
      });
      assert.ok(fwd.queued > 50 && fwd.queued <= 200, `queued ${fwd.queued}`);
      assert.equal(fwd.dropped, 0);
      assert.match(formatStatus(labStatus(lab)), /forward .*; \d+ queued$/m);
      const queuedNow = (text: string) =>
        sample(text, "vlab_link_queued_frames", { link: "a-b", direction: "forward" });
      assert.ok(queuedNow(prometheusMetrics(lab)) > 0);
      assert.ok((takeSnapshot(lab).links[0].forward.queued ?? 0) > 0);
      const reverse = { link: "a-b", direction: "reverse" };
      assert.equal(sample(prometheusMetrics(lab), "vlab_link_queued_frames", reverse), 0);
      // The rate lets them all through, and nothing is left queued.
      const drained = await waitForValue("the queue to drain", () => {
        const d = labStatus(lab).links[0].forward;
        return d.queued === 0 ? d : null;
      });
      assert.ok(drained.frames >= 200, `${drained.frames} frames delivered`);
      assert.equal(queuedNow(prometheusMetrics(lab)), 0);
      assert.doesNotMatch(formatStatus(labStatus(lab)), /\d+ queued/);
    } finally {
      await lab.stop();
    }
  },
});
