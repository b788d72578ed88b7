/**
 * The lab commands: `up`, `down`, `status`, `exec`, `capture`, `link`, `ls`, `validate` and
 * `schema`. Each is a thin client: `up` runs a registered lab (`lab/runner.ts`) in this process
 * (or, with `-d`, in a detached child); the others talk to a running lab over its control socket
 * (`lab/client.ts`).
 *
 * @module
 */

import { parseWorkload, USAGE } from "../lab/guest/workloads/args.ts";
import { readTopologyText, STDIN_SOURCE, topologyFileWarnings } from "../lab/topology/files.ts";
import { Command } from "@commander-js/extra-typings";
import { controlJson, type ExecAnswer, execCancellable, resolveLab } from "../lab/client.ts";
import { PartialExecError, workloadCutError } from "../lab/errors.ts";
import { gapOfLine, HeadTail } from "../lab/guest/workloads/kept.ts";
import { HeldLines } from "./exec_output.ts";
import { EXEC_LINE_QUEUE_BYTES } from "../lab/server_exec.ts";
import type { LabStatus } from "../lab/metrics.ts";
import { startAgain, topologyArg, upAgain } from "../lab/start_again.ts";
import { textFileKind } from "../lab/topology/text_kind.ts";
import { type DrillIssue, formatDrillIssues, parseDrill } from "../lab/drill/mod.ts";
import type { Drill } from "../lab/drill/types.ts";
import { DRILL_FILE } from "../lab/drill/input.ts";
import type { Result } from "../devices/base/result.ts";
import { topologyWarnings } from "../lab/topology/warnings.ts";
import { formatPlan, type LabPlan, planLab } from "../lab/plan.ts";
import { launchLab, type RegisteredLab, startRefusal } from "../lab/runner.ts";
import type { Lab } from "../lab/lab.ts";
import { vlabRunArgs } from "./deno_run.ts";
import { endChild } from "./child.ts";
import { saveTerminal } from "./terminal_state.ts";
import { statusCommand } from "./status.ts";
import {
  escapeControl,
  formatIssues,
  loadTopologyFile,
  parseTopology,
  quote,
  resolveTopologyPath,
  topologyJsonSchema,
} from "../lab/topology/mod.ts";
import { shellArg } from "../devices/base/quote.ts";
import type { Topology, TopologyIssue } from "../lab/topology/types.ts";
import { EXIT_CODES, VlabError } from "./errors.ts";
import { downCommand, dropStartLog, lsCommand, upDetached } from "./lab_lifecycle.ts";
import { healCommand, linkCommand, partitionCommand } from "./lab_links.ts";
import { faultCommand } from "./fault.ts";
import { fdbCommand } from "./fdb.ts";
import { machineMemory, memoryFit } from "../lab/memory_fit.ts";
import { vhostPciSnapshot } from "../lab/vhost_pci_view.ts";
import { createProgressLine, writeAll } from "./progress.ts";
import { CliExit } from "./usage.ts";
import { workloadExitCode } from "../lab/guest/workloads/mod.ts";
import { captureCommand } from "./capture.ts";
import { dashboardNice } from "./dashboard_command.ts";
import { parseSeedOption, readStdinInput } from "./drill.ts";
import { count } from "../devices/base/plural.ts";
import { onInterrupt } from "./interrupt.ts";

const encoder = new TextEncoder();
const out = (text: string) => writeAll(Deno.stdout, encoder.encode(text));
const err = (text: string) => writeAll(Deno.stderr, encoder.encode(text));

/** Load and validate a topology; every problem is printed, then one error is thrown. */
export async function loadOrFail(file: string | undefined): Promise<Topology> {
  const path = resolveTopologyPath(file);
  const r = await loadTopologyFile(path);
  if (r.ok) return r.value;
  const unread = fileNotRead(r.error);
  if (unread) throw unread;
  await err(formatIssues(r.error, path) + "\n");
  if (isWrongKind(r.error)) {
    throw new VlabError("topology-invalid", `Cannot use ${quote(path)}: ${NOT_A_TOPOLOGY}`, {
      hint: WRONG_KIND_HINT,
    });
  }
  throw new VlabError(
    "topology-invalid",
    `Cannot use ${quote(path)}: ${count(r.error.length, "problem")} (above)`,
    {
      // `-` never gets here: no file, it is fileNotRead's (`vlab validate -` could not help).
      hint:
        `Fix ${r.error.length === 1 ? "it" : "them"} and run \`vlab validate ${
          topologyArg(path)
        }\` again; ` +
        "`vlab schema` gives editors completion",
    },
  );
}

/**
 * A file that could not be read at all (missing, a folder, binary, too large) has one problem and
 * no line: it is the error itself, one line and its hint, not a problem printed above a count of
 * problems whose hint says to fix it and validate again (`vlab up pari` said so for a typo).
 *
 * @example
 * ```ts ignore
 * fileNotRead([{ code: "unreadable", path: "", line: null, column: null,
 *   message: 'Cannot read topology file "pari": no such file', hint: "did you mean `pair`?" }]);
 * // VlabError 'Cannot read topology file "pari": no such file', hint "Did you mean `pair`?"
 * ```
 */
