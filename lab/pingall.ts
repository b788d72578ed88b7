/**
 * `vlab pingall`, the way mininet's `pingall` does it: every ordered pair of VMs whose NICs share
 * a subnet pings the other, and the results read as a matrix (`a -> b c`, `X` for a pair that got
 * no reply) with a loss summary (`*** Results: 0% dropped (12/12 received)`).
 *
 * This module is pure: which pairs to ping ({@linkcode pingPairs}, from a lab's status), how to
 * schedule them ({@linkcode runPingall}, given a function that pings one pair) and how the result
 * reads ({@linkcode formatPingall}). `cli/pingall.ts` pings through the control socket's `/exec`.
 *
 * @module
 */

import { type LabStatus, vmDevicesInOrder } from "./metrics.ts";
import { parseCidr, subnetOf } from "./topology/addresses.ts";

/** One ordered pair: `from` pings `to` at address `dst`. */
export interface PingPair {
  /** The VM that pings. */
  from: string;
  /** The VM pinged. */
  to: string;
  /** The address pinged: `to`'s first NIC on a subnet one of `from`'s NICs is on. */
  dst: string;
}

/** The outcome of one pair. */
export interface PairResult extends PingPair {
  /** Echo requests sent. */
  transmitted: number;
  /** Echo replies received. */
  received: number;
  /** Why the ping could not run (the workload's message), or null. */
  error: string | null;
  /**
   * True when an interrupt (Ctrl-C, SIGTERM) stopped this pair's pings partway: `transmitted`
   * and `received` are what it had when it stopped. With a reply it counts as reached; without
   * one it is not measured (`?`), as a pair never started.
   */
  cut?: boolean;
}

/** The whole run: `vlab pingall --json`. */
export interface PingallReport {
  /** VM names in lab order (the rows of the matrix). */
  vms: string[];
  /** Pairs pinged, in order. */
  results: PairResult[];
  /** Pairs that got at least one reply. */
  reached: number;
  /** Pairs pinged. */
  pairs: number;
  /**
   * Pairs that Ctrl-C (or SIGTERM) kept from starting, or cut before a reply came: not
   * measured, so counted neither as reached nor as dropped (`?` in the matrix). A pair cut after
   * a reply counts as reached (`cut` in its result).
   */
  interrupted: number;
  /** Percentage of the measured pairs that got no reply (0 when none was measured). */
  droppedPct: number;
}

/** The error of a pair that an interrupt cut short or kept from starting. */
export const PAIR_INTERRUPTED = "interrupted";

/**
 * Every ordered pair of distinct VMs with a NIC each on the same subnet (same network and
 * prefix), in lab order; each pair once, at the first such address of the VM pinged.
 *
 * @example
 * ```ts ignore
 * import { pingPairs } from "./pingall.ts";
 * pingPairs(status); // [{ from: "a", to: "b", dst: "10.0.0.2" }, { from: "b", to: "a", dst: "10.0.0.1" }]
 * ```
 */
export function pingPairs(status: Pick<LabStatus, "vms">): PingPair[] {
  // A NIC's address, or another device's interface's (a vhost-pci-net device's), in the
  // topology's order: the first on a shared subnet is the one pinged.
  const addressed = (vm: LabStatus["vms"][number]) =>
    vmDevicesInOrder(vm).map((d) => ({ ip: d.kind === "nic" ? d.nic.ip : d.device.ip ?? null }));
  const subnets = status.vms.map((vm) =>
    addressed(vm).flatMap((n) => {
      if (n.ip === null) return [];
      const c = parseCidr(n.ip);
      if (!c.ok) return [];
      return [{
        key: `${subnetOf(c.value).network}/${c.value.prefix}`,
        ip: n.ip.slice(0, n.ip.indexOf("/")),
      }];
    })
  );
  const pairs: PingPair[] = [];
  status.vms.forEach((from, i) => {
    const mine = new Set(subnets[i].map((s) => s.key));
    status.vms.forEach((to, j) => {
      if (i === j) return;
      const target = subnets[j].find((s) => mine.has(s.key));
      if (target !== undefined) pairs.push({ from: from.name, to: to.name, dst: target.ip });
    });
  });
  return pairs;
}

/**
 * The VMs a `--vms` list names, in lab order, or the names it has that the lab does not (`unknown`).
 * Names are separated by commas; blanks around them and empty names are ignored.
 *
 * @example
 * ```ts
 * import { selectVms } from "./pingall.ts";
 * selectVms(["a", "b", "c"], "c, a"); // { vms: ["a", "c"], unknown: [] }
 * selectVms(["a", "b"], "a,z"); // { vms: ["a"], unknown: ["z"] }
 * ```
 */
export function selectVms(
  lab: readonly string[],
  list: string,
): { vms: string[]; unknown: string[] } {
  const asked = new Set(list.split(",").map((n) => n.trim()).filter((n) => n !== ""));
  const known = new Set(lab);
  return {
    vms: lab.filter((n) => asked.has(n)),
    unknown: [...asked].filter((n) => !known.has(n)),
  };
}

