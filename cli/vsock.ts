/**
 * `vlab vsock VM PORT [--lab NAME]`: bridge stdin and stdout to a stream connection from the
 * host (CID 2) to port PORT of VM's vsock device, through the VM's `vsock.sock` in the lab's
 * state folder with Firecracker's protocol (`CONNECT PORT\n`, then `OK HOSTPORT\n`), the way
 * `socat - UNIX-CONNECT:…/vsock.sock` does after typing the line. End of stdin shuts the
 * connection down for sending; the command ends when the guest closes its side (exit 0), and fails
 * when the lab stopped or the VM crashed under it (`cutShort`). Ctrl-C or SIGTERM close the
 * connection and end it with exit code 130.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { controlJson, resolveLab } from "../lab/client.ts";
import { startAgain } from "../lab/start_again.ts";
import { LabError } from "../lab/errors.ts";
import type { LabStatus } from "../lab/metrics.ts";
import { rebootLeftMs, type VmReboot, type VmRecovery } from "../lab/snapshot_types.ts";
import { type LabRecord, VSOCK_SOCKET } from "../lab/state.ts";
import { processState } from "../lab/proc.ts";
import { quote } from "../devices/base/quote.ts";
import { EXIT_CODES, OutputError, VlabError } from "./errors.ts";
import { onInterrupt } from "./interrupt.ts";
import { CliExit } from "./usage.ts";
import { vsockConnect } from "../lab/vsock_connect.ts";
import type { VsockConnTable } from "../devices/vsock/conn_table.ts";
import { count } from "../devices/base/plural.ts";
import { VSOCK_PORT_MAX } from "../devices/vsock/config.ts";
import { formatBytes } from "./dashboard/format.ts";

/**
 * A vsock device's open connections as `vlab status` prints them (the rows of the dashboard's
 * Links panel): a count line, then one line per published connection, the busiest first.
 *
 * @example
 * ```ts
 * import { formatVsockConnections } from "./vsock.ts";
 * formatVsockConnections({ total: 0, rows: [] }); // ["    connections: none"]
 * ```
 */
export function formatVsockConnections(t: VsockConnTable): string[] {
  if (t.total === 0) return ["    connections: none"];
  const shown = t.rows.length < t.total ? ` (the ${t.rows.length} busiest shown)` : "";
  return [
    `    connections: ${t.total}${shown}`,
    ...t.rows.map((c) => {
      const peer = c.peerCid === 2 ? `host:${c.peerPort}` : `${c.peerCid}:${c.peerPort}`;
      return `      ${c.guestPort} ⇄ ${peer} ${c.state}: sent ${formatBytes(c.bytesFromGuest)}, ` +
        `received ${formatBytes(c.bytesToGuest)}, credit ${formatBytes(c.peerCredit)} left ` +
        `(${count(c.creditStalls, "stall")})`;
    }),
  ];
}

/**
 * Read a vsock port argument: a decimal u32. Throws `bad-option` (exit 2).
 *
 * @example
 * ```ts
 * import { vsockPort } from "./vsock.ts";
 * vsockPort("5000"); // 5000
 * ```
 */
export function vsockPort(text: string): number {
  if (/^[0-9]{1,10}$/.test(text) && Number(text) <= VSOCK_PORT_MAX) return Number(text);
  throw new VlabError("bad-option", `Cannot use ${quote(text)} as a vsock port`, {
    hint: `A port is a whole number from 0 to ${VSOCK_PORT_MAX}, such as 5000 ` +
      "(4294967295 is VMADDR_PORT_ANY, no port of its own)",
  });
}

