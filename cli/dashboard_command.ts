/**
 * `vlab dashboard`: attach the live dashboard to a running lab, over its control socket
 * (`GET /snapshot`, `GET /ring`, `GET /switches/NAME`). `vlab up` in a terminal shows the same
 * dashboard the same way: it starts this command as a child process with `--foreground`, so the
 * dashboard never draws on the lab's own threads, and it runs at the lowered priority once it has
 * drawn its first frame.
 *
 * @module
 */

import { Command, Option } from "@commander-js/extra-typings";
import process from "node:process";
import { controlJson, resolveLab } from "../lab/client.ts";
import { startAgain } from "../lab/start_again.ts";
import { LabError } from "../lab/errors.ts";
import { inspectLab } from "../lab/state.ts";
import { quote } from "../devices/base/quote.ts";
import { ownThreads } from "../lab/proc.ts";
import type { LabRecord } from "../lab/state.ts";
import type { LabSnapshot, RingSelector, RingView } from "../lab/snapshot_types.ts";
import type { SwitchMacTable } from "../lab/switch_macs.ts";
import type { SnapshotSource } from "./dashboard/run.ts";
import { loadDashboard } from "./dashboard_loader.ts";
import { VlabError } from "./errors.ts";
import { enterIdleCpuGroup, keepIdleGroup } from "./idle_cgroup.ts";
import { intOption } from "./int_option.ts";
import { waitForStartingLab } from "./lab_lifecycle.ts";

/**
 * A snapshot source that asks a lab's control socket.
 *
 * @example
 * ```ts ignore
 * const source = socketSource(await resolveLab(undefined));
 * const snap = await source.snapshot();
 * ```
 */
export function socketSource(record: LabRecord): SnapshotSource & { close(): void } {
  // One client (one connection, kept alive) for the whole session: a new client per request
  // cost the dashboard more CPU than drawing.
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: record.socket } });
  const get = async (path: string): Promise<Response> => {
    try {
      return await fetch(`http://vlab${path}`, { client });
    } catch (e) {
      throw labGone(record, whyUnanswered(e));
    }
  };
  return {
    snapshot: async () => {
      const res = await get("/snapshot");
      if (!res.ok) {
        await res.body?.cancel();
        throw new LabError("control-error", `The lab answered ${res.status}`, "Try again");
      }
      return await res.json() as LabSnapshot;
    },
    ring: async (sel: RingSelector) => {
      const q = `vm=${encodeURIComponent(sel.vm)}&nic=${encodeURIComponent(sel.nic)}` +
        `&queue=${sel.queue}`;
      const res = await get(`/ring?${q}`);
      if (!res.ok) {
        await res.body?.cancel();
        return null;
      }
      return await res.json() as RingView;
    },
    macs: async (name: string) => {
      const res = await get(`/switches/${encodeURIComponent(name)}`);
      if (res.ok) return await res.json() as SwitchMacTable;
      // The lab's error body, { error: { code, message, hint } }.
      const body = await res.json().catch(() => null) as
        | { error?: { code?: unknown; message?: unknown } }
        | null;
      // No L2 switch of that name (a vsock router keeps no MAC table): none, as Lab.macTable says.
      if (res.status === 404 && body?.error?.code === "unknown-switch") return null;
      const message = typeof body?.error?.message === "string"
        ? body.error.message
        : `The lab answered ${res.status}`;
      throw new LabError("control-error", message, "Try vlab fdb for the same table");
    },
    close: () => client.close(),
  };
}

/**
 * Why a lab's control socket no longer answers, as the dashboard says it: stopped (its event log
 * ends with `lab-down`: `vlab down`, `q` in `vlab up`, Ctrl-C), died (killed: its process no
 * longer holds its lock, and logged no `lab-down`), or neither known (`socketError`, the system's reason). The
 * hint starts it again with the topology it ran (`vlab up star`, or the file's path).
 *
 * @example
 * ```ts ignore
 * labGone(record, "connection refused").message; // 'Lab "pair" was stopped at 21:58:11 UTC'
 * ```
 */
