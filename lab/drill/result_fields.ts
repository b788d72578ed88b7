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
import type { WorkloadRequest } from "../guest/workloads/args.ts";

/**
 * A result field's shape: a number, a string or a boolean (null too, when nothing was measured:
 * that is judged after the run), a map of fields, or a list (`{ list: shape of its items }`).
 */
export type FieldShape =
  | "number"
  | "string"
  | "boolean"
  | { readonly fields: { readonly [field: string]: FieldShape } }
  | { readonly list: FieldShape };

/** The shape of a value of type `T` (null left out). */
type ShapeOf<T> = [NonNullable<T>] extends [number] ? "number"
  : [NonNullable<T>] extends [string] ? "string"
  : [NonNullable<T>] extends [boolean] ? "boolean"
  : NonNullable<T> extends readonly (infer E)[] ? { readonly list: ShapeOf<E> }
  : { readonly fields: FieldsOf<NonNullable<T>> };

/** A map's fields: each key of `T` with the shape of its type. */
type FieldsOf<T> = { readonly [K in keyof T]-?: ShapeOf<T[K]> };

const N = "number" as const;
const S = "string" as const;
const B = "boolean" as const;

const RTT = { min: N, avg: N, max: N, mdev: N, median: N, p99: N } satisfies FieldsOf<RttStats>;

const SENDER = {
  src: S,
  received: N,
  lost: N,
  reordered: N,
  duplicated: N,
  lostAtEnd: N,
} satisfies FieldsOf<SinkSender>;

const PING = {
  kind: S,
  dst: S,
  transmitted: N,
  received: N,
  lossPct: N,
  rttMs: { fields: RTT },
  replies: { list: { fields: { seq: N, rttMs: N } satisfies FieldsOf<PingResult["replies"][0]> } },
  late: N,
  duplicates: N,
  text: S,
} satisfies FieldsOf<PingResult>;

const SINK = {
  kind: S,
  port: N,
  received: N,
  bytes: N,
  pps: N,
  gbitPerSecond: N,
  lost: N,
  lostAtEnd: N,
  expected: N,
  reordered: N,
  duplicated: N,
  ignored: N,
  seconds: N,
  senders: { list: { fields: SENDER } },
  text: S,
} satisfies FieldsOf<SinkResult>;

const UDP_ECHO = {
  kind: S,
  port: N,
  received: N,
  echoed: N,
  failed: N,
  bytes: N,
  seconds: N,
  text: S,
} satisfies FieldsOf<UdpEchoResult>;

const UDP_FLOOD = {
  kind: S,
  dst: S,
  port: N,
  srcPort: N,
  frameSize: N,
  sent: N,
  ringFull: N,
  stalls: N,
  arpWaits: N,
  seconds: N,
  pps: N,
  gbitPerSecond: N,
  text: S,
} satisfies FieldsOf<UdpFloodResult>;

const VSOCK_SEND = {
  kind: S,
  bytes: N,
  checksum: N,
  seconds: N,
  gbitPerSecond: N,
  creditStalls: N,
  text: S,
} satisfies FieldsOf<VsockSendResult>;

const VSOCK_SINK = {
  kind: S,
  bytes: N,
  checksum: N,
  mismatches: N,
  complete: B,
  closeReason: S,
  seconds: N,
  gbitPerSecond: N,
  text: S,
} satisfies FieldsOf<VsockSinkResult>;

const VSOCK_ECHO = { kind: S, connections: N, bytes: N, text: S } satisfies FieldsOf<
  VsockEchoResult
>;

const IOMMU_UNMAP = { kind: S, device: S, flushedMs: N, text: S } satisfies FieldsOf<
  IommuUnmapResult
>;

type Fields = { readonly [field: string]: FieldShape };