/**
 * Ping every pair with `ping`, sources in parallel (at most `maxSources` at once) and each
 * source's pairs one after another; results in the order of `pairs`.
 *
 * One ping at a time per source VM: the guest stack matched echo replies to the wrong one of
 * several concurrent pings in one VM. Once the guest stack keeps parallel pings apart, a source
 * may run its pairs in parallel too (bound them the same way).
 *
 * @example
 * ```ts ignore
 * import { runPingall } from "./pingall.ts";
 * const results = await runPingall(pairs, (p) => pingOnce(p), { maxSources: 8 });
 * ```
 */
export async function runPingall(
  pairs: PingPair[],
  ping: (pair: PingPair) => Promise<PairResult>,
  options: {
    maxSources: number;
    signal?: AbortSignal;
    /**
     * Called once a source VM's pairs all have results (its row of the matrix is final), with
     * the results so far (in the order of `pairs`; a pair not yet pinged is a hole).
     */
    onSourceDone?: (from: string, results: readonly PairResult[]) => void;
  },
): Promise<PairResult[]> {
  const bySource = new Map<string, number[]>();
  pairs.forEach((p, i) => {
    const list = bySource.get(p.from) ?? [];
    list.push(i);
    bySource.set(p.from, list);
  });
  const queues = [...bySource.values()];
  const results: PairResult[] = new Array(pairs.length);
  let next = 0;
  const lane = async () => {
    while (next < queues.length) {
      const queue = queues[next++];
      for (const i of queue) {
        results[i] = options.signal?.aborted
          ? { ...pairs[i], transmitted: 0, received: 0, error: PAIR_INTERRUPTED }
          : await ping(pairs[i]);
      }
      options.onSourceDone?.(pairs[queue[0]].from, results);
    }
  };
  const lanes = Math.max(1, Math.min(options.maxSources, queues.length));
  await Promise.all(Array.from({ length: lanes }, lane));
  return results;
}

/**
 * The report of a run: counts and the dropped percentage, over pairs (a pair counts as received
 * when at least one of its pings got a reply).
 *
 * @example
 * ```ts
 * import { pingallReport } from "./pingall.ts";
 * const r = pingallReport(["a", "b"], [
 *   { from: "a", to: "b", dst: "10.0.0.2", transmitted: 3, received: 3, error: null },
 *   { from: "b", to: "a", dst: "10.0.0.1", transmitted: 3, received: 0, error: null },
 * ]);
 * r.droppedPct; // 50
 * ```
 */
export function pingallReport(vms: string[], results: PairResult[]): PingallReport {
  const reached = results.filter(pairReached).length;
  const pairs = results.length;
  const interrupted = results.filter((r) => !pairMeasured(r)).length;
  const measured = pairs - interrupted;
  const droppedPct = measured === 0 ? 0 : Math.round(((measured - reached) * 100) / measured);
  return { vms, results, reached, pairs, interrupted, droppedPct };
}

/** Whether a pair got at least one reply. */
export function pairReached(r: PairResult): boolean {
  return r.error === null && r.received > 0;
}

/**
 * Whether a pair was measured: not kept from starting by an interrupt, nor cut by one before a
 * reply came (`?` in the matrix, counted neither as reached nor as dropped).
 *
 * @example
 * ```ts
 * import { pairMeasured } from "./pingall.ts";
 * const pair = { from: "a", to: "b", dst: "10.0.0.2", error: null };
 * pairMeasured({ ...pair, transmitted: 2, received: 1, cut: true }); // true
 * pairMeasured({ ...pair, transmitted: 1, received: 0, cut: true }); // false
 * ```
 */
export function pairMeasured(r: PairResult): boolean {
  return r.error !== PAIR_INTERRUPTED && !(r.cut === true && r.received === 0);
}

/** The first line of the report, printed before any pair is pinged (mininet's). */
export const PINGALL_HEAD = "*** Ping: testing ping reachability";

/**
 * One VM's row of the matrix: each VM it pinged (`X` for no reply, `?` for not measured).
 * `results` may hold other VMs' pairs too; only `vm`'s are read.
 *
 * @example
 * ```ts
 * import { pingallRow } from "./pingall.ts";
 * pingallRow("a", [{ from: "a", to: "b", dst: "10.0.0.2", transmitted: 1, received: 0, error: null }]);
 * // "a -> X"
 * ```
 */
export function pingallRow(vm: string, results: readonly PairResult[]): string {
  const mine = results.filter((r) => r.from === vm);
  const cells = mine.map((r) => pairReached(r) ? r.to : !pairMeasured(r) ? "?" : "X");
  return `${vm} -> ${mine.length === 0 ? "(shares no subnet with another VM)" : cells.join(" ")}`;
}

/**
 * The lines after the matrix: the summary, then one line per failed (or cut) pair saying why.
 *
 * @example
 * ```ts
 * import { pingallReport, pingallTail } from "./pingall.ts";
 * pingallTail(pingallReport(["a"], [])); // "*** Results: 0% dropped (0/0 received)"
 * ```
 */
