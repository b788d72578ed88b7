/**
 * The guest stack and workloads on running labs: every datagram a corrupting link spoils is
 * counted where the receiving guest drops it, and that count reaches `/metrics`; the `/vms/NAME`
 * answer renders ARP rows for people; from the command line, `ping` exits 1 when nothing came
 * back, and every workload prints text unless `--json` asks for its result object.
 */

import assert from "node:assert/strict";
import { Lab } from "../lab/lab.ts";
import { prometheusMetrics } from "../lab/metrics.ts";
import { planLab } from "../lab/plan.ts";
import { topologyFromObject } from "../lab/topology/mod.ts";
import { LAB_TEST, startTestLab, waitForValue } from "../lab/testing.ts";
import { takeSnapshot } from "../lab/snapshot.ts";
import { runVlab } from "./run.ts";

const SENT = 2000;

async function corruptingPair(): Promise<Lab> {
  const t = topologyFromObject({
    name: "guest-drops",
    seed: 9,
    vms: {
      a: { nics: { eth0: { ip: "10.9.0.1/24" } } },
      b: { nics: { eth0: { ip: "10.9.0.2/24" } } },
    },
    links: [{ endpoints: ["a:eth0", "b:eth0"], corrupt: "5%" }],
  });
  if (!t.ok) throw new Error(t.error.map((i) => i.message).join("; "));
  return await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
}

function guestStats(lab: Lab, vm: string): Record<string, number> {
  const w = lab.workerStats().find((x) => x.kind === "guest" && x.owner === vm);
  return w?.stats ?? {};
}

