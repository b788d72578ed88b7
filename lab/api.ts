/**
 * The scripting API (exported by `mod.ts`): start a lab from a topology file, a shipped
 * topology name or a plain object; reach a VM and run a workload; read status and metrics;
 * flip a link; capture a link; stop. A lab started here is registered like one started by
 * `vlab up` (state folder, control socket, event log), so `vlab status` and `vlab capture`
 * work on it while the script runs.
 *
 * @module
 */

import {
  LabError,
  labStoppedError,
  PartialExecError,
  type PartialResult,
  vmsHint,
} from "./errors.ts";
import { typeName } from "./arg_checks.ts";
import { captureHeader, ringLinkProblem, unknownLinkProblem } from "./link_control.ts";
import { MAX_CAPTURE_MS } from "./capture.ts";
import {
  describeArgv,
  type ExecOptions,
  type ExecOutcome,
  type Lab,
  type VmState,
  type WaitMode,
} from "./lab.ts";
import { type LabStatus, labStatus, prometheusMetrics } from "./metrics.ts";
import { planLab } from "./plan.ts";
import { launchLab, type RegisteredLab } from "./runner.ts";
import { stopOnSignals, type Stoppable } from "./script_signals.ts";
import { parseYamlDocument } from "./topology/load.ts";
import { readTopologyText } from "./topology/files.ts";
import {
  formatIssues,
  loadTopologyFile,
  resolveTopologyPath,
  topologyFromObject,
} from "./topology/mod.ts";
import type { Impairment, Topology, TopologyIssue } from "./topology/types.ts";
import { parseImpairment } from "./topology/impairment.ts";
import { isPlainObject } from "./topology/plain.ts";
import { quote, showValue } from "../devices/base/quote.ts";
import { closestName } from "./topology/issues.ts";
import type { PartitionInfo } from "./partition.ts";
import { type SwitchMacTable, unknownSwitchProblem } from "./switch_macs.ts";
import { takeRingView, takeSnapshot } from "./snapshot.ts";
import { LabVsockConn, vsockConnect } from "./vsock_connect.ts";
import type { LabSnapshot, RingView } from "./snapshot_types.ts";
import type { PingResult } from "./guest/workloads/ping.ts";
import type { SinkResult } from "./guest/workloads/sink.ts";
import type { UdpEchoResult } from "./guest/workloads/udp_echo.ts";
import type { UdpFloodResult } from "./guest/workloads/udp_flood.ts";
import type { VsockEchoResult, VsockSendResult, VsockSinkResult } from "./guest/workloads/vsock.ts";
import type { IommuUnmapResult } from "./guest/workloads/iommu.ts";

/**
 * Where a lab's topology comes from: a file path, a shipped topology name, or an object as a
 * topology file holds it (what {@linkcode topologyObject} returns, changed or not).
 */
export type TopologySource = string | Record<string, unknown>;

/**
 * Whether `source` is a topology already loaded (what `loadTopology` returns: its `source` and
 * lists of VMs, switches and links), not one as a file holds it (VMs and switches in maps, and no
 * `source` key).
 */
function isLoaded(source: object): boolean {
  const t = source as Record<string, unknown>;
  return typeof t.source === "string" &&
    ["vms", "switches", "links", "vsockLinks", "vsockRouters"].every((k) => Array.isArray(t[k]));
}

/**
 * Load and validate a topology; throws a {@linkcode LabError} (code `topology-invalid`) whose
 * `details` hold every problem as `file:line:col: message`.
 *
 * @example
 * ```ts ignore
 * import { loadTopology } from "./api.ts";
 * const t = await loadTopology({ name: "mini", vms: { a: { nics: { eth0: {} } } } });
 * ```
 */
export function loadTopology(source: TopologySource | undefined): Promise<Topology> {
  return loadTopologyAs(source, OBJECT_LABEL, "loadTopology");
}

/** What a script that lacks a permission the lab needs is told to do. */
const PERMISSIONS_HINT = "Run the script with the permissions of the vlab task: deno run " +
  "--allow-read --allow-write --allow-env --allow-run --allow-sys --allow-net --allow-ffi SCRIPT";

/**
 * `f`'s answer, with a permission the script was not given made a `LabError` (`no-permission`)
 * that names it and the flags to run with. Without it Deno's own `NotCapable` came from deep
 * inside (the state folder is read from `VLAB_STATE_DIR`), with no hint.
 */
async function withPermissions<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (!(e instanceof Deno.errors.NotCapable)) throw e;
    throw new LabError("no-permission", `Cannot ${what}: ${e.message}`, PERMISSIONS_HINT);
  }
}

/** What a topology given as an object is called where a file's path would stand. */
const OBJECT_LABEL = "<object>";

/**
 * {@linkcode loadTopology}, an object called `label` (in its errors, `lab.json`, `status`), for
 * `caller` (the function a script called, which its `TypeError`s name).
 */
