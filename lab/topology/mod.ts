/**
 * Topology files: YAML → a validated, normalised {@link Topology}, or every problem with its
 * line and column. See `docs/topology.md` for the format.
 *
 * @example
 * ```ts
 * import { formatIssues, loadTopologyFile, resolveTopologyPath } from "./mod.ts";
 * const path = resolveTopologyPath("pair");
 * const r = await loadTopologyFile(path);
 * if (!r.ok) console.error(formatIssues(r.error, path));
 * ```
 *
 * @module
 */

import { z } from "zod";
import { topologySchema } from "./schema.ts";

export type {
  Endpoint,
  Impairment,
  LinkSpec,
  NicFeatures,
  NicSpec,
  RingLayout,
  SwitchSpec,
  Topology,
  TopologyIssue,
  VmSpec,
  VsockLinkSpec,
  VsockSpec,
} from "./types.ts";
export { parseTopology, topologyFromObject } from "./load.ts";
export { loadTopologyFile, resolveTopologyPath, shippedTopologies } from "./files.ts";
export { formatIssues } from "./issues.ts";
export { deriveMac } from "./addresses.ts";
export { escapeControl, quote } from "../../devices/base/quote.ts";
export { parseDuration, parsePercent, parseRate, parseSize, type UnitError } from "./units.ts";
export { BUILTIN_DEFAULTS } from "./build.ts";
export type { Result } from "../../devices/base/result.ts";

/**
 * JSON Schema (draft 2020-12) of topology files, generated from the zod schema, with a
 * description on every key. Editors with yaml-language-server can use it via a
 * `# yaml-language-server: $schema=<file>` comment.
 *
 * @example
 * ```ts
 * import { topologyJsonSchema } from "./mod.ts";
 * const schema = topologyJsonSchema() as { required: string[] };
 * schema.required; // ["name", "vms"]
 * ```
 */
export function topologyJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(topologySchema, { io: "input", unrepresentable: "any" });
  return { ...schema, title: "vlab topology" };
}