export function fileNotRead(issues: readonly TopologyIssue[]): VlabError | null {
  if (issues.length !== 1) return null;
  const [issue] = issues;
  if ((issue.code !== "unreadable" && issue.code !== "too-large") || issue.line !== null) {
    return null;
  }
  const hint = issue.hint ?? "Check the path and that the file can be read";
  return new VlabError("topology-invalid", issue.message, {
    hint: hint.charAt(0).toUpperCase() + hint.slice(1),
  });
}

/** A file of another kind (a drill, a report): its one problem says what to do with it. */
const isWrongKind = (issues: readonly { code: string }[]) =>
  issues.length === 1 && issues[0].code === "wrong-kind";
const NOT_A_TOPOLOGY = "it is no topology (above)";
const WRONG_KIND_HINT =
  "Give a topology file or a shipped name such as pair; the hint above says what takes this file";

/** Every lab command. */
export function labCommands(): Command[] {
  return [
    upCommand(),
    downCommand(),
    statusCommand(),
    execCommand(),
    captureCommand(),
    linkCommand(),
    partitionCommand(),
    healCommand(),
    faultCommand(),
    lsCommand(),
    fdbCommand(),
    validateCommand(),
    schemaCommand(),
  ] as unknown as Command[];
}

function upCommand() {
  return new Command("up")
    .description("start a lab from a topology file or a shipped topology (default: pair)")
    .argument("[topology]", "a YAML file, or the name of a shipped topology (pair, star, …)")
    .option("-d, --detach", "start the lab in the background and return")
    .option("--dry-run", "print the plan and exit without starting anything")
    .option("--quiet", "print nothing while running (used by --detach)")
    .option("--no-dashboard", "in a terminal, show the summary line instead of the dashboard")
    .option("--seed <n>", "seed of every random decision (default: the topology's seed)")
    .action(async (file, opts) => {
      if (opts.detach && opts.dryRun) {
        // Which did the user mean: a lab in the background, or only its plan? -d was ignored
        // (the plan printed, nothing started, exit 0), which reads as a lab started.
        // `-` is no topology `vlab up` reads (it says so once the combination is fixed).
        const again =
          (file === "-" ? "vlab up FILE" : upAgain({ source: resolveTopologyPath(file) })) +
          // The seed asked for goes with both: the plan shown is the lab started.
          (opts.seed !== undefined ? ` --seed ${shellArg(opts.seed)}` : "");
        throw new VlabError("usage", "vlab up takes -d or --dry-run, not both", {
          hint: `Run \`${again} --dry-run\` to see the plan, then \`${again} -d\` to start it`,
        });
      }
      const seed = parseSeedOption(opts.seed, "start the lab");
      const loaded = await loadOrFail(file);
      // --seed replaces the topology's seed, as a drill's seed does.
      const topology = seed === undefined ? loaded : { ...loaded, seed };
      const plan = planLab(topology);
      // The warnings `vlab validate` prints (a vhost-pci peer that sees all of a VM's memory, an
      // MTU mismatch), on stderr before anything starts: a lab is not refused for them, but
      // whoever starts it hears of them (`--quiet` is the detached child: its parent said them).
      if (!opts.quiet) await printWarnings(file, topology);
      if (opts.dryRun) {
        // A plan too big for this machine is refused by the start itself (`launchLab`, in the
        // detached child too); the dry run prints the comparison.
        const machine = machineMemory();
        const fit = machine === null
          ? null
          : memoryFit(plan.sharedBytes, machine, plan.threads.length);
        await out(formatPlan(plan) + "\n" + (fit === null ? "" : fit.line + "\n"));
        // A plan `vlab up` would refuse fails its dry run too, with the start's own error (a lab
        // of that name running or starting, a plan too big, a bad VLAB_HOT_MS, a socket path too
        // long), so that `vlab up --dry-run && vlab up -d` stops where the real start would. It
        // said a running lab on stdout, exit 1 and nothing on stderr, and passed the other two.
        const refusal = await startRefusal(plan);
        if (refusal !== null) throw refusal;
        return;
      }
      if (opts.detach) {
        return await upDetached(file, plan.name, plan.seed, plan.vms.length, opts.quiet);
      }
      // The summary line is rewritten in place (`\r`): it needs stdout on a terminal. The
      // dashboard also reads keys, so it needs stdin on one too; without that (`vlab up
      // </dev/null` in a terminal) the summary line shows, as with --no-dashboard.
      const terminal = Deno.stdout.isTerminal();
      const interactive = terminal && Deno.stdin.isTerminal();
      const dashboard = !opts.quiet && interactive && opts.dashboard;
      // Its priority knob is checked before the lab starts, not in the dashboard's process.
      if (dashboard) dashboardNice();
      // Listen before the lab exists: a signal during start stops it as soon as it is up.
      let running: RegisteredLab | null = null;
      let signalled = false;
      const onSignal = () => {
        signalled = true;
        if (running) void running.stop();
      };
      const off = onInterrupt(onSignal);
      try {
        // This process exits once the lab stops: no worker need tear itself down first.
        running = await launchLab(plan, { exitsWithLab: true });
      } catch (e) {
        off();
        throw e;
      }
      // The detached child of `vlab up -d`: up, it needs its parent's error file no more.
      if (opts.quiet) dropStartLog(plan.name);
      if (signalled) void running.stop();
      const { lab } = running;
      if (!opts.quiet) {
        await out(
          `lab ${plan.name} up in ${(lab.upMs / 1000).toFixed(2)} s (seed ${plan.seed}): ${
            labSize({
              vms: plan.vms.length,
              switches: plan.switches.filter((sw) => sw.vsockCids === undefined).length,
              routers: plan.switches.filter((sw) => sw.vsockCids !== undefined).length,
              links: plan.links.length + (plan.vhostPciLinks?.length ?? 0),
            })
          }\n` +
            `control socket ${shellArg(running.socket)}\n` +
            `${tryLine(...tryTarget(plan), dashboard)}\n`,
        );
      }
      // The dashboard owns the terminal until the user quits it (and agrees to stop) or the lab
      // stops by itself (vlab down, SIGTERM); if it ends otherwise, the summary line takes over.
      const drawn = dashboard && await foregroundDashboard(running, plan.name);
      // Cut to the terminal's width (read at each tick: it may be resized), or a wrapped line
      // would leave a copy of its first part on the screen every second.
      const summary = createProgressLine({
        write: (text) => void out(text),
        isTerminal: true,
        get columns() {
          return stdoutColumns();
        },
      });
      let ticked = false;
      const ticker = opts.quiet || !terminal || drawn ? null : setInterval(() => {
        ticked = true;
        summary.progress(summaryLine(lab));
      }, 1000);
      await running.stopped;
      if (ticker !== null) clearInterval(ticker);
      off();
      // The summary line, when one was drawn, ends first; nothing else leaves a line open.
      if (!opts.quiet) {
        await out(
          `${ticked ? "\n" : ""}lab ${plan.name} down\nevent log ${shellArg(running.events)}\n`,
        );
      }
    });
}