async function loadTopologyAs(
  source: TopologySource | undefined,
  label: string,
  caller: "loadTopology" | "startLab",
): Promise<Topology> {
  expect(
    source === undefined || typeof source === "string" ||
      (typeof source === "object" && source !== null && !Array.isArray(source)),
    TypeError,
    `${caller}: source must be a file path, a shipped topology's name or a topology object, got ${
      typeName(source)
    }`,
  );
  // A loaded topology is past its checks: changed, nothing would check it again (a queue size of
  // 300 or a second VM "a" would run as something else). Its object form is checked whole.
  expect(
    typeof source !== "object" || !isLoaded(source),
    TypeError,
    `${caller}: source is a topology loadTopology returned, which is not checked again; ` +
      "pass its name or path, or change and pass the object form: topologyObject(name or path)",
  );
  const path = typeof source === "string" || source === undefined
    ? resolveTopologyPath(source)
    : label;
  const r = await withPermissions(
    "load the topology",
    async () =>
      typeof source === "object" ? topologyFromObject(source, label) : await loadTopologyFile(path),
  );
  if (r.ok) return r.value;
  const issues = typeof source === "string"
    ? textForPath(source, r.error, "topology")
    : locatedByPath(r.error);
  // The message is the first problem where it is (`file:line:col: message`), the hint its own:
  // what a script prints of an error is what it can act on; `details` has every problem.
  const lines = formatIssues(issues, path).split("\n");
  const more = r.error.length - 1;
  throw new LabError(
    "topology-invalid",
    `${lines[0]}${
      more > 0 ? ` (and ${more} more problem${more === 1 ? "" : "s"} in details)` : ""
    }`,
    issues[0].hint ?? "Fix it and start again; `vlab validate FILE` lists every problem",
    lines,
  );
}

/**
 * `issues` of a topology given as an object, each with no line to point at, located by its key's
 * path instead (`vms.a.nics.eth0.ip: Cannot read ip …`, as `file:line:col:` locates a file's):
 * the message alone (`Cannot read delay "5"`) did not say which of twenty links had it.
 *
 * @example
 * ```ts
 * import { locatedByPath } from "./api.ts";
 * const issue = { code: "bad-duration", path: "links[0].delay", line: null, column: null, message: "Bad", hint: null };
 * locatedByPath([issue])[0].message; // "links[0].delay: Bad"
 * ```
 */
export function locatedByPath(issues: readonly TopologyIssue[]): TopologyIssue[] {
  return issues.map((i) =>
    // A message that names its key already (`Missing key "vms"`) is not located twice.
    i.line === null && i.path !== "" && !i.message.includes(i.path)
      ? { ...i, message: `${i.path}: ${i.message}` }
      : i
  );
}

/**
 * `issues` of a path that names no file it can read, with the hint for a topology's (or a
 * drill's: `noun`) text given as its path (read with `Deno.readTextFile`, or written in the
 * script): a source with a line break, or one that starts as a JSON object does. Their hint was
 * the shipped files' names ("no such file") or to check the path's permissions ("file name too
 * long").
 *
 * @example
 * ```ts
 * import { textForPath } from "./api.ts";
 * const missing = { code: "unreadable", hint: "shipped topologies: pair, star, …" };
 * textForPath("name: x\n", [missing], "topology")[0].hint; // "That is a topology's text, …"
 * textForPath("pairr", [missing], "topology")[0].hint; // "shipped topologies: pair, star, …"
 * ```
 */
export function textForPath<T extends { code: string; hint?: string | null }>(
  source: string,
  issues: T[],
  noun: "topology" | "drill",
): T[] {
  const text = source.includes("\n") || source.trimStart().startsWith("{");
  if (!text || issues.length !== 1 || issues[0].code !== "unreadable") return issues;
  return [{
    ...issues[0],
    hint: `That is a ${noun}'s text, not a path: pass it as an object (parse it first, with the ` +
      "yaml package's parse or JSON.parse), or save it to a file and pass that file's path",
  }];
}

/**
 * A topology file as plain data, the way the file holds it (VMs and NICs in maps, values with their
 * units as written), after every check `loadTopology` makes: change it and pass it to `startLab`,
 * which checks it again. Each call answers a new copy.
 *
 * @example Both layouts of the shipped `pair`
 * ```ts ignore
 * import { startLab, topologyObject } from "./api.ts";
 * for (const layout of ["split", "packed"]) {
 *   const t = await topologyObject("pair");
 *   const vms = t.vms as Record<string, { nics: Record<string, { layout?: string }> }>;
 *   for (const vm of Object.values(vms)) for (const nic of Object.values(vm.nics)) nic.layout = layout;
 *   const lab = await startLab({ ...t, name: `pair-${layout}` });
 *   await lab.stop();
 * }
 * ```
 */
export async function topologyObject(source?: string): Promise<Record<string, unknown>> {
  expect(
    source === undefined || typeof source === "string",
    TypeError,
    `topologyObject: source must be a file path or a shipped topology's name, got ${
      typeName(source)
    }`,
  );
  const topology = await loadTopology(source); // every check, with its errors
  const text = await readTopologyText(topology.source);
  const doc = text.ok ? parseYamlDocument(text.value) : text;
  // Checked, then read again for its raw keys: a file rewritten between the two (an editor's save)
  // is said as any problem of the file, not as a bare Error.
  if (!doc.ok) {
    throw new LabError(
      "topology-invalid",
      `${topology.source} changed while it was read, and does not read now`,
      "Read it again once it is saved; `vlab validate FILE` lists its problems",
    );
  }
  // A copy of plain data: YAML aliases become copies, so a change touches one place.
  return JSON.parse(JSON.stringify(doc.value.raw));
}

