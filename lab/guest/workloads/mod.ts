/**
 * The guest workloads run by `vlab exec VM -- …`: `ping`, `udp-echo`, `udp-flood` and `sink`
 * over the network stack, `vsock-echo`, `vsock-send` and `vsock-sink` over the vsock sockets.
 * The guest worker parses argv with `parseWorkload` and runs the request with `runWorkload`,
 * passing its abort signal, clock, `yield`, `sleep` and `waitAtMost`; the result is
 * JSON-serialisable.
 *
 * @module
 */

import type { NetStack } from "../net/stack.ts";
import type { WorkloadRequest } from "./args.ts";
import type { WorkloadError, WorkloadOptions } from "./options.ts";
import { type PingResult, runPing } from "./ping.ts";
import { runSink, type SinkResult } from "./sink.ts";
import { runUdpEcho, type UdpEchoResult } from "./udp_echo.ts";
import { runUdpFlood, type UdpFloodResult } from "./udp_flood.ts";
import {
  runVsockEcho,
  runVsockSend,
  runVsockSink,
  type VsockEchoResult,
  type VsockSendResult,
  vsockSinkFailure,
  type VsockSinkResult,
} from "./vsock.ts";
import { type IommuUnmapResult, runIommuUnmap } from "./iommu.ts";

export * from "./args.ts";
export * from "./options.ts";
export * from "./ping.ts";
export * from "./sink.ts";
export * from "./udp_echo.ts";
export * from "./udp_flood.ts";
export * from "./flood_payload.ts";
export * from "./vsock.ts";
export * from "./iommu.ts";

/**
 * What a workload resolves to.
 *
 * @example
 * ```ts
 * import type { WorkloadResult } from "./mod.ts";
 * function ok(r: WorkloadResult) { return r.kind !== "error"; }
 * ```
 */
export type WorkloadResult =
  | PingResult
  | UdpEchoResult
  | UdpFloodResult
  | SinkResult
  | VsockEchoResult
  | VsockSendResult
  | VsockSinkResult
  | IommuUnmapResult
  | WorkloadError;

/**
 * Run a parsed workload request.
 *
 * @example
 * ```ts
 * import { parseWorkload, runWorkload } from "./mod.ts";
 * const req = parseWorkload(["sink", "-t", "2"]);
 * // if (req.ok) console.log(await runWorkload(stack, req.value, opts));
 * ```
 */
export function runWorkload(
  stack: NetStack,
  request: WorkloadRequest,
  opts: WorkloadOptions,
): Promise<WorkloadResult> {
  switch (request.kind) {
    case "ping":
      return runPing(stack, request, opts);
    case "udp-echo":
      return runUdpEcho(stack, request, opts);
    case "udp-flood":
      return runUdpFlood(stack, request, opts);
    case "sink":
      return runSink(stack, request, opts);
    case "vsock-echo":
      return runVsockEcho(opts.vsock, request, opts);
    case "vsock-send":
      return runVsockSend(opts.vsock, request, opts);
    case "vsock-sink":
      return runVsockSink(opts.vsock, request, opts);
    case "iommu-unmap":
      return runIommuUnmap(opts.iommu, request);
  }
}

/**
 * Why a workload that ran to its end failed at its job all the same, or null: a `vsock-sink`
 * whose stream was not whole ({@linkcode vsockSinkFailure}). Its result keeps every count; a
 * drill fails on it as on a workload that could not run. A `ping` with no reply is not one: a
 * drill that cuts a link expects loss, and asserts on it.
 *
 * @example
 * ```ts
 * import { workloadFailure } from "./mod.ts";
 * workloadFailure({ kind: "vsock-sink", bytes: 0, mismatches: 0, complete: false, closeReason: null });
 * // "no sender connected"
 * ```
 */
export function workloadFailure(result: unknown): string | null {
  if (typeof result !== "object" || result === null) return null;
  const r = result as Partial<VsockSinkResult> & { kind?: unknown };
  if (r.kind !== "vsock-sink" || typeof r.mismatches !== "number") return null;
  return vsockSinkFailure({
    bytes: r.bytes ?? 0,
    mismatches: r.mismatches,
    complete: r.complete === true,
    closeReason: r.closeReason ?? null,
  });
}

/**
 * The exit code a command line reports for a workload's result, as the tool it imitates does:
 * `ping` exits 1 when no reply came back (iputils), `vsock-sink` when its stream was not whole
 * ({@linkcode workloadFailure}: a byte out of place, a reset, no sender), every other result 0.
 * A result that is not a workload result (from an older lab, say) is 0.
 *
 * @example
 * ```ts
 * import { workloadExitCode } from "./mod.ts";
 * workloadExitCode({ kind: "ping", received: 0 }); // 1
 * ```
 */
export function workloadExitCode(result: unknown): 0 | 1 {
  if (typeof result !== "object" || result === null) return 0;
  const r = result as { kind?: unknown; received?: unknown };
  if (r.kind === "ping" && r.received === 0) return 1;
  return workloadFailure(result) === null ? 0 : 1;
}