/**
 * The line `vlab up` prints once its lab is up in the foreground: what to try, and how it stops.
 * The dashboard reads Ctrl-C as a key and asks first, as for `q`; without it, Ctrl-C stops the
 * lab at once.
 *
 * @example
 * ```ts
 * import { tryLine } from "./lab.ts";
 * tryLine("a", "ping", false); // "try: vlab exec a -- ping ... · vlab status · Ctrl-C stops"
 * tryLine("a", "ping", true); // "try: vlab exec a -- ping ... · vlab status · q or Ctrl-C asks whether to stop"
 * ```
 */
export function tryLine(
  firstVm: string | undefined,
  workload: "ping" | "vsock-echo",
  dashboard: boolean,
): string {
  return `try: vlab exec ${firstVm ?? "VM"} -- ${workload} ... · vlab status · ${
    dashboard ? "q or Ctrl-C asks whether to stop" : "Ctrl-C stops"
  }`;
}

/**
 * The VM and workload the try line suggests: `ping` in the first VM with a NIC; in a lab whose
 * VMs have vsock only, `vsock-echo` in the first (a `ping` there fails: it has no NIC).
 *
 * @example
 * ```ts ignore
 * tryTarget(plan); // ["a", "ping"]
 * ```
 */
export function tryTarget(
  plan: Pick<LabPlan, "vms">,
): [vm: string | undefined, workload: "ping" | "vsock-echo"] {
  const withNic = plan.vms.find((v) => v.nics.length > 0);
  if (withNic !== undefined) return [withNic.name, "ping"];
  const withVsock = plan.vms.find((v) => v.devices.some((d) => d.kind === "vsock"));
  return withVsock !== undefined ? [withVsock.name, "vsock-echo"] : [plan.vms[0]?.name, "ping"];
}

/** The width of the terminal on stdout, in columns (80 when it cannot be read). */
function stdoutColumns(): number {
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 80;
  }
}

/** Print a valid topology's warnings (file:line:col, as `vlab validate` does) on stderr. */
async function printWarnings(file: string | undefined, topology: Topology): Promise<void> {
  const path = resolveTopologyPath(file);
  const warnings = await topologyFileWarnings(path, topology);
  if (warnings.length === 0) return;
  const shown = warnings.map((w) => ({ ...w, message: `warning: ${w.message}` }));
  await err(formatIssues(shown, path) + "\n");
}

/** How long a lab may take to stop after its dashboard ended with exit 0 before we say so. */
const STOP_NOTICE_MS = 30_000;

/** How long the dashboard has to end after SIGTERM before it is killed. */
const DASHBOARD_END_MS = 3_000;

/**
 * Show the dashboard of the lab this process runs, in a child process (`vlab dashboard NAME
 * --foreground`) that shares the terminal: the child lowers its own priority, so it draws only on
 * a CPU the lab's threads leave idle (drawn in this process, at the lab's priority, it raised an
 * idle ping's p99 from 0.9–1.6 ms to 3.9–6.1 ms in a 160×50 terminal). True when the dashboard ran
 * until the lab stopped; false when it could not start or ended early (after saying so).
 */
