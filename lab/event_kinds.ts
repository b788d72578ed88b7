/**
 * Every kind of event the lab's event log records (`events.ts`), in one list: what a drill's
 * `count(events, kind = "…")` may count, so that a kind the lab never logs (`"link-dwon"`) is
 * refused when the drill is validated, not found after its lab ran. The lab logs some itself
 * (`lab-up`, `link-down`, `fault`, …), and forwards those its guest and device workers post
 * (`device-reset`, `iommu-fault`, …). `event_kinds_test.ts` reads the sources for every kind
 * emitted or posted, so that a new one cannot be left out of this list.
 *
 * @module
 */

/**
 * The event kinds, sorted.
 *
 * @example
 * ```ts
 * import { LAB_EVENT_KINDS } from "./event_kinds.ts";
 * LAB_EVENT_KINDS.includes("link-down"); // true
 * ```
 */
export const LAB_EVENT_KINDS: readonly string[] = [
  "backend-crash",
  "backend-fenced",
  "backend-ready",
  "backend-restart-failed",
  "backend-restarted",
  "backend-restore-failed",
  "backend-restored",
  "backend-resumed",
  "config-read-failed",
  "control-socket-failed",
  "control-socket-restarted",
  "device-error",
  // `${worker kind}-failed`, from lab.ts: a guest, device or switch worker that failed.
  "device-failed",
  "device-needs-reset",
  "device-queues-live",
  "device-reset",
  "device-reset-failed",
  "drill-step",
  "fault",
  "fault-cancelled",
  "fence-timeout",
  "guest-bug",
  "guest-bug-missed",
  "guest-bug-refused",
  "guest-failed",
  "heal",
  "impair",
  "iommu-fault",
  "iommu-invalidation-timeout",
  "lab-down",
  "lab-up",
  "link-down",
  "link-up",
  "partition",
  "placement",
  "placement-off",
  "standby-failed",
  "switch-failed",
  "vhost-pci-revoke-timeout",
  "vm-crash",
  "vm-restart-failed",
  "vm-restarted",
  "vsock-host-error",
  "vsock-transport-reset",
  "worker-error",
  "workers-from-sources",
];
