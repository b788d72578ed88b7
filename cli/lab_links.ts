/**
 * The commands that change a running lab's links: `vlab link NAME up|down|set|clear`,
 * `vlab partition A / B [--one-way]` and `vlab heal [ID]`. Live impairment values are checked
 * here with the same reader as topology files (a bad value exits 2 before the lab is asked),
 * then sent to the lab's control socket.
 *
 * @module
 */

import { Command, Option } from "@commander-js/extra-typings";
import { controlJson, namedPath, resolveLab, unknownLinkError } from "../lab/client.ts";
import type { PartitionInfo } from "../lab/partition.ts";
import { describeImpair } from "../lab/plan.ts";
import { parse as parseYaml } from "yaml";
import { parseImpairment } from "../lab/topology/impairment.ts";
import { withoutYamlEnv } from "../lab/topology/yaml_env.ts";
import { leadingZeroProblem } from "../lab/topology/leading_zero.ts";
import { escapeControl, quote, showValue } from "../devices/base/quote.ts";
import type { Impairment } from "../lab/topology/types.ts";
import { VlabError } from "./errors.ts";
import { writeAll } from "./progress.ts";

const encoder = new TextEncoder();
const out = (text: string) => writeAll(Deno.stdout, encoder.encode(text));

/**
 * Read `KEY=VALUE` words into an impairment object as a topology file would write it (a plain
 * number stays a number, like YAML's `loss: 1`). Throws `bad-impairment` (exit 2), naming `link`
 * (the link they are for) where keys are refused together, as the lab names it.
 *
 * @example
 * ```ts
 * import { impairmentWords } from "./lab_links.ts";
 * impairmentWords(["delay=20ms", "gap=5"]); // { delay: "20ms", gap: 5 }
 * // impairmentWords(["distribution=pareto"], "a-b") throws:
 * // Cannot set a distribution on link "a-b" without a jitter
 * ```
 */