async function foregroundDashboard(running: RegisteredLab, name: string): Promise<boolean> {
  // Put back if the dashboard ends without doing so (killed): raw mode left behind made
  // "Ctrl-C stops it" false, and its last screen stayed up over what this process printed.
  const terminal = await saveTerminal();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(Deno.execPath(), {
      args: vlabRunArgs(["dashboard", name, "--foreground"]),
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (e) {
    await err(
      `vlab: Cannot start the dashboard: ${e instanceof Error ? e.message : String(e)}\n` +
        `hint: The lab keeps running; \`vlab dashboard ${name}\` in another terminal shows it\n`,
    );
    return false;
  }
  const ended = await Promise.race([
    child.status.then((s) => ({ code: s.code, signal: s.signal })),
    running.stopped.then(() => null),
  ]);
  if (ended !== null && ended.code !== 0) {
    await terminal.restore({ screen: ended.signal !== null });
  }
  if (ended === null) {
    // The lab stopped (vlab down, SIGTERM, or the dashboard's own q y): the dashboard leaves the
    // terminal as it found it on SIGTERM; one that does not end by then is killed.
    await endChild(child, DASHBOARD_END_MS);
    const status = await child.status;
    if (status.signal === "SIGKILL") await terminal.restore({ screen: true });
    return true;
  }
  // A foreground dashboard ends by itself only when the lab stops: after its own `/down` (exit
  // 0, the stop under way) or when the lab went away. Anything else failed, and said why above.
  if (ended.code === 0) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stopping = await Promise.race([
      running.stopped.then(() => true),
      new Promise<false>((r) => timer = setTimeout(() => r(false), STOP_NOTICE_MS)),
    ]);
    clearTimeout(timer);
    if (stopping) return true;
  }
  await err(
    `vlab: The dashboard ended (exit ${ended.code}); lab ${name} keeps running\n` +
      `hint: Ctrl-C stops it; \`vlab dashboard ${name}\` in another terminal shows it again\n`,
  );
  return false;
}

/**
 * The line `vlab up` keeps rewriting in a terminal without its dashboard: VMs running, and the
 * frames every link moved, vhost-pci links' too (no ring: their peer counts what it took from the
 * frontend's transmitq and put in its receiveq), and apart from them the packets vsock links
 * moved (as `vlab status` counts them: a vsock packet is no Ethernet frame).
 *
 * @example
 * ```ts ignore
 * summaryLine(lab); // "pair: 2/2 VMs running, 6 frames over links, up 3 s"
 * summaryLine(lab); // "vsock-pair: 2/2 VMs running, 6 frames and 267 vsock packets over links, up 3 s"
 * ```
 */
export function summaryLine(lab: Lab): string {
  const running = lab.plan.vms.filter((v) => lab.vmState(v.name) === "running").length;
  let frames = 0;
  let packets = 0;
  let netRings = 0;
  lab.plan.rings.forEach((r, i) => {
    const out = lab.ring(i).counters().framesOut;
    if (r.producer.kind === "vsock" || r.consumer.kind === "vsock") packets += out;
    else (frames += out, netRings++);
  });
  const vhostPci = vhostPciSnapshot(lab);
  for (const l of vhostPci) frames += l.framesIn + l.framesOut;
  const vsockRings = lab.plan.rings.length - netRings;
  // Frames wherever there are net links (or no links at all), vsock packets wherever there are
  // vsock links: a lab of both says both.
  const moved = [
    ...(netRings > 0 || vhostPci.length > 0 || vsockRings === 0 ? [count(frames, "frame")] : []),
    ...(vsockRings > 0 ? [count(packets, "vsock packet")] : []),
  ].join(" and ");
  const up = Math.round((Date.now() - lab.startedAt) / 1000);
  return `${lab.plan.name}: ${running}/${lab.plan.vms.length} VMs running, ${moved} over links, ` +
    `up ${up} s`;
}

function execCommand() {
  return new Command("exec")
    .description(
      "run a guest workload in a VM: ping, udp-echo, udp-flood, sink, vsock-echo, vsock-send, " +
        "vsock-sink, iommu-unmap",
    )
    .argument("<vm>", "the VM")
    .argument("<workload...>", "the workload and its arguments, after --")
    .option("--lab <name>", "the lab (default: the only running lab)")
    .option("--json", "print the workload's result as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  vlab exec a -- ping 10.0.0.2 -c 3\n  vlab exec b -- sink -t 5\n" +
        "  vlab exec a -- udp-flood 10.0.0.2 --max -t 5 -s 64\n" +
        "  vlab exec a -- vsock-send 4 5000 -b 16777216\n",
    )
    .action(async (vm, argv, opts) => {
      const misplaced = execOptionAfterDashes(vm, argv, opts.lab);
      if (misplaced !== null) throw misplaced;
      const extra = wordBeforeWorkload(vm, argv, opts.lab);
      if (extra !== null) throw extra;
      // The workload's words are checked here first, as the guest checks them: a bad one is a
      // usage error (exit 2, as iputils' ping exits on a bad option), whether or not a lab runs.
      const words = parseWorkload(argv);
      if (!words.ok) {
        const hint = (await vmNameHint(vm, argv, opts.lab)) ?? words.error.hint;
        throw new VlabError("usage", words.error.message, { hint });
      }
      const record = await resolveLab(opts.lab);
      // Ctrl-C or SIGTERM: the lab stops the workload and answers what it had done, which is
      // printed (exit 130); a second one cuts the request at once, with nothing printed.
      const abort = new AbortController();
      const force = new AbortController();
      const off = onInterrupt(() => abort.signal.aborted ? force.abort() : abort.abort());
      // In text, each line the workload says as it happens (a ping's replies) is printed at
      // once, as iputils prints them; the end prints the rest of its text (the summary). With
      // --json, one object at the end and nothing before it.
      // The first and last lines printed, and their count: a long run's are not all held.
      const said = new HeadTail<string>();
      // Written without blocking the command (exec_output.ts): it reads the lab's stream
      // whatever its reader does, so the answer comes at once (a `vlab down` meanwhile: the
      // statistics of what the run had done). A line that could not be written (its reader
      // gone, `| head -3`; a full disk): the workload is stopped, and the error is said as any
      // failed write (a closed stdout ends the command quietly, exit 0).
      const lines = new HeldLines(Deno.stdout, { onError: () => abort.abort() });
      // It returns no promise on purpose: execCancellable awaits one before it reads on, and a
      // command that stops reading misses the lab's answer when the lab stops meanwhile.
      // With --json the lines are asked for too, and not printed: the lab then hears what the
      // workload did, and a vm-crash mid-run answers it (printed as the object, `cancelled`
      // "vm-crash", before the error), where --json printed the error alone.
      const onLine = opts.json ? () => {} : (line: string) => {
        if (lines.line(line)) said.push(line);
      };
      const printedAll = () => lines.flushed();
      try {
        let answer: ExecAnswer<{ text?: string }>;
        try {
          answer = await execCancellable<{ text?: string }>(record, vm, argv, {
            signal: abort.signal,
            force: force.signal,
            onLine,
          });
        } catch (e) {
          await printedAll();
          // Cut before an answer came: nothing failed that the user did not ask for, so
          // nothing is said; 130 as for a SIGINT.
          if (abort.signal.aborted) throw new CliExit(EXIT_CODES.interrupted);
          // Cut short, by its VM's crash or the lab's stop (`no-lab`): what it had done (a ping's
          // statistics), then the error.
          const stopped = e instanceof PartialExecError && e.code === "no-lab";
          if (e instanceof PartialExecError && opts.json) {
            const by = stopped ? "lab-stopped" : "vm-crash";
            await out(JSON.stringify(jsonResult(e.partial, by), null, 2) + "\n");
          } else if (e instanceof PartialExecError) {
            await printRest(e.partial, said, e.droppedLines + lines.dropped);
          }
          if (stopped) {
            // `vlab down` (or the lab's process told to stop) while it ran: not a whole run.
            const cut = workloadCutError(
              record.name,
              startAgain(record),
              "What it had done is printed above",
            );
            throw new VlabError("no-lab", cut.message, { hint: cut.hint });
          }
          throw e;
        }
        const { result } = answer;
        await printedAll();
        if (opts.json || typeof result?.text !== "string") {
          // A script tells a whole run from a cut one by `cancelled`: null, or who stopped it.
          await out(JSON.stringify(jsonResult(result, answer.cancelledBy), null, 2) + "\n");
        } else await printRest(result, said, (answer.droppedLines ?? 0) + lines.dropped);
        if (answer.cancelled || abort.signal.aborted) throw new CliExit(EXIT_CODES.interrupted);
        const code = workloadExitCode(result);
        if (code !== 0) throw new CliExit(code); // ping with no reply: 1, as iputils
      } finally {
        off();
      }
    });
}

/**
 * What `vlab exec` prints of a workload's `text` at its end, once the lines in `said` were
 * printed as they happened: `text` without its first lines that are those (a workload says the
 * first lines of its text, in order), so no line is printed twice. All of it when none were said.
 * `dropped` lines of the stream never came (the lab dropped them, its reader behind): the text's
 * first `said.length + dropped` lines were the stream's, and only what follows is printed.
 * `said` may be a `HeadTail` (the first and last lines printed, and their count: a long run's
 * lines are not all held). A long run's text keeps its first and last lines with a gap's line
 * between (`[N lines not kept: …]`, kept.ts): the lines printed are counted through the gap, so
 * what follows them (the summary) is printed, and neither the gap's line nor a kept line again.
 *
 * @example
 * ```ts ignore
 * unsaidText("PING x\n64 bytes …\n\n--- stats", ["PING x", "64 bytes …"]); // "\n--- stats"
 * unsaidText("PING x\n64 bytes …\n\n--- stats", ["PING x"], 1); // "\n--- stats"
 * ```
 */
export function unsaidText(
  text: string,
  said: readonly string[] | HeadTail<string>,
  dropped = 0,
): string {
  const lines = text.split("\n");
  const first = said instanceof HeadTail ? said.items() : said;
  const count = said instanceof HeadTail ? said.count : said.length;
  // The run's lines printed or dropped, counted through a gap the text did not keep.
  const gapAt = lines.findIndex((l) => gapOfLine(l) !== null);
  if (gapAt >= 0 && count + dropped > gapAt) {
    const gap = gapOfLine(lines[gapAt])!;
    const at = count + dropped;
    // Inside the gap (lines neither printed nor kept): from the gap's line, which says so.
    return lines.slice(at < gapAt + gap ? gapAt : at - gap + 1).join("\n");
  }
  if (dropped > 0 || first.length < count) return lines.slice(count + dropped).join("\n");
  if (count === 0) return text;
  let n = 0;
  while (n < first.length && n < lines.length && lines[n] === first[n]) n++;
  return lines.slice(n).join("\n");
}

/**
 * Print what `vlab exec` has not printed of a streamed workload's result: the rest of its `text`
 * (its summary; {@linkcode unsaidText}), then, when the lab dropped lines, the note that says so.
 */
async function printRest(
  result: unknown,
  said: HeadTail<string>,
  dropped: number,
): Promise<void> {
  const text = (result as { text?: unknown } | null)?.text;
  if (typeof text !== "string") return;
  const rest = unsaidText(text, said, dropped);
  if (rest !== "") await out(rest.endsWith("\n") ? rest : rest + "\n");
  if (dropped > 0) await err(droppedLinesNote(dropped));
}

/**
 * The line `vlab exec` says on stderr after a streamed workload's summary when the lab dropped
 * `n` of its lines, its stdout's reader having fallen behind (a paused pager, `| sleep 60`).
 *
 * @example
 * ```ts ignore
 * droppedLinesNote(3); // "3 lines not shown: the output's reader fell behind, …\n"
 * ```
 */
export function droppedLinesNote(n: number): string {
  return `${n} ${n === 1 ? "line" : "lines"} not shown: the output's reader fell behind, and at ` +
    `most ${EXEC_LINE_QUEUE_BYTES / 1024 / 1024} MiB of them are held (the summary above ` +
    "counts them all)\n";
}

/**
 * The object `vlab exec --json` prints: the workload's result with `cancelled` added, null for a
 * whole run, else who cut it short (`"client"`: Ctrl-C or SIGTERM; `"lab-stopped"`: the lab
 * stopped while it ran), as the control socket's `cancelledBy`; `"vm-crash"`: its VM crashed
 * mid-run, and the result is what the lab heard it do (printed before the error).
 *
 * @example
 * ```ts ignore
 * jsonResult({ kind: "ping", transmitted: 3 }, null); // { kind: "ping", transmitted: 3, cancelled: null }
 * ```
 */
export function jsonResult(
  result: unknown,
  cancelledBy: "client" | "lab-stopped" | "vm-crash" | null,
): Record<string, unknown> {
  const fields = typeof result === "object" && result !== null && !Array.isArray(result)
    ? result as Record<string, unknown>
    : { result };
  return { ...fields, cancelled: cancelledBy };
}

/**
 * The usage error for `vlab exec`'s own option written after the `--` (`vlab exec a -- ping
 * 10.0.0.2 --lab pair`), where it is the workload's: no workload takes `--lab` or `--json`. Said
 * before the lab is looked up, so two running labs do not answer "add --lab" to a user who did.
 * Null when the workload's words hold none.
 *
 * @example
 * ```ts ignore
 * execOptionAfterDashes("a", ["ping", "10.0.0.2", "--lab", "pair"], undefined)?.hint;
 * // "Put it before the --: vlab exec --lab pair a -- ping 10.0.0.2"
 * ```
 */
export function execOptionAfterDashes(
  vm: string,
  argv: string[],
  lab: string | undefined,
): VlabError | null {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const flag = a.startsWith("--") && a.includes("=") ? a.slice(0, a.indexOf("=")) : a;
    if (flag !== "--lab" && flag !== "--json") continue;
    // The words the user meant: the option (with its value, for --lab) moved before the --.
    const takesValue = flag === "--lab" && a === "--lab" && i + 1 < argv.length;
    const taken = takesValue ? [a, argv[i + 1]] : [a];
    const rest = [...argv.slice(0, i), ...argv.slice(i + taken.length)];
    // `--lab` last, with no value: moved alone it would take the VM for the lab's name.
    const moved = a === "--lab" && !takesValue ? [a, "NAME"] : taken;
    const before = lab !== undefined && flag === "--lab" ? [] : moved;
    const words = [...(lab !== undefined ? ["--lab", lab] : []), ...before, vm, "--", ...rest];
    const fix = `vlab exec ${words.map(shellWord).join(" ")}`;
    const w = argv[0] === undefined ? "the workload" : quote(argv[0]);
    return new VlabError(
      "usage",
      `${flag} is vlab exec's own option, not ${w}'s: it goes before the --`,
      { hint: `Put it before the --: ${fix}` },
    );
  }
  return null;
}

