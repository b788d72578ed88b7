/**
 * Counters of the virtio-iommu device model in shared memory (one `Float64Array` word each,
 * written by the device's thread, read by anyone). The IOTLB counters of each consumer live in
 * the vIOMMU buffer (faults.ts `IotlbCounter`).
 *
 * @module
 */

/** Device counter indexes. */
export const IommuCounter = {
  /** Requests popped from the request queue. */
  requests: 0,
  /** Requests completed with S_OK. */
  ok: 1,
  /** Requests completed with another status. */
  refused: 2,
  /**
   * Requests returned unwritten (used length 0): no room for the head or the tail, or a buffer
   * the device cannot reach.
   */
  unparsable: 3,
  /** MAPs applied. */
  maps: 4,
  /** Mappings removed by UNMAP, DETACH or a domain that ceased to exist. */
  unmapped: 5,
  /** Invalidation handshakes started (one per batch of removals). */
  invalidations: 6,
  /** Handshakes a consumer did not acknowledge in time (the requests completed with S_IOERR). */
  invalidationTimeouts: 7,
  /** Fault reports written to the event queue. */
  faultReports: 8,
  /** Faults not reported: no event buffer, or too small a one (D7), or overwritten in a log. */
  faultReportsDropped: 9,
  /** Requests a restarted device worker took over from the one it replaced (`adoptInFlight`). */
  adopted: 10,
  /**
   * Queues the guest broke (a malformed ring): each stopped the device, which set
   * DEVICE_NEEDS_RESET and served nothing more until it was reset.
   */
  queueErrors: 11,
} as const;

/** Number of device counter words. */
export const IOMMU_COUNTER_COUNT = 12;
