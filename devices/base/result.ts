/**
 * The result type used wherever guest (or peer) input can be wrong.
 *
 * Guest input never throws: functions that read guest-writable memory return a
 * `Result`, and the caller decides the posture (drop and count, or mark the device
 * `DEVICE_NEEDS_RESET`). `throw` is kept for programmer errors only.
 *
 * @module
 */

/**
 * Either a value or a typed error.
 *
 * @example
 * ```ts
 * import { ok, err, type Result } from "./result.ts";
 * function half(n: number): Result<number, { kind: "odd"; n: number }> {
 *   return n % 2 === 0 ? ok(n / 2) : err({ kind: "odd", n });
 * }
 * ```
 */
export type Result<T, E> = { ok: true; value: T } | { ok: false; error: E };

/**
 * Wrap a value as a successful result.
 *
 * @example
 * ```ts
 * import { ok } from "./result.ts";
 * const r = ok(3); // { ok: true, value: 3 }
 * ```
 */
export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

/**
 * Wrap an error value as a failed result.
 *
 * @example
 * ```ts
 * import { err } from "./result.ts";
 * const r = err({ kind: "out-of-range" }); // { ok: false, error: … }
 * ```
 */
export function err<E>(error: E): { ok: false; error: E } {
  return { ok: false, error };
}

/** The successful result with no value, shared to avoid an allocation per call. */
export const OK_VOID: { ok: true; value: undefined } = Object.freeze({
  ok: true,
  value: undefined,
}) as { ok: true; value: undefined };
