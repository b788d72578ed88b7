/**
 * A partition cuts vsock as it cuts frames, with a stream's semantics (vsock has no
 * retransmission): connections across the cut are reset at both ends, new ones are refused by
 * RST while it holds, and `heal` lets them through again; on a vsock router only the pairs across
 * the cut are affected.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Lab } from "../lab/lab.ts";
import { planLab } from "../lab/plan.ts";
import { parseTopology } from "../lab/topology/load.ts";
import { prometheusMetrics } from "../lab/prometheus.ts";
import { LAB_TEST, startTestLab, waitForValue, within } from "../lab/testing.ts";
import type { VsockSendResult, VsockSinkResult } from "../lab/guest/workloads/vsock.ts";
import { flowingStream, vsockOf } from "./vsock_streams.ts";

const FILE = new URL("../topologies/vsock-pair.yaml", import.meta.url);

async function startPair(): Promise<Lab> {
  const t = parseTopology(Deno.readTextFileSync(FILE), "topologies/vsock-pair.yaml");
  assert.ok(t.ok, t.ok ? "" : JSON.stringify(t.error));
  return await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
}

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

/** `from` streams 1 MiB to `to`'s sink on `port` (CID `cid`); both ends must agree. */
async function stream(lab: Lab, from: string, to: string, cid: number, port: number) {
  const { result: sink } = await lab.spawn(to, ["vsock-sink", "-p", String(port), "-t", "10"]);
  const r = await lab.exec(from, ["vsock-send", String(cid), String(port), "-b", "1048576"]);
  assert.ok(r.ok, r.ok ? "" : `${from} → ${to}: ${r.message}`);
  const sent = r.result as VsockSendResult;
  const got = await sink;
  assert.ok(got.ok, got.ok ? "" : got.message);
  const s = got.result as VsockSinkResult;
  assert.equal(s.bytes, 1048576, `${from} → ${to}: bytes lost`);
  assert.equal(s.mismatches, 0);
  assert.equal(s.checksum, sent.checksum);
  assert.ok(s.complete);
}

/** A connect from `from` to `cid:port`, expected refused (b listens: only the cut refuses it). */
async function refusedConnect(lab: Lab, from: string, cid: number, port: number) {
  const r = await lab.exec(from, ["vsock-send", String(cid), String(port), "-b", "100"]);
  assert.ok(!r.ok, `${from} → ${cid}:${port} connected across the partition`);
  // Refused by an RST: a connect left to time out says "timed out (no answer within 2 s)" (a
  // wall-clock bound of 2 s said no more, and could fail where an exec alone takes that long).
  assert.match(r.message, new RegExp(`Cannot connect to vsock ${cid}:${port}: refused`));
}

Deno.test({
  name: "vsock-pair: partition a / b resets a's stream at both ends, refuses connects; heal works",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startPair();
    let echo: ReturnType<Lab["exec"]> | undefined;
    try {
      const { sink, send } = await flowingStream(lab, { from: "a", to: "b", cid: 4, port: 5000 });
      const p = lab.links.partition(["a"], ["b"], false);
      assert.ok(p.ok);
      const sent = await within(5000, "a's vsock-send after the partition", send);
      assert.ok(!sent.ok, "the stream went on across the partition");
      assert.match(sent.message, /reset/);
      const got = await within(5000, "b's vsock-sink after the partition", sink);
      assert.ok(got.ok, got.ok ? "" : got.message);
      const s = got.result as VsockSinkResult;
      assert.equal(s.closeReason, "reset");
      assert.equal(s.complete, false);
      assert.equal(s.mismatches, 0, "what did arrive is in order");
      assert.equal(vsockOf(lab, "a").counters.partitionResets, 1);
      assert.equal(vsockOf(lab, "b").counters.partitionResets, 1);
      assert.match(
        prometheusMetrics(lab),
        /^vlab_vsock_device_partition_resets_total\{[^}]*vm="a",device="vsock0"[^}]*\} 1$/m,
      );

      // b listens; the cut alone refuses a's connect, and b's to a too. The echo outlives the
      // test (the lab's stop ends it): with -t 6 the test waited out the 6 s, and a heal after
      // them found nothing listening on port 7.
      echo = (await lab.spawn("b", ["vsock-echo", "-p", "7", "-t", "30"])).result;
      await refusedConnect(lab, "a", 4, 7);
      assert.ok(vsockOf(lab, "a").counters.partitionRefused >= 1);

      assert.deepEqual(lab.links.heal(), [p.ok ? p.value.id : -1]);
      await waitForValue("a connection after heal", async () => {
        const r = await lab.exec("a", ["vsock-send", "4", "7", "-b", "1000"]);
        return r.ok ? true : null;
      });
      await stream(lab, "a", "b", 4, 5001);
    } finally {
      await lab.stop();
    }
    const e = await echo!;
    // Longer than the test, the lab's stop cut it short: it answered, as no whole run (no-lab),
    // with what it had done (a whole one on a machine slow enough to outlast it).
    assert.ok(e.ok || (e.code === "no-lab" && e.partial !== undefined), JSON.stringify(e));
  },
});

