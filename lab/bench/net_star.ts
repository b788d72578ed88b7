/**
 * More busy workers than cores (`vlab bench net --star`): the shipped `star` topology (four VMs
 * on one learning switch) under two floods at once, `h1 → h2` and `h3 → h4`. Nine threads want a
 * core (four VMs' guest and device workers, the switch) on a machine with two, so this measures
 * how the lab shares cores when every worker is busy: the frames per second both sinks received
 * together.
 *
 * @module
 */

import { Lab } from "../lab.ts";
import { planLab } from "../plan.ts";
import { parseTopology } from "../topology/load.ts";
import type { RingLayout } from "../topology/types.ts";
import { execOk, maxFloodArgv, median, spawnOk, warmUp } from "./net_run.ts";

/** The star row: aggregate received frames per second, median over runs. */
export interface StarRow {
  /** Row kind. */
  kind: "star";
  /** Ring layout of every NIC. */
  layout: RingLayout;
  /** Ethernet frame bytes. */
  frameSize: number;
  /** Floods at once. */
  flows: number;
  /** Frames per second received by both sinks together, each run. */
  runsPps: number[];
  /** Median of `runsPps`. */
  pps: number;
  /** Frames the floods sent that no sink received, percent, median over runs. */
  lossPct: number;
}

const STAR = new URL("../../topologies/star.yaml", import.meta.url);
const FLOWS = [["h1", "10.0.0.2", "h2"], ["h3", "10.0.0.4", "h4"]] as const;

/**
 * One run: a fresh `star` lab, both floods for `warmupSeconds` unmeasured (`warmUp`), then
 * for `seconds`, measured.
 *
 * @example
 * ```ts ignore
 * const { pps } = await starRun("split", 64, 2, 1);
 * ```
 */
export async function starRun(
  layout: RingLayout,
  frameSize: number,
  seconds: number,
  warmupSeconds = 0,
): Promise<{ pps: number; lossPct: number }> {
  const yaml = Deno.readTextFileSync(STAR).replace(
    "seed: 1\n",
    `seed: 1\ndefaults: { nic: { layout: ${layout} } }\n`,
  );
  const t = parseTopology(yaml, "topologies/star.yaml");
  if (!t.ok) throw new Error(`bench topology: ${JSON.stringify(t.error)}`);
  const lab = await Lab.start(planLab(t.value));
  try {
    // Let the switch learn every MAC first: a flood to an unknown MAC would go to every port.
    for (const [from, dst] of FLOWS) await execOk(lab, from, ["ping", dst, "-c", "1"]);
    const paths = FLOWS.map(([from, dst, to]) => ({ from, dst, to }));
    await warmUp(lab, paths, frameSize, warmupSeconds);
    const sinks: Promise<Record<string, number>>[] = [];
    for (const [, , to] of FLOWS) {
      sinks.push((await spawnOk(lab, to, ["sink", "-t", String(seconds + 1)])).result);
    }
    const floods = await Promise.all(
      FLOWS.map(([from, dst]) => execOk(lab, from, maxFloodArgv(dst, seconds, frameSize))),
    );
    const got = await Promise.all(sinks);
    const sent = floods.reduce((n, f) => n + f.sent, 0);
    const received = got.reduce((n, g) => n + g.received, 0);
    return {
      pps: got.reduce((n, g) => n + g.pps, 0),
      lossPct: sent > 0 ? 100 * (1 - received / sent) : 0,
    };
  } finally {
    await lab.stop();
  }
}

/**
 * The star row: `runs` runs of {@linkcode starRun}.
 *
 * @example
 * ```ts ignore
 * const row = await starBench("split", 64, { seconds: 2, runs: 3 });
 * ```
 */
export async function starBench(
  layout: RingLayout,
  frameSize: number,
  o: { seconds: number; warmupSeconds?: number; runs: number },
  progress: (what: string) => void = () => {},
): Promise<StarRow> {
  const runs: { pps: number; lossPct: number }[] = [];
  for (let i = 0; i < o.runs; i++) {
    progress(`star under two floods, ${layout} ${frameSize} B, run ${i + 1}/${o.runs}`);
    runs.push(await starRun(layout, frameSize, o.seconds, o.warmupSeconds ?? 0));
  }
  return {
    kind: "star",
    layout,
    frameSize,
    flows: FLOWS.length,
    runsPps: runs.map((r) => r.pps),
    pps: median(runs.map((r) => r.pps)),
    lossPct: median(runs.map((r) => r.lossPct)),
  };
}