/**
 * The result object of each workload, by the name a script gives first in `argv`: what
 * `vm.exec(["ping", …])` resolves to is a {@linkcode PingResult}, so a script reads
 * `ping.text` or `ping.rttMs?.median` with their types. `argv` held in a `string[]` variable
 * (its first word unknown to the type checker) resolves to a `Record<string, unknown>`.
 *
 * @example
 * ```ts
 * import type { WorkloadResults } from "./api.ts";
 * const lost = (r: WorkloadResults["sink"]) => r.lost; // a number
 * ```
 */
export interface WorkloadResults {
  /** `ping`: requests sent, replies, loss, round-trip times, iputils' text. */
  ping: PingResult;
  /** `udp-echo`: datagrams received and echoed. */
  "udp-echo": UdpEchoResult;
  /** `udp-flood`: datagrams sent, rate, ring-full waits. */
  "udp-flood": UdpFloodResult;
  /** `sink`: datagrams received, rate, loss, reordering, duplicates, per sender. */
  sink: SinkResult;
  /** `vsock-echo`: connections and bytes echoed. */
  "vsock-echo": VsockEchoResult;
  /** `vsock-send`: bytes sent and their checksum. */
  "vsock-send": VsockSendResult;
  /** `vsock-sink`: bytes read, checksum, mismatches, whether the stream came whole. */
  "vsock-sink": VsockSinkResult;
  /** `iommu-unmap`: the NIC whose window was revoked and how long the flush took. */
  "iommu-unmap": IommuUnmapResult;
}

/** A VM of a running lab, as a script reaches it. */
export interface VmHandle {
  /** VM name. */
  readonly name: string;
  /**
   * Its state: `starting`, `running`, `restarting` (its device worker is replaced after a
   * backend crash, or the whole VM reboots after a `vm-crash`: workloads are refused meanwhile),
   * `resetting` (its guest resets a device), `failed` (it does not run again) or `stopped` (the
   * lab stopped).
   */
  state(): VmState;
  /**
   * Run a guest workload (`ping`, `udp-echo`, `udp-flood`, `sink`, `vsock-echo`, `vsock-send`,
   * `vsock-sink`, `iommu-unmap`: README.md, "Workloads") with the arguments a user
   * types after `vlab exec VM --`; resolves to its result object, throws a `LabError` (code
   * `workload-failed`; `no-such-cid` for a `vsock-send` to a CID no VM has) when it cannot run.
   * Aborting `signal` (before the call too) stops the
   * workload as Ctrl-C stops `vlab exec`: it still resolves, to what it measured so far. A
   * workload the lab's stop cuts short (`lab.stop()`, `vlab down`, a signal to the process that
   * runs the lab) throws a {@linkcode PartialExecError} with code `no-lab`
   * (`The workload was cut short: lab "pair" stopped while it ran`) whose `partial` is what it
   * had measured: it is no whole run.
   * `onLine` gets each line of its output as it happens (a ping's reply, as iputils prints it:
   * `64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.254 ms`), before the call resolves; they
   * are the first lines of the result's `text`, whose summary follows them there
   * ({@linkcode ExecOptions.onLine}). `argv` that is no non-empty array of strings, or options of
   * the wrong type (an `onLine` that is no function), are a `TypeError`. The result's type is
   * the workload's ({@linkcode WorkloadResults}) when `argv` is written out (`["ping", …]`).
   * A ping whose VM crashes mid-run (`vm-crash`) throws a {@linkcode PartialExecError}: its
   * `partial` is what it had done, as the lab heard it (the requests sent, the replies heard and
   * iputils' statistics in `text`).
   */
  exec<W extends keyof WorkloadResults>(
    argv: readonly [W, ...string[]],
    options?: ExecOptions,
  ): Promise<WorkloadResults[W]>;
  /** {@linkcode VmHandle.exec} with words whose first the type checker cannot tell. */
  exec(argv: readonly string[], options?: ExecOptions): Promise<Record<string, unknown>>;
  /**
   * Start a guest workload as `exec` does, and resolve once it runs (a `sink`'s port is bound, a
   * `vsock-sink` listens): start a receiver with `spawn`, then its sender, and no datagram
   * misses it. `result` resolves (or throws a `LabError`) at the workload's end, as `exec`'s.
   * A workload that never ran (its port already bound, words it does not take) makes `spawn`
   * itself throw that `LabError` (`workload-failed`); on a stopped lab it throws `no-lab`, as
   * `exec` does. `options` as `exec`'s (`onLine` hears its lines while `result` is pending);
   * `result` has the workload's type as `exec`'s has, and throws a {@linkcode PartialExecError}
   * as `exec` does when its VM crashes mid-run or the lab's stop cuts it short.
   */
  spawn<W extends keyof WorkloadResults>(
    argv: readonly [W, ...string[]],
    options?: ExecOptions,
  ): Promise<{ result: Promise<WorkloadResults[W]> }>;
  /** {@linkcode VmHandle.spawn} with words whose first the type checker cannot tell. */
  spawn(
    argv: readonly string[],
    options?: ExecOptions,
  ): Promise<{ result: Promise<Record<string, unknown>> }>;
  /**
   * Open a stream from the host (CID 2) to vsock port `port` of this VM, through its
   * `vsock.sock` (Firecracker's `CONNECT`/`OK` protocol, done for you): the returned socket
   * reads and writes the guest's stream; `closeWrite()` shuts it down for sending, `close()`
   * ends it. Throws a `LabError`: `unknown-vm` (no vsock device), `workload-failed` (refused:
   * nothing listens on the port), `control-error` (the socket cannot be opened). The guest's
   * close ends the stream (`read` answers null, `readable` ends); the lab's stop while it is
   * open (`lab.stop()`, `vlab down`, a signal) does not read as that end: `read`, `readable`,
   * `write` and `writable`'s writes throw a `LabError` with code `no-lab` (`The vsock stream to
   * port 7 of VM "a" was cut short: lab "pair" stopped while it was open`).
   */
  vsockConnect(port: number): Promise<Deno.UnixConn>;
}