/**
 * `vlab exec pair a -- ping …` (the lab's name, then the VM) or `vlab exec a b -- ping …`: two words
 * stand before the workload, and the second was refused as an unknown workload. A usage error that
 * says so and shows the command with the VM alone, and with the first word as `--lab` (the lab is
 * not looked up: this is said before, as every usage error), or null when the words start with a
 * workload (or when neither of the first two is one).
 *
 * @example
 * ```ts ignore
 * wordBeforeWorkload("pair", ["a", "ping", "10.0.0.2"], undefined)?.hint;
 * // "Give the VM alone: vlab exec a -- ping 10.0.0.2 (a lab's name goes in --lab: …)"
 * ```
 */
export function wordBeforeWorkload(
  vm: string,
  argv: readonly string[],
  lab: string | undefined,
): VlabError | null {
  const isWorkload = (w: string | undefined) => w !== undefined && Object.hasOwn(USAGE, w);
  // `vlab exec a -- -- ping`: a second `--` is the workload parser's to explain.
  if (argv.length < 2 || isWorkload(argv[0]) || argv[0] === "--") return null;
  const rest = argv[1] === "--" ? argv.slice(2) : argv.slice(1);
  if (!isWorkload(rest[0])) return null;
  const fix = (words: readonly string[]) => `vlab exec ${words.map(shellWord).join(" ")}`;
  const labWords = lab !== undefined ? ["--lab", lab] : [];
  return new VlabError(
    "usage",
    `Two words stand before the workload, ${quote(vm)} and ${quote(argv[0])}: exec takes one VM`,
    {
      hint: `Give the VM alone: ${fix([...labWords, argv[0], "--", ...rest])}` + (
        lab === undefined
          ? ` (a lab's name goes in --lab: ${fix(["--lab", vm, argv[0], "--", ...rest])})`
          : ""
      ),
    },
  );
}