export function labGone(record: LabRecord, socketError: string): LabError {
  const again = `start it again with ${startAgain(record)}`;
  const last = lastEvent(record.events);
  if (last?.kind === "lab-down") {
    const at = /T(\d\d:\d\d:\d\d)/.exec(last.time)?.[1];
    return new LabError(
      "no-lab",
      `Lab "${record.name}" was stopped${at === undefined ? "" : ` at ${at} UTC`}`,
      `It ended as \`vlab down\` ends a lab; ${again}`,
    );
  }
  const found = inspectLab(record.name, { clean: false, process: false });
  if (found === null || found.status === "stale") {
    return new LabError(
      "no-lab",
      `Lab "${record.name}" died: its process ${record.pid} is gone, no lab-down logged (killed?)`,
      `The next vlab command removes what it left; ${again}`,
    );
  }
  return new LabError(
    "no-lab",
    `Lab "${record.name}" no longer answers (control socket: ${socketError})`,
    `See \`vlab ls\`; once it is gone, ${again}`,
  );
}

/** The last event of an event log (JSON lines), or null when it cannot be read. */
function lastEvent(path: string | undefined): { kind: string; time: string } | null {
  if (path === undefined) return null;
  try {
    const lines = Deno.readTextFileSync(path).trimEnd().split("\n");
    const last = JSON.parse(lines[lines.length - 1]) as { kind?: unknown; time?: unknown };
    return typeof last.kind === "string"
      ? { kind: last.kind, time: typeof last.time === "string" ? last.time : "" }
      : null;
  } catch {
    return null;
  }
}

/**
 * Why a request to a control socket failed, in a few words: fetch's own "fetch failed" says
 * nothing, its cause ends with the system's reason ("No such file or directory (os error 2)").
 */
function whyUnanswered(e: unknown): string {
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : "";
  const reason = cause.split(": ").pop()?.replace(/ \(os error \d+\)$/, "").trim() ?? "";
  if (reason !== "") return reason.charAt(0).toLowerCase() + reason.slice(1);
  return e instanceof Error ? e.message : String(e);
}

/** What {@linkcode lowerPriority} set. */
export type Lowered = "idle group" | "idle" | `nice ${string}` | "normal";

/**
 * What `VLAB_DASHBOARD_NICE` asks of the dashboard's priority: `""` unset or blank (the default:
 * an idle CPU group and the idle policy), `idle` (the policy without the group), or a nice value
 * from -20 to 19 as `renice` takes it (0: the normal priority). Anything else is a `bad-option`
 * error naming the variable, checked before a dashboard starts (`vlab dashboard`, and `vlab up`
 * before its lab starts): it was taken silently, as the normal priority (`abc`) or as a nice
 * value the kernel cut to 19 (`99`).
 *
 * @example
 * ```ts ignore
 * dashboardNice(); // "" unless VLAB_DASHBOARD_NICE is set
 * // VLAB_DASHBOARD_NICE=abc: throws VLAB_DASHBOARD_NICE must be "idle" or a nice value from -20 to 19, got "abc"
 * ```
 */
export function dashboardNice(): "" | "idle" | `${number}` {
  const asked = Deno.env.get("VLAB_DASHBOARD_NICE") ?? "";
  // Blank is unset, as for the other VLAB_ variables: " " was refused as no nice value.
  if (asked.trim() === "") return "";
  if (asked === "idle") return asked;
  const m = /^(-?)([0-9]{1,2})$/.exec(asked);
  const n = m === null ? NaN : Number(m[2]) * (m[1] === "-" ? -1 : 1);
  if (!(n >= -20 && n <= 19)) {
    throw new VlabError(
      "bad-option",
      `VLAB_DASHBOARD_NICE must be "idle" or a nice value from -20 to 19, got ${quote(asked)}`,
      { hint: "For example VLAB_DASHBOARD_NICE=10, or unset it for the default (the idle policy)" },
    );
  }
  return `${n}`;
}