/**
 * A running lab, as a script holds it. Once it is stopped (`stop()`, `vlab down`, a signal), its
 * reads still answer (the last counters) and every change (`setLink`, `setImpairment`,
 * `partition`, `heal`, `capture`), workload (`exec`, `spawn`, `vsockConnect`) and switch's
 * MAC table (`macTable`) throws a `LabError` with code `no-lab`.
 *
 * @example
 * ```ts ignore
 * import { startLab } from "./api.ts";
 * const lab = await startLab("pair");
 * const ping = await lab.vm("a").exec(["ping", "10.0.0.2", "-c", "3"]);
 * console.log(ping.rttMs);
 * await lab.stop();
 * ```
 */
export interface LabHandle {
  /** Lab name. */
  readonly name: string;
  /** Control socket path (for curl and other clients). */
  readonly socket: string;
  /** The event log (JSON lines), kept after the lab stops. */
  readonly events: string;
  /**
   * The supervisor, for advanced use: raw counters, `fault(…)` (what `vlab fault` injects) and
   * `events` (`subscribe`, `recent`), as docs/experiments.md shows. Its `stop()` stops the lab as
   * the handle's does (state folder, control socket and all).
   */
  readonly lab: Lab;
  /** A VM by name; throws a `LabError` (code `unknown-vm`) for a name the lab does not have. */
  vm(name: string): VmHandle;
  /** The status snapshot. */
  status(): LabStatus;
  /** Every counter, Prometheus text. */
  metrics(): string;
  /** What the dashboard draws: VMs, devices, queue indices and counters, links, events. */
  snapshot(): LabSnapshot;
  /**
   * The ring view of one queue (descriptor table, ownership, indices); throws a `LabError`:
   * `unknown-vm`, `unknown-device` (no such NIC or other device, such as `vsock0`),
   * `unknown-queue`, or `no-queues` for the vhost-pci-net device of a vhost-pci link's serving
   * VM (it serves its frontend's queues: view those).
   */
  ringView(vm: string, nic: string, queue: number): RingView;
  /**
   * The MAC table of a switch (what `vlab fdb SWITCH` prints): each station it learned, the
   * port, link and NIC (or switch) behind it, and its age. Throws `unknown-switch` for a name
   * that is no L2 switch of the lab, `no-lab` once the lab is stopped, `control-error` when its
   * worker does not answer (failed, or busy for over 2 s).
   */
  macTable(switchName: string): Promise<SwitchMacTable>;
  /** Bring a link down or up. */
  setLink(link: string, up: boolean): void;
  /**
   * Change a link's impairment while it runs (netem's `change`): `impair` holds the topology
   * file's impairment keys in a plain object (`{ delay: "20ms", jitter: "2ms", loss: "1%" }`; a
   * `Map` is refused); `{}` clears it.
   * Every key not given is off. Throws `bad-impairment` for a bad value, `unknown-link`.
   */
  setImpairment(
    link: string,
    impair: Record<string, string | number>,
    options?: { direction?: "forward" | "reverse" | "both" },
  ): void;
  /**
   * Cut every frame between two sets of VMs (or only from `a` to `b` with `oneWay`), across
   * switches and vhost-pci links too; returns the partition (its `id` heals it). Every worker
   * reads the cut before its next loop pass: it acts on every frame sent after the call returns.
   * vsock connections between the two sets are reset at both ends and new ones refused, both
   * ways even with `oneWay` (a stream needs both directions), until `heal`.
   * Throws `unknown-vm`, `bad-partition`.
   */
  partition(a: string[], b: string[], options?: { oneWay?: boolean }): PartitionInfo;
  /**
   * Heal partition `id`, or every partition; returns the ids healed. Throws `unknown-partition`
   * for an `id` not in force.
   */
  heal(id?: number): number[];
  /**
   * Capture a link for `ms` milliseconds (default 1000), or until `signal` aborts or the lab
   * stops, and return a whole pcap file (global header and records), held in memory meanwhile
   * (about 100 MB a second of a 1500-byte flood: stream long ones with `vlab capture -w`).
   * Throws `unknown-link`, `vhost-pci-link` (no ring to capture).
   */
  capture(link: string, options?: { ms?: number; signal?: AbortSignal }): Promise<Uint8Array>;
  /** Stop the lab and remove its state folder (the event log is kept). */
  stop(): Promise<void>;
}

