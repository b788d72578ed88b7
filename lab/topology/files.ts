/**
 * Topology files on disk: the shipped topologies in `topologies/` and reading a file.
 * This is the only module of `lab/topology/` that touches the runtime (`Deno.readTextFile`).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { err, type Result } from "../../devices/base/result.ts";
import { MAX_TOPOLOGY_BYTES } from "./limits.ts";
import { parseTopology } from "./load.ts";
import { quote } from "./quote.ts";
import type { Topology, TopologyIssue } from "./types.ts";

const SHIPPED = [
  "pair",
  "star",
  "two-switches",
  "split-vs-packed",
  "vsock-pair",
  "iommu-pair",
  "vhost-pci",
] as const;

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

function unreadable(
  path: string,
  reason: string,
  hint: string,
  code = "unreadable",
): TopologyIssue[] {
  return [{
    code,
    path: "",
    line: null,
    column: null,
    message: `Cannot read topology file ${quote(path)}: ${reason}`,
    hint,
  }];
}

function kindOf(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a folder";
  if (info.isFifo) return "a FIFO";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

/**
 * The text of a topology file, read only when it is a regular file of at most
 * {@linkcode MAX_TOPOLOGY_BYTES} in UTF-8: a FIFO would block, `/dev/zero` never ends.
 */
async function readTopologyText(path: string): Promise<Result<string, TopologyIssue[]>> {
  let file: Deno.FsFile | null = null;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) {
      const kind = kindOf(info);
      return err(unreadable(
        path,
        kind.startsWith("not") ? kind : `it is ${kind}`,
        "give a YAML file (a regular file)",
      ));
    }
    const limitHint = "a topology file is at most 1 MiB; split the lab or shorten the file";
    if (info.size > MAX_TOPOLOGY_BYTES) {
      return err(
        unreadable(path, `it is ${info.size} bytes, more than 1 MiB`, limitHint, "too-large"),
      );
    }
    // Read at most one byte past the limit: the file may have grown since stat.
    file = await Deno.open(path, { read: true });
    const buffer = new Uint8Array(MAX_TOPOLOGY_BYTES + 1);
    let used = 0;
    for (let i = 0; i < MAX_TOPOLOGY_BYTES + 1 && used < buffer.length; i++) {
      const n = await file.read(buffer.subarray(used));
      if (n === null) break;
      used += n;
    }
    if (used > MAX_TOPOLOGY_BYTES) {
      return err(unreadable(path, "it is more than 1 MiB", limitHint, "too-large"));
    }
    const bytes = buffer.subarray(0, used);
    if (bytes.includes(0)) {
      return err(unreadable(path, "it is binary, not YAML text", "give a YAML file"));
    }
    try {
      return { ok: true, value: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
    } catch {
      return err(unreadable(path, "it is not UTF-8 text", "save the file as UTF-8"));
    }
  } catch (e) {
    const missing = e instanceof Deno.errors.NotFound;
    const reason = missing ? "no such file" : e instanceof Error ? e.message : String(e);
    return err(unreadable(
      path,
      reason,
      missing ? `shipped topologies: ${SHIPPED.join(", ")}` : "check the path and its permissions",
    ));
  } finally {
    file?.close();
  }
}

/**
 * Read and check a topology file. A missing, unreadable, non-regular or binary file is one issue
 * with code `"unreadable"` and no line; a file larger than {@linkcode MAX_TOPOLOGY_BYTES} is one
 * `"too-large"` issue.
 *
 * @example
 * ```ts
 * import { loadTopologyFile, resolveTopologyPath } from "./files.ts";
 * const r = await loadTopologyFile(resolveTopologyPath(undefined));
 * r.ok && r.value.name; // "pair"
 * ```
 */
export async function loadTopologyFile(path: string): Promise<Result<Topology, TopologyIssue[]>> {
  const text = await readTopologyText(path);
  if (!text.ok) return text;
  return parseTopology(text.value, path);
}
