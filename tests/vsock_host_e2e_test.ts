/**
 * The host is CID 2, through each VM's `vsock.sock` with Firecracker's hybrid-vsock protocol,
 * driven by `socat` as the real client: `CONNECT <port>\n` then `OK <hostport>\n` and a byte
 * stream to the guest; an unbound guest port or a bad line closes the client's socket; a guest
 * connecting to CID 2 port P reaches the host listener at `vsock.sock_P`, and a slow host reader
 * stalls the guest's sender on credit without losing a byte.
 */

import assert from "node:assert/strict";
import { Lab } from "../lab/lab.ts";
import { planLab } from "../lab/plan.ts";
import { parseTopology } from "../lab/topology/load.ts";
import { takeSnapshot } from "../lab/snapshot.ts";
import { prometheusMetrics } from "../lab/prometheus.ts";
import { LAB_TEST, waitForValue } from "../lab/testing.ts";
import {
  streamByte,
  StreamVerifier,
  type VsockEchoResult,
  type VsockSendResult,
} from "../lab/guest/workloads/vsock.ts";

const FILE = new URL("../topologies/vsock-pair.yaml", import.meta.url);

async function startPair(): Promise<{ lab: Lab; dir: string }> {
  const t = parseTopology(Deno.readTextFileSync(FILE), "topologies/vsock-pair.yaml");
  assert.ok(t.ok, t.ok ? "" : JSON.stringify(t.error));
  const dir = Deno.makeTempDirSync({ prefix: "vlab-vsock-" });
  const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000, stateDir: dir });
  return { lab, dir };
}

/** Run socat with `input` on its stdin, against the Unix socket `path`; its stdout. */
async function socat(path: string, input: Uint8Array): Promise<Uint8Array> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("socat", {
      args: ["-t", "10", "-T", "10", "-", `UNIX-CONNECT:${path}`],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    throw new Error(`socat is needed for this test (apt-get install socat): ${e}`);
  }
  const w = child.stdin.getWriter();
  const writing = w.write(input).then(() => w.close());
  const out = await child.output();
  await writing.catch(() => {});
  return out.stdout;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const c = new Uint8Array(a.length + b.length);
  c.set(a);
  c.set(b, a.length);
  return c;
}

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test({
  name: "host vsock: socat sends CONNECT 5000, reads OK, and gets its 256 KiB echoed by the guest",
  ...LAB_TEST,
  fn: async () => {
    const { lab, dir } = await startPair();
    const path = lab.vsockSocket("a")!;
    assert.equal(path, `${dir}/a/vsock.sock`);
    assert.ok(Deno.statSync(path).isSocket);
    const echo = lab.exec("a", ["vsock-echo", "-p", "5000", "-t", "12"]);
    try {
      const data = new Uint8Array(256 * 1024).map((_, i) => streamByte(i));
      const out = await waitForValue("a's vsock-echo answering socat", async () => {
        const o = await socat(path, concat(enc("CONNECT 5000\n"), data));
        return o.length > 0 ? o : null; // empty: not listening yet (RST closed the socket)
      }, 10_000);
      const nl = out.indexOf(0x0a);
      assert.match(new TextDecoder().decode(out.subarray(0, nl + 1)), /^OK [0-9]+\n$/);
      const body = out.subarray(nl + 1);
      assert.equal(body.length, data.length, "bytes lost or duplicated");
      assert.ok(body.every((b, i) => b === data[i]), "bytes out of place");
      // a's device worker serves vsock.sock on its event loop: it must never block there (each
      // accept and read would wait out a slice). Its statistics are published every ~100 ms.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const st = lab.workerStats().find((w) => w.kind === "device" && w.owner === "a")!.stats;
      assert.ok((st.loop_wakeups_async ?? 0) > 0, JSON.stringify(st));
      assert.equal((st.loop_wakeups_blocking ?? 0) + (st.loop_idle_slices ?? 0), 0);
    } finally {
      await lab.stop(); // vsock-echo answers with what it did, cut short (no-lab)
    }
    const e = await echo;
    // No whole run (its -t 12 outlasts the test): the stop's no-lab, with what it had echoed.
    const echoed = e.ok ? e.result : e.code === "no-lab" ? e.partial : undefined;
    assert.ok(echoed !== undefined, JSON.stringify(e));
    assert.equal((echoed as VsockEchoResult).bytes, 256 * 1024);
    assert.throws(() => Deno.statSync(`${dir}/a/vsock.sock`), Deno.errors.NotFound);
    Deno.removeSync(dir, { recursive: true });
  },
});

