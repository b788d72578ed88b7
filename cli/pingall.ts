/**
 * `vlab pingall`: in a running lab, every ordered pair of VMs that share a subnet pings the other
 * (mininet's `pingall`); prints the matrix and the loss summary, exit code 1 if a pair got no
 * reply. The pairs, the schedule and the text are in `lab/pingall.ts`; each ping is a `ping`
 * workload run through the control socket's `/exec`.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { controlJson, execCancellable, resolveLab } from "../lab/client.ts";
import { LabError, PartialExecError } from "../lab/errors.ts";
import type { LabStatus } from "../lab/metrics.ts";
import {
  NO_PAIRS,
  PAIR_INTERRUPTED,
  type PairResult,
  PINGALL_HEAD,
  pingallReport,
  PingallRows,
  pingallTail,
  pingallWorstSeconds,
  type PingPair,
  pingPairs,
  runPingall,
  selectVms,
} from "../lab/pingall.ts";
import { quote } from "../devices/base/quote.ts";
import type { LabRecord } from "../lab/state.ts";
import { EXIT_CODES, VlabError } from "./errors.ts";
import { CliExit } from "./usage.ts";
import { intOption, secondsOption } from "./int_option.ts";
import { writeAll } from "./progress.ts";
import { count as countOf } from "../devices/base/plural.ts";
import { onInterrupt } from "./interrupt.ts";

const encoder = new TextEncoder();
const out = (text: string) => writeAll(Deno.stdout, encoder.encode(text));

/**
 * Refuse a `--vms` list that cannot name a pair, before the lab is asked: an empty name between
 * commas (`h1,,h3`, `h1,`, as `vlab partition` refuses `a, / b`) or fewer than two VMs (`--vms h1`,
 * `--vms h1,h1`), whose run would say "No two VMs share a subnet" of VMs that do. A
 * `bad-option` usage error (exit 2).
 *
 * @example
 * ```ts
 * import { checkVmsOption } from "./pingall.ts";
 * checkVmsOption("h1, h3"); // fine
 * ```
 */
export function checkVmsOption(list: string): void {
  const names = list.split(",").map((n) => n.trim());
  const hint = "Give two or more VM names separated by commas, e.g. --vms h1,h2";
  if (names.some((n) => n === "")) {
    throw new VlabError(
      "bad-option",
      `--vms has an empty name, got ${quote(list)}`,
      { hint },
    );
  }
  const distinct = new Set(names);
  if (distinct.size < 2) {
    throw new VlabError(
      "bad-option",
      `--vms names one VM, ${quote(names[0])}: a pair needs two`,
      { hint },
    );
  }
}

/** Source VMs pinging at once. */
const MAX_SOURCES = 8;

/** A run that may take longer than this, seconds, says so (on stderr) before it starts. */
const SAY_WORST_ABOVE_S = 10;

/**
 * The line `vlab pingall` prints on stderr before a long run: how many pairs, how many sources at
 * once, and the longest it can take (every ping unanswered), with how to shorten it; null for a run
 * of at most {@linkcode SAY_WORST_ABOVE_S} seconds.
 *
 * @example
 * ```ts ignore
 * pingallDurationLine(pairs, { count: 3, timeout: 1 });
 * // "vlab: 4032 pairs, 8 VMs pinging at once: up to 12 min if no reply comes; `-c 1` or `--vms` shortens it"
 * ```
 */
export function pingallDurationLine(
  pairs: readonly PingPair[],
  options: { count: number; timeout: number },
): string | null {
  const worst = pingallWorstSeconds(pairs, { ...options, maxSources: MAX_SOURCES });
  if (worst <= SAY_WORST_ABOVE_S) return null;
  const sources = new Set(pairs.map((p) => p.from)).size;
  const at = Math.min(MAX_SOURCES, sources);
  const took = worst < 120 ? `${Math.ceil(worst)} s` : `${Math.ceil(worst / 60)} min`;
  // Not a shorter -W: a first ping waits for ARP too, and a busy lab answers in more than 0.2 s.
  const shorter = options.count > 1 ? "; `-c 1` or `--vms` shortens it" : "; `--vms` shortens it";
  return `vlab: ${countOf(pairs.length, "pair")}, ${countOf(at, "VM")} pinging at once: ` +
    `up to ${took} if no reply comes${shorter}`;
}

