/**
 * Errors of the lab layer as data: a stable code, a one-line message and a hint. The CLI renders
 * them (and picks the exit code); scripts using `mod.ts` can match on `code`.
 *
 * @module
 */

import { escapeControl, quote } from "../devices/base/quote.ts";
import type { PingResult } from "./guest/workloads/ping.ts";
import type { SinkResult } from "./guest/workloads/sink.ts";
import type { UdpEchoResult } from "./guest/workloads/udp_echo.ts";
import type { UdpFloodResult } from "./guest/workloads/udp_flood.ts";
import type { VsockEchoResult, VsockSendResult, VsockSinkResult } from "./guest/workloads/vsock.ts";
import type { IommuUnmapResult } from "./guest/workloads/iommu.ts";

/** Stable codes of {@linkcode LabError}. */
export type LabErrorCode =
  | "topology-invalid"
  | "lab-exists"
  | "no-lab"
  | "ambiguous-lab"
  | "lab-failed"
  | "unknown-vm"
  | "unknown-link"
  | "unknown-switch"
  | "vhost-pci-link"
  | "unknown-device"
  | "unknown-queue"
  | "no-queues"
  | "workload-failed"
  | "no-such-cid"
  | "bad-impairment"
  | "bad-partition"
  | "bad-fault"
  | "unknown-partition"
  | "control-error"
  | "drill-invalid"
  | "progress-failed"
  | "no-permission"
  | "not-enough-memory";

/**
 * The hint of an `unknown-vm` error: the lab's VMs, or that it has none (a topology may have
 * `vms: {}`: the hint said "VMs: " with nothing after it).
 *
 * @example
 * ```ts
 * import { vmsHint } from "./errors.ts";
 * vmsHint(["a", "b"]); // "VMs: a, b"
 * vmsHint([]); // "The lab has no VMs"
 * ```
 */
export function vmsHint(names: readonly string[]): string {
  return names.length > 0 ? `VMs: ${names.join(", ")}` : "The lab has no VMs";
}

/**
 * The `no-lab` error of a change asked of lab `lab` once it is stopped or stopping (by a script,
 * `vlab down`, a signal): it would reach no worker, and its event would follow `lab-down` in the
 * log. `what` says what could not be done (`bring link "a-b" down`).
 *
 * @example
 * ```ts
 * import { labStoppedError } from "./errors.ts";
 * labStoppedError("pair", "heal a partition").message; // 'Cannot heal a partition: lab "pair" is stopped'
 * ```
 */
export function labStoppedError(lab: string, what: string): LabError {
  return new LabError(
    "no-lab",
    `Cannot ${what}: lab ${quote(lab)} is stopped`,
    "Start it again with startLab()",
  );
}

/**
 * The error of a workload the lab's stop cut short (`lab.stop()`, `vlab down`, a signal to the
 * lab's process), in the same words at every layer that says it (`Lab.exec`'s answer,
 * `execCancellable`, `vlab exec`): `again` is how to start the lab again (`startAgain`), `done`
 * what the hint says of what it had done.
 *
 * @example
 * ```ts
 * import { workloadCutError } from "./errors.ts";
 * workloadCutError("pair", "`vlab up pair`").message;
 * // 'The workload was cut short: lab "pair" stopped while it ran'
 * ```
 */
export function workloadCutError(
  lab: string,
  again: string,
  done = "What it had done is its partial result",
): LabError {
  return new LabError(
    "no-lab",
    `The workload was cut short: lab ${quote(lab)} stopped while it ran`,
    `${done}; start the lab again with ${again}`,
  );
}

/**
 * The hint for what a `failed` VM refuses (a fault, a workload, a vsock connect): it never runs
 * again, so the hint says where the reason is and that only a new start brings it back.
 */
export const FAILED_VM_HINT = "`vlab status` says why; a failed VM does not run again: stop the " +
  "lab (`vlab down`) and start it again";

/**
 * An error of the lab layer. Control characters in its message, hint and details are escaped
 * (`\x1b`, `\n`): each is text a terminal shows as it is. Its `stack` has the hint on the line
 * after the message (`hint: …`), so a script that leaves it uncaught shows the hint too.
 *
 * @example
 * ```ts
 * import { LabError } from "./errors.ts";
 * const e = new LabError("no-lab", "No lab is running", "Start one with `vlab up`");
 * e.code; // "no-lab"
 * ```
 */
export class LabError extends Error {
  /** Stable code. */
  readonly code: LabErrorCode;
  /** What the user can do about it. */
  readonly hint: string;
  /** Extra lines (for example every topology problem) printed before the message. */
  readonly details: readonly string[];