Deno.test({
  ...LAB_TEST,
  name: "a guest behind a corrupting link: its drops and its ARP rows, as /metrics and /vms show",
  fn: async (t) => {
    const lab = await corruptingPair();
    try {
      await t.step("with corrupt: 5% every spoilt datagram is a counted guest drop", async () => {
        // Nobody listens on port 9 in b: an intact datagram is a `no_listener` drop, a spoilt
        // one a bad checksum (or another reason); none may vanish uncounted.
        const flood = await lab.exec("a", [
          "udp-flood",
          "10.9.0.2",
          "-n",
          String(SENT),
          "-r",
          "20000",
        ]);
        assert.ok(flood.ok, flood.ok ? "" : flood.message);
        assert.equal((flood.result as { sent: number }).sent, SENT);
        const arpOut = () => guestStats(lab, "a").stack_arp_requests_out ?? 0;
        const drops = await waitForValue("b's guest drops to account for every datagram", () => {
          const s = guestStats(lab, "b");
          let sum = 0;
          for (const [k, v] of Object.entries(s)) if (k.startsWith("stack_drops_")) sum += v;
          // The ARP requests a sent could be spoilt too: at most that many extra drops.
          return sum >= SENT && sum <= SENT + arpOut() ? s : null;
        });
        assert.ok(drops.stack_drops_bad_checksum > 0, JSON.stringify(drops));
        assert.ok(drops.stack_drops_no_listener > SENT * 0.8, JSON.stringify(drops));
        const text = prometheusMetrics(lab);
        const line = text.split("\n").find((l) =>
          l.startsWith("vlab_") && l.includes("bad_checksum") && l.includes('="b"')
        );
        assert.ok(line, `no bad checksum counter for b in:\n${text.slice(-3000)}`);
        assert.equal(Number(line.split(" ").at(-1)), drops.stack_drops_bad_checksum);
      });
      await t.step(
        "the /vms answer shows ARP rows with a dotted IP and an aa:bb:… MAC",
        async () => {
          // The flood resolved b's address (it fails when ARP gets no reply).
          const info = await lab.inspect("a") as { arp: Record<string, unknown>[] };
          const row = info.arp.find((r) => r.ip === "10.9.0.2");
          assert.ok(row, JSON.stringify(info));
          assert.match(String(row.mac), /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
          assert.equal(row.interface, "eth0");
        },
      );
    } finally {
      await lab.stop();
    }
  },
});

const vlab = (stateDir: string, ...args: string[]) => runVlab(args, { stateDir });

Deno.test({
  ...LAB_TEST,
  name:
    "vlab exec: ping exits 1 with no reply, fragments above the MTU, and --json switches every workload to JSON",
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-guest-e2e-" });
    try {
      const up = await vlab(stateDir, "up", "pair", "-d");
      assert.equal(up.code, 0, up.stderr);
      const lost = await vlab(
        stateDir,
        "exec",
        "a",
        "--",
        "ping",
        "10.0.0.9",
        "-c",
        "1",
        "-W",
        "0.2",
      );
      assert.equal(lost.code, 1, lost.stdout + lost.stderr);
      assert.match(lost.stdout, /1 packets transmitted, 0 received, 100% packet loss/);
      const lostJson = await vlab(
        stateDir,
        "exec",
        "a",
        "--json",
        "--",
        "ping",
        "10.0.0.9",
        "-c",
        "1",
        "-W",
        "0.2",
      );
      assert.equal(lostJson.code, 1);
      assert.equal(JSON.parse(lostJson.stdout).received, 0);
      const big = await vlab(
        stateDir,
        "exec",
        "a",
        "--",
        "ping",
        "10.0.0.2",
        "-s",
        "4000",
        "-c",
        "1",
      );
      assert.equal(big.code, 0, big.stdout + big.stderr);
      assert.match(big.stdout, /^4008 bytes from 10\.0\.0\.2: icmp_seq=1 /m); // fragmented both ways
      // Each of the other workloads once as text, once as JSON (the unit tests check every text).
      const runs: [string[], boolean][] = [
        [["udp-echo", "-t", "0.1"], true],
        [["sink", "-t", "0.1"], false],
        [["udp-flood", "10.0.0.2", "-n", "3"], true],
        [["udp-echo", "-t", "0.1"], false],
      ];
      for (const [argv, json] of runs) {
        const r = await vlab(stateDir, "exec", "b", ...(json ? ["--json"] : []), "--", ...argv);
        assert.equal(r.code, 0, r.stderr);
        if (json) assert.equal(JSON.parse(r.stdout).kind, argv[0]);
        else assert.match(r.stdout, new RegExp(`^${argv[0]} on port \\d+: `), r.stdout);
      }
    } finally {
      await vlab(stateDir, "down", "--all");
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});

/** Used-buffer checks so far on `vm`'s eth0, per queue name: interrupts raised and suppressed. */
function nicInterrupts(
  lab: Lab,
  vm: string,
): Record<string, { raised: number; suppressed: number }> {
  const nic = takeSnapshot(lab).vms.find((v) => v.name === vm)!.devices[0];
  return Object.fromEntries(
    nic.queues.map((q) => [q.name, { raised: q.interrupts, suppressed: q.suppressed }]),
  );
}

Deno.test({
  ...LAB_TEST,
  name: "a ping interrupts each guest once, for its receiveq: sent buffers are reclaimed lazily",
  fn: async () => {
    const lab = await startTestLab({
      name: "lazy-tx",
      vms: {
        a: { nics: { eth0: { ip: "10.8.0.1/24" } } },
        b: { nics: { eth0: { ip: "10.8.0.2/24" } } },
      },
      links: [{ endpoints: ["a:eth0", "b:eth0"] }],
    });
    try {
      // Past ARP and each device's first used-buffer check (which always notifies).
      const warm = await lab.exec("a", ["ping", "10.8.0.2", "-c", "3", "-i", "0.01"]);
      assert.ok(warm.ok, JSON.stringify(warm));
      // A device counts an interrupt just after it publishes, which the guest may see first:
      // read each side once the last frame's counts have landed.
      const settle = () => new Promise((resolve) => setTimeout(resolve, 250));
      await settle();
      const before = { a: nicInterrupts(lab, "a"), b: nicInterrupts(lab, "b") };
      const r = await lab.exec("a", ["ping", "10.8.0.2", "-c", "20", "-i", "0.01"]);
      assert.ok(r.ok && (r.result as { received: number }).received === 20, JSON.stringify(r));
      await settle();
      for (const vm of ["a", "b"] as const) {
        const after = nicInterrupts(lab, vm);
        const d = (q: string, k: "raised" | "suppressed") => after[q][k] - before[vm][q][k];
        assert.equal(d("transmitq", "raised"), 0, `${vm}: transmitq interrupts`);
        assert.ok(d("transmitq", "suppressed") >= 1, `${vm}: the device checked its transmitq`);
        // At most one receiveq interrupt per frame. Fewer on a loaded machine: a guest still
        // awake (preempted) when the next frame lands is not interrupted again (EVENT_IDX), and
        // a device preempted long enough publishes two frames at once.
        const rx = d("receiveq", "raised");
        assert.ok(rx >= 1 && rx <= 22, `${vm}: ${rx} receiveq interrupts for 20 frames`);
      }
    } finally {
      await lab.stop();
    }
  },
});
