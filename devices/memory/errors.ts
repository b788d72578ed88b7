/**
 * Errors of guest-memory access, as data. The message is rendered once, at the edge.
 *
 * @module
 */

/** An access (by guest-physical address) that does not fit in guest memory. */
export interface OutOfRangeError {
  /** Discriminant. */
  readonly kind: "out-of-range";
  /** First byte of the access. */
  readonly gpa: number;
  /** Length of the access in bytes. */
  readonly length: number;
  /** Size of guest memory in bytes. */
  readonly size: number;
}

/** An allocation the page allocator cannot satisfy. */
export interface OutOfMemoryError {
  /** Discriminant. */
  readonly kind: "out-of-memory";
  /** Pages asked for. */
  readonly pages: number;
  /** Pages still free (not necessarily contiguous). */
  readonly freePages: number;
}

/** Any guest-memory error. */
export type MemoryError = OutOfRangeError | OutOfMemoryError;

/**
 * Render a memory error as one sentence-case line.
 *
 * @example
 * ```ts
 * import { formatMemoryError } from "./errors.ts";
 * formatMemoryError({ kind: "out-of-range", gpa: 0x2000, length: 16, size: 0x1000 });
 * // "Cannot access guest memory at 0x2000 (16 bytes): memory is 0x1000 bytes"
 * ```
 */
export function formatMemoryError(error: MemoryError): string {
  switch (error.kind) {
    case "out-of-range":
      return `Cannot access guest memory at ${hex(error.gpa)} (${error.length} bytes): ` +
        `memory is ${hex(error.size)} bytes`;
    case "out-of-memory":
      return `Cannot allocate ${error.pages} guest pages: ${error.freePages} pages free`;
  }
}

/** Hexadecimal rendering of an address, for messages. */
export function hex(n: number): string {
  return Number.isSafeInteger(n) ? `0x${n.toString(16)}` : String(n);
}