export function pingallTail(report: PingallReport): string {
  const lines: string[] = [];
  const measured = report.pairs - report.interrupted;
  lines.push(
    `*** Results: ${report.droppedPct}% dropped (${report.reached}/${measured} received)${
      report.interrupted > 0
        ? `; interrupted: ${report.interrupted} of ${report.pairs} pairs not measured (?)`
        : ""
    }`,
  );
  for (const r of report.results) {
    if (r.cut === true) {
      // What the pair in flight had measured when the interrupt came.
      lines.push(
        `*** ${r.from} -> ${r.to} (${r.dst}): interrupted after ${r.received}/${r.transmitted} replies`,
      );
      continue;
    }
    if (pairReached(r) || r.error === PAIR_INTERRUPTED) continue;
    const why = r.error ?? `${r.received}/${r.transmitted} replies`;
    lines.push(`*** ${r.from} -> ${r.to} (${r.dst}): ${why}`);
  }
  return lines.join("\n");
}

/**
 * The report as mininet prints it: one line per VM with each VM it pinged (`X` for no reply),
 * the summary line, then one line per failed pair saying why. `vlab pingall` prints the same
 * text piece by piece ({@linkcode PINGALL_HEAD}, {@linkcode pingallRow} as each VM's row is
 * final, {@linkcode pingallTail}).
 *
 * @example
 * ```ts
 * import { formatPingall, pingallReport } from "./pingall.ts";
 * formatPingall(pingallReport(["a", "b"], [
 *   { from: "a", to: "b", dst: "10.0.0.2", transmitted: 3, received: 3, error: null },
 *   { from: "b", to: "a", dst: "10.0.0.1", transmitted: 3, received: 3, error: null },
 * ])).split("\n")[1]; // "a -> b"
 * ```
 */
export function formatPingall(report: PingallReport): string {
  return [
    PINGALL_HEAD,
    ...(report.pairs === 0 ? [NO_PAIRS] : report.vms.map((vm) => pingallRow(vm, report.results))),
    pingallTail(report),
  ].join("\n");
}

/**
 * The matrix of a lab where no two VMs share a subnet (vsock only, L2 only): one line, not a row
 * per VM saying the same.
 */
export const NO_PAIRS = "*** No two VMs share a subnet: nothing to ping";

/**
 * Prints the rows of the matrix in lab order as they become final: a VM's row once its pairs
 * are all pinged and every row above it is printed. Rows of VMs with no pair are final at once.
 *
 * @example
 * ```ts
 * import { PingallRows } from "./pingall.ts";
 * const lines: string[] = [];
 * const rows = new PingallRows(["a", "b"], (line) => lines.push(line));
 * rows.done("b", []); // nothing yet: a's row comes first
 * ```
 */
export class PingallRows {
  #vms: readonly string[];
  #write: (line: string) => void;
  #done = new Set<string>();
  #next = 0;

  /**
   * @param vms the VMs in lab order (the rows)
   * @param write called with each row, in order
   * @param sources the VMs that have pairs; the others' rows are final at once
   */
  constructor(
    vms: readonly string[],
    write: (line: string) => void,
    sources: ReadonlySet<string> = new Set(vms),
  ) {
    this.#vms = vms;
    this.#write = write;
    for (const vm of vms) if (!sources.has(vm)) this.#done.add(vm);
    this.#flush([]);
  }

  /** Marks `vm`'s pairs as done (`results` holds at least them) and prints what became final. */
  done(vm: string, results: readonly PairResult[]): void {
    this.#done.add(vm);
    this.#flush(results);
  }

  /** Rows printed so far. */
  get printed(): number {
    return this.#next;
  }

  #flush(results: readonly PairResult[]): void {
    while (this.#next < this.#vms.length && this.#done.has(this.#vms[this.#next])) {
      const vm = this.#vms[this.#next++];
      this.#write(pingallRow(vm, results));
    }
  }
}

/** Seconds between the pings of one pair (`ping -i`). */
export const PING_INTERVAL_S = 0.2;

/**
 * The longest a run can take when no ping gets a reply: each pair waits `count - 1` intervals
 * then `timeout` seconds, a source pings its pairs one after another, and at most `maxSources`
 * sources ping at once (each free lane takes the next source, as {@linkcode runPingall} does).
 *
 * @example
 * ```ts
 * import { pingallWorstSeconds } from "./pingall.ts";
 * const pairs = [{ from: "a", to: "b", dst: "10.0.0.2" }, { from: "b", to: "a", dst: "10.0.0.1" }];
 * pingallWorstSeconds(pairs, { count: 3, timeout: 1, maxSources: 1 }); // 2.8
 * ```
 */
export function pingallWorstSeconds(
  pairs: readonly PingPair[],
  options: { count: number; timeout: number; maxSources: number },
): number {
  const perPair = (options.count - 1) * PING_INTERVAL_S + options.timeout;
  const bySource = new Map<string, number>();
  for (const p of pairs) bySource.set(p.from, (bySource.get(p.from) ?? 0) + 1);
  const lanes = new Array(Math.max(1, options.maxSources)).fill(0);
  for (const n of bySource.values()) {
    const i = lanes.indexOf(Math.min(...lanes));
    lanes[i] += n * perPair;
  }
  return Math.round(Math.max(...lanes) * 10) / 10;
}
