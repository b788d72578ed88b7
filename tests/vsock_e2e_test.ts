/**
 * virtio-vsock end to end on the shipped `vsock-pair` topology: a stream from a's vsock-send to
 * b's vsock-sink through the two device workers and the vsock link's shared-memory rings, with
 * its checksum verified and nothing lost; a connection to a CID no VM has fails by RST at once
 * ("no VM has CID 9"); the vsock device's queues appear in the snapshot (and so in the Queues panel);
 * a guest bug in a vsock queue is met by the device, and the guest resets the device.
 */

import assert from "node:assert/strict";
import { Lab } from "../lab/lab.ts";
import { planLab } from "../lab/plan.ts";
import { parseTopology } from "../lab/topology/load.ts";
import { takeSnapshot } from "../lab/snapshot.ts";
import { prometheusMetrics } from "../lab/prometheus.ts";
import { labStatus } from "../lab/metrics.ts";
import { formatStatus } from "../cli/status.ts";
import { summaryLine } from "../cli/lab.ts";
import { inStateDir, LAB_TEST, waitForValue } from "../lab/testing.ts";
import { runDrill } from "../lab/drill/run.ts";
import type { VsockSendResult, VsockSinkResult } from "../lab/guest/workloads/vsock.ts";
import { flowingStream, vsockOf } from "./vsock_streams.ts";
import { deviceControl } from "../lab/wire/control.ts";
import { queueConfigOf } from "../devices/virtio/mmio.ts";
import { VsockQueue } from "../devices/vsock/mod.ts";

const FILE = new URL("../topologies/vsock-pair.yaml", import.meta.url);
/** The 256 MiB (about 5 s here); `VLAB_VSOCK_STREAM_MIB` picks another size. */
const STREAM_MIB = Number(Deno.env.get("VLAB_VSOCK_STREAM_MIB") ?? "256");
const BYTES = STREAM_MIB * (1 << 20);

async function startPair(): Promise<Lab> {
  const t = parseTopology(Deno.readTextFileSync(FILE), "topologies/vsock-pair.yaml");
  assert.ok(t.ok, t.ok ? "" : JSON.stringify(t.error));
  return await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
}