/**
 * Lower this process's scheduling priority, every thread of it, so that the dashboard never
 * delays the lab it watches. By default: an idle CPU group of its own (`cpu.idle`, see
 * `idle_cgroup.ts`; where it may make one, as root) and the `SCHED_IDLE` policy on every thread
 * (`chrt --idle`), which runs a thread only on a CPU that nothing else wants. The policy alone does
 * not keep the dashboard off a woken lab thread's CPU on an EEVDF kernel; the group does. While
 * the group starves the dashboard of its redraws (`periodMs` apart; floods on every CPU), it
 * leaves the group for a while (`keepIdleGroup`). Where `chrt` cannot, nice 10.
 * `VLAB_DASHBOARD_NICE` chooses instead: `idle` the policy without the group, `N` nice N, `0` the
 * normal priority. Best effort: without the rights, `chrt` and `renice` nothing changes. Returns
 * what it set, `now`, the priority it has now (out of the group it left: `idle`, `nice 10` or
 * `normal`), `leave` to call at exit (it leaves the group), and `groupMs`, the time spent in the
 * group so far.
 *
 * @example
 * ```ts ignore
 * const lowered = await lowerPriority(); // { set: "idle group", … } as root
 * try {
 *   // draw
 * } finally {
 *   lowered.leave();
 * }
 * ```
 */
export async function lowerPriority(
  periodMs = 100,
): Promise<{ set: Lowered; now(): Lowered; leave(): void; groupMs(): number }> {
  const asked = dashboardNice();
  const stay = { leave: () => {}, groupMs: () => 0, inGroup: () => false };
  if (asked === "0") return { set: "normal", now: () => "normal", ...stay };
  // A nice value and a policy are a thread's own on Linux: `renice -p PID` changes the main
  // thread's only, and V8's helper threads (parallel scavenges, concurrent marking and compiling)
  // and the runtime's I/O threads would keep competing with the lab. Every thread, then (`chrt -a`
  // reads them itself).
  const run = async (cmd: string, args: string[]) => {
    try {
      return (await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output())
        .success;
    } catch {
      return false; // not installed
    }
  };
  const group = asked === "" ? enterIdleCpuGroup() : { reason: "not asked for" };
  const kept = "path" in group ? keepIdleGroup(group, periodMs) : stay;
  // chrt -i (SCHED_IDLE) -a (every thread of the process) -p 0 PID (priority 0, as it must be)
  if (
    (asked === "" || asked === "idle") &&
    await run("chrt", ["-i", "-a", "-p", "0", String(Deno.pid)])
  ) {
    return {
      set: "path" in group ? "idle group" : "idle",
      now: () => priorityNow("idle", kept),
      ...kept,
    };
  }
  const nice = asked === "" || asked === "idle" ? "10" : asked;
  // Deno lists /proc/PID/task only with --allow-all; ownThreads asks sh otherwise.
  const own = ownThreads();
  const threads = Array.isArray(own) ? own.map((t) => String(t.tid)) : [String(Deno.pid)];
  // A thread that ended since it was listed (the runtime starts short-lived ones) makes renice
  // exit 1 after it has reniced the others: what counts is that it did.
  let reniced = false;
  try {
    const out = await new Deno.Command("renice", {
      args: ["-n", nice, "-p", ...threads],
      stdout: "piped",
      stderr: "null",
      env: { LC_ALL: "C" },
    }).output();
    reniced = new TextDecoder().decode(out.stdout).includes("new priority");
  } catch {
    // not installed
  }
  const outside: Lowered = reniced ? `nice ${nice}` : "normal";
  const now = () => priorityNow(outside, kept);
  if ("path" in group) return { set: "idle group", now, ...kept };
  return { set: outside, now, ...kept };
}

