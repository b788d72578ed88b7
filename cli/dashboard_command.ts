/**
 * `vlab dashboard`: attach the live dashboard to a running lab, over its control socket
 * (`GET /snapshot`, `GET /ring`). `vlab up` in a terminal shows the same dashboard in-process.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import process from "node:process";
import { controlFetch, controlJson, resolveLab } from "../lab/client.ts";
import { LabError } from "../lab/errors.ts";
import type { LabRecord } from "../lab/state.ts";
import type { LabSnapshot, RingSelector, RingView } from "../lab/snapshot_types.ts";
import { runDashboard, type SnapshotSource } from "./dashboard/run.ts";
import { VlabError } from "./errors.ts";

/**
 * A snapshot source that asks a lab's control socket.
 *
 * @example
 * ```ts ignore
 * const source = socketSource(await resolveLab(undefined));
 * const snap = await source.snapshot();
 * ```
 */
export function socketSource(record: LabRecord): SnapshotSource {
  return {
    snapshot: () => controlJson<LabSnapshot>(record, "/snapshot"),
    ring: async (sel: RingSelector) => {
      const q = `vm=${encodeURIComponent(sel.vm)}&nic=${encodeURIComponent(sel.nic)}` +
        `&queue=${sel.queue}`;
      const { res, client } = await controlFetch(record, `/ring?${q}`);
      try {
        return res.ok ? await res.json() as RingView : (await res.body?.cancel(), null);
      } finally {
        client.close();
      }
    },
  };
}

/** The `dashboard` command. */
export function dashboardCommand(): Command {
  return new Command("dashboard")
    .description("attach the live dashboard to a running lab (q detaches)")
    .argument("[name]", "lab name (default: the only running lab)")
    .option("--interval <ms>", "redraw period in ms", "100")
    .option("--report-cpu", "on exit, print the dashboard's own CPU use on stderr (JSON)")
    .action(async (name, opts) => {
      const interval = Number(opts.interval);
      if (!Number.isInteger(interval) || interval < 20 || interval > 10_000) {
        throw new VlabError(
          "bad-option",
          `--interval must be 20 to 10000 ms, got "${opts.interval}"`,
          {
            hint: "For example --interval 100",
          },
        );
      }
      let record: LabRecord;
      try {
        record = await resolveLab(name);
      } catch (e) {
        if (e instanceof LabError) {
          throw new VlabError(e.code, e.message, { hint: e.hint, cause: e });
        }
        throw e;
      }
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const stop = new AbortController();
      const onTerm = () => stop.abort();
      Deno.addSignalListener("SIGTERM", onTerm);
      try {
        await runDashboard({
          source: socketSource(record),
          foreground: false,
          intervalMs: interval,
          signal: stop.signal,
        });
      } finally {
        Deno.removeSignalListener("SIGTERM", onTerm);
        if (opts.reportCpu) {
          const used = process.cpuUsage(cpu0);
          const seconds = (performance.now() - t0) / 1000;
          const cpuPct = (100 * (used.user + used.system) / 1e6) / seconds;
          await Deno.stderr.write(
            new TextEncoder().encode(JSON.stringify({ seconds, cpuPct }) + "\n"),
          );
        }
      }
    }) as unknown as Command;
}
