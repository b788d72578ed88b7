/**
 * How `vlab` is started: the permission flags of the `vlab` task in `deno.json`, and the full
 * `deno run` argument list that starts `cli/main.ts` again (used to re-run the command pinned to
 * one CPU, and by the CLI tests). `tests/cli_test.ts` checks that the flags match the task.
 *
 * @module
 */

/** The permission flags of the `vlab` task in `deno.json`. */
export const VLAB_PERMISSION_FLAGS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-sys",
  "--allow-net",
  "--allow-ffi",
];

/** Absolute path of `cli/main.ts`. */
export const MAIN_PATH: string = pathOf(new URL("./main.ts", import.meta.url));

/** Absolute path of the repository's `deno.json`. */
export const CONFIG_PATH: string = pathOf(new URL("../deno.json", import.meta.url));

/**
 * The arguments for `Deno.execPath()` that run `vlab` with `args`, as the `vlab` task does.
 *
 * @example
 * ```ts
 * import { vlabRunArgs } from "./deno_run.ts";
 *
 * const command = new Deno.Command(Deno.execPath(), { args: vlabRunArgs(["--version"]) });
 * ```
 */
export function vlabRunArgs(args: readonly string[]): string[] {
  return ["run", ...VLAB_PERMISSION_FLAGS, "--config", CONFIG_PATH, MAIN_PATH, ...args];
}

function pathOf(url: URL): string {
  if (url.protocol !== "file:") {
    throw new Error(`vlab must run from local files, not from ${url.href}`);
  }
  return decodeURIComponent(url.pathname);
}