/** Each workload's result, by the workload's name (argv's first word). */
const RESULTS: ReadonlyMap<string, Fields> = new Map<string, Fields>([
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
function listed(fields: Fields): string {
  return Object.keys(fields).map((k) => `\`${snake(k)}\``).join(", ");
}

/** A list's index as written in an assertion: 0, 1, …, with no leading zero. */
export const INDEX = /^(?:0|[1-9]\d*)$/;

/** What reading a result field gives: its shape, or the problem of reading it. */
type Read = { ok: true; shape: FieldShape } | {
  ok: false;
  problem: { message: string; hint: string | null };
};

/** Walk `parts` (`["ping", "rtt_ms", "max"]`) down a result of `workload`; null: not known. */
function readField(workload: string, parts: readonly string[]): Read | null {
  const result = RESULTS.get(workload);
  if (result === undefined) return null;
  let shape: FieldShape = { fields: result };
  for (const [i, part] of parts.slice(1).entries()) {
    const at = parts.slice(0, i + 1).join(".");
    if (typeof shape === "string") {
      return {
        ok: false,
        problem: {
          message: `${at} is ${article(shape)}, so it has no field "${part}"`,
          hint: `read ${at} itself`,
        },
      };
    }
    if ("list" in shape) {
      // `00` and `01` are no indices either: a list has no such keys, and they failed only once
      // the drill had run (`p.replies.00 does not exist`).
      if (!INDEX.test(part)) {
        const plain = /^\d+$/.test(part) ? String(Number(part)) : null;
        return {
          ok: false,
          problem: {
            message: `${at} is a list: "${part}" is no index`,
            hint: plain === null
              ? `read one of its items by its index, as in ${at}.0`
              : `write the index without leading zeros: ${at}.${plain}`,
          },
        };
      }
      shape = shape.list;
      continue;
    }
    const fields: Fields = shape.fields;
    const key = Object.hasOwn(fields, part) ? part : camel(part);
    if (!Object.hasOwn(fields, key)) {
      const near = closestName(snake(part), Object.keys(fields).map(snake));
      return {
        ok: false,
        problem: {
          message: `${parts.slice(0, i + 2).join(".")} does not exist: ${
            i === 0 ? `a ${workload} result` : at
          } has no field "${part}"`,
          hint: near === undefined
            ? `its fields are ${listed(fields)}`
            : `did you mean \`${near}\`?`,
        },
      };
    }
    shape = fields[key];
  }
  return { ok: true, shape };
}

/** `a number`, `a string`, `true or false`: as the assertion checks say a type. */
function article(
  shape: "number" | "string" | "boolean",
): "a number" | "a string" | "true or false" {
  return shape === "number" ? "a number" : shape === "string" ? "a string" : "true or false";
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
  const read = readField(workload, parts);
  if (read === null) return null;
  if (!read.ok) return read.problem;
  const shape = read.shape;
  if (typeof shape === "string") return null;
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

/**
 * The type of a result field as the assertion checks say it (`a number`, `a string`,
 * `true or false`), or `unknown` when it is not one of those or the workload is not known here.
 * (A field may also be null, when nothing was measured: that is judged after the run.)
 *
 * @example
 * ```ts
 * import { resultFieldType } from "./result_fields.ts";
 * resultFieldType("ping", ["ping", "text"]); // "a string"
 * resultFieldType("vsock-sink", ["sink", "complete"]); // "true or false"
 * ```
 */
export function resultFieldType(
  workload: string,
  parts: readonly string[],
): "a number" | "a string" | "true or false" | "unknown" {
  const read = readField(workload, parts);
  return read?.ok === true && typeof read.shape === "string" ? article(read.shape) : "unknown";
}

/**
 * The problem of reading a field that a workload's words leave null on every run (`parts` as an
 * assertion writes them, each as written or in camelCase, a list's items by index): a `sink`
 * without `-n` has no `expected` nor `lost_at_end` (nor a sender's `lost_at_end`), as it cannot
 * know how many datagrams were sent. Null when the field may have a value.
 *
 * @example
 * ```ts
 * import { parseWorkload } from "../guest/workloads/args.ts";
 * import { nullFieldProblem } from "./result_fields.ts";
 * const sink = parseWorkload(["sink", "-t", "2"]);
 * sink.ok && nullFieldProblem(sink.value, ["sink", "lost_at_end"])?.message;
 * // 'sink.lost_at_end has no value: the sink was started without -n, so it cannot know how many datagrams to expect'
 * ```
 */
export function nullFieldProblem(
  req: WorkloadRequest,
  parts: readonly string[],
): { message: string; hint: string } | null {
  if (req.kind !== "sink" || req.count !== null) return null;
  const fields = parts.slice(1).map(camel);
  const own = fields.length === 1 && (fields[0] === "expected" || fields[0] === "lostAtEnd");
  const sender = fields.length === 3 && fields[0] === "senders" && /^\d+$/.test(fields[1]) &&
    fields[2] === "lostAtEnd";
  if (!own && !sender) return null;
  return {
    message: `${parts.join(".")} has no value: the sink was started without -n, so it cannot ` +
      "know how many datagrams to expect",
    hint: `give the sink -n COUNT (the datagrams all senders send), or assert on ${
      parts[0]
    }.lost (the gaps it saw) or ${parts[0]}.received`,
  };
}