/**
 * The `vlab pingall` command.
 *
 * @example
 * ```ts ignore
 * import { pingallCommand } from "./pingall.ts";
 * program.addCommand(pingallCommand());
 * ```
 */
export function pingallCommand(): Command {
  return new Command("pingall")
    .description("ping between every pair of VMs that share a subnet (exit code 1 if one fails)")
    .argument("[name]", "lab name (default: the only running lab)")
    .option("-c, --count <n>", "pings per pair (a pair passes with one reply)", "3")
    .option("-W, --timeout <seconds>", "how long to wait for each reply", "1")
    .option("--vms <list>", "ping only among these VMs (names separated by commas)")
    .option("--json", "print the results as JSON")
    .addHelpText(
      "after",
      "\nExample:\n  vlab pingall\n  *** Ping: testing ping reachability\n  a -> b\n  b -> a\n" +
        "  *** Results: 0% dropped (2/2 received)\n",
    )
    .action(async (name, opts) => {
      const count = intOption("--count", opts.count, 1, 100, "3");
      const timeout = secondsOption("--timeout", opts.timeout, 0.01, 60);
      if (opts.vms !== undefined) checkVmsOption(opts.vms);
      const record = await resolveLab(name, "the lab name (`vlab pingall NAME`)");
      const status = await controlJson<LabStatus>(record, "/lab");
      // --vms: the pairs among those VMs only, and their rows (a 128-VM lab has 16256 pairs).
      let among = status.vms.map((v) => v.name);
      if (opts.vms !== undefined) {
        const picked = selectVms(among, opts.vms);
        if (picked.unknown.length > 0 || picked.vms.length === 0) {
          const names = picked.unknown.map((n) => quote(n)).join(", ");
          throw new VlabError(
            "unknown-vm",
            picked.unknown.length > 0
              ? `Lab ${quote(record.name)} has no VM${
                picked.unknown.length > 1 ? "s" : ""
              } ${names}`
              : "--vms names no VM",
            {
              hint: `\`vlab status\` lists the VMs; --vms takes their names separated by commas, ` +
                `e.g. --vms ${among.slice(0, 2).join(",") || "a,b"}`,
            },
          );
        }
        among = picked.vms;
      }
      const chosen = new Set(among);
      const pairs = pingPairs(status).filter((p) => chosen.has(p.from) && chosen.has(p.to));
      // Ctrl-C: no new pair starts, and the pairs in flight stop and report what they had
      // measured; a second Ctrl-C cuts them at once.
      const abort = new AbortController();
      const force = new AbortController();
      const off = onInterrupt(() => abort.signal.aborted ? force.abort() : abort.abort());
      const ended = { labStopped: false };
      const said = pingallDurationLine(pairs, { count, timeout });
      if (said !== null) console.error(said);
      // The text report is printed as it is measured: the head now, each VM's row once it is
      // final (a lab of 64 VMs has 4032 pairs: minutes), the summary at the end.
      const vmNames = among;
      // stdout gone (`| head`) or full: no new pair starts, the pairs in flight stop, and the
      // write's error ends the command (a closed stdout quietly, exit 0).
      const printer = new LinePrinter((text) => out(text), () => abort.abort());
      const print = (line: string) => printer.print(line);
      let rows: PingallRows | null = null;
      if (!opts.json) {
        print(PINGALL_HEAD);
        if (pairs.length === 0) print(NO_PAIRS);
        else rows = new PingallRows(vmNames, print, new Set(pairs.map((p) => p.from)));
      }
      let results: PairResult[];
      try {
        results = await runPingall(
          pairs,
          (p) =>
            pingPair(record, p, {
              count,
              timeout,
              signal: abort.signal,
              force: force.signal,
              ended,
            }),
          {
            maxSources: MAX_SOURCES,
            signal: abort.signal,
            onSourceDone: (from, sofar) => rows?.done(from, sofar),
          },
        );
      } finally {
        off();
        await printer.settled();
      }
      if (printer.failed !== null) throw printer.failed;
      const report = pingallReport(vmNames, results);
      await out(opts.json ? JSON.stringify(report, null, 2) + "\n" : pingallTail(report) + "\n");
      // The lab stopped meanwhile: what was measured is printed, and the matrix is not done.
      if (ended.labStopped) {
        throw new VlabError("no-lab", `Lab "${record.name}" stopped while pingall ran`, {
          hint: "The pairs measured before it stopped are printed above (`?`: not measured)",
        });
      }
      // Interrupted: what was measured is printed, but the matrix is not done (130, not 1).
      if (abort.signal.aborted) throw new CliExit(EXIT_CODES.interrupted);
      if (report.reached < report.pairs) {
        throw new VlabError(
          "unreachable",
          `${report.pairs - report.reached} of ${countOf(report.pairs, "pair")} got no reply`,
          {
            hint:
              "Check the links (`vlab status`) and the VMs' addresses; `vlab exec VM -- ping` retries one pair",
          },
        );
      }
    }) as unknown as Command;
}

