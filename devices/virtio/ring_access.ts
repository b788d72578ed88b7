/**
 * How ring code touches ring memory.
 *
 * Ring areas are validated once, when a queue is enabled; afterwards the ring code reads and
 * writes them through a `RingAccess` with plain guest-physical byte addresses. Two kinds of
 * access exist and are named so that every publish/observe pair is visible in the code:
 *
 * - `load*`/`store*`: plain accesses, for payload fields (descriptors, ring entries).
 * - `observe16`/`publish16`: `Atomics.load`/`Atomics.store`. A publish makes every earlier
 *   plain write visible to the thread that observes the published value (JavaScript atomics
 *   are sequentially consistent, so a publish followed by an observe is also a full fence:
 *   the notification re-check handshakes rely on that).
 *
 * `SharedRingAccess` is the real thing. The cache model supplies a tracing implementation;
 * each worker only ever sees one class, so the calls stay monomorphic and inline.
 *
 * @module
 */

import type { GuestMemory } from "../memory/memory.ts";

/** Typed access to ring memory by byte address (aligned as the spec requires). */
export interface RingAccess {
  /** Plain 16-bit load. */
  load16(gpa: number): number;
  /** Plain 16-bit store. */
  store16(gpa: number, value: number): void;
  /** Plain 32-bit load. */
  load32(gpa: number): number;
  /** Plain 32-bit store. */
  store32(gpa: number, value: number): void;
  /** Atomic 16-bit load: observes a value published by the other side. */
  observe16(gpa: number): number;
  /** Atomic 16-bit store: publishes everything written before it. */
  publish16(gpa: number, value: number): void;
}

/**
 * Ring access over guest memory's shared typed arrays.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * const ring = new SharedRingAccess(GuestMemory.create(4096));
 * ring.publish16(0x102, 7);
 * ring.observe16(0x102); // 7
 * ```
 */
export class SharedRingAccess implements RingAccess {
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;

  /** Access over `memory`. */
  constructor(memory: GuestMemory) {
    this.u16 = memory.u16;
    this.u32 = memory.u32;
  }

  /** Plain 16-bit load. */
  load16(gpa: number): number {
    return this.u16[gpa >>> 1];
  }
  /** Plain 16-bit store. */
  store16(gpa: number, value: number): void {
    this.u16[gpa >>> 1] = value;
  }
  /** Plain 32-bit load. */
  load32(gpa: number): number {
    return this.u32[gpa >>> 2];
  }
  /** Plain 32-bit store. */
  store32(gpa: number, value: number): void {
    this.u32[gpa >>> 2] = value;
  }
  /** Atomic 16-bit load. */
  observe16(gpa: number): number {
    return Atomics.load(this.u16, gpa >>> 1);
  }
  /** Atomic 16-bit store. */
  publish16(gpa: number, value: number): void {
    Atomics.store(this.u16, gpa >>> 1, value);
  }
}
