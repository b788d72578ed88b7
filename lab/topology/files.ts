/**
 * Topology files on disk: the shipped topologies in `topologies/` and reading a file.
 * This is the only module of `lab/topology/` that touches the runtime (`Deno.readTextFile`).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { err, type Result } from "../../devices/result.ts";
import { parseTopology } from "./load.ts";
import type { Topology, TopologyIssue } from "./types.ts";

const SHIPPED = ["pair", "star", "two-switches", "split-vs-packed"] as const;

/**
 * Names of the topologies shipped in `topologies/`.
 *
 * @example
 * ```ts
 * import { shippedTopologies } from "./files.ts";
 * shippedTopologies()[0]; // "pair"
 * ```
 */
export function shippedTopologies(): string[] {
  return [...SHIPPED];
}

/**
 * The file a topology argument names: no argument → the shipped `pair`; a bare shipped name
 * (no "/" and no ".y") → its file in `topologies/`; anything else as given.
 *
 * @example
 * ```ts
 * import { resolveTopologyPath } from "./files.ts";
 * resolveTopologyPath("star").endsWith("topologies/star.yaml"); // true
 * resolveTopologyPath("lab.yaml"); // "lab.yaml"
 * ```
 */
export function resolveTopologyPath(arg: string | undefined): string {
  const name = arg ?? "pair";
  const bare = !name.includes("/") && !name.includes(".y");
  if (bare && (SHIPPED as readonly string[]).includes(name)) {
    return fileURLToPath(new URL(`../../topologies/${name}.yaml`, import.meta.url));
  }
  return name;
}

/**
 * Read and check a topology file. A missing or unreadable file is one issue with code
 * `"unreadable"` and no line.
 *
 * @example
 * ```ts
 * import { loadTopologyFile, resolveTopologyPath } from "./files.ts";
 * const r = await loadTopologyFile(resolveTopologyPath(undefined));
 * r.ok && r.value.name; // "pair"
 * ```
 */
export async function loadTopologyFile(path: string): Promise<Result<Topology, TopologyIssue[]>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const missing = e instanceof Deno.errors.NotFound;
    const reason = missing ? "no such file" : e instanceof Error ? e.message : String(e);
    return err([{
      code: "unreadable",
      path: "",
      line: null,
      column: null,
      message: `Cannot read topology file "${path}": ${reason}`,
      hint: missing ? `shipped topologies: ${SHIPPED.join(", ")}` : null,
    }]);
  }
  return parseTopology(text, path);
}
