/**
 * Loading device-kind slices on demand, for both worker entries: a registry maps each kind tag to
 * a loader (a dynamic `import()` of the kind's slice), in start order, and a worker loads only the
 * kinds its VM's devices use (docs/design.md, "The device kind is the seam").
 *
 * @module
 */

/**
 * Load the slices of `kinds` (kind tags; unknown ones are an error) from `registry`, in
 * parallel, and return them in the registry's order. Loading a kind twice costs nothing (modules
 * load once); a loader that returns another kind's slice is an error.
 *
 * @example
 * ```ts
 * import { loadKinds } from "./kind_loader.ts";
 * const registry = new Map([["net", () => Promise.resolve({ kind: "net" })]]);
 * const [net] = await loadKinds(registry, ["net", "net"]); // { kind: "net" }
 * ```
 */
export async function loadKinds<K extends { readonly kind: string }>(
  registry: ReadonlyMap<string, () => Promise<K>>,
  kinds: Iterable<string>,
): Promise<K[]> {
  const wanted = new Set(kinds);
  for (const k of wanted) {
    if (!registry.has(k)) throw new Error(`Unknown device kind ${JSON.stringify(k)}`);
  }
  const order = [...registry.keys()].filter((k) => wanted.has(k));
  const loaded = await Promise.all(order.map((k) => registry.get(k)!()));
  loaded.forEach((slice, i) => {
    if (slice.kind !== order[i]) throw new Error(`Kind ${order[i]} is registered as ${slice.kind}`);
  });
  return loaded;
}