/**
 * `vlab exec a -- ping b`: a VM's name where an address goes. The hint gives that VM's address and
 * the command with it, from the VMs of the lab (`vms`, as `GET /lab` lists them); null when the
 * workload takes no address or the word names no VM with an address.
 *
 * @example
 * ```ts ignore
 * vmNameAsAddress("a", ["ping", "b", "-c", "1"], [{ name: "b", nics: [{ ip: "10.0.0.2/24" }] }]);
 * // '"b" is a VM: give its address, vlab exec a -- ping 10.0.0.2 -c 1'
 * ```
 */
export function vmNameAsAddress(
  vm: string,
  argv: readonly string[],
  vms: readonly { name: string; nics: readonly { ip: string | null }[] }[],
): string | null {
  if (argv[0] !== "ping" && argv[0] !== "udp-flood") return null;
  const target = vms.find((v) => v.name === argv[1]);
  const ip = target?.nics.find((n) => n.ip !== null)?.ip;
  if (ip === undefined || ip === null) return null;
  const address = ip.replace(/\/\d+$/, "");
  const words = [vm, "--", argv[0], address, ...argv.slice(2)];
  return `${quote(argv[1])} is a VM: give its address, vlab exec ${words.map(shellWord).join(" ")}`;
}

/**
 * {@linkcode vmNameAsAddress} for the running lab, or null: only a word that may be a VM's name
 * where `ping` or `udp-flood` takes an address asks the lab, and any failure to ask is no hint.
 */
