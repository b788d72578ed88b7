/**
 * The DMA API a guest net driver calls for a device behind the vIOMMU in `strict` or `lazy`
 * mode, as Linux's virtio_ring calls `dma_map_single`/`dma_unmap_single` around every buffer:
 * `map` before a buffer is posted (the descriptor carries the IOVA it returns), `sync` before
 * the posted buffers become visible (the device may translate them only once their MAPs
 * completed), `unmap` when the device returned the buffer. Rings are mapped once for the
 * device's lifetime (Linux's coherent allocation) and are not this API's business. The
 * implementation lives with the guest's vIOMMU (lab/guest/kinds/iommu_dma.ts); tests use a
 * recording fake.
 *
 * @module
 */

/** Mapping permissions of a buffer (numerically virtio-iommu MAP flags). */
export const DmaPerm = {
  /** The device reads the buffer (a TX frame). */
  READ: 1,
  /** The device writes the buffer (an RX buffer). */
  WRITE: 2,
} as const;

/** `NetDma.map`: the vIOMMU refused the mapping (or will never make it). */
export const DMA_REFUSED = -1;
/** `NetDma.map`: no room now and none came in time (the device is slow or restarting). */
export const DMA_LATER = -2;

/** What `NetDma.sync` found. */
export type DmaSyncOutcome =
  /** Every staged MAP completed: the buffers may be posted. */
  | "done"
  /** A MAP was refused: the buffers must never be posted. */
  | "refused"
  /** The device did not answer in time: keep the buffers and sync again later. */
  | "later";

/**
 * Per-buffer DMA mapping for a net driver.
 *
 * @example
 * ```ts
 * import { DmaPerm, type NetDma } from "./dma.ts";
 * function post(dma: NetDma, gpa: number): number {
 *   const iova = dma.map(gpa, 1526, DmaPerm.READ); // < 0: DMA_REFUSED or DMA_LATER
 *   return iova >= 0 && dma.sync() === "done" ? iova : -1;
 * }
 * ```
 */
export interface NetDma {
  /**
   * The IOVA for `[gpa, gpa + len)` with `perms`, staging its MAP; `DMA_REFUSED` when it cannot
   * be mapped, `DMA_LATER` when no room came in time (try again on a later pass).
   */
  map(gpa: number, len: number, perms: number): number;
  /** Give back an IOVA `map` returned (strict: its UNMAP now; lazy: in the next batch). */
  unmap(iova: number): void;
  /** Wait (bounded) until every MAP staged so far completed. */
  sync(): DmaSyncOutcome;
}