/** `vlab vsock VM PORT`. */
export function vsockCommand() {
  return new Command("vsock")
    .description(
      "connect stdin/stdout to port PORT of VM's vsock from the host (CID 2), " +
        "through the VM's vsock.sock (Firecracker's CONNECT protocol)",
    )
    .argument("<vm>", "the VM (it needs `vsock: { cid }`)")
    .argument("<port>", "the guest's vsock port")
    .option("--lab <name>", "the lab (default: the only running lab)")
    .action(async (vm, portText, opts) => {
      const port = vsockPort(portText);
      // Listening before anything is opened, as the other commands do: a SIGTERM between the
      // connection's opening and its listener's install ended the command with 143, unannounced.
      const interrupt = new AbortController();
      const off = onInterrupt(() => interrupt.abort());
      try {
        const record = await unlessInterrupted(resolveLab(opts.lab), interrupt.signal);
        const status = await unlessInterrupted(
          controlJson<LabStatus>(record, "/lab"),
          interrupt.signal,
        );
        const vms = new Map(status.vms.map((v) => [v.name, v]));
        const found = vms.get(vm);
        if (found === undefined) throw unknownVm(status, vm, port);
        if (!(found.devices ?? []).some((d) => d.kind === "virtio-vsock")) {
          throw new VlabError("unknown-vm", `Cannot connect to VM ${quote(vm)}: it has no vsock`, {
            hint: "Give it `vsock: { cid: N }` in the topology",
          });
        }
        const dir = record.socket.slice(0, record.socket.lastIndexOf("/"));
        await bridge(
          `${dir}/${vm}/${VSOCK_SOCKET}`,
          { vm, port, state: found.state },
          interrupt.signal,
        );
        // The socket carries no reason: a stream the lab (or the VM's crash) ended is told apart
        // from the guest's close by asking the lab, so it does not read as a whole conversation.
        const cut = await unlessInterrupted(
          cutShort(record, vm, port, found.recovery),
          interrupt.signal,
        );
        if (cut !== null) throw cut;
      } finally {
        off();
      }
    });
}

/**
 * `step`'s value, or exit 130 (`CliExit`) as soon as `signal` is aborted (Ctrl-C, SIGTERM), without
 * waiting for `step`: a value it brings later is given to `drop` (a connection is closed), an
 * error it brings later is dropped.
 *
 * @example
 * ```ts ignore
 * const conn = await unlessInterrupted(vsockConnect(path, o), signal, (c) => c.close());
 * ```
 */
