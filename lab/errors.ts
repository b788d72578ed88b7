/**
 * Errors of the lab layer as data: a stable code, a one-line message and a hint. The CLI renders
 * them (and picks the exit code); scripts using `mod.ts` can match on `code`.
 *
 * @module
 */

import { escapeControl } from "./topology/quote.ts";

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
  | "unknown-partition"
  | "control-error"
  | "drill-invalid"
  | "no-permission"
  | "not-enough-memory";

/**
 * An error of the lab layer. Control characters in its message, hint and details are escaped
 * (`\x1b`, `\n`): each is text a terminal shows as it is.
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
  }
}
