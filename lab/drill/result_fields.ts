/**
 * The fields of each workload's result, as an assertion reads them (`ping.loss_pct`,
 * `ping.rtt_ms.max`, `sink.senders.0.lost`), known before the drill runs: a field no result of
 * that workload has (`ping.nope`) is refused when the drill is validated, with the close one,
 * not found after its lab ran. Each shape is checked against the result's type when the code
 * is type-checked (`satisfies`): a field added to a result without its shape here does not
 * compile. What only the run can tell (a field that is null because nothing was measured, a
 * list's item past its end) is judged after the run (`scope.ts`). Pure.
 *
 * @module
 */

import type {
  IommuUnmapResult,
  PingResult,
  RttStats,
  SinkResult,
  SinkSender,
  UdpEchoResult,
  UdpFloodResult,
  VsockEchoResult,
  VsockSendResult,
  VsockSinkResult,
} from "../guest/workloads/mod.ts";
import { closestName } from "../topology/issues.ts";

/**
 * A result field's shape: a number, string, boolean or null (`"value"`), a map of fields, or a
 * list (`{ list: shape of its items }`).
 */
export type FieldShape = "value" | { readonly fields: FieldsOf<unknown> } | {
  readonly list: FieldShape;
};

/** A map's fields: each key of `T` and its shape (for `unknown`, any keys). */
type FieldsOf<T> = { readonly [K in keyof T]-?: FieldShape };

const V = "value" as const;

const RTT = { min: V, avg: V, max: V, mdev: V, median: V, p99: V } satisfies FieldsOf<RttStats>;

const SENDER = {
  src: V,
  received: V,
  lost: V,
  reordered: V,
  duplicated: V,
  lostAtEnd: V,
} satisfies FieldsOf<SinkSender>;

const PING = {
  kind: V,
  dst: V,
  transmitted: V,
  received: V,
  lossPct: V,
  rttMs: { fields: RTT },
  replies: { list: { fields: { seq: V, rttMs: V } satisfies FieldsOf<PingResult["replies"][0]> } },
  late: V,
  duplicates: V,
  text: V,
} satisfies FieldsOf<PingResult>;

const SINK = {
  kind: V,
  port: V,
  received: V,
  bytes: V,
  pps: V,
  gbitPerSecond: V,
  lost: V,
  lostAtEnd: V,
  expected: V,
  reordered: V,
  duplicated: V,
  ignored: V,
  seconds: V,
  senders: { list: { fields: SENDER } },
  text: V,
} satisfies FieldsOf<SinkResult>;

const UDP_ECHO = {
  kind: V,
  port: V,
  received: V,
  echoed: V,
  failed: V,
  bytes: V,
  seconds: V,
  text: V,
} satisfies FieldsOf<UdpEchoResult>;

const UDP_FLOOD = {
  kind: V,
  dst: V,
  port: V,
  srcPort: V,
  frameSize: V,
  sent: V,
  ringFull: V,
  stalls: V,
  seconds: V,
  pps: V,
  gbitPerSecond: V,
  text: V,
} satisfies FieldsOf<UdpFloodResult>;

const VSOCK_SEND = {
  kind: V,
  bytes: V,
  checksum: V,
  seconds: V,
  gbitPerSecond: V,
  creditStalls: V,
  text: V,
} satisfies FieldsOf<VsockSendResult>;

const VSOCK_SINK = {
  kind: V,
  bytes: V,
  checksum: V,
  mismatches: V,
  complete: V,
  closeReason: V,
  seconds: V,
  gbitPerSecond: V,
  text: V,
} satisfies FieldsOf<VsockSinkResult>;

const VSOCK_ECHO = { kind: V, connections: V, bytes: V, text: V } satisfies FieldsOf<
  VsockEchoResult
>;

const IOMMU_UNMAP = { kind: V, device: V, flushedMs: V, text: V } satisfies FieldsOf<
  IommuUnmapResult
>;

/** Each workload's result, by the workload's name (argv's first word). */
const RESULTS: ReadonlyMap<string, FieldsOf<unknown>> = new Map<string, FieldsOf<unknown>>([
  ["ping", PING],
  ["sink", SINK],
  ["udp-echo", UDP_ECHO],
  ["udp-flood", UDP_FLOOD],
  ["vsock-send", VSOCK_SEND],
  ["vsock-sink", VSOCK_SINK],
  ["vsock-echo", VSOCK_ECHO],
  ["iommu-unmap", IOMMU_UNMAP],
]);

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const snake = (s: string) => s.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());

/** The fields of a map as an assertion writes them, for a hint: `` `loss_pct`, `rtt_ms` ``. */
function listed(fields: FieldsOf<unknown>): string {
  return Object.keys(fields).map((k) => `\`${snake(k)}\``).join(", ");
}

/**
 * The problem of reading `parts` (`["ping", "rtt_ms", "max"]`) from the result of the workload
 * `workload` (`ping`), or null when a result of it has that field, a number, string, boolean or
 * null (read as the run reads it: each part as written or in camelCase, a list's item by its
 * index). Null too for a workload whose result is not known here.
 *
 * @example
 * ```ts
 * import { resultFieldProblem } from "./result_fields.ts";
 * resultFieldProblem("ping", ["ping", "loss_pct"]); // null
 * resultFieldProblem("ping", ["ping", "los_pct"])?.hint; // "did you mean `loss_pct`?"
 * ```
 */
export function resultFieldProblem(
  workload: string,
  parts: readonly string[],
): { message: string; hint: string | null } | null {
  const result = RESULTS.get(workload);
  if (result === undefined) return null;
  let shape: FieldShape = { fields: result };
  for (const [i, part] of parts.slice(1).entries()) {
    const at = parts.slice(0, i + 1).join(".");
    if (shape === "value") {
      return {
        message: `${at} is a value, not a map, so it has no field "${part}"`,
        hint: `read ${at} itself`,
      };
    }
    if ("list" in shape) {
      if (!/^\d+$/.test(part)) {
        return {
          message: `${at} is a list: "${part}" is no index`,
          hint: `read one of its items by its index, as in ${at}.0`,
        };
      }
      shape = shape.list;
      continue;
    }
    const fields: FieldsOf<unknown> = shape.fields;
    const key = Object.hasOwn(fields, part) ? part : camel(part);
    if (!Object.hasOwn(fields, key)) {
      const near = closestName(snake(part), Object.keys(fields).map(snake));
      return {
        message: `${parts.slice(0, i + 2).join(".")} does not exist: ${
          i === 0 ? `a ${workload} result` : at
        } has no field "${part}"`,
        hint: near === undefined ? `its fields are ${listed(fields)}` : `did you mean \`${near}\`?`,
      };
    }
    shape = (fields as Record<string, FieldShape>)[key];
  }
  if (shape === "value") return null;
  const whole = parts.join(".");
  return "list" in shape
    ? {
      message: `${whole} is a list, not a number, string or boolean`,
      hint: `read one of its items by its index, as in ${whole}.0`,
    }
    : {
      message: `${whole} is a map, not a number, string or boolean`,
      hint: `read one of its fields: ${listed(shape.fields)}`,
    };
}