/**
 * The dashboard's priority now: `idle group` while it is in its idle CPU group, else `outside`,
 * what it has out of it (the policy or nice value it took). A dashboard that left the group
 * (`keepIdleGroup`, starved of its redraws) is no longer in it: `--report-cpu` said
 * `idle group` at every report all the same.
 *
 * @example
 * ```ts
 * import { priorityNow } from "./dashboard_command.ts";
 * priorityNow("idle", { inGroup: () => false }); // "idle"
 * ```
 */
export function priorityNow(outside: Lowered, kept: { inGroup(): boolean }): Lowered {
  return kept.inGroup() ? "idle group" : outside;
}

/**
 * The signals that end a dashboard as `q` does. SIGINT too: once the dashboard draws, Ctrl-C is a
 * key (the terminal is in raw mode), so a SIGINT is a Ctrl-C typed before it drew (`vlab up`'s
 * dashboard still starting, or its idle CPU group just made) or a `kill -INT`; without a
 * listener, either ended the process and left its CPU group behind.
 */
const ENDING_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * Call `fn` on SIGINT, SIGTERM or SIGHUP; returns the call that stops listening. Through node's
 * `process.on`, not `Deno.addSignalListener`: ink restores the terminal on a signal through
 * `signal-exit`, which counts the `process` listeners of that signal and, finding only its own,
 * sends the signal again once it has run, to end the process. Our listener had ended the
 * dashboard and was gone by the time that second signal came, so `vlab dashboard` died of it
 * (exit 143, `Terminated`) instead of ending as `q` ends it. A `process` listener is counted, and
 * no second signal is sent.
 *
 * @example
 * ```ts
 * import { onEndingSignal } from "./dashboard_command.ts";
 * const off = onEndingSignal(() => console.log("ending"));
 * off();
 * ```
 */
export function onEndingSignal(fn: () => void): () => void {
  const listener = () => fn();
  for (const signal of ENDING_SIGNALS) process.on(signal, listener);
  return () => {
    for (const signal of ENDING_SIGNALS) process.off(signal, listener);
  };
}