Deno.test({
  name: "vsock-pair: a one-way partition a → b cuts vsock both ways (a stream needs both)",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startPair();
    const echoes: ReturnType<Lab["exec"]>[] = [];
    try {
      // Both listen (the cut alone refuses) until the lab's stop ends them.
      echoes.push((await lab.spawn("a", ["vsock-echo", "-p", "7", "-t", "30"])).result);
      echoes.push((await lab.spawn("b", ["vsock-echo", "-p", "7", "-t", "30"])).result);
      assert.ok(lab.links.partition(["a"], ["b"], true).ok);
      await refusedConnect(lab, "a", 4, 7);
      await refusedConnect(lab, "b", 3, 7);
      lab.links.heal();
    } finally {
      await lab.stop();
    }
    // Cut short by the lab's stop: each answered, as no whole run (no-lab), with what it had done.
    for (const e of echoes) {
      const o = await e;
      assert.ok(o.ok || (o.code === "no-lab" && o.partial !== undefined), JSON.stringify(o));
    }
  },
});

Deno.test({
  name: "vsock router: partition a / c cuts a↔c only; a↔b and b↔c stream on, checksums equal",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(HUB);
    let echo: ReturnType<Lab["exec"]> | undefined;
    try {
      const { sink, send } = await flowingStream(lab, { from: "a", to: "c", cid: 5, port: 5000 });
      assert.ok(lab.links.partition(["a"], ["c"], false).ok);
      const sent = await within(5000, "a's vsock-send after the partition", send);
      assert.ok(!sent.ok, "a → c went on across the partition");
      const got = await within(5000, "c's vsock-sink after the partition", sink);
      assert.ok(got.ok, got.ok ? "" : got.message);
      assert.equal((got.result as VsockSinkResult).closeReason, "reset");
      // c listens until the lab's stop ends it (with -t 6 the test waited out the 6 s).
      echo = (await lab.spawn("c", ["vsock-echo", "-p", "7", "-t", "30"])).result;
      await refusedConnect(lab, "a", 5, 7);
      await Promise.all([stream(lab, "a", "b", 4, 5001), stream(lab, "b", "c", 5, 5002)]);
      assert.equal(vsockOf(lab, "b").counters.partitionResets, 0);
      assert.equal(vsockOf(lab, "b").counters.partitionRefused, 0);
      lab.links.heal();
      await waitForValue("a connection a → c after heal", async () => {
        const r = await lab.exec("a", ["vsock-send", "5", "7", "-b", "1000"]);
        return r.ok ? true : null;
      });
    } finally {
      await lab.stop();
    }
    const cut = await echo!;
    // Cut short by the lab's stop: it answered, as no whole run (no-lab), with what it had done.
    assert.ok(cut.ok || (cut.code === "no-lab" && cut.partial !== undefined), JSON.stringify(cut));
  },
});
