/**
 * The environment variables that change how a lab runs, checked once where every lab starts
 * (`launchLab`: `vlab up`, its detached child, a drill, a script's `startLab`): `VLAB_HOT_MS`
 * (how long a thread waits hot after work; docs/cli.md), `VLAB_PLACEMENT` (`off` leaves the
 * threads to the kernel) and `VLAB_BUNDLE` (`0` runs the workers from their sources). A bad value
 * was taken silently for the default (`VLAB_HOT_MS=abc` ran 50 ms hot waits, `VLAB_PLACEMENT=of`
 * placed the threads, `VLAB_BUNDLE=no` bundled them); it now stops the start with one line that
 * names the variable, as a bad `VLAB_DASHBOARD_NICE` stops `vlab dashboard`. The readers
 * (`envHotMs` in `wire/loop.ts`, `defaultPlacement` in `lab.ts`, `workerEntries`) keep their
 * defaults for a worker or a test that reads them without this check.
 *
 * The folders the environment names (`VLAB_STATE_DIR`, `VLAB_CACHE_DIR`, and the XDG and `HOME`
 * ones behind them) are read through {@linkcode envFolder}: blank is unset, and a path is absolute.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { LabError } from "./errors.ts";
import { quote } from "../devices/base/quote.ts";

/**
 * The folder environment variable `name` names, as an absolute, normalised path (`/tmp//x/` is
 * `/tmp/x`: every path vlab prints or records is built on it), or undefined when it is unset or
 * blank. Blank is unset, as an empty value is (and as a blank `VLAB_HOT_MS` or `VLAB_PLACEMENT`
 * is the default): `VLAB_STATE_DIR=" "` made a folder named " " in the current folder. A relative
 * value is taken from the current folder (`relative: "cwd"`, so that paths stay right after a
 * script changes folder; the path as given when that folder is gone) or ignored (`"ignore"`: the
 * XDG base directory spec has a relative `XDG_RUNTIME_DIR` or `XDG_CACHE_HOME` ignored). Throws
 * as `Deno.env.get` does without the permission to read the environment.
 *
 * @example
 * ```ts ignore
 * Deno.env.set("VLAB_STATE_DIR", " ");
 * envFolder("VLAB_STATE_DIR", "cwd"); // undefined
 * Deno.env.set("VLAB_STATE_DIR", "rel/state");
 * envFolder("VLAB_STATE_DIR", "cwd"); // `${Deno.cwd()}/rel/state`
 * ```
 */
export function envFolder(name: string, relative: "cwd" | "ignore"): string | undefined {
  const value = Deno.env.get(name);
  if (value === undefined || value.trim() === "") return undefined;
  if (isAbsolute(value)) return resolve(value);
  if (relative === "ignore") return undefined;
  try {
    return resolve(Deno.cwd(), value);
  } catch {
    return value; // the current folder is gone: the path as given is all there is
  }
}

/** The largest `VLAB_HOT_MS` a lab takes, ms (`envHotMs` cuts a larger one to it). */
export const MAX_HOT_MS = 10_000;

/** The `VLAB_PLACEMENT` values that turn CPU placement off (`defaultPlacement`), lower case. */
export const PLACEMENT_OFF = ["off", "0", "false", "no"] as const;
/** The `VLAB_PLACEMENT` values that leave it on (the default), lower case. */
const PLACEMENT_ON = ["", "auto", "on", "1", "true", "yes"];

/**
 * The error for a bad `VLAB_HOT_MS`, `VLAB_PLACEMENT` or `VLAB_BUNDLE` (code `lab-failed`: the lab
 * does not start), or null when they are unset or good. Without the permission to read the environment,
 * null (the readers then take their defaults too).
 *
 * @example
 * ```ts ignore
 * Deno.env.set("VLAB_HOT_MS", "abc");
 * envKnobError()?.message; // 'VLAB_HOT_MS must be a number of milliseconds from 0 to 10000, got "abc"'
 * ```
 */
export function envKnobError(): LabError | null {
  let hot: string | undefined;
  let placement: string | undefined;
  let bundle: string | undefined;
  try {
    hot = Deno.env.get("VLAB_HOT_MS");
    placement = Deno.env.get("VLAB_PLACEMENT");
    bundle = Deno.env.get("VLAB_BUNDLE");
  } catch {
    return null;
  }
  if (hot !== undefined && hot.trim() !== "") {
    const n = /^\s*\d+(\.\d+)?\s*$/.test(hot) ? Number(hot) : NaN;
    if (!(n >= 0 && n <= MAX_HOT_MS)) {
      return new LabError(
        "lab-failed",
        `VLAB_HOT_MS must be a number of milliseconds from 0 to ${MAX_HOT_MS}, got ${quote(hot)}`,
        "For example VLAB_HOT_MS=50 (the default); 0 turns hot waits off",
      );
    }
  }
  if (placement !== undefined) {
    const v = placement.trim().toLowerCase();
    if (!PLACEMENT_ON.includes(v) && !(PLACEMENT_OFF as readonly string[]).includes(v)) {
      return new LabError(
        "lab-failed",
        `VLAB_PLACEMENT must be "off" or "auto", got ${quote(placement)}`,
        "VLAB_PLACEMENT=off leaves the lab's threads to the kernel's scheduler; unset it for auto",
      );
    }
  }
  if (bundle !== undefined && !["", "0", "1"].includes(bundle.trim())) {
    return new LabError(
      "lab-failed",
      `VLAB_BUNDLE must be 0 (run the workers from their sources) or 1, got ${quote(bundle)}`,
      "VLAB_BUNDLE=0 runs the TypeScript sources; unset it to run the bundled workers",
    );
  }
  return null;
}
