/**
 * Errors of the `vlab` command line, and the one printer that renders them.
 *
 * A command that cannot do its job throws a {@linkcode VlabError}: data first (a stable `code`,
 * the message, a hint and the process exit code), rendered once, at the edge, by
 * {@linkcode formatError}:
 *
 * ```text
 * vlab: --batch must be a comma list of integers from 1 to 32768, got "4,x"
 * hint: "x" is not an integer from 1 to 32768: give batch sizes such as --batch 1,4,16
 * ```
 *
 * Exit codes:
 *
 * | code | meaning |
 * | --- | --- |
 * | 0 | success |
 * | 1 | failure while running (the command line was fine) |
 * | 2 | usage error: bad command, option or option value |
 * | 3 | `drill run`/`replay` only: the drill did not run, its lab could not start (no verdict) |
 * | 130 | interrupted (Ctrl-C, SIGTERM) before the command finished its job (`exec`, `up -d` while the lab starts, `drill`, `pingall`, `vsock`, `bench`); a foreground `up` or `capture`, which Ctrl-C ends by design, exits 0 |
 *
 * @module
 */

import { LabError, type LabErrorCode } from "../lab/errors.ts";
import { ioReason as labIoReason } from "../devices/base/io_reason.ts";
import { escapeControl } from "../devices/base/quote.ts";

/** The process exit codes of `vlab`. */
export const EXIT_CODES = {
  /** The command did what it was asked. */
  success: 0,
  /** The command line was fine but something failed while running. */
  failure: 1,
  /** Bad command, option or option value: nothing was run. */
  usage: 2,
  /**
   * `vlab drill run` and `replay`: the drill did not run because its lab could not start (a lab
   * of that name already runs, or it failed to start). Not a verdict: 1 says the drill failed.
   */
  drillNotRun: 3,
  /**
   * Interrupted (Ctrl-C or SIGTERM) before the command finished its job: `exec`, `up -d` while
   * the lab starts, `drill`, `pingall` (128 + SIGINT, as a shell reports a command a Ctrl-C
   * ended). Not a foreground `up` or `capture`: Ctrl-C is how they end (exit 0).
   */
  interrupted: 130,
} as const;

/**
 * The stable error codes of `vlab`. Scripts may match on them; their messages may change.
 *
 * - `usage`: the command line could not be parsed (unknown command or option, missing value).
 * - `bad-option`: an option has a value that is not allowed.
 * - `bench-failed`: a benchmark started but could not finish.
 * - `missing-tool`: a program vlab needs (such as `taskset`) is not installed.
 * - `write-failed`: an output (stdout, an output file) could not be written.
 * - `no-terminal`: the command draws in a terminal (the dashboard) and has none.
 * - `not-enough-memory`: the lab's plan needs more memory than the machine has.
 * - `topology-invalid`: a topology file has problems (each is printed as file:line:col).
 * - `lab-exists`: a lab of that name already runs, or its state folder cannot be made.
 * - `no-lab`: no (such) lab is running.
 * - `ambiguous-lab`: several labs run and the command did not say which.
 * - `lab-failed`: a lab could not start.
 * - `unknown-vm`, `unknown-link`, `unknown-switch`, `unknown-device`, `unknown-queue`: the lab
 *   has no such VM, link, switch, device (NIC) or queue.
 * - `no-queues`: the device has no queues of its own (a vhost-pci-net device serves its
 *   frontend's).
 * - `vhost-pci-link`: the link cannot be impaired or captured (it has no link ring).
 * - `workload-failed`: a guest workload could not run (bad arguments, or it failed).
 * - `no-such-cid`: a `vsock-send` to a CID that no VM of the lab has (a workload failure of its
 *   own kind).
 * - `bad-impairment`: a live impairment value is not valid (the same rules as topology files).
 * - `bad-partition`: a partition's sides are empty or share a VM.
 * - `bad-fault`: a script's `lab.lab.fault(…)` gave a fault the lab cannot read (an unknown
 *   kind, a key its kind does not take, a value of the wrong type).
 * - `unknown-partition`: `vlab heal ID` named a partition that is not in force.
 * - `control-error`: the lab's control socket answered with an error.
 * - `drill-invalid`: a drill file has problems (each is printed as file:line:col); exit 2.
 * - `progress-failed`: a script's `runDrill` `onProgress` threw (the drill still ran to its
 *   verdict, in the error's `result`).
 * - `no-permission`: a script using mod.ts was not given a permission the lab needs.
 * - `drill-not-run`: a drill's lab could not start (a lab of that name runs); no verdict, exit 3.
 * - `unreachable`: `vlab pingall` found pairs of VMs that got no reply.
 * - `interrupted`: Ctrl-C (or SIGTERM) stopped the command before it finished its job; exit 130.
 * - `internal`: anything else; a bug in vlab.
 */