export function unlessInterrupted<T>(
  step: Promise<T>,
  signal: AbortSignal,
  drop: (late: T) => void = () => {},
): Promise<T> {
  const exit = () => new CliExit(EXIT_CODES.interrupted);
  if (signal.aborted) {
    step.then(drop, () => {});
    return Promise.reject(exit());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      step.then(drop, () => {});
      reject(exit());
    };
    signal.addEventListener("abort", onAbort, { once: true });
    step.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * The error for a VM name the lab does not have. A number there is most likely a CID (the guest's
 * way to name a VM, as in `vsock-send CID PORT`): the hint names the VM with that CID, or says
 * that no VM has it and lists the lab's CIDs.
 *
 * @example
 * ```ts ignore
 * unknownVm(status, "4", 5000).hint; // "CID 4 is VM \"b\": vlab vsock b 5000"
 * ```
 */
export function unknownVm(status: Pick<LabStatus, "vms">, vm: string, port: number): VlabError {
  const cids = status.vms.flatMap((v) =>
    (v.devices ?? []).flatMap((d) => {
      const m = d.kind === "virtio-vsock" ? /^cid ([0-9]+)$/.exec(d.detail) : null;
      return m === null ? [] : [[Number(m[1]), v.name] as const];
    })
  );
  const names = status.vms.length > 0
    ? `The lab's VMs: ${status.vms.map((v) => v.name).join(", ")}`
    : "The lab has no VMs";
  if (/^[0-9]{1,10}$/.test(vm)) {
    const cid = Number(vm);
    const owner = cids.find(([c]) => c === cid);
    if (owner !== undefined) {
      return new VlabError("unknown-vm", `Cannot connect to VM ${quote(vm)}: no such VM`, {
        hint: `vlab vsock takes a VM's name: CID ${cid} is VM ${quote(owner[1])}, ` +
          `\`vlab vsock ${owner[1]} ${port}\``,
      });
    }
    return new VlabError("unknown-vm", `Cannot connect to VM ${quote(vm)}: no such VM`, {
      hint: `vlab vsock takes a VM's name, and no VM has CID ${cid} either; the lab's vsock ` +
        `CIDs: ${cids.map(([c, n]) => `${c} (${n})`).join(", ") || "none"}`,
    });
  }
  return new VlabError("unknown-vm", `Cannot connect to VM ${quote(vm)}: no such VM`, {
    hint: names,
  });
}

/**
 * How long `cutShort` waits for a VM that is restarting to run again (a reboot takes 0.1 s, plus
 * its guest's boot time: one booting longer is not waited for).
 */
const RESTART_WAIT_MS = 5000;

/**
 * Why a host stream to port `port` of VM `vm` ended, when it was not the guest's doing, or null
 * when the lab and the VM run on (the guest closed or reset the connection: a normal end). The
 * socket carries no reason, so the lab is asked: it stopped (or is stopping, or its process is
 * gone); or the VM crashed and rebooted, or its device worker (which holds the host's end of
 * every `vsock.sock` connection) crashed and was replaced, told by the VM's recovery counts
 * against `before`, those it had when the stream opened (a VM still `restarting` is waited for,
 * up to {@linkcode RESTART_WAIT_MS}, to tell which); or the VM failed.
 *
 * @example
 * ```ts ignore
 * const cut = await cutShort(record, "a", 7, found.recovery); // after `vlab down`: a `no-lab` VlabError
 * ```
 */
export async function cutShort(
  record: LabRecord,
  vm: string,
  port: number,
  before: Partial<VmRecovery> | undefined,
): Promise<VlabError | null> {
  const at = `The connection to vsock port ${port} of VM ${quote(vm)} was cut`;
  const stopped = new VlabError("no-lab", `${at}: lab ${quote(record.name)} stopped`, {
    hint: `What the guest sent is printed above; start the lab again with ${startAgain(record)}`,
  });
  // "refused": the lab's socket did not take the request though its process lives, as in the
  // moment between its server's shutdown and its folder's removal at the end of a stop.
  const ask = async (): Promise<LabStatus | VlabError | "refused" | null> => {
    const t0 = performance.now();
    try {
      const status = await controlJson<LabStatus>(record, "/lab");
      return status.stopping === true ? stopped : status;
    } catch (e) {
      if (e instanceof LabError && e.code === "no-lab") return stopped;
      // Hung or frozen (it took its time, or is SIGSTOPped): the stream's end is all there is.
      return performance.now() - t0 < 1000 && processState(record.pid) !== "stopped"
        ? "refused"
        : null;
    }
  };
  let status = await ask();
  // A VM that crashed whole and whose guest still boots longer than the wait (`vm-crash --ms`)
  // is said to reboot at once: the wait would end with it still restarting.
  const reboot = rebootOf(status, vm);
  if (reboot !== undefined && rebootLeftMs(reboot) >= RESTART_WAIT_MS) {
    return rebootCut(at, vm, port);
  }
  const deadline = performance.now() + RESTART_WAIT_MS;
  // Bounded by the deadline: a lab whose stop ends, a VM whose reboot or backend restart is
  // under way.
  while (performance.now() < deadline && (status === "refused" || isRestarting(status, vm))) {
    await new Promise((r) => setTimeout(r, 50));
    status = await ask();
  }
  if (status === null || status === "refused" || status instanceof VlabError) {
    return status === "refused" ? null : status;
  }
  const now = status.vms.find((v) => v.name === vm);
  const more = (k: keyof VmRecovery) => (now?.recovery?.[k] ?? 0) > (before?.[k] ?? 0);
  const fail = (why: string, hint: string) =>
    new VlabError("workload-failed", `${at}: ${why}`, { hint });
  if (more("reboots")) {
    return fail(
      "the VM crashed and rebooted",
      "A rebooted guest runs none of the old listeners: start one again, such as " +
        `\`vlab exec ${vm} -- vsock-echo -p ${port}\`, then connect`,
    );
  }
  if (now?.state === "restarting" && now.reboot !== undefined) return rebootCut(at, vm, port);
  if (more("backendRestarts")) {
    return fail(
      "the VM's device worker crashed and was replaced",
      "The host's end of each vsock.sock connection lived in it; the guest's listener still " +
        "runs: connect again",
    );
  }
  if (now?.state === "restarting" || now?.state === "failed" || now?.state === "stopped") {
    return fail(
      now.state === "restarting" ? "the VM is restarting after a crash" : `the VM is ${now.state}`,
      "The event log says what happened; connect again once `vlab status` shows the VM running",
    );
  }
  return null;
}

/** Whether `status` is a lab's whose VM `vm` is `restarting` (a reboot or a backend restart). */
function isRestarting(status: LabStatus | VlabError | "refused" | null, vm: string): boolean {
  return status !== null && status !== "refused" && !(status instanceof VlabError) &&
    status.vms.find((v) => v.name === vm)?.state === "restarting";
}

/**
 * Where VM `vm`'s reboot after `vm-crash` is, as the lab's status says it (`Lab.rebootOf`):
 * undefined when the VM does not reboot so (it runs, or only its device worker is being
 * replaced), or when the lab did not answer. The status says it itself: the lab's recent events,
 * read for it before, hold the last 1000, and a busy lab's pushed the `vm-crash` out of them.
 */
function rebootOf(
  status: LabStatus | VlabError | "refused" | null,
  vm: string,
): VmReboot | undefined {
  if (status === null || status === "refused" || status instanceof VlabError) return undefined;
  return status.vms.find((v) => v.name === vm)?.reboot;
}

/** A stream cut by a crash of its whole VM, still rebooting: its listener is gone for good. */
function rebootCut(at: string, vm: string, port: number): VlabError {
  return new VlabError("workload-failed", `${at}: the VM crashed and is rebooting`, {
    hint: "A rebooted guest runs none of the old listeners: once `vlab status` shows it running, " +
      `start one again, such as \`vlab exec ${vm} -- vsock-echo -p ${port}\`, then connect`,
  });
}

/**
 * Bridge stdin and stdout to port `o.port` of VM `o.vm` through its `vsock.sock` at `path`, until
 * the guest closes the stream. `interrupt` aborts on Ctrl-C or SIGTERM (the caller listens
 * from its start): the connection, or one still being opened, is closed (the guest hears it at
 * once) and the command ends as every interrupted command does, with 130 (`CliExit`).
 */
async function bridge(
  path: string,
  o: { vm: string; port: number; state: string },
  interrupt: AbortSignal,
): Promise<void> {
  const close = (c: Deno.UnixConn) => {
    try {
      c.close();
    } catch {
      // Closed already.
    }
  };
  // The CONNECT/OK exchange is the scripting API's (`VmHandle.vsockConnect`); its LabErrors
  // (`control-error`, `workload-failed` for refused or a VM not running) become this command's
  // errors at the edge.
  const conn = await unlessInterrupted(vsockConnect(path, o), interrupt, close);
  const onAbort = () => close(conn);
  interrupt.addEventListener("abort", onAbort, { once: true });
  const interrupted = () => interrupt.aborted;
  try {
    const down = (async () => {
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) return;
        await writeAll(Deno.stdout, buf.subarray(0, n)).catch((e) => {
          throw new OutputError("stdout", e); // a closed stdout ends the command quietly
        });
      }
    })();
    const up = (async () => {
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await Deno.stdin.read(buf);
        if (n === null) break;
        await writeAll(conn, buf.subarray(0, n));
      }
      await conn.closeWrite().catch(() => {});
    })().catch(() => {});
    // The guest's end of the stream ends the command (stdin may never end).
    await down;
    void up;
  } finally {
    interrupt.removeEventListener("abort", onAbort);
    if (!interrupted()) close(conn);
  }
  if (interrupted()) throw new CliExit(EXIT_CODES.interrupted);
}

/** Write every byte of `data` to `w`. */
async function writeAll(w: { write(p: Uint8Array): Promise<number> }, data: Uint8Array) {
  for (let off = 0; off < data.length;) off += await w.write(data.subarray(off));
}
