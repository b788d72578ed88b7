/**
 * How `vlab bench net --dashboard` attaches a dashboard: a real `vlab dashboard NAME
 * --report-cpu` process, drawing into a real terminal as a user's would. Drawing costs with the
 * size of the screen (ink lays out and compares every cell at each redraw), and with no terminal
 * behind it a dashboard draws at 80×24; so the benchmark runs it on a pseudo-terminal of
 * {@linkcode DASHBOARD_TERMINAL}'s size that `script` (util-linux) opens, and only where `script`
 * is missing on no terminal at all (the report says which).
 *
 * @module
 */

import process from "node:process";
import type { DashboardAttacher } from "../lab/bench/net.ts";
import { vlabRunArgs } from "./deno_run.ts";
import { endChild, shellQuote } from "./child.ts";
import { benchTempDir, untilExit } from "../lab/bench/at_exit.ts";

/** The size of the pseudo-terminal the benchmark's dashboard draws into. */
export const DASHBOARD_TERMINAL = { columns: 160, rows: 50 } as const;

/** How often the dashboard's CPU reports (written once a second) are read. */
const READ_EVERY_MS = 100;

/** How long the dashboard has to end after SIGTERM before it is killed. */
const END_MS = 3_000;

/** A file's text, or "" when it cannot be read (synchronous: for the exit's clean-up). */
function readTextOrEmpty(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/** Whether `script` (util-linux) can be run here. */
async function hasScript(): Promise<boolean> {
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", "command -v script"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/**
 * Attach a real `vlab dashboard` process to lab `name`, as a user would from another terminal: in
 * a {@linkcode DASHBOARD_TERMINAL}-sized pseudo-terminal when `script` is installed, else with no
 * terminal (80×24). On detach, stop it (SIGTERM) and say what it used over the measured window:
 * its CPU and the snapshots it drew, from its `--report-cpu` lines, and where it drew.
 *
 * @example
 * ```ts ignore
 * const dashboard = await attachDashboard("pair");
 * dashboard.startWindow();
 * const { cpuPct, updatesPerSecond, terminal } = await dashboard.detach();
 * ```
 */
export const attachDashboard: DashboardAttacher = async (name) => {
  const temp = benchTempDir("vlab-bench-dashboard-");
  const dir = temp.path;
  const reports = `${dir}/cpu.jsonl`;
  const pidFile = `${dir}/pid`;
  const pty = await hasScript();
  const { columns, rows } = DASHBOARD_TERMINAL;
  const dashboard = [Deno.execPath(), ...vlabRunArgs(["dashboard", name, "--report-cpu"])]
    .map(shellQuote).join(" ");
  // The shell's pid becomes the dashboard's at `exec`: the pid to send SIGTERM to. Its reports
  // (stderr) go to a file of their own, apart from what it draws.
  const line = `echo $$ > ${shellQuote(pidFile)} && ${
    pty ? `stty cols ${columns} rows ${rows} && ` : ""
  }exec ${dashboard} 2>>${shellQuote(reports)}`;
  const child = new Deno.Command(pty ? "script" : "sh", {
    // script -q (no start and done lines) -e (its child's exit status) -c LINE, no typescript file
    args: pty ? ["-q", "-e", "-c", line, "/dev/null"] : ["-c", line],
    // script runs LINE with $SHELL: a POSIX one, whatever the user's login shell is.
    env: { VLAB_DASHBOARD_NICE: process.env.VLAB_DASHBOARD_NICE ?? "", SHELL: "/bin/sh" },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Ctrl-C or SIGTERM end the benchmark with Deno.exit, which runs no `finally`: the dashboard
  // (and `script`) would outlive it, drawing for a lab that is gone, and its folder would stay.
  let ended = false;
  const endAtExit = untilExit(() => {
    if (!ended) {
      const pid = Number(readTextOrEmpty(pidFile));
      for (const kill of [() => pid > 0 && Deno.kill(pid, "SIGTERM"), () => child.kill()]) {
        try {
          kill();
        } catch {
          // Gone already.
        }
      }
    }
    temp.remove();
  });
  // Follow its reports: cumulative CPU milliseconds and snapshots drawn at t seconds.
  type Report = { t: number; cpuMs: number; updates: number; priority?: string; groupMs?: number };
  let latest: Report | null = null;
  let windowStart: Report | null = null;
  let reading = true;
  let firstSample!: () => void;
  const started = new Promise<void>((r) => firstSample = r);
  const follow = (async () => {
    while (reading) {
      await new Promise((r) => setTimeout(r, READ_EVERY_MS));
      const text = await Deno.readTextFile(reports).catch(() => "");
      const last = text.trimEnd().split("\n").at(-1) ?? "";
      try {
        latest = JSON.parse(last) as Report;
        firstSample();
      } catch {
        // Nothing complete yet.
      }
    }
  })();
  const stop = async () => {
    // The dashboard first (under `script` it is not the child itself).
    const pid = Number(await Deno.readTextFile(pidFile).catch(() => ""));
    await endChild(child, END_MS, pid > 0 ? [pid] : []);
    reading = false;
    await follow;
    ended = true;
    endAtExit();
  };
  // Steady state before the traffic: started (first report) and a second of redraws.
  const up = await Promise.race([started.then(() => true), child.status.then(() => false)]);
  if (!up) {
    await stop();
    throw new Error("the dashboard ended before it reported its CPU use");
  }
  await new Promise((r) => setTimeout(r, 1000));
  return {
    startWindow: () => windowStart = latest,
    detach: async () => {
      const end = latest;
      await stop();
      if (!windowStart || !end || end.t <= windowStart.t) {
        throw new Error("the dashboard did not report its CPU use");
      }
      const seconds = end.t - windowStart.t;
      const groupMs = (end.groupMs ?? 0) - (windowStart.groupMs ?? 0);
      return {
        cpuPct: (100 * (end.cpuMs - windowStart.cpuMs)) / (seconds * 1000),
        updatesPerSecond: (end.updates - windowStart.updates) / seconds,
        terminal: pty ? `${columns}x${rows}` : "none",
        // Each report says the priority it has then: one that left its idle group before the
        // window ends still spent part of it there (groupPct says how much).
        priority: groupMs > 0 ? "idle group" : end.priority ?? "unknown",
        groupPct: Math.min(100, (100 * groupMs) / (seconds * 1000)),
      };
    },
  };
};
