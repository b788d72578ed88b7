/**
 * The checks of a link direction's impairment that look at two keys together: `reorder` needs
 * a `delay` (`reorder-without-delay`), `distribution` needs a `jitter`
 * (`distribution-without-jitter`) and a `delay` (`distribution-without-delay`: tc refuses a
 * distribution with delay 0), a `gap` other than 1 needs a `reorder`
 * (`gap-without-reorder`, which `tc` refuses too), an `overhead` other than 0 needs a `rate`
 * (`overhead-without-rate`: netem's `rate RATE PACKETOVERHEAD`). A key is written once but may reach many directions: a
 * link's own key reaches both of its directions, a key of `defaults.link` every direction of
 * every link that takes it. So the checks are collected over the whole file and each is reported
 * once, at the key that causes it, naming every link (and direction) it breaks.
 *
 * `build.ts` checks each net link (a vhost-pci link has no impairment stage, and
 * `defaults.link` does not reach it), `vsock.ts` each vsock link between two VMs (which takes
 * `distribution` and `jitter`, and refuses `reorder` on its own).
 *
 * @module
 */

import { quote } from "../../devices/base/quote.ts";
import type { PathSegment, Problem } from "./issues.ts";
import type { RawTopology } from "./schema.ts";
import {
  DISTRIBUTION_DELAY_HINT,
  GAP_HINT,
  OVERHEAD_HINT,
  resolveImpairment,
} from "./impairment.ts";

type Obj = Record<string, unknown>;
type Direction = "forward" | "reverse";

/** The two keys of one check: the key at fault, and the one it needs above 0. */
interface Rule {
  code: string;
  key: string;
  /** Whether the direction has what the key needs. */
  met: (imp: ReturnType<typeof resolveImpairment>) => boolean;
  /** "Cannot … on <where> without …". */
  message: (where: string) => string;
  hint: string;
  /** Whether the rule applies to a vsock link (which refuses `reorder` on its own). */
  vsock: boolean;
}

const RULES: readonly Rule[] = [
  {
    code: "reorder-without-delay",
    key: "reorder",
    met: (imp) => imp.reorderPct === 0 || imp.delayUs > 0,
    message: (where) => `Cannot reorder on ${where} without a delay`,
    hint: "set `delay` above 0: netem reorders by sending some frames without the delay",
    vsock: false,
  },
  {
    code: "distribution-without-jitter",
    key: "distribution",
    met: (imp) => imp.jitterUs > 0,
    message: (where) => `Cannot set a distribution on ${where} without a jitter`,
    hint: "distribution shapes the jitter: set `jitter` above 0 too",
    vsock: true,
  },
  {
    code: "distribution-without-delay",
    key: "distribution",
    // Reported once the jitter is there (else distribution-without-jitter says it).
    met: (imp) => imp.jitterUs === 0 || imp.delayUs > 0,
    message: (where) => `Cannot set a distribution on ${where} without a delay`,
    hint: DISTRIBUTION_DELAY_HINT,
    vsock: true,
  },
  {
    code: "gap-without-reorder",
    key: "gap",
    // A vsock link refuses `gap` on its own. `gap: 1` is the default: it changes nothing.
    met: (imp) => imp.reorderPct > 0 || imp.reorderGap === 1,
    message: (where) => `Cannot set a gap on ${where} without a reorder`,
    hint: GAP_HINT,
    vsock: false,
  },
  {
    code: "overhead-without-rate",
    key: "overhead",
    met: (imp) => imp.rateBps > 0 || imp.overheadBytes === 0,
    message: (where) => `Cannot set an overhead on ${where} without a rate`,
    hint: OVERHEAD_HINT,
    vsock: true,
  },
];

/** Links named in one message at most; the rest are counted. */
const NAMED_LINKS = 3;

/** One place in the file (a key) and the directions it breaks, in file order. */
interface Found {
  rule: Rule;
  path: PathSegment[];
  links: Map<string, Set<Direction>>;
}

/**
 * Collects the direction checks of a topology's links, then reports each broken key once.
 *
 * @example
 * ```ts
 * import { DirectionChecks } from "./direction_checks.ts";
 * const raw = {
 *   name: "x",
 *   defaults: { link: { distribution: "pareto" as const } },
 *   vms: {},
 *   links: [{ endpoints: ["a", "sw"] }, { endpoints: ["b", "sw"] }],
 * };
 * const checks = new DirectionChecks(raw);
 * checks.check(0, "a-sw", "net");
 * checks.check(1, "b-sw", "net");
 * checks.problems()[0].message; // 'Cannot set a distribution on links "a-sw" and "b-sw" without a jitter'
 * ```
 */
export class DirectionChecks {
  readonly #raw: RawTopology;
  readonly #found = new Map<string, Found>();

  /** Checks over the links of `raw` (a document the schema accepted). */
  constructor(raw: RawTopology) {
    this.#raw = raw;
  }

  /**
   * Check both directions of `links[index]`, named `name`: the keys of `defaults.link`, the
   * link, then its `forward` or `reverse`, the last that has a key giving it.
   */
  check(index: number, name: string, kind: "net" | "vsock"): void {
    const link = this.#raw.links?.[index] as Obj | null | undefined;
    if (link == null) return;
    const base: [Obj | undefined, PathSegment[]][] = [
      [this.#raw.defaults?.link as Obj | undefined, ["defaults", "link"]],
      [link, ["links", index]],
    ];
    for (const dir of ["forward", "reverse"] as const) {
      const layers = [...base, [link[dir] as Obj | undefined, ["links", index, dir]]] as const;
      const at = (key: string): { value: string | number; path: PathSegment[] } | null => {
        for (let i = layers.length - 1; i >= 0; i--) {
          const [obj, path] = layers[i];
          const v = obj?.[key];
          if (v !== undefined) return { value: v as string | number, path: [...path, key] };
        }
        return null;
      };
      const imp = resolveImpairment((key) => at(key)?.value);
      for (const rule of RULES) {
        if (kind === "vsock" && !rule.vsock) continue;
        const where = at(rule.key);
        if (where === null || rule.met(imp)) continue;
        const id = `${rule.code}|${where.path.join("/")}`;
        let found = this.#found.get(id);
        if (found === undefined) {
          found = { rule, path: where.path, links: new Map() };
          this.#found.set(id, found);
        }
        const dirs = found.links.get(name) ?? new Set<Direction>();
        dirs.add(dir);
        found.links.set(name, dirs);
      }
    }
  }

  /** One problem per key at fault, naming the links it breaks (each direction when only one). */
  problems(): Problem[] {
    return [...this.#found.values()].map((f) => ({
      code: f.rule.code,
      path: f.path,
      message: f.rule.message(describeLinks(f.links)),
      hint: f.rule.hint,
    }));
  }
}

/** `link "a-b" (forward)`, `links "a-sw" and "b-sw" (reverse)`, `links "a", "b", "c" and 2 more`. */
function describeLinks(links: ReadonlyMap<string, ReadonlySet<Direction>>): string {
  const items = [...links].map(([name, dirs]) =>
    dirs.size === 1 ? `${quote(name)} (${[...dirs][0]})` : quote(name)
  );
  if (items.length === 1) return `link ${items[0]}`;
  if (items.length <= NAMED_LINKS) {
    return `links ${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
  }
  return `links ${items.slice(0, NAMED_LINKS).join(", ")} and ${items.length - NAMED_LINKS} more`;
}
