/**
 * The net kind's capture, on a real lab (its receive loop runs only in a device worker with a
 * live driver): the link a → b's ring is read by b's NIC, which copies each frame it delivers
 * into the ring's tap while a capture is on. The NIC asks whether capture is on once a batch.
 */

import assert from "node:assert/strict";
import { LAB_TEST, startTestLab, waitForValue } from "../../testing.ts";

const PAIR = {
  name: "net-capture",
  seed: 7,
  vms: {
    a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
  },
  links: [{ endpoints: ["a:eth0", "b:eth0"] }],
};

/** Frames of each flood. */
const FLOOD = 300;

/** The UDP frames to 10.0.0.2 port 9 among pcap records (without the global header). */
function floodFrames(records: readonly Uint8Array[]): number {
  let n = 0;
  for (const r of records) {
    const dv = new DataView(r.buffer, r.byteOffset, r.byteLength);
    for (let at = 0; at + 16 <= r.length;) {
      const incl = dv.getUint32(at + 8, true);
      const f = r.subarray(at + 16, at + 16 + incl);
      at += 16 + incl;
      if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 17) continue;
      const ihl = (f[14] & 0x0f) * 4;
      const dst = f.subarray(30, 34).join(".");
      if (dst === "10.0.0.2" && ((f[14 + ihl + 2] << 8) | f[14 + ihl + 3]) === 9) n++;
    }
  }
  return n;
}

Deno.test({
  name: "b's NIC captures every frame of a flood while capture is on, none while it is off; " +
    "turned on or off between floods, capture holds from the next batch",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(PAIR);
    try {
      const link = lab.plan.links.find((l) => l.name === "a-b")!;
      const fwd = link.forwardRing;
      const consumer = lab.plan.rings[fwd].consumer;
      assert.equal(consumer.kind === "nic" && consumer.vm, "b", "b's NIC reads the ring a → b");
      const ring = lab.ring(fwd);
      const flood = async () => {
        const { framesOut: out, framesIn, publishes } = ring.counters();
        const r = await lab.exec("a", ["udp-flood", "10.0.0.2", "-n", String(FLOOD), "--max"]);
        if (!r.ok) assert.fail(r.message);
        assert.equal((r.result as { sent: number }).sent, FLOOD);
        // b's NIC took them all off the ring (each frame is captured before it is released).
        await waitForValue(
          "b's NIC to take the flood",
          () => ring.counters().framesOut - out >= FLOOD || null,
        );
        // a's device worker publishes the frames in bunches: b's NIC meets batches of several.
        const after = ring.counters();
        assert.ok(
          after.publishes - publishes < after.framesIn - framesIn,
          `${after.framesIn - framesIn} frames in ${after.publishes - publishes} publishes`,
        );
      };

      // Off: every frame delivered, none captured.
      await flood();
      assert.deepEqual(lab.tapCounters(fwd), { tapFrames: 0, tapBytes: 0, tapDropped: 0 });

      // On, between two floods: every frame of the next is captured, none dropped.
      const records: Uint8Array[] = [];
      const outBefore = ring.counters().framesOut;
      let delivered = 0;
      const stop = lab.capture("a-b", (r) => records.push(r.slice()));
      try {
        await flood();
        await waitForValue(
          "the flood's frames in the capture",
          () => floodFrames(records) >= FLOOD || null,
        );
        delivered = ring.counters().framesOut - outBefore;
      } finally {
        stop(); // the last reader leaving drains once more
      }
      assert.equal(floodFrames(records), FLOOD);
      const captured = lab.tapCounters(fwd);
      assert.equal(captured.tapDropped, 0);
      // Not only the flood: every frame b's NIC took off the ring meanwhile (ARP too).
      assert.equal(captured.tapFrames, delivered);

      // Off again: nothing more.
      await flood();
      assert.deepEqual(lab.tapCounters(fwd), captured);
    } finally {
      await lab.stop();
    }
  },
});