Deno.test({
  name: `vsock-pair: a streams ${STREAM_MIB} MiB to b's vsock-sink, checksum equal, nothing lost`,
  ...LAB_TEST,
  fn: async () => {
    const lab = await startPair();
    try {
      // spawn resolves once b's sink listens: the first connect is not refused.
      const { result: sink } = await lab.spawn("b", ["vsock-sink", "-p", "5000", "-t", "60"]);
      const r = await lab.exec("a", ["vsock-send", "4", "5000", "-b", String(BYTES)]);
      assert.ok(r.ok, r.ok ? "" : r.message);
      const sent = r.result as VsockSendResult;
      const got = await sink;
      assert.ok(got.ok, got.ok ? "" : got.message);
      const s = got.result as VsockSinkResult;
      assert.equal(sent.bytes, BYTES);
      assert.equal(s.bytes, BYTES, "bytes lost or duplicated");
      assert.equal(s.mismatches, 0, "bytes out of place (loss, duplicate or reorder)");
      assert.equal(s.checksum, sent.checksum);
      assert.ok(s.complete, "the stream did not end with SHUTDOWN");
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "vsock-pair: a connection to a CID no VM has fails by RST at once, as 'no VM has CID 9', " +
    "not left to time out",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startPair();
    try {
      const r = await lab.exec("a", ["vsock-send", "9", "5000", "-b", "10"]);
      assert.ok(!r.ok);
      // An RST's words: a connect left to time out says "timed out (no answer within 2 s)" (a
      // wall-clock bound of 2 s said no more, and could fail where an exec alone takes that long).
      assert.equal(r.message, "Cannot connect to vsock 9:5000: no VM has CID 9");
      assert.match(r.hint, /^The lab's vsock CIDs: 2 \(the host\), 3 \(a\), 4 \(b\);/);
      // On the wire it is still an RST, the one the guest's driver received.
      assert.ok((vsockOf(lab, "a").driverCounters.rstReceived ?? 0) >= 1, "no RST reached a");
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "vsock-pair: the vsock device and its queues are in the snapshot, /metrics and status",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startPair();
    try {
      const dev = await waitForValue("a's vsock device at DRIVER_OK", () => {
        const d = takeSnapshot(lab).vms.find((v) => v.name === "a")!.devices
          .find((x) => x.kind === "virtio-vsock");
        return d && d.statusNames.includes("DRIVER_OK") ? d : null;
      });
      assert.equal(dev.nic, "vsock0");
      assert.equal(dev.mac, null);
      assert.deepEqual(dev.queues.map((q) => [q.name, q.size, q.ready]), [
        ["rx", 128, true],
        ["tx", 128, true],
        ["event", 128, true],
      ]);
      assert.ok(Object.hasOwn(dev.counters, "rstToGuest"));
      // /metrics names the vsock device's counters and queues by its kind.
      const text = prometheusMetrics(lab);
      assert.match(text, /^vlab_vsock_device_rst_to_guest_total\{[^}]*device="vsock0"/m);
      assert.match(text, /^vlab_queue_size\{[^}]*vm="a",device="vsock0",queue="event"\} 128$/m);
      assert.match(text, /^vlab_net_device_tx_bytes_total\{[^}]*device="eth0"/m);
      // vlab status lists it beside the NIC, with its CID and status bits.
      const status = labStatus(lab);
      const vs = status.vms[0].devices ?? [];
      assert.deepEqual(vs.map((d) => [d.name, d.kind, d.detail]), [[
        "vsock0",
        "virtio-vsock",
        "cid 3",
      ]]);
      assert.ok(Object.hasOwn(vs[0].device, "rstToGuest"));
      assert.match(formatStatus(status), /^ {2}a:vsock0 {2}virtio-vsock cid 3 {2}status 0x0f /m);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "vsock-pair: with the vsock link down a connect is refused by RST; back up, it connects",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startPair();
    let echo: ReturnType<Lab["exec"]> | undefined;
    try {
      // Longer than the test: the lab's stop ends it (it answers what it did). With -t 3 the test
      // waited out the 3 s, and a link back up after them found nothing listening on port 7.
      echo = (await lab.spawn("b", ["vsock-echo", "-p", "7", "-t", "30"])).result;
      const send = () => lab.exec("a", ["vsock-send", "4", "7", "-b", "1000"]);
      const first = await send(); // b's echo listens (spawn): no refusal
      assert.ok(first.ok, first.ok ? "" : first.message);
      assert.ok(lab.setLink("a-b-vsock", false));
      // The device worker hears of the link by message: wait for the state, with a deadline.
      const refused = await waitForValue("a refusal while the link is down", async () => {
        const r = await send();
        return r.ok ? null : r.message;
      });
      assert.match(refused, /Cannot connect to vsock 4:7: refused/);
      assert.ok(lab.setLink("a-b-vsock", true));
      const again = await waitForValue("a connection after the link came up", async () => {
        const r = await send();
        return r.ok ? r.result as VsockSendResult : null;
      });
      assert.equal(again.bytes, 1000);
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
  name: "vsock-pair: a transport reset of a's device mid-stream gives a TRANSPORT_RESET and b RST",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startPair();
    try {
      const { sink, send } = await flowingStream(lab, { from: "a", to: "b", cid: 4, port: 5000 });
      assert.equal(vsockOf(lab, "a").driverCounters.transportResets, 0);
      assert.ok(lab.vsockTransportReset("a"));
      const sent = await send;
      assert.ok(!sent.ok, "the stream went on past the transport reset");
      assert.match(sent.message, /ended after [0-9]+ of 1073741824 bytes: transport-reset/);
      const got = await sink;
      assert.ok(got.ok, got.ok ? "" : got.message);
      const s = got.result as VsockSinkResult;
      assert.equal(s.complete, false);
      assert.equal(s.closeReason, "reset");
      assert.equal(s.mismatches, 0);
      assert.equal(vsockOf(lab, "a").driverCounters.transportResets, 1);
      assert.ok(vsockOf(lab, "b").driverCounters.rstReceived >= 1);
      assert.equal(lab.vsockTransportReset("nope"), false);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "vlab up's summary line counts vsock packets apart from frames, as vlab status does",
  ...LAB_TEST,
  fn: async () => {
    // It said "267 frames over links" of a vsock stream: vsock packets counted as Ethernet frames.
    const lab = await startPair();
    try {
      const { result: sink } = await lab.spawn("b", ["vsock-sink", "-p", "5000", "-t", "20"]);
      const r = await lab.exec("a", ["vsock-send", "4", "5000", "-b", "200000"]);
      assert.ok(r.ok, r.ok ? "" : r.message);
      assert.ok((await sink).ok);
      const packets = await waitForValue("the stream's last packets counted", () => {
        const link = labStatus(lab).links.find((l) => l.name === "a-b-vsock")!;
        const n = link.forward.frames + link.reverse.frames;
        return n >= 8 ? n : null;
      });
      const m =
        /^vsock-pair: 2\/2 VMs running, 0 frames and (\d+) vsock packets over links, up \d+ s$/
          .exec(summaryLine(lab));
      assert.ok(m !== null, summaryLine(lab));
      assert.ok(Number(m[1]) >= packets, summaryLine(lab));
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "vsock-pair: a guest bug in b's vsock rx queue breaks it; b's guest resets the device, " +
    "and streams go through again",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startPair();
    try {
      const stream = async (port: number) => {
        const { result: sink } = await lab.spawn("b", [
          "vsock-sink",
          "-p",
          String(port),
          "-t",
          "10",
        ]);
        const r = await lab.exec("a", ["vsock-send", "4", String(port), "-b", "100000"]);
        assert.ok(r.ok, r.ok ? "" : r.message);
        const got = await sink;
        assert.ok(got.ok, got.ok ? "" : got.message);
        assert.equal((got.result as VsockSinkResult).bytes, 100_000);
      };
      await stream(5000);
      // b's driver writes a head index past the queue size into the avail entries the device
      // pops next (a guest bug): entries it posted, which it rewrites only once they are used.
      const vm = lab.plan.vms.find((v) => v.name === "b")!;
      const slot = vm.devices.findIndex((d) => d.kind === "vsock");
      const regs = deviceControl(lab.controlOf(vm.index), vm.control.devices[slot]).regs;
      const rx = queueConfigOf(regs, VsockQueue.RX, 0n);
      const mem = new DataView(lab.memoryOf("b"));
      const used = mem.getUint16(rx.deviceAddr + 2, true); // split used ring: flags, idx
      for (let k = 0; k < 2; k++) {
        mem.setUint16(rx.driverAddr + 4 + 2 * ((used + k) % rx.size), rx.size + 5, true);
      }
      // a's next connect reaches b's device, which meets the bug, stops and asks for a reset.
      await lab.exec("a", ["vsock-send", "4", "5000", "-b", "10"]);
      const kinds = () =>
        lab.events.recent().filter((e) => e.subject === "b" && e.kind.startsWith("device-"))
          .map((e) => e.kind);
      await waitForValue(
        "b's guest resetting its vsock device",
        () => kinds().includes("device-reset") || null,
        5000,
      );
      assert.deepEqual(kinds(), [
        "device-error",
        "device-needs-reset",
        "device-queues-live",
        "device-reset",
      ]);
      await stream(5001);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "vsock-pair: vlab fault guest-bug on each of b's vsock queues: the device reports the " +
    "bad ring, b's guest resets it, its stream ends with a transport reset, new ones go through",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startPair();
    try {
      const ofB = (kind: string) =>
        lab.events.recent().filter((e) => e.subject === "b" && e.kind === kind);
      const stream = async (port: number) => {
        const { result: sink } = await lab.spawn("a", ["vsock-sink", "-p", String(port)]);
        const r = await lab.exec("b", ["vsock-send", "3", String(port), "-b", "100000"]);
        assert.ok(r.ok, r.ok ? "" : r.message);
        const got = await sink;
        assert.ok(got.ok, got.ok ? "" : got.message);
        assert.equal((got.result as VsockSinkResult).bytes, 100_000);
      };
      // A stream from b that the first bug's reset ends.
      const { send } = await flowingStream(lab, { from: "b", to: "a", cid: 3, port: 6000 });
      // An RX bug other than index-jump is met after the buffers b posted before it (32 packets
      // for b, as a NIC's receiveq meets one after its posted frames); index-jump at once.
      const bugs = [["tx", "loop"], ["event", "head-out-of-range"], ["rx", "index-jump"]] as const;
      for (const [i, [queue, bug]] of bugs.entries()) {
        const resets = ofB("device-reset").length;
        const f = await lab.fault({ kind: "guest-bug", vm: "b", device: "vsock0", queue, bug });
        assert.ok(f.ok, JSON.stringify(f));
        // b's device meets an RX bug at the next packet for b: a's connect (refused: b resets).
        if (queue === "rx") void lab.exec("a", ["vsock-send", "4", "5999", "-b", "10"]);
        await waitForValue(
          `b's reset after a guest bug in its ${queue} queue`,
          () => ofB("device-reset").length > resets || null,
          5000,
        );
        if (i === 0) {
          const r = await send;
          assert.ok(!r.ok, "the stream across the reset ended");
          assert.match(r.message, /transport-reset/);
        }
        await stream(6001 + i);
      }
      assert.deepEqual(
        ofB("guest-bug").map((e) => [e.detail?.device, e.detail?.queue, e.detail?.bug]),
        bugs.map(([queue, bug]) => ["vsock0", queue, bug]),
      );
      assert.equal(ofB("device-error").length, 3, "the device met each bug");
      assert.deepEqual(ofB("device-needs-reset").map((e) => e.detail?.cause), [
        "needs-reset",
        "needs-reset",
        "needs-reset",
      ]);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "a drill's guest-bug step on a vsock queue is taken, and timed to the vsock device's reset",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-drill-vsock-bug-", async () => {
      // Before, the drill was refused before its lab started: "only a NIC's driver writes guest bugs".
      const r = await runDrill({
        topology: "vsock-pair",
        timeline: [{
          fault: { kind: "guest-bug", vm: "b", device: "vsock0", queue: "tx", bug: "loop" },
        }],
        assert: ["recovery.count == 1 && recovery.unrecovered == 0"],
      });
      assert.deepEqual(r.recovery.map((s) => [s.subject, s.ms !== null]), [[
        "device b:vsock0",
        true,
      ]]);
      assert.deepEqual(r.assertions.map((a) => a.verdict), ["pass"], JSON.stringify(r.recovery));
    }),
});