Deno.test({
  name: "host vsock: an unbound guest port or a bad CONNECT line closes the client's socket",
  ...LAB_TEST,
  fn: async () => {
    const { lab, dir } = await startPair();
    try {
      const path = lab.vsockSocket("b")!;
      for (const line of ["CONNECT 5999\n", "HELLO 5000\n", "CONNECT x\n", "connect 1 2\n"]) {
        const t0 = performance.now();
        const out = await socat(path, enc(line + "data"));
        assert.equal(new TextDecoder().decode(out), "", `after ${JSON.stringify(line)}`);
        assert.ok(performance.now() - t0 < 5000, `${JSON.stringify(line)} was not closed at once`);
      }
      // The unbound port was refused by the guest's RST (one for the one REQUEST that got out).
      const snap = takeSnapshot(lab).vms.find((v) => v.name === "b")!.devices
        .find((d) => d.kind === "virtio-vsock")!;
      assert.equal(snap.driverCounters.rstSent, 1);
    } finally {
      await lab.stop();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "host vsock: a guest connects to CID 2 port 6000 and reaches vsock.sock_6000; " +
    "a slow host reader stalls it on credit, nothing lost",
  ...LAB_TEST,
  fn: async () => {
    const { lab, dir } = await startPair();
    const path = lab.vsockSocket("a")!;
    const listener = Deno.listen({ transport: "unix", path: `${path}_6000` });
    try {
      const BYTES = 2 << 20;
      const send = lab.exec("a", ["vsock-send", "2", "6000", "-b", String(BYTES)]);
      const conn = await listener.accept();
      // Read nothing until the guest's sender has stalled on the host's credit.
      await waitForValue("a credit stall in a's vsock driver", () => {
        const d = takeSnapshot(lab).vms.find((v) => v.name === "a")!.devices
          .find((x) => x.kind === "virtio-vsock")!;
        return (d.driverCounters.creditStalls ?? 0) > 0 ? true : null;
      }, 10_000);
      // The stalled connection is published with no credit left, in the snapshot and /metrics.
      // The table is published with the statistics (every ~100 ms), the stall counter at once: a
      // row published while the connection was still being set up (no credit known yet, nothing
      // sent) is not the stall, so wait for the row that shows it.
      const row = await waitForValue("a's connection to 2:6000 published out of credit", () => {
        const d = takeSnapshot(lab).vms.find((v) => v.name === "a")!.devices
          .find((x) => x.kind === "virtio-vsock")!;
        const r = d.connections?.rows.find((r) => r.peerCid === 2 && r.peerPort === 6000);
        return r !== undefined && r.peerCredit === 0 && r.bytesFromGuest > 0 ? r : null;
      }, 5000);
      assert.ok(row.bytesFromGuest >= 256 * 1024, `${row.bytesFromGuest} bytes sent`);
      assert.equal(row.state, "established");
      assert.match(
        prometheusMetrics(lab),
        new RegExp(
          `^vlab_vsock_connection_credit_bytes\\{[^}]*vm="a",device="vsock0",` +
            `guest_port="${row.guestPort}",peer_cid="2",peer_port="6000",side="peer"\\} 0$`,
          "m",
        ),
      );
      const check = new StreamVerifier();
      const buf = new Uint8Array(64 * 1024);
      for (let i = 0; i < 100_000; i++) {
        const n = await conn.read(buf);
        if (n === null) break;
        check.update(buf.subarray(0, n));
      }
      conn.close();
      const r = await send;
      assert.ok(r.ok, r.ok ? "" : r.message);
      const s = r.result as VsockSendResult;
      assert.equal(check.position, BYTES);
      assert.equal(check.mismatches, 0);
      assert.equal(check.checksum.digest(), s.checksum);
      // No listener on 6001: the guest is refused by RST at once.
      const refused = await lab.exec("a", ["vsock-send", "2", "6001", "-b", "10"]);
      assert.ok(!refused.ok);
      assert.match(refused.message, /refused/);
      // A stale socket file (its listener gone, the file left behind): refused too, as
      // Firecracker answers once its connect to the file fails; not accepted and then reset.
      // (A listener closed in this process removes its file: kill one in a child instead.)
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `Deno.listen({ transport: "unix", path: "${path}_6002" }); setTimeout(() => {}, 60000)`,
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      await waitForValue("the child's socket file", () => {
        try {
          return Deno.statSync(`${path}_6002`).isSocket ? true : null;
        } catch {
          return null;
        }
      });
      child.kill("SIGKILL");
      await child.status;
      const gone = await lab.exec("a", ["vsock-send", "2", "6002", "-b", "10"]);
      assert.ok(!gone.ok);
      assert.match(gone.message, /: refused$/);
    } finally {
      listener.close();
      await lab.stop();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "host vsock: a state folder too deep for a Unix socket leaves the lab running, " +
    "logs why, and CID 2 answers RST",
  ...LAB_TEST,
  fn: async () => {
    const t = parseTopology(Deno.readTextFileSync(FILE), "topologies/vsock-pair.yaml");
    assert.ok(t.ok);
    const root = Deno.makeTempDirSync({ prefix: "vlab-vsock-deep-" });
    const dir = `${root}/${"d".repeat(120)}`; // sockaddr_un holds 108 bytes
    const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000, stateDir: dir });
    try {
      // Both VMs' device workers fail to bind, in either order: wait for a's event.
      const e = await waitForValue(
        "a's vsock-host-error event",
        () =>
          lab.events.recent().find((x) => x.kind === "vsock-host-error" && x.subject === "a") ??
            null,
      );
      assert.equal(e.subject, "a");
      const r = await lab.exec("a", ["vsock-send", "2", "6000", "-b", "10"]);
      assert.ok(!r.ok);
      assert.match(r.message, /refused/);
      assert.equal(lab.vmState("a"), "running");
    } finally {
      await lab.stop();
      Deno.removeSync(root, { recursive: true });
    }
  },
});
