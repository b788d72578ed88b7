/**
 * The YAML library reads two debugging switches from the environment as it parses
 * (`LOG_TOKENS` in its parser, at every token; `LOG_STREAM` in its composer). Under Deno a
 * script run without `--allow-env` then failed with Deno's own `NotCapable` from deep inside the
 * library, though reading a topology or a drill needs nothing of the environment. A parse runs
 * through {@linkcode withoutYamlEnv}: when the script may not read those two variables, the
 * library sees an environment without them for the length of the (synchronous) parse, and reads
 * nothing.
 *
 * Who calls it: every parse of YAML text (the topology loader, the drill loader, `vlab graph`),
 * on the thread that parses.
 *
 * @module
 */

import process from "node:process";

/** The variables the YAML library reads while it parses. */
const YAML_ENV = ["LOG_TOKENS", "LOG_STREAM"] as const;

/** Whether this process may read every variable in {@linkcode YAML_ENV} (asks nothing). */
function mayReadYamlEnv(): boolean {
  try {
    return YAML_ENV.every((variable) =>
      Deno.permissions.querySync({ name: "env", variable }).state === "granted"
    );
  } catch {
    return false;
  }
}

/**
 * `parse()`'s answer, the YAML library kept from reading the environment when the process may
 * not (it would throw `NotCapable`): `process.env` is an empty object while `parse` runs, and the
 * real one again after. `parse` must be synchronous, so that no other code runs meanwhile.
 *
 * @example
 * ```ts
 * import { parse } from "yaml";
 * import { withoutYamlEnv } from "./yaml_env.ts";
 * withoutYamlEnv(() => parse("a: 1")); // { a: 1 }, with or without --allow-env
 * ```
 */
export function withoutYamlEnv<T>(parse: () => T): T {
  if (mayReadYamlEnv()) return parse();
  const env = process.env;
  process.env = {};
  try {
    return parse();
  } finally {
    process.env = env;
  }
}
