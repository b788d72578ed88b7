/**
 * Guest memory: the shared buffer, bounds-checked little-endian accessors, the guest page
 * allocator, and the DMA view a device uses for every access.
 *
 * @module
 */
export { GuestMemory, MAX_MEMORY_BYTES, PAGE_SIZE } from "./memory.ts";
export { PageAllocator } from "./allocator.ts";
export {
  DirectDma,
  type DmaAccess,
  type DmaError,
  DmaFastWindow,
  dmaRead,
  type DmaSegment,
  type DmaView,
  dmaWrite,
} from "./dma.ts";
export {
  formatMemoryError,
  type MemoryError,
  type OutOfMemoryError,
  type OutOfRangeError,
} from "./errors.ts";
