/**
 * The vhost-pci row of `vlab bench net`: the same two VMs (`a` with its NIC behind its vIOMMU in
 * `static` mode, `b`) joined once by a virtio-net link (two device workers and a link ring between
 * them) and once by a vhost-pci link (`b`'s guest worker serves `a`'s queues in `a`'s memory):
 * frame rate at one frame size (`udp-flood --max` into `sink`; `vlab bench net` runs each of its
 * sizes) and the ping median, runs interleaved
 * (net, vhost-pci, net, …) so that the machine's drift hits both alike, medians and ratios
 * measured in the same process.
 *
 * @module
 */

import { Lab } from "../lab.ts";
import { planLab } from "../plan.ts";
import { topologyFromObject } from "../topology/mod.ts";
import {
  DEFAULT_PING_INTERVAL_MS,
  execOk,
  intervalArg,
  median,
  roundOrder,
  spawnOk,
  warmUp,
  warmUpPings,
} from "./net_run.ts";

/** The vhost-pci comparison. */
export interface VhostPciRow {
  /** Row kind. */
  kind: "vhost-pci";
  /** Ethernet frame bytes of the flood. */
  frameSize: number;
  /** Pings per latency run. */
  pings: number;
  /** Over a virtio-net link: received frames/s and ping median (µs), medians of the runs. */
  net: { pps: number; rttMedianUs: number };
  /** Over a vhost-pci link: the same. */
  vhostPci: { pps: number; rttMedianUs: number };
  /** vhost-pci pps / virtio-net pps (median of the per-run ratios). */
  ppsRatio: number;
  /** vhost-pci pps / virtio-net pps of each pair of runs (run i of each kind, interleaved). */
  ppsRatios: number[];
  /** vhost-pci ping median / virtio-net ping median. */
  rttRatio: number;
  /** Runs of each kind. */
  runs: number;
}

/** The plan of the two VMs joined by a link of `kind`. */
export function vhostPciBenchPlan(kind: "net" | "vhost-pci", pollUs: number) {
  const t = topologyFromObject({
    name: `bench-${kind}`,
    defaults: { vm: { poll_us: pollUs } },
    vms: {
      a: { iommu: { mode: "static" }, nics: { eth0: { ip: "10.0.0.1/24", iommu: true } } },
      b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
    },
    links: [{ ...(kind === "vhost-pci" ? { kind } : {}), endpoints: ["a:eth0", "b:eth0"] }],
  }, `<bench ${kind}>`);
  if (!t.ok) throw new Error(`bench topology: ${t.error.map((i) => i.message).join("; ")}`);
  return planLab(t.value);
}

async function once(
  kind: "net" | "vhost-pci",
  o: {
    seconds: number;
    warmupSeconds?: number;
    pings: number;
    pingIntervalMs?: number;
    pollUs: number;
    frameSize: number;
  },
): Promise<{ pps: number; rttMedianUs: number }> {
  const lab = await Lab.start(vhostPciBenchPlan(kind, o.pollUs));
  try {
    // The link comes up once b serves (vhost-pci) or at once (net): a first ping waits for it.
    for (let i = 0; i < 50; i++) {
      const r = await lab.exec("a", ["ping", "10.0.0.2", "-c", "1", "-W", "0.2"]);
      if (r.ok && (r.result as { received: number }).received === 1) break;
    }
    await warmUpPings(lab, "a", "10.0.0.2", o.warmupSeconds ?? 0);
    const every = intervalArg(o.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS);
    const ping = await execOk(lab, "a", ["ping", "10.0.0.2", "-c", String(o.pings), "-i", every]);
    const rtt = ping.rttMs as unknown as { median: number };
    await warmUp(lab, [{ from: "a", to: "b", dst: "10.0.0.2" }], o.frameSize, o.warmupSeconds ?? 0);
    const sink = (await spawnOk(lab, "b", ["sink", "-t", String(o.seconds + 1)])).result;
    const t = ["-t", String(o.seconds), "-s", String(o.frameSize)];
    await execOk(lab, "a", ["udp-flood", "10.0.0.2", "--max", ...t]);
    const got = await sink;
    return { pps: got.pps, rttMedianUs: rtt.median * 1000 };
  } finally {
    await lab.stop();
  }
}

