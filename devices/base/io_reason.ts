/**
 * Why a file operation failed, in the words every vlab message gives it: the system's reason
 * without Deno's `(os error N): call 'path'` tail. One helper, in the lowest layer beside
 * `quote.ts`, for the topology and drill readers, the state folder, and the CLI's files
 * (`cli/errors.ts`).
 *
 * @module
 */

/**
 * Why `error` (from `Deno.open`, `Deno.stat`, `Deno.mkdir`, …) happened, as a message part in
 * lower case (`"permission denied"`). Deno refuses the special files under `/dev`, `/proc` and
 * `/sys` without `--allow-all` ("Requires all access to …, run again with the --allow-all flag"),
 * which the `vlab` task does not give and a user cannot add to it: that is said in vlab's words.
 *
 * @example
 * ```ts
 * import { ioReason } from "./io_reason.ts";
 *
 * ioReason(new Error("Permission denied (os error 13): open '/x'")); // "permission denied"
 * ioReason(new Deno.errors.NotCapable('Requires all access to "/proc/x", run again with the --allow-all flag'));
 * // "vlab may not open files under /dev, /proc or /sys (Deno asks for --allow-all)"
 * ```
 */
export function ioReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (isSpecialFileRefusal(error)) {
    return "vlab may not open files under /dev, /proc or /sys (Deno asks for --allow-all)";
  }
  const text = message.split("\n", 1)[0].replace(/\s*\(os error \d+\).*$/, "").trim();
  if (text === "") return "unknown error";
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/**
 * Whether `error` is Deno's refusal of a path under /dev, /proc or /sys without `--allow-all`
 * (which the `vlab` task does not give): no permission or mode of the path changes it, so its
 * hint gives a path elsewhere, never "check the permissions".
 *
 * @example
 * ```ts
 * import { isSpecialFileRefusal } from "./io_reason.ts";
 *
 * isSpecialFileRefusal(new Deno.errors.NotCapable('Requires all access to "/dev/x", run again with the --allow-all flag')); // true
 * isSpecialFileRefusal(new Deno.errors.PermissionDenied("Permission denied (os error 13)")); // false
 * ```
 */
export function isSpecialFileRefusal(error: unknown): boolean {
  return error instanceof Deno.errors.NotCapable && /^Requires all access/i.test(error.message);
}
