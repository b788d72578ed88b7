/**
 * Checksum offload (VIRTIO_NET_F_CSUM / VIRTIO_NET_F_GUEST_CSUM) end to end, on real labs: a pair
 * whose NICs both offer `csum` passes partial checksums through (NEEDS_CSUM on both sides); a NIC
 * without `csum` gets them completed by its device; a link that corrupts frames completes the
 * checksum first (as netem does), so the receiver still sees every flip. ICMP is never offloaded,
 * so pings work in every setup.
 *
 * Every test starts workers and shared memory that outlive a single tick of the event loop, so
 * the resource and op sanitizers are off; each lab is stopped in `finally`.
 */

import assert from "node:assert/strict";
import { Lab } from "./lab.ts";
import { planLab } from "./plan.ts";
import { topologyFromObject } from "./topology/mod.ts";
import { parseImpairment } from "./topology/impairment.ts";
import { takeSnapshot } from "./snapshot.ts";
import { guestStackDrops } from "./link_counts.ts";
import { LAB_TEST, waitForValue } from "./testing.ts";
import { execOk, spawnOk } from "./bench/net_run.ts";

const NO_CSUM = ["event_idx", "mrg_rxbuf"];

/**
 * A pair a (10.0.0.1) – b (10.0.0.2) on one link (a virtio-net link, or `vhost-pci`: b serves a's
 * queues); `bFeatures` overrides b's NIC features.
 */
async function startPair(
  name: string,
  bFeatures?: string[],
  kind?: "vhost-pci",
): Promise<Lab> {
  const t = topologyFromObject({
    name,
    seed: 5,
    vms: {
      a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
      b: {
        nics: { eth0: { ip: "10.0.0.2/24", ...(bFeatures ? { features: bFeatures } : {}) } },
      },
    },
    links: [{ ...(kind ? { kind } : {}), endpoints: ["a:eth0", "b:eth0"] }],
  }, `<test ${name}>`);
  if (!t.ok) throw new Error(`topology: ${t.error.map((i) => i.message).join("; ")}`);
  return await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
}

/** A VM's NIC as a snapshot shows it: negotiated features and device counters. */
function nic(lab: Lab, vm: string) {
  return takeSnapshot(lab).vms.find((v) => v.name === vm)!.devices[0];
}

/** The guest worker's published statistics of `vm` (`stack_*`, refreshed every ~100 ms). */
function guestStats(lab: Lab, vm: string): Record<string, number> {
  return lab.workerStats().find((w) => w.kind === "guest" && w.owner === vm)?.stats ?? {};
}

/** Wait until `vm`'s published stack counter `key` reaches `atLeast`; its statistics then. */
async function settledStack(
  lab: Lab,
  vm: string,
  key: string,
  atLeast: number,
): Promise<Record<string, number>> {
  return await waitForValue(`${vm}'s ${key} to reach ${atLeast}`, () => {
    const s = guestStats(lab, vm);
    return (s[key] ?? -1) >= atLeast ? s : null;
  });
}

/** Pings both ways must all come back (ICMP is never offloaded). */
async function pingBothWays(lab: Lab): Promise<void> {
  for (const [from, to] of [["a", "10.0.0.2"], ["b", "10.0.0.1"]]) {
    const r = await execOk(lab, from, ["ping", to, "-c", "3", "-i", "0.02"]);
    assert.equal(r.received, 3, `${from} → ${to}: ${JSON.stringify(r)}`);
  }
}

const SIZES = [64, 1500];

/**
 * Flood a → b:9 with `count` datagrams of each size in `SIZES` into a sink on b, which ends after
 * `sinkSeconds` (or, `untilCount`, at the last datagram); what was sent and what it counted.
 */
async function floodAToB(
  lab: Lab,
  count: number,
  sinkSeconds: number,
  untilCount: boolean,
): Promise<{ sent: number; sink: Record<string, number> }> {
  const total = count * SIZES.length;
  const sinkArgv = [
    "sink",
    "-t",
    String(sinkSeconds),
    ...(untilCount ? ["-n", String(total)] : []),
  ];
  const sink = (await spawnOk(lab, "b", sinkArgv)).result;
  let sent = 0;
  for (const size of SIZES) {
    const f = await execOk(lab, "a", [
      "udp-flood",
      "10.0.0.2",
      "-n",
      String(count),
      "-s",
      String(size),
    ]);
    assert.equal(f.sent, count, `flood of ${size}-byte frames: ${JSON.stringify(f)}`);
    sent += f.sent;
  }
  return { sent, sink: await sink };
}

