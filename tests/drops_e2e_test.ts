/**
 * Every frame a link delivers is accounted for at the receiving NIC: written into an RX buffer,
 * or a drop with its cause. A guest bug that breaks b's receiveq under a flood stops b's NIC
 * until b's guest has reset it; the frames that reach it meanwhile are `NIC not live` drops
 * (they used to vanish: the link counted them delivered, the NIC counted nothing).
 */

import assert from "node:assert/strict";
import { NetCounter } from "../devices/net/metrics.ts";
import { directionCounter } from "../lab/link_counts.ts";
import { LAB_TEST, startTestLab, waitForValue } from "../lab/testing.ts";
import { deviceControl } from "../lab/wire/control.ts";

Deno.test({
  ...LAB_TEST,
  name: "frames reaching a NIC that is being reset are counted drops (NIC not live), none vanish",
  fn: async () => {
    const lab = await startTestLab({
      name: "drops-not-live",
      seed: 3,
      vms: {
        a: { nics: { eth0: { ip: "10.32.0.1/24" } } },
        b: { nics: { eth0: { ip: "10.32.0.2/24" } } },
      },
      links: [{ endpoints: ["a:eth0", "b:eth0"] }],
    });
    try {
      const b = lab.plan.vms.find((v) => v.name === "b")!;
      const bNic = b.nics.find((n) => n.name === "eth0")!;
      const rx = deviceControl(lab.controlOf(b.index), b.control.devices[bNic.index])
        .deviceCounters;
      const sink = (await lab.spawn("b", ["sink", "-t", "4"])).result;
      const flood = lab.exec("a", ["udp-flood", "10.32.0.2", "-r", "10000", "-n", "15000"]);
      await waitForValue("b receiving", () => rx[NetCounter.rxFrames] > 2000 ? true : null);
      // A receiveq whose every buffer the device took (none returned yet: the guest preempted
      // on a loaded machine) has no buffer for the bug at that moment: the lab asks the guest
      // again until one comes back (GUEST_BUG_ROOM_MS).
      const f = await lab.fault({
        kind: "guest-bug",
        vm: "b",
        device: "eth0",
        queue: "receiveq",
        bug: "loop",
      });
      assert.ok(f.ok, f.ok ? "" : f.message);
      await waitForValue(
        "b's reset",
        () =>
          lab.events.recent().some((e) => e.kind === "device-reset" && e.subject === "b") || null,
        10_000,
      );
      const sent = await flood;
      assert.ok(sent.ok, sent.ok ? "" : sent.message);
      const got = await sink;
      assert.ok(got.ok, got.ok ? "" : got.message);
      // The link delivered `frames` to b's NIC: each one is in an RX buffer or a counted drop,
      // read once the workers' statistics have caught up (10 s at most; then said below).
      const accounted = () => {
        const forward = directionCounter(lab)(lab.plan.links[0].forwardRing);
        const d = forward.drops;
        const sum = rx[NetCounter.rxFrames] + d.notLive + d.tooBig + d.runt +
          rx[NetCounter.rxLinkDown];
        return { forward, settled: forward.frames === sum };
      };
      const { forward } = await waitForValue("b's counts settled", () => {
        const a = accounted();
        return a.settled ? a : null;
      }, 10_000).catch(accounted);
      const written = rx[NetCounter.rxFrames];
      assert.equal(
        forward.frames,
        written + forward.drops.notLive + forward.drops.tooBig + forward.drops.runt +
          rx[NetCounter.rxLinkDown],
        `link delivered ${forward.frames}, NIC wrote ${written}, drops ${
          JSON.stringify(forward.drops)
        }`,
      );
      assert.ok(forward.drops.notLive > 0, "some frames met b's NIC while it was stopped");
      assert.equal(forward.dropped, totalOf(forward.drops));
    } finally {
      await lab.stop();
    }
  },
});

function totalOf(d: object): number {
  return Object.values(d).reduce((a: number, b: number) => a + b, 0);
}