export type VlabErrorCode =
  | "usage"
  | "bad-option"
  | "bench-failed"
  | "missing-tool"
  | "write-failed"
  | "unreachable"
  | "no-terminal"
  | "not-enough-memory"
  | "interrupted"
  | "drill-not-run"
  | LabErrorCode
  | "internal";

/** The exit code each error code ends the process with. */
export const EXIT_CODE_OF: Readonly<Record<VlabErrorCode, number>> = {
  "usage": EXIT_CODES.usage,
  "bad-option": EXIT_CODES.usage,
  "bench-failed": EXIT_CODES.failure,
  "missing-tool": EXIT_CODES.failure,
  "write-failed": EXIT_CODES.failure,
  "unreachable": EXIT_CODES.failure,
  "no-terminal": EXIT_CODES.failure,
  "not-enough-memory": EXIT_CODES.failure,
  "topology-invalid": EXIT_CODES.failure,
  "lab-exists": EXIT_CODES.failure,
  "no-lab": EXIT_CODES.failure,
  "ambiguous-lab": EXIT_CODES.usage,
  "lab-failed": EXIT_CODES.failure,
  "unknown-vm": EXIT_CODES.failure,
  "unknown-link": EXIT_CODES.failure,
  "unknown-switch": EXIT_CODES.failure,
  "vhost-pci-link": EXIT_CODES.failure,
  "unknown-device": EXIT_CODES.failure,
  "unknown-queue": EXIT_CODES.failure,
  "no-queues": EXIT_CODES.failure,
  "workload-failed": EXIT_CODES.failure,
  "no-such-cid": EXIT_CODES.failure,
  "bad-impairment": EXIT_CODES.usage,
  "bad-partition": EXIT_CODES.usage,
  "bad-fault": EXIT_CODES.usage,
  "unknown-partition": EXIT_CODES.failure,
  "control-error": EXIT_CODES.failure,
  "drill-invalid": EXIT_CODES.usage,
  "progress-failed": EXIT_CODES.failure,
  "no-permission": EXIT_CODES.failure,
  "drill-not-run": EXIT_CODES.drillNotRun,
  "interrupted": EXIT_CODES.interrupted,
  "internal": EXIT_CODES.failure,
};

/** What a {@linkcode VlabError} carries besides its code and message. */
export interface VlabErrorOptions {
  /** What the user can do about it: sentence case, no final period. */
  hint: string;
  /** The error that caused this one, if any. */
  cause?: unknown;
  /**
   * The exit code, where the command's own rule differs from the code's (`vlab validate` exits
   * 1 for an invalid drill, which `vlab drill run` refuses with 2).
   */
  exitCode?: number;
}

/**
 * An error a `vlab` command reports to its user.
 *
 * The message says what could not be done and why, in sentence case with no final period, and
 * quotes the value involved. The exit code follows from the code (see {@linkcode EXIT_CODE_OF})
 * unless the options give one.
 *
 * @example
 * ```ts
 * import { VlabError } from "./errors.ts";
 *
 * throw new VlabError("bad-option", '--runs must be an integer from 1 to 1000, got "x"', {
 *   hint: "Give a number of timed runs such as 5",
 * });
 * ```
 */
export class VlabError extends Error {
  /** Stable code, for scripts and tests. */
  readonly code: VlabErrorCode;
  /** What the user can do about it. */
  readonly hint: string;
  /** The process exit code this error ends the process with. */
  readonly exitCode: number;

  /** Make an error with a stable code, a message and a hint. */
  constructor(code: VlabErrorCode, message: string, options: VlabErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "VlabError";
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? EXIT_CODE_OF[code];
  }
}

/**
 * A write to an output (stdout, stderr, a file) failed. {@linkcode writeAll} in `progress.ts`
 * throws it, so that the edge (`main.ts`) knows an output error from a bug: a closed stdout
 * ({@linkcode isClosedStdout}) ends the command quietly, anything else is `write-failed`.
 *
 * @example
 * ```ts
 * import { OutputError, toVlabError } from "./errors.ts";
 *
 * const full = new OutputError("stdout", new Error("No space left on device (os error 28)"));
 * toVlabError(full).message; // "Cannot write to stdout: no space left on device"
 * ```
 */