/**
 * Start a lab from a {@linkcode TopologySource}.
 *
 * @example An inline topology
 * ```ts ignore
 * import { startLab } from "./api.ts";
 * const lab = await startLab({
 *   name: "mini",
 *   vms: { a: { nics: { eth0: { ip: "10.1.0.1/24" } } }, b: { nics: { eth0: { ip: "10.1.0.2/24" } } } },
 *   links: [{ endpoints: ["a:eth0", "b:eth0"] }],
 * });
 * await lab.vm("a").exec(["ping", "10.1.0.2", "-c", "1"]);
 * await lab.stop();
 * ```
 */
export async function startLab(
  source?: TopologySource,
  options?: StartLabOptions,
): Promise<LabHandle> {
  const opts = optionsOf("startLab", options, [
    "stopOnSignals",
    "label",
    "seed",
    "hostWait",
    "guestWait",
  ]);
  const signals = opts.stopOnSignals ?? true;
  expect(
    typeof signals === "boolean",
    TypeError,
    `startLab: options.stopOnSignals must be a boolean, got ${typeName(signals)}`,
  );
  // Taken only where an object stands for a file: with a path it would be ignored without a word.
  expect(
    opts.label === undefined || (typeof source === "object" && source !== null),
    TypeError,
    "startLab: options.label names a topology given as an object; one from a file or a shipped " +
      "name is named by its path",
  );
  const label = opts.label ?? OBJECT_LABEL;
  expect(
    typeof label === "string" && label.length > 0,
    TypeError,
    `startLab: options.label must be a non-empty string, got ${
      typeof label === "string" ? "an empty string" : typeName(label)
    }`,
  );
  const seed = opts.seed;
  if (seed !== undefined) {
    expect(
      typeof seed === "number",
      TypeError,
      `startLab: options.seed must be a number, got ${typeName(seed)}`,
    );
    expect(
      Number.isInteger(seed) && seed >= 0 && seed <= 0xffff_ffff,
      RangeError,
      `startLab: options.seed must be a whole number 0..4294967295, got ${seed}`,
    );
  }
  for (const key of ["hostWait", "guestWait"] as const) {
    const mode = opts[key];
    expect(
      mode === undefined || WAIT_MODES.includes(mode),
      typeof mode === "string" ? RangeError : TypeError,
      `startLab: options.${key} must be "hot" or "async", got ${
        typeof mode === "string" ? showValue(mode) : typeName(mode)
      }`,
    );
  }
  const loaded = await loadTopologyAs(source, label, "startLab");
  // options.seed replaces the topology's, as `vlab up --seed` does.
  const topology = seed === undefined ? loaded : { ...loaded, seed };
  const launching = withPermissions(
    `start lab ${quote(topology.name)}`,
    () =>
      launchLab(planLab(topology), {
        waits: { hostWait: opts.hostWait, guestWait: opts.guestWait },
      }),
  );
  // Listen before the lab exists, as `vlab up` does: Ctrl-C while it starts (a large lab takes
  // seconds) stops it as soon as it is up, instead of ending the process with its folder left.
  if (signals) stopOnSignals(whileLaunching(launching));
  return handleOf(await launching);
}

/**
 * A lab still starting, as `stopOnSignals` stops it: `stop` waits for the start, then stops the
 * lab; `stopped` resolves once it stopped, or at once when it could not start.
 */
function whileLaunching(launching: Promise<RegisteredLab>): Stoppable {
  return {
    stop: async () => {
      const running = await launching.catch(() => null);
      await running?.stop();
    },
    stopped: launching.then((running) => running.stopped, () => {}),
  };
}

/** How {@linkcode startLab} runs the lab. */
export interface StartLabOptions {
  /**
   * Stop the lab on Ctrl-C (SIGINT), SIGTERM or SIGHUP (its terminal closing) and then exit the
   * process with 130, 143 or 129, as `vlab up` does (default true): without it the process dies
   * at once and leaves the lab's state folder for the next `vlab ls` to clear. A signal while
   * the lab starts stops it once up; what the script throws while its labs stop (a `no-lab` from
   * its next call) is not reported. False leaves the signals to the script (which then calls
   * `stop()` itself). The listeners go once the script's labs have stopped.
   */
  stopOnSignals?: boolean;
  /**
   * What a topology given as an object is called where a file's path would stand: in its errors
   * (`LABEL:line:col` is not given for objects, the label is), `lab.json` and `vlab status`'s
   * `from` (default `<object>`). A drill names the drill file or the topology it ran. With a
   * file's path or a shipped name for a source, a label is a `TypeError`: the path names the lab.
   */
  label?: string;
  /**
   * The seed of every random decision of the lab (a whole number 0..4294967295), replacing the
   * topology's `seed`, as `vlab up --seed N` does (default: the topology's). A seed of the wrong
   * type is a `TypeError`, out of range or fractional a `RangeError`, before anything starts.
   */
  seed?: number;
  /**
   * How the lab's device, switch and vsock router workers sleep after work: `hot`, in blocking
   * waits for 50 ms (a ring wakes them sooner and for less CPU), or `async`, in
   * `Atomics.waitAsync` at once (docs/design.md, "Waiting without spinning"). Default: `hot`,
   * or `async` when `VLAB_HOT_MS` is 0. Any other value is a `RangeError` (`TypeError` for a
   * non-string), before anything starts.
   */
  hostWait?: WaitMode;
  /**
   * How the lab's guests sleep after work while their workloads wait: `hot` or `async`, as
   * {@linkcode StartLabOptions.hostWait} (same default, same errors).
   */
  guestWait?: WaitMode;
}