  /**
   * Make an error.
   *
   * @param code stable code
   * @param message one line, sentence case, no final period
   * @param hint what to do about it
   * @param details extra lines
   */
  constructor(code: LabErrorCode, message: string, hint: string, details: readonly string[] = []) {
    // A script prints what it catches: a name or value from outside (a VM name, a workload's
    // word) must not reach its terminal as raw escape sequences, as the CLI's printer ensures.
    super(escapeControl(message));
    this.name = "LabError";
    this.code = code;
    this.hint = escapeControl(hint);
    this.details = details.map(escapeControl);
    // A script that leaves a LabError uncaught sees what Deno prints: the message and the stack,
    // never the `hint` property. So the stack carries the hint on the line after the message, as
    // the CLI prints it. Deno prints the `stack` text as it is only when the error's own stack
    // was never formatted (reading it records the frames Deno prints instead): the frames are
    // taken from a holder, and the error's stack is set without being read.
    const holder: { stack?: string } = {};
    Error.captureStackTrace(holder, new.target);
    const trace = holder.stack ?? "";
    const frames = trace.includes("\n") ? trace.slice(trace.indexOf("\n")) : "";
    Object.defineProperty(this, "stack", {
      value: `${this.name}: ${this.message}${
        this.hint === "" ? "" : `\nhint: ${this.hint}`
      }${frames}`,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
}

/**
 * What a workload cut short had done, the result object of its kind (`kind` tells which: a
 * `PingResult` for `"ping"`, a `SinkResult` for `"sink"`, …), each with its `text`.
 *
 * @example
 * ```ts
 * import type { PartialResult } from "./errors.ts";
 * const sent = (r: PartialResult) => r.kind === "ping" ? r.transmitted : null;
 * ```
 */
export type PartialResult =
  | PingResult
  | UdpEchoResult
  | UdpFloodResult
  | SinkResult
  | VsockEchoResult
  | VsockSendResult
  | VsockSinkResult
  | IommuUnmapResult;

/**
 * The error of a workload cut short, once the lab had heard what it had done: `partial` is that,
 * the workload's result so far; `code` says what cut it.
 * - Its VM crashed (`vm-crash`: `VM "a" crashed before it answered`, code `workload-failed`):
 *   only a `ping` says what it has done as it runs, so `partial` is a `PingResult`: the requests
 *   sent, the replies heard, and its `text`, the lines then iputils' statistics, as iputils
 *   prints them when interrupted.
 * - The lab stopped while it ran (`lab.stop()`, `vlab down`, a signal to the lab's process:
 *   `The workload was cut short: lab "pair" stopped while it ran`, code `no-lab`): `partial` is
 *   the result the workload answered with when it was stopped, of its own kind (a sink's
 *   datagrams so far, a ping's counts), so that no script takes the rest of a run for the whole.
 *
 * A script's `lab.vm(x).exec` and `spawn`'s `result` throw it (with or without `onLine`); a
 * workload the script's own `signal` stopped is no error, it resolves to what it had done.
 * `vlab exec` prints `partial`'s statistics before the error. `droppedLines`: lines of a
 * streamed `POST /exec` that the lab dropped while its reader was behind (0 in a script).
 *
 * @example
 * ```ts ignore
 * import { PartialExecError } from "./mod.ts";
 * try {
 *   await lab.vm("a").exec(["ping", "10.0.0.2", "-c", "100"], { onLine: console.log });
 * } catch (e) {
 *   if (!(e instanceof PartialExecError)) throw e;
 *   console.log(e.code === "no-lab" ? "lab stopped" : "VM crashed", e.partial.text);
 * }
 * ```
 */
export class PartialExecError extends LabError {
  /** What the workload had done before it was cut short, as the lab heard it. */
  readonly partial: PartialResult;
  /** Lines of a streamed `POST /exec` the lab dropped while its reader was behind. */
  readonly droppedLines: number;

  /**
   * Make one from the failure and what came beside it.
   *
   * @param error the failure, as the lab said it
   * @param partial what the workload had done before it was cut short
   * @param options `droppedLines`, as {@linkcode PartialExecError.droppedLines} (0 unless given)
   */
  constructor(
    error: LabError,
    partial: PartialResult,
    options: { droppedLines?: number } = {},
  ) {
    super(error.code, error.message, error.hint, error.details);
    this.partial = partial;
    this.droppedLines = options.droppedLines ?? 0;
  }
}
