/**
 * Errors of the vIOMMU, as data; the message is rendered once, at the edge.
 *
 * @module
 */

import { hex } from "../memory/errors.ts";
import { formatQueueError, type RingError } from "../virtio/errors.ts";

/** Why the owner refused a table operation (each maps to one virtio-iommu status). */
export type TableError =
  /** Endpoint ID outside the endpoint table (S_NOENT). */
  | { readonly kind: "unknown-endpoint"; readonly endpoint: number }
  /** No such domain (S_NOENT). */
  | { readonly kind: "unknown-domain"; readonly domain: number }
  /** MAP/UNMAP on a bypass domain, or ATTACH with a bypass flag the domain does not have (S_INVAL). */
  | { readonly kind: "bypass-domain"; readonly domain: number }
  /** DETACH from a domain the endpoint is not attached to (S_INVAL). */
  | { readonly kind: "not-attached"; readonly domain: number; readonly endpoint: number }
  /** MAP overlapping an existing mapping of the domain (S_INVAL). */
  | {
    readonly kind: "overlap";
    readonly domain: number;
    readonly start: number;
    readonly end: number;
  }
  /** UNMAP that would split a mapping (S_RANGE): nothing was removed. */
  | {
    readonly kind: "split";
    readonly domain: number;
    readonly start: number;
    readonly end: number;
  }
  /** The mapping table is full (S_NOMEM). */
  | { readonly kind: "table-full"; readonly capacity: number };

/** UNMAP/DETACH could not complete: a consumer did not drop its cached translations in time. */
export interface InvalidationTimeout {
  /** Discriminant. */
  readonly kind: "invalidation-timeout";
  /** The consumer slot that did not acknowledge. */
  readonly consumer: number;
  /** Its registered name. */
  readonly name: string;
  /** The generation it acknowledged last. */
  readonly acked: number;
  /** The generation UNMAP waited for. */
  readonly wanted: number;
  /** How long UNMAP waited, in ms. */
  readonly waitedMs: number;
}

/** Any vIOMMU error. */
export type ViommuError = TableError | InvalidationTimeout;

/**
 * Render a vIOMMU error as one sentence-case line.
 *
 * @example
 * ```ts
 * import { formatViommuError } from "./errors.ts";
 * formatViommuError({ kind: "unknown-domain", domain: 7 }); // "Cannot use domain 7: it does not exist"
 * ```
 */
export function formatViommuError(error: ViommuError): string {
  switch (error.kind) {
    case "unknown-endpoint":
      return `Cannot use endpoint ${error.endpoint}: no such endpoint`;
    case "unknown-domain":
      return `Cannot use domain ${error.domain}: it does not exist`;
    case "bypass-domain":
      return `Cannot change mappings of domain ${error.domain}: it is a bypass domain`;
    case "not-attached":
      return `Cannot detach endpoint ${error.endpoint}: it is not attached to domain ${error.domain}`;
    case "overlap":
      return `Cannot map ${hex(error.start)}-${hex(error.end)} in domain ${error.domain}: ` +
        `it overlaps an existing mapping`;
    case "split":
      return `Cannot unmap ${hex(error.start)}-${hex(error.end)} in domain ${error.domain}: ` +
        `it would split a mapping`;
    case "table-full":
      return `Cannot map: the mapping table is full (${error.capacity} mappings)`;
    case "invalidation-timeout":
      return `Cannot complete the unmap: consumer "${error.name}" (slot ${error.consumer}) ` +
        `did not drop its IOTLB within ${error.waitedMs} ms (acked generation ${error.acked}, ` +
        `wanted ${error.wanted})`;
  }
}

/** The virtio-iommu queues, by name (virtio 1.2 §5.13.2). */
export type IommuQueueName = "requestq" | "eventq";

/**
 * Why the virtio-iommu device stopped: the guest broke one of its queues (a malformed ring: an
 * avail index that jumped, a head out of range, a descriptor loop). The device serves nothing
 * more and needs a reset (DEVICE_NEEDS_RESET, reliability.md G13).
 */
export interface IommuDeviceFault {
  /** Discriminant. */
  readonly kind: "queue-broken";
  /** The queue the ring error broke. */
  readonly queue: IommuQueueName;
  /** The ring error. */
  readonly cause: RingError;
}

/**
 * Render a virtio-iommu device fault as one sentence-case line (the `device-error` event's
 * `error`).
 *
 * @example
 * ```ts
 * import { formatIommuFault } from "./errors.ts";
 * formatIommuFault({
 *   kind: "queue-broken",
 *   queue: "requestq",
 *   cause: { kind: "head-out-of-range", head: 300, size: 256 },
 * }); // "Cannot use the vIOMMU's requestq: head index 300 is not below the queue size 256"
 * ```
 */
export function formatIommuFault(fault: IommuDeviceFault): string {
  return formatQueueError(fault.cause, `the vIOMMU's ${fault.queue}`);
}