const WAIT_MODES: readonly unknown[] = ["hot", "async"];

/**
 * A workload's result, or the `LabError` it ended with: its own code (`no-such-cid`), `no-lab`
 * (the lab's stop cut it short) or `workload-failed`; a {@linkcode PartialExecError} when the lab
 * knows what it had done.
 */
function outcome(r: ExecOutcome): Record<string, unknown> {
  if (r.ok) return r.result as Record<string, unknown>;
  const error = new LabError(r.code ?? "workload-failed", r.message, r.hint);
  // Cut short (its VM crashed, or the lab stopped: `no-lab`) after the lab had heard what it did:
  // that comes with it.
  if (typeof r.partial === "object" && r.partial !== null) {
    throw new PartialExecError(error, r.partial as PartialResult);
  }
  throw error;
}

/** Throw the `LabError` when `link` cannot be impaired or captured (`ringLinkProblem`). */
function refuseRingLink(
  lab: Lab,
  link: string,
  action: "impair" | "capture",
  impair?: Impairment,
): void {
  const p = ringLinkProblem(lab.plan, link, action, impair);
  if (p !== null) throw new LabError(p.code, p.message, p.hint);
}

/**
 * Throw the `LabError` (`no-lab`) for a change asked of a lab that is stopped or stopping (it
 * would reach no worker, and its event would follow `lab-down` in the log).
 */
function refuseStopped(lab: Lab, what: string): void {
  if (lab.stopped) throw labStoppedError(lab.plan.name, what);
}

/**
 * A script's argument of the wrong type or range is the script's bug: refused at once with a
 * `TypeError` or `RangeError` that names the argument, never taken silently for something else
 * (as `vsockConnect` refuses a port that is no u32).
 */
function expect(ok: boolean, make: (m: string) => Error, message: string): void {
  if (!ok) throw make(message);
}

const DIRECTIONS = ["forward", "reverse", "both"];

export { typeName };

/** Refuse a name (of a VM, NIC or link) that is no string: `TypeError`, naming the argument. */
function expectName(call: string, what: string, v: unknown): void {
  expect(typeof v === "string", TypeError, `${call}: ${what} must be a string, got ${typeName(v)}`);
}

/**
 * A call's options: `{}` when left out, else the object given, checked to be one, to hold only
 * the call's `keys` (a misspelt key would be ignored), and its `signal`, if any, to be an
 * `AbortSignal` (anything else would fail deep inside, or never abort).
 */
function optionsOf<T extends object>(
  call: string,
  options: T | undefined,
  keys: readonly (keyof T & string)[],
): T {
  if (options === undefined) return {} as T;
  const problem = optionsProblem(call, options, keys);
  if (problem !== null) throw new TypeError(problem);
  // A misspelt option (`{ sede: 7 }`) would be ignored without a word: refused, with the near one.
  const unknown = Object.keys(options).find((k) => !(keys as readonly string[]).includes(k));
  if (unknown !== undefined) {
    const near = closestName(unknown, keys);
    throw new TypeError(
      `${call}: options has no key ${quote(unknown)}${
        near === undefined ? "" : ` (did you mean ${near}?)`
      }; it takes ${keys.join(", ")}`,
    );
  }
  const signal = (options as { signal?: unknown }).signal;
  expect(
    signal === undefined || signal instanceof AbortSignal,
    TypeError,
    `${call}: options.signal must be an AbortSignal, got ${typeName(signal)}`,
  );
  const onLine = (options as { onLine?: unknown }).onLine;
  expect(
    onLine === undefined || typeof onLine === "function",
    TypeError,
    `${call}: options.onLine must be a function (line: string) => void, got ${typeName(onLine)}`,
  );
  return options;
}

/** The options `exec` and `spawn` take. */
const EXEC_KEYS = ["signal", "onLine"] as const;

/**
 * A script's `exec` and `spawn` listen to their workload's lines whether or not the script does
 * (`onLine`): the lab then tallies what a ping did, and a `vm-crash` mid-run throws a
 * {@linkcode PartialExecError} with it, where a script without `onLine` got a plain `LabError`
 * and lost the counts. Only a ping says lines (one per reply): a flood pays nothing.
 */
function listening(options: ExecOptions): ExecOptions {
  return options.onLine === undefined ? { ...options, onLine: () => {} } : options;
}