/** The `dashboard` command. */
export function dashboardCommand(): Command {
  return new Command("dashboard")
    .description("attach the live dashboard to a running lab (q detaches)")
    .argument("[name]", "lab name (default: the only running lab)")
    .option("--interval <ms>", "redraw period in ms", "100")
    .option(
      "--report-cpu",
      "print the dashboard's own CPU time and the snapshots it drew on stderr every second (JSON lines)",
    )
    // `vlab up`'s own dashboard: q asks whether to stop the lab, and y stops it as `vlab down`.
    .addOption(
      new Option("--foreground", "q asks whether to stop the lab (y stops it)").hideHelp(),
    )
    .action(async (name, opts) => {
      const interval = intOption("--interval", opts.interval, 20, 10_000, "100");
      dashboardNice(); // a bad value is said before anything is asked of the lab
      // Without a terminal, ink would draw into a pipe and wait forever for keys that never come.
      // --report-cpu (the dashboard benchmark) runs it headless on purpose.
      if (!opts.reportCpu && !(Deno.stdin.isTerminal() && Deno.stdout.isTerminal())) {
        throw new VlabError(
          "no-terminal",
          "Cannot show the dashboard: it needs a terminal on stdin and stdout",
          { hint: "Run it in a terminal; for a one-off view use `vlab status` (or --json)" },
        );
      }
      // Its JSON lines written into the terminal the dashboard draws on scroll the screen: the
      // header and the tab bar went off the top once a second.
      if (opts.reportCpu && Deno.stderr.isTerminal() && Deno.stdout.isTerminal()) {
        throw new VlabError(
          "bad-option",
          "--report-cpu writes a JSON line a second to stderr, the terminal the dashboard draws on",
          { hint: "Send them to a file: vlab dashboard --report-cpu 2>cpu.jsonl" },
        );
      }
      // `vlab up -d big.yaml & vlab dashboard`: the lab is still starting. It was told to run the
      // command again; it waits (said on stderr) and attaches once it is up, or says why not.
      await waitForStartingLab(name, "show its dashboard", "the lab name (`vlab dashboard NAME`)");
      const record = await resolveLab(name, "the lab name (`vlab dashboard NAME`)");
      const stop = new AbortController();
      // SIGTERM, SIGHUP (the terminal it draws on closed) or SIGINT: it ends as `q` ends it,
      // leaving its CPU group. Listening before the group is made: a signal in between ended the
      // process (exit 143) and left the group to the next dashboard to remove.
      const offSignals = onEndingSignal(() => stop.abort());
      // Lowered once the first frame is drawn: its start (loading the renderer, a first snapshot,
      // a first layout) under the idle policy took 30 s and more on a busy machine, where it ran
      // only on CPU time nobody else wanted, and the user saw nothing. Started at the normal
      // priority, it draws in a few hundred ms, once; the redraws after it never compete with the
      // lab.
      const priority: {
        lowering: ReturnType<typeof lowerPriority> | null;
        lowered: Awaited<ReturnType<typeof lowerPriority>> | null;
      } = { lowering: null, lowered: null };
      const lower = () => {
        priority.lowering ??= lowerPriority(interval).then((l) => priority.lowered = l);
      };
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let updates = 0;
      // --report-cpu: a JSON line a second with the cumulative CPU time, snapshots drawn and time
      // in the idle CPU group, and the priority it has at that report, so a benchmark can take the dashboard's
      // cost and update rate over exactly the window it measures and say how it ran.
      const report = () => {
        const used = process.cpuUsage(cpu0);
        const line = JSON.stringify({
          t: (performance.now() - t0) / 1000,
          cpuMs: (used.user + used.system) / 1000,
          updates,
          priority: priority.lowered?.now() ?? "normal",
          groupMs: priority.lowered?.groupMs() ?? 0,
        });
        Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));
      };
      const reporter = opts.reportCpu ? setInterval(report, 1000) : undefined;
      let cleanup = () => {};
      try {
        const { runDashboard } = await loadDashboard();
        // Ended while the renderer loaded (a signal came then: checked after the load, the only
        // await since the listeners went in): nothing to draw, nor a screen to take and give back.
        if (stop.signal.aborted) return;
        const socket = socketSource(record);
        cleanup = () => socket.close();
        // The first read that finds the lab gone: the dashboard says so on its screen, then ends;
        // once the screen is restored, one line says why it ended.
        const seen: { gone: LabError | null } = { gone: null };
        const source: SnapshotSource = {
          ...socket,
          snapshot: () =>
            socket.snapshot().catch((e) => {
              if (e instanceof LabError && e.code === "no-lab") seen.gone ??= e;
              throw e;
            }),
        };
        const how = await runDashboard({
          source,
          foreground: opts.foreground === true,
          intervalMs: interval,
          signal: stop.signal,
          onUpdate: () => {
            updates++;
            lower();
          },
        });
        if (how === "stop") await controlJson(record, "/down", { method: "POST" });
        // `vlab up` (--foreground) reports its own lab's end, unless it was killed with it.
        else if (
          seen.gone !== null &&
          (opts.foreground !== true || lastEvent(record.events)?.kind !== "lab-down")
        ) {
          const { message, hint } = seen.gone;
          await Deno.stderr.write(
            new TextEncoder().encode(`vlab: ${message}\nhint: ${hint}\n`),
          );
        }
      } finally {
        offSignals();
        if (priority.lowering !== null) (await priority.lowering).leave();
        cleanup();
        clearInterval(reporter);
        if (opts.reportCpu) report();
      }
    }) as unknown as Command;
}