export function impairmentWords(
  words: readonly string[],
  link?: string,
): Record<string, string | number> {
  const raw: Record<string, string | number> = {};
  // Each key once, as in a topology file (`duplicate-key`): a second one would win silently.
  const seen = new Map<string, string>();
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq <= 0) {
      throw new VlabError("bad-impairment", `Cannot read ${quote(w)}: expected KEY=VALUE`, {
        hint: "For example: vlab link a-b set delay=20ms jitter=2ms loss=1%",
      });
    }
    const key = w.slice(0, eq);
    const first = seen.get(key);
    if (first !== undefined) {
      throw new VlabError(
        "bad-impairment",
        `Cannot set ${quote(key)} twice: ${quote(first)} and ${quote(w)}`,
        { hint: "Give each key once, for example: vlab link a-b set delay=20ms loss=1%" },
      );
    }
    seen.set(key, w);
    const value = w.slice(eq + 1);
    const number = yamlNumber(value);
    // `limit=010`: 10 here, 8 to a YAML 1.1 tool, as a file's `limit: 010` (`leading-zero`).
    const zero = number === null ? null : leadingZeroProblem(key, value);
    if (zero !== null) {
      throw new VlabError("bad-impairment", zero.message, {
        hint: zero.hint.replaceAll(`${key}: `, `${key}=`),
      });
    }
    Object.defineProperty(raw, key, {
      value: number ?? value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  const r = parseImpairment(raw, { link });
  if (!r.ok) throw new VlabError("bad-impairment", r.error.message, { hint: r.error.hint });
  return raw;
}

/**
 * The number YAML reads `word` as, or null when it reads a string: `5`, `-1`, `1e3`, `0x10`, and
 * `1e400`, `.inf` or `.nan` (infinite or NaN, which the schema then calls out of range), so that
 * `limit=1e3` is what `limit: 1e3` is in a file. Only a word of number characters is asked.
 */
function yamlNumber(word: string): number | null {
  if (!/^[-+]?[.\w]+$/.test(word) || word.length > 64) return null;
  try {
    const n = withoutYamlEnv(() => parseYaml(word));
    return typeof n === "number" ? n : null;
  } catch {
    return null;
  }
}

/**
 * Check the words of `vlab link NAME up|down`: it takes no values and no `--direction` (a link's
 * status is the same both ways; the lab has no one-way up or down). Either would be ignored, so
 * it is a usage error (exit 2).
 *
 * @example
 * ```ts
 * import { checkUpDown } from "./lab_links.ts";
 * checkUpDown("down", [], undefined); // fine
 * // checkUpDown("up", ["extra"], undefined) throws: "up" takes no values, got "extra"
 * ```
 */
export function checkUpDown(
  action: "up" | "down",
  values: readonly string[],
  direction: string | undefined,
  link = "a-b",
): void {
  if (values.length > 0) {
    throw new VlabError(
      "usage",
      `${quote(action)} takes no values, got ${quote(values.join(" "))}`,
      { hint: `For example: vlab link a-b ${action}` },
    );
  }
  if (direction !== undefined) {
    throw new VlabError(
      "bad-option",
      `--direction is for set and clear, not with ${action}: a link goes ${action} both ways`,
      {
        // A vsock or vhost-pci link takes no loss: a one-way partition cuts any link.
        hint: `Leave --direction out; to cut one way, on a net link: vlab link ${
          showValue(link)
        } set loss=100% --direction forward; on any link: vlab partition A / B --one-way`,
      },
    );
  }
}

/** `vlab link NAME up|down`, `vlab link NAME set KEY=VALUE…`, `vlab link NAME clear`. */
export function linkCommand() {
  return new Command("link")
    .description(
      "bring a link down or up, or change its impairment live (netem's change): " +
        "`set delay=20ms jitter=2ms loss=1%`, `clear`",
    )
    .argument("<link>", "the link")
    .argument("<action>", "up, down, set or clear")
    .argument("[values...]", "with set: netem keys as KEY=VALUE (the topology file's keys)")
    .addOption(
      new Option("--direction <dir>", "with set or clear: the direction changed (default: both)")
        .choices(["forward", "reverse", "both"] as const),
    )
    .option("--lab <name>", "the lab (default: the only running lab)")
    .action(async (link, action, values, opts) => {
      const path = namedPath("/links", link) ?? "";
      if (action === "up" || action === "down") {
        checkUpDown(action, values, opts.direction, link);
        const record = await resolveLab(opts.lab);
        if (path === "") throw await unknownLinkError(record, link);
        await controlJson(record, path, {
          method: "POST",
          body: JSON.stringify({ up: action === "up" }),
        });
        return await out(`link ${escapeControl(link)} ${action}\n`);
      }
      if (action !== "set" && action !== "clear") {
        const extra = wordBeforeAction(link, action, values, opts.lab);
        if (extra !== null) throw extra;
        throw new VlabError(
          "bad-option",
          `Link action must be "up", "down", "set" or "clear", got ${quote(action)}`,
          { hint: `For example: vlab link ${showValue(link)} set delay=20ms loss=1%` },
        );
      }
      if (action === "set" && values.length === 0) {
        throw new VlabError("bad-impairment", "Nothing to set: give at least one KEY=VALUE", {
          hint: `For example: vlab link ${showValue(link)} set delay=20ms loss=1%`,
        });
      }
      if (action === "clear" && values.length > 0) {
        throw new VlabError("bad-option", "clear takes no values", {
          hint: `For example: vlab link ${showValue(link)} clear --direction forward`,
        });
      }
      const impair = impairmentWords(values, link);
      const record = await resolveLab(opts.lab);
      if (path === "") throw await unknownLinkError(record, link);
      const r = await controlJson<{ forward: Impairment; reverse: Impairment }>(record, path, {
        method: "POST",
        body: JSON.stringify({ impair, direction: opts.direction ?? "both" }),
      });
      await out(
        `link ${escapeControl(link)}: forward ${describeImpair(r.forward)}; reverse ${
          describeImpair(r.reverse)
        }\n`,
      );
    });
}

/**
 * `vlab link pair a-b down` (the lab's name, then the link): the link's place holds the lab, the
 * action's the link. A usage error that says so and shows the command with the link alone and with
 * the first word as `--lab`, or null when the word after the action's place is no action.
 *
 * @example
 * ```ts
 * import { wordBeforeAction } from "./lab_links.ts";
 * wordBeforeAction("pair", "a-b", ["down"], undefined)?.hint;
 * // "Give the link alone: vlab link a-b down (a lab's name goes in --lab: vlab link --lab pair a-b down)"
 * ```
 */
export function wordBeforeAction(
  link: string,
  action: string,
  values: readonly string[],
  lab: string | undefined,
): VlabError | null {
  if (!["up", "down", "set", "clear"].includes(values[0] ?? "")) return null;
  // Each word as a shell reads it back (quoted when it holds anything but plain characters).
  const word = (w: string) =>
    /^[\w@%+=:,./-]+$/.test(w) ? w : `'${escapeControl(w).replaceAll("'", `'\\''`)}'`;
  const fix = (words: readonly string[]) => `vlab link ${words.map(word).join(" ")}`;
  const labWords = lab !== undefined ? ["--lab", lab] : [];
  const alone = fix([...labWords, action, ...values]);
  return new VlabError(
    "bad-option",
    `Two words stand before the action, ${quote(link)} and ${quote(action)}: link takes one link`,
    {
      hint: `Give the link alone: ${alone}` +
        (lab === undefined
          ? ` (a lab's name goes in --lab: ${fix(["--lab", link, action, ...values])})`
          : ""),
    },
  );
}

