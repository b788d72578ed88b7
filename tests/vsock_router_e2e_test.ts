/**
 * A vsock router joins three VMs (`vsock_routers`): streams cross it both ways at once with
 * their checksums intact, and a connection to a CID no port has is refused by the router's RST
 * at once; a VM's backend crash resets its streams at their peers through the router.
 */

import assert from "node:assert/strict";
import { LAB_TEST, startTestLab, waitForValue } from "../lab/testing.ts";
import type { Lab } from "../lab/lab.ts";
import { labStatus } from "../lab/metrics.ts";
import { takeSnapshot } from "../lab/snapshot.ts";
import type { VsockSendResult, VsockSinkResult } from "../lab/guest/workloads/vsock.ts";
import { flowingStream, vsockOf } from "./vsock_streams.ts";

const HUB = {
  name: "vsock-hub",
  vms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } }, c: { vsock: { cid: 5 } } },
  vsock_routers: { r1: {} },
  links: [
    { kind: "vsock", endpoints: ["a", "r1"] },
    { kind: "vsock", endpoints: ["b", "r1"] },
    { kind: "vsock", endpoints: ["r1", "c"] },
  ],
};

const BYTES = 4 << 20;

/** `from` streams BYTES to `to`'s sink (CID `cid`), once the sink listens (`spawn`). */
async function stream(lab: Lab, from: string, to: string, cid: number) {
  const { result: sink } = await lab.spawn(to, ["vsock-sink", "-p", "5000", "-t", "30"]);
  const r = await lab.exec(from, ["vsock-send", String(cid), "5000", "-b", String(BYTES)]);
  assert.ok(r.ok, r.ok ? "" : `${from} → ${to}: ${r.message}`);
  const sent = r.result as VsockSendResult;
  const got = await sink;
  assert.ok(got.ok, got.ok ? "" : got.message);
  return { sent, got: got.result as VsockSinkResult };
}

Deno.test({
  name: "vsock router: a→c and b→a stream through r1 at once, checksums equal, nothing lost",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(HUB);
    try {
      assert.deepEqual(
        lab.plan.switches.map((s) => [s.name, s.vsockCids]),
        [["r1", [3, 4, 5]]],
      );
      // The status and the snapshot (vlab status, the dashboard, graph) say what each one is.
      const status = labStatus(lab);
      const snapshot = takeSnapshot(lab);
      for (const s of [status, snapshot]) {
        assert.deepEqual(s.switches.map((w) => [w.name, w.kind]), [["r1", "vsock-router"]]);
        assert.deepEqual(s.links.map((l) => l.kind), ["vsock", "vsock", "vsock"]);
      }
      const [ac, ba] = await Promise.all([stream(lab, "a", "c", 5), stream(lab, "b", "a", 3)]);
      for (const { sent, got } of [ac, ba]) {
        assert.equal(got.bytes, BYTES);
        assert.equal(got.mismatches, 0);
        assert.equal(got.checksum, sent.checksum);
        assert.ok(got.complete);
      }
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name:
    "vsock router: a connect to a CID no VM has fails at once as 'no VM has CID 9' (the router's RST); " +
    "to a VM the router does not reach, refused, naming that VM",
  ...LAB_TEST,
  fn: async () => {
    // d has vsock but no link: its CID exists, the router has no port for it.
    const lab = await startTestLab({ ...HUB, vms: { ...HUB.vms, d: { vsock: { cid: 6 } } } });
    try {
      const r = await lab.exec("a", ["vsock-send", "9", "5000", "-b", "10"]);
      assert.ok(!r.ok);
      // An RST's words: a connect left to time out says "timed out (no answer within 2 s)".
      assert.equal(r.message, "Cannot connect to vsock 9:5000: no VM has CID 9");
      assert.match(
        r.hint,
        /^The lab's vsock CIDs: 2 \(the host\), 3 \(a\), 4 \(b\), 5 \(c\), 6 \(d\);/,
      );
      const d = await lab.exec("a", ["vsock-send", "6", "5000", "-b", "10"]);
      assert.ok(!d.ok);
      assert.equal(d.message, "Cannot connect to vsock 6:5000: refused");
      // Nothing joins a to d: the hint says so, not to start a listener there.
      assert.match(d.hint, /^No vsock link or vsock router joins VM "a" to VM "d" \(CID 6\)/);
      const rsts = await waitForValue("the router's rst_no_route counter", () => {
        const w = lab.workerStats().find((x) => x.kind === "switch" && x.owner === "r1");
        const v = w?.stats["switch_rst_no_route"] ?? 0;
        return v > 1 ? v : null;
      }, 5000);
      assert.equal(rsts, 2, "both went on the wire and were answered by the router");
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "vsock router: a backend crash of a resets a's stream at b (RST via r1), c is untouched",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(HUB);
    try {
      const { sink, send } = await flowingStream(lab, { from: "a", to: "b", cid: 4, port: 5000 });
      const crash = await lab.fault({ kind: "backend-crash", vm: "a" });
      assert.ok(crash.ok, crash.ok ? "" : crash.message);
      const sent = await send;
      assert.ok(!sent.ok, "the stream went on past the backend crash");
      assert.match(sent.message, /transport-reset/);
      const got = await sink;
      assert.ok(got.ok, got.ok ? "" : got.message);
      const s = got.result as VsockSinkResult;
      assert.equal(s.closeReason, "reset", "b was not told through the router");
      assert.equal(s.complete, false);
      assert.equal(s.mismatches, 0);
      const notices = await waitForValue("the router's peer-reset notice counter", () => {
        const w = lab.workerStats().find((x) => x.kind === "switch" && x.owner === "r1");
        return w?.stats["switch_peer_reset_notices"] || null;
      }, 5000);
      assert.equal(notices, 1);
      assert.equal(vsockOf(lab, "b").counters.peerResets, 1);
      assert.equal(vsockOf(lab, "c").counters.peerResets, 0, "c had no connection with a");
    } finally {
      await lab.stop();
    }
  },
});