/**
 * Measure the comparison: `runs` interleaved runs of each link kind.
 *
 * @example
 * ```ts ignore
 * const row = await vhostPciComparison({ seconds: 2, runs: 3, pings: 200, pollUs: 0 });
 * row.ppsRatio; // vhost-pci's 64-byte frame rate over virtio-net's
 * ```
 */
export async function vhostPciComparison(
  o: {
    seconds: number;
    warmupSeconds?: number;
    runs: number;
    pings: number;
    pingIntervalMs?: number;
    pollUs: number;
    frameSize?: number;
  },
  progress: (what: string) => void = () => {},
): Promise<VhostPciRow> {
  const frameSize = o.frameSize ?? 64;
  const net: { pps: number; rttMedianUs: number }[] = [];
  const vp: { pps: number; rttMedianUs: number }[] = [];
  for (let i = 0; i < o.runs; i++) {
    // Each link leads a run in turn (`roundOrder`): neither always starts after the other's lab.
    for (const kind of roundOrder(["net", "vhost-pci"] as const, i)) {
      const name = kind === "net" ? "virtio-net" : "vhost-pci";
      progress(`${name} link, ${frameSize}-byte frames and ping, run ${i + 1}/${o.runs}`);
      (kind === "net" ? net : vp).push(await once(kind, { ...o, frameSize }));
    }
  }
  const m = (xs: { pps: number; rttMedianUs: number }[]) => ({
    pps: median(xs.map((x) => x.pps)),
    rttMedianUs: median(xs.map((x) => x.rttMedianUs)),
  });
  const a = m(net);
  const b = m(vp);
  return {
    kind: "vhost-pci",
    frameSize,
    pings: o.pings,
    net: a,
    vhostPci: b,
    ppsRatio: median(vp.map((x, i) => x.pps / net[i].pps)),
    ppsRatios: vp.map((x, i) => x.pps / net[i].pps),
    rttRatio: b.rttMedianUs / a.rttMedianUs,
    runs: o.runs,
  };
}

/**
 * The comparison as a text table.
 *
 * @example
 * ```ts ignore
 * formatVhostPciRows([row]).join("\n");
 * ```
 */
export function formatVhostPciRows(rows: readonly VhostPciRow[]): string[] {
  if (rows.length === 0) return [];
  const cells = [
    ["a → b (same VMs)", "frame B", "recv Mpps", "ping median µs"],
    ...rows.flatMap((r) => [
      [
        "virtio-net link",
        String(r.frameSize),
        (r.net.pps / 1e6).toFixed(3),
        r.net.rttMedianUs.toFixed(0),
      ],
      [
        "vhost-pci link",
        String(r.frameSize),
        (r.vhostPci.pps / 1e6).toFixed(3),
        r.vhostPci.rttMedianUs.toFixed(0),
      ],
      ["vhost-pci / net", "", `${r.ppsRatio.toFixed(2)}x`, `${r.rttRatio.toFixed(2)}x`],
    ]),
  ];
  const w = cells[0].map((_, c) => Math.max(...cells.map((r) => r[c].length)));
  return [
    ...cells.map((r) => r.map((x, c) => c === 0 ? x.padEnd(w[c]) : x.padStart(w[c])).join("  ")),
    // The frame rate's ratio is not the ratio of the two medians above: say what it is.
    ...rows.map((r) => {
      const n = r.ppsRatios.length;
      const range = n > 1
        ? `, ${Math.min(...r.ppsRatios).toFixed(2)}–${Math.max(...r.ppsRatios).toFixed(2)}`
        : "";
      return `vhost-pci/net, ${r.frameSize} B: ${r.ppsRatio.toFixed(2)}x the frame rate ` +
        `(median of ${n} paired run${n === 1 ? "" : "s"}${range}), ` +
        `${r.rttRatio.toFixed(2)}x the ping median (ratio of the two medians)`;
    }),
  ];
}