/**
 * Why `options` given to `call` are no options object, for its `TypeError`, or null when they
 * are one: a plain object (`{ … }`), as {@linkcode isPlainObject} says. An `AbortSignal` (or a
 * `Map`, a class's instance) has no keys of its own: taken as `{}`, `exec(argv, signal)` ran its
 * workload to the end whatever the signal did. `keys` are the options `call` takes: with
 * `signal` among them, a signal given in their place is told how to pass it.
 *
 * @example
 * ```ts
 * import { optionsProblem } from "./api.ts";
 * optionsProblem("exec", new AbortController().signal, ["signal"]);
 * // "exec: options must be an object, got AbortSignal (pass it as { signal })"
 * optionsProblem("exec", { signal: undefined }, ["signal"]); // null
 * ```
 */
export function optionsProblem(
  call: string,
  options: unknown,
  keys: readonly string[],
): string | null {
  if (isPlainObject(options)) return null;
  const signal = !keys.includes("signal")
    ? ""
    : options instanceof AbortSignal
    ? " (pass it as { signal })"
    : options instanceof AbortController
    ? " (pass its signal as { signal })"
    : "";
  return `${call}: options must be an object, got ${typeName(options)}${signal}`;
}

/** Refuse a workload's words that are no non-empty array of strings: `TypeError`. */
function expectArgv(call: string, argv: unknown): void {
  expect(
    isStringArray(argv) && argv.length > 0,
    TypeError,
    `${call}: argv must be a non-empty array of strings (the words after \`vlab exec VM --\`), got ${
      describeArgv(argv)
    }`,
  );
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

function handleOf(running: RegisteredLab): LabHandle {
  const { lab } = running;
  const vm = (name: string): VmHandle => {
    expectName("vm", "name", name);
    if (!lab.plan.vms.some((v) => v.name === name)) {
      throw new LabError(
        "unknown-vm",
        `The lab has no VM ${quote(name)}`,
        vmsHint(lab.plan.vms.map((v) => v.name)),
      );
    }
    return {
      name,
      state: () => lab.vmState(name),
      // One implementation of each pair of overloads: the result is the object the workload
      // named by argv[0] answers, which is the type the first overload says.
      exec: (async (argv: readonly string[], options?: ExecOptions) => {
        expectArgv("exec", argv);
        refuseStopped(lab, `run ${quote(argv[0])} in VM ${quote(name)}`);
        return outcome(
          await lab.exec(name, [...argv], listening(optionsOf("exec", options, EXEC_KEYS))),
        );
      }) as VmHandle["exec"],
      spawn: (async (argv: readonly string[], options?: ExecOptions) => {
        expectArgv("spawn", argv);
        refuseStopped(lab, `run ${quote(argv[0])} in VM ${quote(name)}`);
        const started = await lab.spawn(
          name,
          [...argv],
          listening(optionsOf("spawn", options, EXEC_KEYS)),
        );
        // A workload that never ran (its port taken, its words wrong) is this call's failure.
        if (!started.started) outcome(await started.result);
        const result = started.result.then(outcome);
        // Handled here so that a failure before the caller awaits it is no unhandled rejection;
        // awaiting `result` still throws it.
        result.catch(() => {});
        return { result };
      }) as VmHandle["spawn"],
      vsockConnect: async (port) => {
        expect(
          typeof port === "number",
          TypeError,
          `vsockConnect: port must be a number, got ${typeName(port)}`,
        );
        refuseStopped(lab, `connect to vsock port ${port} of VM ${quote(name)}`);
        const conn = await vsockConnect(lab.vsockSocket(name), {
          vm: name,
          port,
          state: lab.vmState(name),
        });
        // Its end once the lab stopped is no end the guest sent: an error, not an end of stream.
        return new LabVsockConn(conn, {
          stopped: () => lab.stopped,
          cut: () =>
            new LabError(
              "no-lab",
              `The vsock stream to port ${port} of VM ${quote(name)} was cut short: lab ${
                quote(lab.plan.name)
              } stopped while it was open`,
              "What was read before it is what the guest had sent; start the lab again with " +
                "startLab()",
            ),
        });
      },
    };
  };
  return {
    name: lab.plan.name,
    socket: running.socket,
    events: running.events,
    lab,
    vm,
    status: () => labStatus(lab),
    metrics: () => prometheusMetrics(lab),
    snapshot: () => takeSnapshot(lab),
    ringView: (vmName, nic, queue) => {
      expectName("ringView", "vm", vmName);
      expectName("ringView", "nic", nic);
      expect(
        typeof queue === "number",
        TypeError,
        `ringView: queue must be a queue's index (a number), got ${typeName(queue)}`,
      );
      expect(
        Number.isInteger(queue) && queue >= 0,
        RangeError,
        `ringView: queue must be a queue's index (0, 1, …), got ${queue}`,
      );
      vm(vmName); // an unknown VM is `unknown-vm`, as everywhere else
      const r = takeRingView(lab, { vm: vmName, nic, queue });
      // The codes of POST /faults: unknown-device, unknown-queue, no-queues (vhost-pci-net).
      if (!r.ok) throw new LabError(r.error.code, r.error.message, r.error.hint);
      return r.value;
    },
    macTable: async (switchName) => {
      expectName("macTable", "switchName", switchName);
      const unknown = unknownSwitchProblem(lab.plan, switchName);
      if (unknown !== null) throw new LabError(unknown.code, unknown.message, unknown.hint);
      // No worker to ask once stopped: `no-lab`, as every call that needs one (it was a
      // control-error, "Switch did not answer").
      refuseStopped(lab, `read the MAC table of switch ${quote(switchName)}`);
      const table = await lab.macTable(switchName);
      // Stopped while it asked.
      refuseStopped(lab, `read the MAC table of switch ${quote(switchName)}`);
      if (table === null) {
        throw new LabError(
          "control-error",
          `Switch ${quote(switchName)} did not answer`,
          "Its worker failed or is busy: see lab.status()",
        );
      }
      return table;
    },
    setLink: (link, up) => {
      expectName("setLink", "link", link);
      expect(
        typeof up === "boolean",
        TypeError,
        `setLink: up must be true or false, got ${typeof up}`,
      );
      refuseStopped(lab, `bring link ${quote(link)} ${up ? "up" : "down"}`);
      if (!lab.setLink(link, up)) {
        const p = unknownLinkProblem(lab.plan, link);
        throw new LabError(p.code, p.message, p.hint);
      }
    },
    setImpairment: (link, impair, options) => {
      expectName("setImpairment", "link", link);
      const direction = optionsOf("setImpairment", options, ["direction"]).direction ?? "both";
      expect(
        DIRECTIONS.includes(direction),
        typeof direction === "string" ? RangeError : TypeError,
        `setImpairment: direction must be forward, reverse or both, got ${
          typeof direction === "string" ? showValue(direction) : typeName(direction)
        }`,
      );
      refuseStopped(lab, `impair link ${quote(link)}`);
      const r = parseImpairment(impair, { link });
      // A vhost-pci link has no ring to impair, but takes a clear (it has nothing to clear).
      refuseRingLink(lab, link, "impair", r.ok ? r.value : undefined);
      if (!r.ok) throw new LabError("bad-impairment", r.error.message, r.error.hint);
      const refused = lab.links.impairmentProblem(link, r.value);
      if (refused !== null) throw new LabError("bad-impairment", refused.message, refused.hint);
      lab.links.setImpairment(link, r.value, direction);
    },
    partition: (a, b, options) => {
      const oneWay = optionsOf("partition", options, ["oneWay"]).oneWay ?? false;
      expect(
        typeof oneWay === "boolean",
        TypeError,
        `partition: oneWay must be true or false, got ${typeName(oneWay)}`,
      );
      expect(
        isStringArray(a) && isStringArray(b),
        TypeError,
        'partition: each side must be an array of VM names, as partition(["a"], ["b"])',
      );
      refuseStopped(lab, "partition the lab");
      const r = lab.links.partition(a, b, oneWay);
      if (!r.ok) throw new LabError(r.error.code, r.error.message, r.error.hint);
      return r.value;
    },
    heal: (id) => {
      // heal(0) was a TypeError where ringView(…, -1) is a RangeError: a number out of range is a
      // RangeError, another type a TypeError (as lab.links.heal).
      expect(
        id === undefined || (Number.isInteger(id) && id > 0),
        typeof id === "number" ? RangeError : TypeError,
        `heal: id must be a partition's id (a positive integer) or nothing, got ${
          typeof id === "number" ? showValue(id) : typeName(id)
        }`,
      );
      refuseStopped(lab, "heal a partition");
      const healed = lab.links.heal(id);
      // As `vlab heal ID` and `POST /heal` answer: a wrong id is a script's mistake, not a no-op.
      if (id !== undefined && healed.length === 0) {
        const ids = lab.links.partitions().map((p) => p.id);
        throw new LabError(
          "unknown-partition",
          `The lab has no partition ${id}`,
          `Partitions: ${ids.join(", ") || "none"}`,
        );
      }
      return healed;
    },
    capture: async (link, given) => {
      expectName("capture", "link", link);
      const options = optionsOf("capture", given, ["ms", "signal"]);
      const ms = options.ms ?? 1000;
      expect(
        typeof ms === "number",
        TypeError,
        `capture: ms must be a number of milliseconds, got ${typeName(ms)}`,
      );
      expect(
        Number.isFinite(ms) && ms > 0 && ms <= MAX_CAPTURE_MS,
        RangeError,
        `capture: ms must be a positive number of milliseconds up to ${MAX_CAPTURE_MS} (a week), got ${
          showValue(ms)
        }`,
      );
      refuseStopped(lab, `capture link ${quote(link)}`);
      refuseRingLink(lab, link, "capture");
      const chunks: Uint8Array[] = [captureHeader(lab.plan, link)];
      // Ends at `ms`, at the signal's abort (one that came before the call too), or when the lab
      // stops (`onEnd`), whichever is first; the timer and the listener go with it.
      const { promise: ended, resolve } = Promise.withResolvers<void>();
      const end = () => resolve();
      const stop = lab.capture(link, (r) => chunks.push(r.slice()), { onEnd: end });
      const timer = setTimeout(end, ms);
      options.signal?.addEventListener("abort", end, { once: true });
      if (options.signal?.aborted) end();
      try {
        await ended;
      } finally {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", end);
        stop();
      }
      const total = chunks.reduce((s, c) => s + c.length, 0);
      const out = new Uint8Array(total);
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.length;
      }
      return out;
    },
    stop: () => running.stop(),
  };
}
