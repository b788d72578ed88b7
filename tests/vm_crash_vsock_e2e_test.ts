/**
 * `vm-crash` of a VM with a vsock device, on the shipped `vsock-pair` topology: the reboot
 * closes every vsock connection of the VM. The power-on device worker sends a peer-reset notice
 * over the vsock link (lab/host/kinds/vsock.ts), so the other VM's connections with it end with
 * a reset (RST), not a hang; a host client of the crashed VM's `vsock.sock` sees its connection
 * closed; the rebooted guest listens and connects again. Behind a vsock router the notice reaches
 * every other VM, and resets only connections with the crashed CID.
 */

import assert from "node:assert/strict";
import { Lab } from "../lab/lab.ts";
import { planLab } from "../lab/plan.ts";
import { parseTopology } from "../lab/topology/load.ts";
import { LAB_TEST, startTestLab, vmRestarted, waitForValue } from "../lab/testing.ts";
import type {
  VsockEchoResult,
  VsockSendResult,
  VsockSinkResult,
} from "../lab/guest/workloads/vsock.ts";
import { flowingStream, vsockOf } from "./vsock_streams.ts";
import { vsockConnect } from "../lab/vsock_connect.ts";
import { takeSnapshot } from "../lab/snapshot.ts";

const FILE = new URL("../topologies/vsock-pair.yaml", import.meta.url);

async function startPair(stateDir?: string): Promise<Lab> {
  const t = parseTopology(Deno.readTextFileSync(FILE), "topologies/vsock-pair.yaml");
  assert.ok(t.ok, t.ok ? "" : JSON.stringify(t.error));
  return await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000, stateDir });
}

/** A new stream a → b:port once b's new guest listens (spawned), checked end to end. */
async function newStream(lab: Lab, port: number): Promise<void> {
  // Stopped once the stream is checked (-t only bounds it): it held the test 3 s.
  const stop = new AbortController();
  const { result: echo } = await lab.spawn(
    "b",
    ["vsock-echo", "-p", String(port), "-t", "10"],
    stop.signal,
  );
  const again = await waitForValue("a stream to b's new guest", async () => {
    const r = await lab.exec("a", ["vsock-send", "4", String(port), "-b", "100000"]);
    if (r.ok) return r.result as VsockSendResult;
    assert.match(r.message, /refused/, r.message);
    return null;
  }, 10_000);
  assert.equal(again.bytes, 100000);
  stop.abort();
  const e = await echo;
  assert.ok(e.ok, e.ok ? "" : e.message);
  assert.ok((e.result as VsockEchoResult).connections >= 1, JSON.stringify(e.result));
}

Deno.test({
  name:
    "vm-crash of b on vsock-pair: a's stream to b ends with a reset, not a hang; a new one works",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startPair();
    try {
      const { send } = await flowingStream(lab, { from: "a", to: "b", cid: 4, port: 5000 });
      const resetsBefore = vsockOf(lab, "a").counters.peerResets ?? 0;
      const from = lab.events.recent().length;
      const t0 = performance.now();
      const r = await lab.fault({ kind: "vm-crash", vm: "b" });
      assert.ok(r.ok, r.ok ? "" : r.message);
      // The sender learns at once (its connection reset), not after its own deadline.
      const sent = await Promise.race([
        send,
        new Promise<null>((r) => setTimeout(() => r(null), 10_000)),
      ]);
      assert.ok(sent !== null, "a's vsock-send hung across b's crash");
      assert.ok(!sent.ok, "a's stream went on past b's crash");
      assert.match(sent.message, /ended after [0-9]+ of 1073741824 bytes: reset/);
      assert.ok(performance.now() - t0 < 10_000);
      const a = vsockOf(lab, "a");
      assert.ok(a.driverCounters.rstReceived >= 1, "a's guest got no RST");
      assert.equal(a.counters.peerResets, resetsBefore + 1, "a's device reset one connection");
      await vmRestarted(lab, "b", from);
      await newStream(lab, 5001);
      const bad = lab.events.recent().slice(from).filter((e) =>
        ["device-error", "device-needs-reset", "guest-failed", "device-failed"].includes(e.kind)
      );
      assert.deepEqual(bad, []);
    } finally {
      await lab.stop();
    }
  },
});

/** Packets a took from the vsock link b → a. */
function reverseOf(lab: Lab): number {
  return takeSnapshot(lab).links.find((l) => l.name === "a-b-vsock")!.reverse.frames;
}

