/**
 * Impairments on a running lab: a link's netem-style knobs act on real frames between real VMs,
 * and the same seed gives the same decisions (architecture: Determinism).
 */

import assert from "node:assert/strict";
import { Lab } from "../lab/lab.ts";
import { planLab } from "../lab/plan.ts";
import { topologyFromObject } from "../lab/topology/mod.ts";

function lossyPair(seed: number, link: Record<string, unknown>) {
  const t = topologyFromObject({
    name: "impair",
    seed,
    vms: {
      a: { nics: { eth0: { ip: "10.7.0.1/24" } } },
      b: { nics: { eth0: { ip: "10.7.0.2/24" } } },
    },
    links: [{ endpoints: ["a:eth0", "b:eth0"], ...link }],
  });
  if (!t.ok) throw new Error(t.error.map((i) => i.message).join("; "));
  return planLab(t.value);
}

interface PingResult {
  transmitted: number;
  received: number;
  replies: { seq: number; rttMs: number }[];
  rttMs: { min: number } | null;
}

async function pingOnce(seed: number, link: Record<string, unknown>, argv: string[]) {
  const lab = await Lab.start(lossyPair(seed, link));
  try {
    const r = await lab.exec("a", argv);
    assert.ok(r.ok, r.ok ? "" : r.message);
    return r.result as PingResult;
  } finally {
    await lab.stop();
  }
}

Deno.test({
  name: "the same seed loses the same pings; another seed loses others",
  // Labs start workers; each is stopped in a finally.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // A reply later than -W would count as lost in one run and not in another: 200 ms is far
    // above any round trip here (about 1 ms), even on a loaded machine.
    const argv = ["ping", "10.7.0.2", "-c", "20", "-i", "0.002", "-W", "0.2"];
    const link = { loss: "30%" };
    const first = await pingOnce(11, link, argv);
    const again = await pingOnce(11, link, argv);
    const other = await pingOnce(12, link, argv);
    const seqs = (r: PingResult) => r.replies.map((x) => x.seq);
    assert.equal(first.transmitted, 20);
    // 30 % each way: about half the pings come back; far from none and from all.
    assert.ok(first.received >= 3 && first.received <= 17, `received ${first.received}`);
    assert.deepEqual(seqs(again), seqs(first));
    assert.notDeepEqual(seqs(other), seqs(first));
  },
});

Deno.test({
  name: "delay on both directions adds to every round trip",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const r = await pingOnce(1, { delay: "5ms" }, ["ping", "10.7.0.2", "-c", "3", "-i", "0.01"]);
    assert.equal(r.received, 3);
    assert.ok(r.rttMs !== null && r.rttMs.min >= 10, `min RTT ${r.rttMs?.min} ms`);
  },
});
