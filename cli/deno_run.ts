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

/**
 * The environment for a `vlab` that a program starts with {@linkcode vlabRunArgs} in a folder of
 * its choosing (tests do, in their own): `env`, plus `INIT_CWD` naming that folder (`cwd`, by
 * default this process's). Without it the child inherits an `INIT_CWD` that `deno task` gave its
 * parent (a test run started as `cd /tmp && deno task --config PATH/deno.json test`), and a CLI
 * started in the project's folder goes back to that one, as it does for a user's `deno task
 * vlab` (`enterCallersFolder` in main.ts): its relative paths would then miss.
 *
 * @example
 * ```ts
 * import { vlabChildEnv, vlabRunArgs } from "./deno_run.ts";
 *
 * const command = new Deno.Command(Deno.execPath(), {
 *   args: vlabRunArgs(["validate", "topologies/pair.yaml"]),
 *   env: vlabChildEnv({ NO_COLOR: "1" }),
 * });
 * ```
 */
export function vlabChildEnv(
  env: Readonly<Record<string, string>> = {},
  cwd: string = Deno.cwd(),
): Record<string, string> {
  return { ...env, INIT_CWD: cwd };
}

function pathOf(url: URL): string {
  if (url.protocol !== "file:") {
    throw new Error(`vlab must run from local files, not from ${url.href}`);
  }
  return decodeURIComponent(url.pathname);
}
