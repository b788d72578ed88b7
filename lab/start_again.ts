/**
 * How a hint tells the user to start a lab again: the `vlab up`, `vlab drill run` or script that
 * starts its topology, from the source its record keeps. The client's errors, the supervisor's
 * and the CLI's hints all say it the same way.
 *
 * @module
 */

import type { LabRecord } from "./state.ts";
import { resolveTopologyPath, shippedTopologies, STDIN_SOURCE } from "./topology/files.ts";
import { textFileKind } from "./topology/text_kind.ts";

/**
 * The `vlab up` that starts a lab's topology again, as a hint says it: `vlab up` and
 * {@linkcode topologyArg}. A bare `vlab up` starts `pair`, whatever the lab was.
 *
 * @example
 * ```ts ignore
 * upAgain({ ...record, source: "/work/main/topologies/star.yaml" }); // "vlab up star"
 * upAgain({ ...record, source: "my labs/lossy.yaml" }); // "vlab up 'my labs/lossy.yaml'"
 * ```
 */
export function upAgain(record: Pick<LabRecord, "source">): string {
  return `vlab up ${topologyArg(record.source)}`;
}

/**
 * A topology as a command's argument in a hint (`vlab up X`, `vlab validate X`): a shipped
 * topology by its name (its file as given, or the same file from the current folder), else the
 * path, quoted for a shell where it needs it. A hint that leaves it out names `pair`.
 *
 * @example
 * ```ts ignore
 * topologyArg("/work/main/topologies/star.yaml"); // "star"
 * topologyArg("my labs/lossy.yaml"); // "'my labs/lossy.yaml'"
 * topologyArg("-lossy.yaml"); // "./-lossy.yaml"
 * ```
 */
export function topologyArg(source: string): string {
  const real = (path: string) => {
    try {
      return Deno.realPathSync(path);
    } catch {
      return null;
    }
  };
  const here = real(source);
  const name = shippedTopologies().find((n) => {
    const file = resolveTopologyPath(n);
    return file === source || (here !== null && real(file) === here);
  });
  if (name !== undefined) return name;
  // A relative path that starts with `-` would be read as an option (`vlab validate --x.yaml`).
  const path = source.startsWith("-") ? `./${source}` : source;
  return /^[\w./@%+=:,-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
}

/**
 * How a hint says to start a lab of this topology again: `` `vlab up star` `` in backticks (see
 * {@linkcode upAgain}) for a topology file, `` `vlab drill run FILE` `` for a drill's own
 * topology (its source is the drill file; `` `vlab drill run -` `` for a drill read from stdin,
 * `<stdin>`), or `startLab() in its script` for a topology a
 * script gave as an object (its source is then the script's label, such as `<object>`, which no
 * `vlab up` takes).
 *
 * @example
 * ```ts ignore
 * startAgain({ source: "/tmp/lossy.yaml" }); // "`vlab up /tmp/lossy.yaml`"
 * startAgain({ source: "<object>" }); // "startLab() in its script"
 * ```
 */
export function startAgain(record: Pick<LabRecord, "source">): string {
  // A drill piped into `vlab drill run -` with its own topology: no file, no script.
  if (record.source === STDIN_SOURCE) return "`vlab drill run -`, the drill piped in again";
  if (!isTopologyFile(record.source)) return "startLab() in its script";
  // A drill's own topology (a map under its `topology:`) is known by the drill's file, which
  // `vlab up` refuses: the drill runs it.
  if (isDrillFile(record.source)) return `\`vlab drill run ${topologyArg(record.source)}\``;
  return `\`${upAgain(record)}\``;
}

/**
 * Whether `path` is a drill file (a drill that holds its own topology is a lab's source): a
 * document of that kind by its top-level keys ({@linkcode textFileKind}), whatever its problems.
 * A drill edited since its lab started (a duplicate key, an alias to nothing, an unknown tag) is
 * still the drill that `vlab drill run` starts the lab again from.
 *
 * @example
 * ```ts ignore
 * isDrillFile("drills/link-flap.yaml"); // true
 * isDrillFile("topologies/pair.yaml"); // false
 * ```
 */
export function isDrillFile(path: string): boolean {
  try {
    return textFileKind(Deno.readTextFileSync(path)) === "drill";
  } catch {
    return false; // gone or unreadable: not a drill that can run
  }
}

/** Whether a lab's recorded source is a topology file (it may have been removed since). */
function isTopologyFile(source: string): boolean {
  if (/\.ya?ml$/i.test(source)) return true;
  try {
    return Deno.statSync(source).isFile;
  } catch {
    return false;
  }
}