async function vmNameHint(
  vm: string,
  argv: readonly string[],
  lab: string | undefined,
): Promise<string | null> {
  if (
    (argv[0] !== "ping" && argv[0] !== "udp-flood") ||
    !/^[a-z][a-z0-9_-]{0,15}$/.test(argv[1] ?? "")
  ) {
    return null;
  }
  try {
    const record = await resolveLab(lab, undefined, () => {});
    const status = await controlJson<LabStatus>(record, "/lab");
    return vmNameAsAddress(vm, argv, status.vms);
  } catch {
    return null;
  }
}

/** A word as a shell reads it back: quoted when it holds anything but plain characters. */
function shellWord(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`;
}

function validateCommand() {
  return new Command("validate")
    .description(
      "check a topology or a drill file without running it (exit code 0 valid, 1 invalid)",
    )
    .argument("[file]", "a YAML topology or drill, or a shipped topology name (default: pair)")
    .option("--json", "print the problems (or the normalised topology) as JSON")
    .action(async (file, opts) => {
      const json = opts.json === true;
      // `-`: a topology or a drill piped in, named <stdin> in its problems.
      if (file === "-") {
        const text = await readStdinInput(DRILL_FILE, "the file", "validate", {
          terminal:
            "Pipe a topology or a drill in (vlab validate - < drill.yaml), or give its path, such as drills/link-flap.yaml",
          kind: "pipe in a topology or a drill file (YAML text), for example drills/link-flap.yaml",
        });
        if (textFileKind(text) === "drill") {
          return await reportDrill(STDIN_SOURCE, await parseDrill(text, STDIN_SOURCE), json);
        }
        const r = parseTopology(text, STDIN_SOURCE);
        const warnings = r.ok ? topologyWarnings(text, r.value) : [];
        return await reportTopology(STDIN_SOURCE, r, warnings, json);
      }
      const path = resolveTopologyPath(file);
      const text = await readTopologyText(path);
      // A drill is checked as `vlab drill run` would check it, its topology with it. Its kind is
      // seen first: the topology loader reports a YAML-level problem (an unknown tag, a
      // duplicate key) before it knows the kind, and a drill's was judged a topology's.
      if (text.ok && textFileKind(text.value) === "drill") {
        return await reportDrill(path, await parseDrill(text.value, path), json);
      }
      const r = text.ok ? parseTopology(text.value, path) : text;
      // Warnings of a valid file (a vhost-pci peer that sees all of the frontend's memory).
      const warnings = r.ok && text.ok ? topologyWarnings(text.value, r.value) : [];
      await reportTopology(path, r, warnings, json);
    });
}

/** What `vlab validate` says of a topology (`path` names it: a file, or `<stdin>`). */
async function reportTopology(
  path: string,
  r: Result<Topology, TopologyIssue[]>,
  warnings: readonly TopologyIssue[],
  json: boolean,
): Promise<void> {
  if (json) {
    await out(
      JSON.stringify(
        r.ok
          ? { valid: true, topology: r.value, ...(warnings.length > 0 ? { warnings } : {}) }
          : { valid: false, issues: r.error },
        null,
        2,
      ) + "\n",
    );
    // The JSON says what is wrong; the exit code still says that something is.
    if (!r.ok) throw new CliExit(EXIT_CODES.failure);
    return;
  }
  if (r.ok) {
    const t = r.value;
    if (warnings.length > 0) {
      const shown = warnings.map((w) => ({ ...w, message: `warning: ${w.message}` }));
      await err(formatIssues(shown, path) + "\n");
    }
    await out(
      `${escapeControl(path)}: valid: lab ${t.name}, ${
        labSize({
          vms: t.vms.length,
          switches: t.switches.length,
          routers: t.vsockRouters.length,
          links: t.links.length + t.vsockLinks.length +
            t.vsockRouters.reduce((n, r) => n + r.ports.length, 0),
        })
      }\n`,
    );
    return;
  }
  const unread = fileNotRead(r.error);
  if (unread) throw unread;
  await err(formatIssues(r.error, path) + "\n");
  if (isWrongKind(r.error)) {
    throw new VlabError("topology-invalid", `${quote(path)}: ${NOT_A_TOPOLOGY}`, {
      hint: WRONG_KIND_HINT,
    });
  }
  throw new VlabError(
    "topology-invalid",
    `${quote(path)} has ${r.error.length} problem${r.error.length === 1 ? "" : "s"}`,
    {
      hint: `Fix ${r.error.length === 1 ? "it" : "them"} (above); ` +
        "`vlab schema` gives editors completion",
    },
  );
}

/** What `vlab validate` says of a drill (`path` names it: a file, or `<stdin>`). */
async function reportDrill(
  path: string,
  d: Result<Drill, DrillIssue[]>,
  json: boolean,
): Promise<void> {
  if (json) {
    await out(
      JSON.stringify(
        d.ok
          ? {
            valid: true,
            kind: "drill",
            drill: {
              name: d.value.name,
              topology: d.value.topology.name,
              steps: d.value.timeline.length,
              assertions: d.value.assertions.length,
            },
          }
          : { valid: false, kind: "drill", issues: d.error },
        null,
        2,
      ) + "\n",
    );
    if (!d.ok) throw new CliExit(EXIT_CODES.failure);
    return;
  }
  if (d.ok) {
    const { name, topology, timeline, assertions } = d.value;
    await out(
      `${escapeControl(path)}: valid: drill ${escapeControl(name)} on lab ${
        escapeControl(topology.name)
      }, ${count(timeline.length, "step")}, ${count(assertions.length, "assertion")}\n`,
    );
    return;
  }
  await err(formatDrillIssues(d.error) + "\n");
  const problems = d.error.length;
  throw new VlabError("drill-invalid", `${quote(path)} has ${count(problems, "problem")}`, {
    hint: `Fix ${problems === 1 ? "it" : "them"}; docs/drills.md describes the format`,
    exitCode: EXIT_CODES.failure,
  });
}

function schemaCommand() {
  return new Command("schema")
    .description("print the JSON Schema of topology files (for editor completion)")
    .action(async () => await out(JSON.stringify(topologyJsonSchema(), null, 2) + "\n"));
}

/**
 * A lab's size as `vlab up` and `vlab validate` both say it: "3 VMs, 0 switches, 1 vsock router,
 * 3 links" (routers only when there are any: they are no switches, though the plan lists them
 * among its switches).
 */
function labSize(n: { vms: number; switches: number; routers: number; links: number }): string {
  return [
    count(n.vms, "VM"),
    count(n.switches, "switch", { plural: "switches" }),
    ...(n.routers > 0 ? [count(n.routers, "vsock router")] : []),
    count(n.links, "link"),
  ].join(", ");
}