Deno.test({
  name:
    "a connect to a VM that reboots is refused at once, not left to time out with a hint blaming a link delay",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startPair();
    try {
      for (let i = 0; i < 2; i++) {
        const from = lab.events.recent().length;
        const notLive = vsockOf(lab, "b").counters.rxNotLive ?? 0;
        const notices = reverseOf(lab);
        // b's guest boots 2 s after its devices are back (`ms`): a REQUEST sent meanwhile surely
        // reaches b's power-on device before b's driver is up (the case under test). Without it
        // the window is the guest's own start, tens of ms, which a busy machine's exec missed.
        const r = await lab.fault({ kind: "vm-crash", vm: "b", ms: 2000 });
        assert.ok(r.ok, r.ok ? "" : r.message);
        // b's power-on device sent its peer-reset notice (a took it).
        for (let t = 0; t < 3000 && reverseOf(lab) === notices; t++) {
          await new Promise((r) => setTimeout(r, 1));
        }
        assert.ok(reverseOf(lab) > notices, "b's power-on device sent no peer-reset notice");
        const t0 = performance.now();
        const sent = await lab.exec("a", ["vsock-send", "4", "5000", "-b", "1"]);
        const ms = performance.now() - t0;
        assert.equal(lab.vmState("b"), "restarting", "b's guest booted before its boot time");
        assert.ok(!sent.ok);
        // It waited 2 s and said 'timed out (no answer within 2 s)', blaming the link's delay.
        assert.match(sent.message, /Cannot connect to vsock 4:5000: refused$/);
        assert.ok(ms < 1500, `refused after ${ms.toFixed(0)} ms`);
        assert.ok(
          (vsockOf(lab, "b").counters.rxNotLive ?? 0) > notLive,
          "the REQUEST came while b's driver was not up (the case under test)",
        );
        const up = await vmRestarted(lab, "b", from);
        assert.ok((up.detail?.downMs as number) >= 2000, JSON.stringify(up.detail));
      }
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "vm-crash of b on vsock-pair: a host client of b's vsock.sock sees its connection closed",
  ...LAB_TEST,
  fn: async () => {
    const dir = Deno.makeTempDirSync({ prefix: "vlab-vm-crash-vsock-" });
    const lab = await startPair(dir);
    let conn: Deno.UnixConn | null = null;
    try {
      const path = lab.vsockSocket("b");
      assert.ok(path !== null);
      const echo = lab.exec("b", ["vsock-echo", "-p", "7", "-t", "20"]);
      const buf = new Uint8Array(4096);
      const readLine = async (c: Deno.UnixConn): Promise<string | null> => {
        const n = await c.read(buf);
        return n === null ? null : new TextDecoder().decode(buf.subarray(0, n));
      };
      const open = () => vsockConnect(path, { vm: "b", port: 7 }).catch(() => null);
      conn = await waitForValue("b's vsock-echo accepting host connections", open, 10_000);
      await conn.write(new TextEncoder().encode("ping"));
      assert.equal(await readLine(conn), "ping");
      const from = lab.events.recent().length;
      const r = await lab.fault({ kind: "vm-crash", vm: "b" });
      assert.ok(r.ok, r.ok ? "" : r.message);
      // b's echo went with its guest: answered at once with a failure.
      const lost = await echo;
      assert.ok(!lost.ok);
      // Closed (EOF or an error), not left open: bounded by a deadline.
      const closed = await Promise.race([
        readLine(conn).then((l) => l === null, () => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
      ]);
      assert.ok(closed, "the host client's connection stayed open across b's crash");
      await vmRestarted(lab, "b", from);
      // The rebooted guest listens again, and the new device worker bridges vsock.sock again.
      // Stopped once the echo came back (-t only bounds it): it held the test 5 s.
      const stop2 = new AbortController();
      const echo2 = lab.exec("b", ["vsock-echo", "-p", "7", "-t", "10"], stop2.signal);
      const again = await waitForValue("a new host connection after the reboot", open, 10_000);
      await again.write(new TextEncoder().encode("pong"));
      assert.equal(await readLine(again), "pong");
      again.close();
      stop2.abort();
      const e2 = await echo2;
      assert.ok(e2.ok, e2.ok ? "" : e2.message);
    } finally {
      try {
        conn?.close();
      } catch { /* already closed */ }
      await lab.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "vm-crash of c behind a vsock router: a's stream to c ends with a reset, b's stream to a goes on",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab({
      name: "vm-crash-vsock-hub",
      vms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } }, c: { vsock: { cid: 5 } } },
      vsock_routers: { r1: {} },
      links: [
        { kind: "vsock", endpoints: ["a", "r1"] },
        { kind: "vsock", endpoints: ["b", "r1"] },
        { kind: "vsock", endpoints: ["r1", "c"] },
      ],
    });
    try {
      const toC = await flowingStream(lab, { from: "a", to: "c", cid: 5, port: 5000 });
      // A stream that does not involve c: the router's notice must not reset it.
      const { result: sinkA } = await lab.spawn("a", ["vsock-sink", "-p", "6000", "-t", "20"]);
      const from = lab.events.recent().length;
      const r = await lab.fault({ kind: "vm-crash", vm: "c" });
      assert.ok(r.ok, r.ok ? "" : r.message);
      const sent = await Promise.race([
        toC.send,
        new Promise<null>((r) => setTimeout(() => r(null), 10_000)),
      ]);
      assert.ok(sent !== null, "a's vsock-send hung across c's crash");
      assert.ok(!sent.ok);
      assert.match(sent.message, /: reset$/);
      await vmRestarted(lab, "c", from);
      const b = await lab.exec("b", ["vsock-send", "3", "6000", "-b", "200000"]);
      assert.ok(b.ok, b.ok ? "" : b.message);
      const got = await sinkA;
      assert.ok(got.ok, got.ok ? "" : got.message);
      assert.equal((got.result as VsockSinkResult).bytes, 200000);
    } finally {
      await lab.stop();
    }
  },
});