/**
 * A pair floods a → b with every datagram left partial by a; b's device hands them up as they are
 * (`bGuestCsum`: NEEDS_CSUM, b's stack trusts them) or completes each one (b's NIC without `csum`).
 * Either way nothing is lost and b's stack finds no bad checksum.
 */
for (
  const { name, bFeatures, bGuestCsum } of [
    {
      name: "csum on both NICs: partial checksums cross the link, the receiver trusts them",
      bFeatures: undefined,
      bGuestCsum: true,
    },
    {
      name: "csum on the sender only: the receiving device completes every checksum",
      bFeatures: NO_CSUM,
      bGuestCsum: false,
    },
  ]
) {
  Deno.test({
    name: `${name}, none bad`,
    ...LAB_TEST,
    fn: async () => {
      const lab = await startPair(bGuestCsum ? "csum-both" : "csum-mixed", bFeatures);
      try {
        const fa = nic(lab, "a").features;
        const fb = nic(lab, "b").features;
        assert.ok(fa.includes("CSUM") && fa.includes("GUEST_CSUM"), `a: ${fa}`);
        assert.equal(fb.includes("CSUM") && fb.includes("GUEST_CSUM"), bGuestCsum, `b: ${fb}`);
        await pingBothWays(lab);
        // ICMP (and ARP) went out with full checksums: nothing partial yet.
        for (const vm of ["a", "b"]) {
          const c = nic(lab, vm).counters;
          assert.deepEqual([c.txCsumPartial, c.rxCsumPartial, c.rxCsumCompleted], [0, 0, 0], vm);
        }
        const { sent, sink } = await floodAToB(lab, 5000, 10, true);
        assert.equal(sink.received, sent, JSON.stringify(sink));
        assert.deepEqual([sink.lost, sink.duplicated, sink.ignored], [0, 0, 0]);
        const a = nic(lab, "a").counters;
        const b = nic(lab, "b").counters;
        // a's NIC negotiated CSUM: every datagram left it partial (ARP was resolved by the pings).
        assert.equal(a.txCsumPartial, sent, `a txCsumPartial ${a.txCsumPartial} of ${sent}`);
        // b's device handed each one up partial (GUEST_CSUM) or completed it first (without).
        const [handed, completed] = bGuestCsum ? [sent, 0] : [0, sent];
        assert.deepEqual(
          [b.rxCsumPartial, b.rxCsumCompleted, b.txCsumPartial],
          [handed, completed, 0],
          "b: partial, completed, sent partial",
        );
        // b's stack trusted or verified every one: none was wrong.
        const stats = await settledStack(lab, "b", "stack_udp_in", sent);
        const drops = guestStackDrops(stats);
        assert.equal(drops.badChecksum ?? 0, 0, JSON.stringify(drops));
        await pingBothWays(lab);
      } finally {
        await lab.stop();
      }
    },
  });
}