/**
 * Split `vlab partition` words into the two sides: `a,b / c,d`, `a,b/c,d` or `a b / c` (blanks
 * around a comma allowed). A side with no VM, a missing or second slash, and an empty name
 * between commas (`a, / b`, `,a / b`, `a,,b / c`, which were read as if the comma were not there)
 * are `bad-partition` errors (exit 2) that say which.
 *
 * @example
 * ```ts
 * import { partitionSides } from "./lab_links.ts";
 * partitionSides(["a,b", "/", "c"]); // [["a", "b"], ["c"]]
 * // partitionSides(["a,", "/", "b"]) throws: … the first set "a," ends with a comma and no VM after it
 * ```
 */
export function partitionSides(words: readonly string[]): [string[], string[]] {
  const text = words.join(" ");
  const fail = (why: string) =>
    new VlabError("bad-partition", `Cannot read partition ${quote(text)}: ${why}`, {
      hint: "Write two comma-separated sets of VMs with a slash between: vlab partition a,b / c,d",
    });
  const sides = text.split("/");
  if (sides.length === 1) throw fail("it has no slash between the two sets of VMs");
  if (sides.length > 2) throw fail(`it has ${sides.length - 1} slashes; one goes between the sets`);
  const names = (side: string, which: string): string[] => {
    const items = side.trim().split(/\s*,\s*/);
    if (items.length === 1 && items[0] === "") throw fail(`the ${which} set names no VM`);
    const empty = items.indexOf("");
    if (empty !== -1) {
      const where = empty === 0
        ? "starts with a comma and no VM before it"
        : empty === items.length - 1
        ? "ends with a comma and no VM after it"
        : "has two commas and no VM between them";
      throw fail(`the ${which} set ${quote(side.trim())} ${where}`);
    }
    return items.flatMap((item) => item.split(/\s+/));
  };
  return [names(sides[0], "first"), names(sides[1], "second")];
}

/** `vlab partition A / B [--one-way]`. */
export function partitionCommand() {
  return new Command("partition")
    .description("cut every frame between two sets of VMs (also across switches): a,b / c,d")
    .argument("<sides...>", "the two sets of VMs, a slash between them")
    .option("--one-way", "cut only frames from the first set to the second")
    .option("--lab <name>", "the lab (default: the only running lab)")
    .action(async (words, opts) => {
      const [a, b] = partitionSides(words);
      const record = await resolveLab(opts.lab);
      const p = await controlJson<PartitionInfo>(record, "/partitions", {
        method: "POST",
        body: JSON.stringify({ a, b, oneWay: opts.oneWay === true }),
      });
      await out(
        `partition ${p.id}: ${p.a.join(",")} ${p.oneWay ? "→" : "⇹"} ${p.b.join(",")}\n`,
      );
    });
}

/** `vlab heal [ID]`. */
export function healCommand() {
  return new Command("heal")
    .description("remove every partition, or partition ID")
    .argument("[id]", "a partition id (see the output of vlab partition)")
    .option("--lab <name>", "the lab (default: the only running lab)")
    .action(async (id, opts) => {
      if (id !== undefined && !/^[1-9]\d{0,8}$/.test(id)) {
        throw new VlabError(
          "bad-option",
          `Partition id must be a positive integer, got ${quote(id)}`,
          {
            hint: "vlab heal 1 (or vlab heal for every partition)",
          },
        );
      }
      const record = await resolveLab(opts.lab);
      const r = await controlJson<{ healed: number[] }>(record, "/heal", {
        method: "POST",
        body: JSON.stringify(id === undefined ? {} : { id: Number(id) }),
      });
      await out(`${healedLine(r.healed)}\n`);
    });
}

/**
 * What `vlab heal` prints: the partitions it removed, by the ids `vlab partition` printed
 * (`partition 1: a ⇹ b`), so "healed 1" is not read as a count.
 *
 * @example
 * ```ts
 * import { healedLine } from "./lab_links.ts";
 * healedLine([1, 3]); // "healed partitions 1 and 3"
 * healedLine([]); // "no partition was in force: nothing to heal"
 * ```
 */
export function healedLine(ids: readonly number[]): string {
  if (ids.length === 0) return "no partition was in force: nothing to heal";
  if (ids.length === 1) return `healed partition ${ids[0]}`;
  return `healed partitions ${ids.slice(0, -1).join(", ")} and ${ids[ids.length - 1]}`;
}