export class OutputError extends Error {
  /** What was written to: `stdout`, `stderr` or a quoted file name. */
  readonly target: string;

  /** Record that writing to `target` failed with `cause`. */
  constructor(target: string, cause: unknown) {
    super(`Cannot write to ${target}: ${ioReason(cause)}`, { cause });
    this.name = "OutputError";
    this.target = target;
  }
}

/**
 * Whether `error` is a write to stdout whose reader has gone (EPIPE: `| head`, a tshark that
 * quit). The command then ends quietly with exit code 0, as Unix tools do.
 *
 * @example
 * ```ts
 * import { isClosedStdout, OutputError } from "./errors.ts";
 *
 * isClosedStdout(new OutputError("stdout", new Deno.errors.BrokenPipe("Broken pipe"))); // true
 * ```
 */
export function isClosedStdout(error: unknown): boolean {
  return error instanceof OutputError && error.target === "stdout" &&
    error.cause instanceof Deno.errors.BrokenPipe;
}

/**
 * Why an I/O operation failed, as a message part: the system's words in lower case, without
 * Deno's `(os error N)` and the call and path it appends (`"no space left on device"`); a file
 * under /dev, /proc or /sys that Deno refuses without `--allow-all`, in vlab's words
 * (`lab/io_reason.ts`).
 *
 * @example
 * ```ts
 * import { ioReason } from "./errors.ts";
 *
 * ioReason(new Error("Permission denied (os error 13)")); // "permission denied"
 * ```
 */
export function ioReason(error: unknown): string {
  return labIoReason(error);
}

/** Whether `error` is Deno's refusal of a path under /dev, /proc or /sys (`io_reason.ts`). */
export { isSpecialFileRefusal } from "../devices/base/io_reason.ts";

/** The hint given for errors vlab did not expect. */
export const INTERNAL_ERROR_HINT =
  "This is a bug in vlab: please report it with the command you ran " +
  "(run it again with VLAB_DEBUG=1 to get a stack trace)";

/**
 * Turn anything thrown into a {@linkcode VlabError}: a `VlabError` is returned as it is, anything
 * else becomes an `internal` error that keeps the original as its `cause`.
 *
 * @example
 * ```ts
 * import { toVlabError } from "./errors.ts";
 *
 * toVlabError(new TypeError("x is undefined")).code; // "internal"
 * ```
 */
export function toVlabError(error: unknown): VlabError {
  if (error instanceof VlabError) return error;
  // The lab layer's errors carry their own code and hint: one conversion, here, at the edge.
  if (error instanceof LabError) {
    return new VlabError(error.code, error.message, { hint: error.hint, cause: error });
  }
  if (error instanceof OutputError) {
    return new VlabError("write-failed", error.message, {
      hint: "Check where the output goes: a full disk, or a file or pipe that cannot take it",
      cause: error.cause,
    });
  }
  const detail = error instanceof Error ? error.message : String(error);
  const message = detail.trim() === "" ? "Internal error" : `Internal error: ${firstLine(detail)}`;
  return new VlabError("internal", message, { hint: INTERNAL_ERROR_HINT, cause: error });
}

/**
 * Render an error as the two lines `vlab` prints on stderr (no trailing newline):
 * `vlab: <message>` and `hint: <hint>`.
 *
 * @example
 * ```ts
 * import { formatError, VlabError } from "./errors.ts";
 *
 * formatError(new VlabError("usage", 'Unknown command "bnech" for "vlab"', {
 *   hint: "Did you mean bench?",
 * }));
 * // 'vlab: Unknown command "bnech" for "vlab"\nhint: Did you mean bench?'
 * ```
 */
export function formatError(error: unknown): string {
  const vlabError = toVlabError(error);
  // Messages quote outside text with `quote`; escaping here too guarantees that no escape
  // sequence ever reaches the terminal, whatever a message was built from.
  const message = escapeControl(firstLine(vlabError.message));
  return `vlab: ${message}\nhint: ${escapeControl(firstLine(vlabError.hint))}`;
}

/**
 * The candidate closest to `word` by edit distance (adjacent swaps count once, case is ignored),
 * if it is close enough to be a likely typo; one rule for every did-you-mean of vlab, the
 * topology's included (`lab/topology/issues.ts`).
 */
export { closestName } from "../lab/topology/issues.ts";

/** The first line of a text, so that each rendered part stays on one line. */
function firstLine(text: string): string {
  const line = text.split("\n", 1)[0];
  return line.trimEnd();
}