/**
 * Lines written one after another while the caller goes on (`print` does not wait). The first
 * write that fails is kept (`failed`) and reported once through `onFail`; the lines after it are
 * dropped, and no write's failure is left as an unhandled rejection (which ended `vlab pingall |
 * head -2` with Deno's "Uncaught (in promise)" and a stack trace).
 *
 * @example
 * ```ts ignore
 * const printer = new LinePrinter((text) => out(text), () => abort.abort());
 * printer.print("*** Ping: testing ping reachability");
 * await printer.settled();
 * if (printer.failed !== null) throw printer.failed;
 * ```
 */
export class LinePrinter {
  #write: (text: string) => unknown;
  #onFail: (error: unknown) => void;
  #chain: Promise<void> = Promise.resolve();
  /** The first write's error, or null. */
  failed: unknown = null;

  /**
   * @param write writes text (a line with its newline), at once or by a promise
   * @param onFail called once, with the first write's error
   */
  constructor(write: (text: string) => unknown, onFail: (error: unknown) => void) {
    this.#write = write;
    this.#onFail = onFail;
  }

  /** Queue `line` (a newline is added). */
  print(line: string): void {
    this.#chain = this.#chain.then(async () => {
      if (this.failed !== null) return;
      try {
        await this.#write(line + "\n");
      } catch (e) {
        this.failed = e;
        this.#onFail(e);
      }
    });
  }

  /** Resolves once every queued line is written or dropped. */
  settled(): Promise<void> {
    return this.#chain;
  }
}

/** One pair's pings, through `/exec`; a workload that cannot run is a failed pair. */
async function pingPair(
  record: LabRecord,
  pair: PingPair,
  opts: {
    count: number;
    timeout: number;
    signal: AbortSignal;
    force: AbortSignal;
    /** Set when the lab stopped under a pair (its pings cut short, or the lab gone). */
    ended: { labStopped: boolean };
  },
): Promise<PairResult> {
  const argv = [
    "ping",
    pair.dst,
    "-c",
    String(opts.count),
    "-i",
    "0.2",
    "-W",
    String(opts.timeout),
  ];
  try {
    // On Ctrl-C the lab stops the pings and answers what they had measured (`cancelled`).
    const answer = await execCancellable<{ received?: number; transmitted?: number }>(
      record,
      pair.from,
      argv,
      { signal: opts.signal, force: opts.force, idPrefix: "pingall" },
    );
    return {
      ...pair,
      transmitted: answer.result?.transmitted ?? 0,
      received: answer.result?.received ?? 0,
      error: null,
      ...(answer.cancelled ? { cut: true } : {}),
    };
  } catch (e) {
    // The lab stopped under its pings (`vlab down`): what they had measured, cut short.
    if (e instanceof PartialExecError && e.code === "no-lab" && e.partial.kind === "ping") {
      opts.ended.labStopped = true;
      const { transmitted, received } = e.partial;
      return { ...pair, transmitted, received, error: null, cut: true };
    }
    if (e instanceof LabError && (e.code === "workload-failed" || e.code === "unknown-vm")) {
      return { ...pair, transmitted: 0, received: 0, error: e.message };
    }
    // The lab went (`vlab down`): this pair and the rest are not measured; the report says so.
    if (e instanceof LabError && e.code === "no-lab") {
      opts.ended.labStopped = true;
      return { ...pair, transmitted: 0, received: 0, error: PAIR_INTERRUPTED };
    }
    // Its request was cut (a second Ctrl-C, or a lab that did not answer the cancel in time):
    // what it measured is not known.
    if (opts.signal.aborted) {
      return { ...pair, transmitted: 0, received: 0, error: PAIR_INTERRUPTED };
    }
    throw e;
  }
}