Deno.test({
  name: "over a vhost-pci link partial checksums cross both ways: b trusts a's, a takes b's",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startPair("csum-vhost-pci", undefined, "vhost-pci");
    try {
      const fa = nic(lab, "a").features;
      assert.ok(fa.includes("CSUM") && fa.includes("GUEST_CSUM"), `a: ${fa}`);
      await pingBothWays(lab);
      // a → b: every datagram leaves a partial; b's stack takes it as it is and finds none bad.
      const { sent, sink } = await floodAToB(lab, 3000, 10, true);
      assert.equal(sink.received, sent, JSON.stringify(sink));
      assert.deepEqual([sink.lost, sink.duplicated, sink.ignored], [0, 0, 0]);
      assert.equal(nic(lab, "a").counters.txCsumPartial, sent);
      const bStats = await settledStack(lab, "b", "stack_udp_in", sent);
      assert.equal(guestStackDrops(bStats).badChecksum ?? 0, 0, JSON.stringify(bStats));
      // b → a: b's stack leaves them partial too; the device model writing a's RX buffers hands
      // each up as NEEDS_CSUM (a negotiated GUEST_CSUM), and a's stack finds none bad.
      const count = 2000;
      const sinkA = (await spawnOk(lab, "a", ["sink", "-t", "10", "-n", String(count)])).result;
      const f = await execOk(lab, "b", [
        "udp-flood",
        "10.0.0.1",
        "-n",
        String(count),
        "-s",
        "1500",
      ]);
      assert.equal(f.sent, count, JSON.stringify(f));
      const got = await sinkA;
      assert.equal(got.received, count, JSON.stringify(got));
      assert.deepEqual([got.lost, got.duplicated], [0, 0]);
      const a = nic(lab, "a").counters;
      assert.deepEqual([a.rxCsumPartial, a.rxCsumCompleted], [count, 0]);
      const aStats = await settledStack(lab, "a", "stack_udp_in", count);
      assert.equal(guestStackDrops(aStats).badChecksum ?? 0, 0, JSON.stringify(aStats));
      await pingBothWays(lab);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "a corrupting link completes partial checksums first: the receiver sees the flips",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startPair("csum-corrupt");
    try {
      // Resolve ARP on a clean link, then corrupt every frame from a to b.
      await pingBothWays(lab);
      const imp = parseImpairment({ corrupt: "100%" });
      if (!imp.ok) assert.fail(imp.error.message);
      assert.ok(lab.links.setImpairment("a-b", imp.value, "forward"));
      // The device worker applies it on its next pass and then publishes the stage's counters.
      await waitForValue("a's impairment stage", () => {
        const s = lab.workerStats().find((w) => w.kind === "device" && w.owner === "a")?.stats;
        return s && Object.hasOwn(s, "eth0_impair_offered") ? true : null;
      });
      const before = guestStats(lab, "b");
      const dropsBefore = guestStackDrops(before);
      const framesInBefore = before.stack_frames_in ?? 0;
      const { sent, sink } = await floodAToB(lab, 1000, 1.5, false);
      const link = takeSnapshot(lab).links[0].forward;
      assert.equal(link.corrupted, sent, `corrupted ${link.corrupted} of ${sent}`);
      const a = nic(lab, "a").counters;
      const b = nic(lab, "b").counters;
      assert.equal(a.txCsumPartial, sent, "a still leaves its checksums partial");
      // The stage completed each checksum before flipping a bit: nothing reached b as partial.
      assert.equal(b.rxCsumPartial, 0, "a partial checksum survived corruption");
      assert.equal(b.rxCsumCompleted, 0);
      // Every frame reached b's stack; each is either dropped for a cause or counted by the sink.
      const stats = await settledStack(lab, "b", "stack_frames_in", framesInBefore + sent);
      const drops = guestStackDrops(stats);
      const delta = (k: string) => (drops[k] ?? 0) - (dropsBefore[k] ?? 0);
      const dropped = Object.keys(drops).reduce((n, k) => n + delta(k), 0);
      const why = `sink ${JSON.stringify(sink)}, drops ${JSON.stringify(drops)}`;
      assert.equal(sink.received + dropped, sent, why);
      assert.ok(sink.received < sent / 4, `the sink got ${sink.received} of ${sent}: ${why}`);
      // A flip that hits no checksummed byte (the source MAC, say) harms nothing: the frame, its
      // checksum completed by the stage, reaches the sink.
      assert.ok(sink.received > 0, `no frame reached the sink: ${why}`);
      // Most flips land in the IPv4 header or the UDP datagram, both under a checksum.
      assert.ok(delta("badChecksum") > sent / 2, `badChecksum ${delta("badChecksum")}: ${why}`);
      // Healed, the link carries pings again.
      const clean = parseImpairment({});
      if (!clean.ok) assert.fail(clean.error.message);
      assert.ok(lab.links.setImpairment("a-b", clean.value, "forward"));
      await waitForValue("a clean link", async () => {
        const r = await lab.exec("a", ["ping", "10.0.0.2", "-c", "1", "-W", "0.2"]);
        return r.ok && (r.result as { received: number }).received === 1 ? true : null;
      });
      await pingBothWays(lab);
    } finally {
      await lab.stop();
    }
  },
});
