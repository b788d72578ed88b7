/**
 * `vlab graph`: draw a topology file, a shipped topology or a running lab as Graphviz dot,
 * Mermaid or JSON (`lab/graph.ts` renders; this file finds what to draw).
 *
 * What the argument names, in this order: a path (it holds "/" or ".y") is a topology file, or
 * a drill file, whose lab is drawn; a bare name is a running lab of that name if one runs (then links show up or DOWN), otherwise a
 * shipped topology; no argument is the only running lab, or the shipped `pair` when none runs
 * (said on stderr); with several running, the user is asked to name one, as every lab command does.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { count } from "../devices/base/plural.ts";
import { formatDrillIssues, loadDrillFile } from "../lab/drill/load.ts";
import { DRILL_FILE, readInput } from "../lab/drill/input.ts";
import { controlJson, resolveLab } from "../lab/client.ts";
import {
  GRAPH_FORMATS,
  type GraphFormat,
  graphFromStatus,
  graphFromTopology,
  type LabGraph,
  renderGraph,
} from "../lab/graph.ts";
import type { LabStatus } from "../lab/metrics.ts";
import { findLabs, type LabRecord } from "../lab/state.ts";
import { shippedTopologies } from "../lab/topology/mod.ts";
import { textFileKind } from "../lab/topology/text_kind.ts";
import type { Topology } from "../lab/topology/types.ts";
import { closestName, didYouMean } from "../lab/topology/issues.ts";
import { escapeControl, quote } from "../devices/base/quote.ts";
import { VlabError } from "./errors.ts";
import { loadOrFail } from "./lab.ts";
import { writeAll } from "./progress.ts";

const encoder = new TextEncoder();

/**
 * The `vlab graph` command.
 *
 * @example
 * ```ts ignore
 * import { graphCommand } from "./graph.ts";
 * program.addCommand(graphCommand());
 * ```
 */
export function graphCommand(): Command {
  return new Command("graph")
    .description("draw a topology or a running lab as Graphviz dot, Mermaid or JSON")
    .argument(
      "[topology]",
      "a YAML file, a running lab's name or a shipped topology (default: the only running lab; pair when none runs)",
    )
    .option("-f, --format <format>", `output format: ${GRAPH_FORMATS.join(", ")}`, "dot")
    .addHelpText(
      "after",
      "\nExamples:\n  vlab graph star | dot -Tsvg > star.svg\n  vlab graph --format mermaid\n" +
        "  vlab graph lab.yaml --format json\n",
    )
    .action(async (arg, opts) => {
      const format = parseFormat(opts.format, arg);
      const graph = await graphOf(arg);
      await writeAll(Deno.stdout, encoder.encode(renderGraph(graph, format)));
    }) as unknown as Command;
}

/** Picture formats Graphviz draws from `--format dot`. */
const GRAPHVIZ_OUTPUTS = ["svg", "png", "pdf", "jpg", "jpeg", "gif", "ps", "eps"];

/** Check `--format`: an image format is Graphviz's to draw, a typo gets a did-you-mean. */
function parseFormat(text: string, arg: string | undefined): GraphFormat {
  const found = GRAPH_FORMATS.find((f) => f === text);
  if (found !== undefined) return found;
  const image = text.toLowerCase();
  const close = didYouMean(text, GRAPH_FORMATS);
  throw new VlabError("bad-option", `Cannot draw a graph: unknown --format ${quote(text)}`, {
    hint: GRAPHVIZ_OUTPUTS.includes(image)
      ? `Graphviz draws ${image.toUpperCase()} from the default dot format: vlab graph${
        arg === undefined ? "" : ` ${quoteArg(arg)}`
      } | dot -T${image} > lab.${image}`
      : `${close?.startsWith("did you mean") ? `D${close.slice(1)} ` : ""}Use one of ${
        GRAPH_FORMATS.join(", ")
      }`,
  });
}

/** The graph the argument names (see the module comment). */
async function graphOf(arg: string | undefined): Promise<LabGraph> {
  // `-` is no name: the topology loader refuses it as `vlab up -` does (stdin is no topology).
  if (arg === "-") return graphFromTopology(await loadOrFail(arg));
  const isPath = arg !== undefined && (arg.includes("/") || arg.includes(".y"));
  if (!isPath) {
    const running = (await findLabs({ clean: true })).flatMap((l) =>
      l.status === "running" ? [l.record] : []
    );
    if (arg === undefined && running.length === 0) {
      // The documented fallback, said: a drawing of `pair` is not taken for a running lab's.
      await writeAll(
        Deno.stderr,
        encoder.encode("no lab is running: drawing the shipped topology pair\n"),
      );
    } else if (arg === undefined) {
      // The only running lab; with several, the same "say which one" as every lab command,
      // never a drawing of `pair` that is none of them.
      const record = await resolveLab(undefined, "the lab name (`vlab graph NAME`)");
      return graphFromStatus(await controlJson<LabStatus>(record, "/lab"));
    }
    const live: LabRecord | undefined = running.find((r) => r.name === arg);
    if (live !== undefined) return graphFromStatus(await controlJson<LabStatus>(live, "/lab"));
    if (arg !== undefined && !shippedTopologies().includes(arg) && !(await exists(arg))) {
      const labs = running.length > 0
        ? `running labs: ${running.map((r) => r.name).join(", ")}`
        : "no lab is running";
      // A typo of a running lab's or a shipped topology's name says which it was close to.
      const close = closestName(arg, [...running.map((r) => r.name), ...shippedTopologies()]);
      throw new VlabError(
        "no-lab",
        `Cannot draw ${quote(arg)}: no running lab, shipped topology or file has that name`,
        {
          hint: `${close === undefined ? "" : `did you mean \`${close}\`? `}${labs}; ` +
            `shipped topologies: ${shippedTopologies().join(", ")}`,
        },
      );
    }
  }
  // A drill file draws the lab it runs on (its topology, inline or named), not a list of the
  // drill's keys a topology does not have.
  if (isPath) {
    const drill = await drillTopology(arg);
    if (drill !== null) return graphFromTopology(drill);
  }
  return graphFromTopology(await loadOrFail(arg));
}

/**
 * The topology of the drill file at `path`, or null when it is no drill (`textFileKind`: the kind
 * every loader tells files apart by) or cannot be read (the topology loader then says why). A drill that does not
 * validate is printed, every problem, as `vlab drill run` prints it.
 */
async function drillTopology(path: string): Promise<Topology | null> {
  const text = await readInput(path, DRILL_FILE);
  // Its keys as written: a drill with a duplicate key or an alias to nothing is a drill whose
  // problems the drill loader prints, not a topology's.
  if (!text.ok || textFileKind(text.value) !== "drill") return null;
  const r = await loadDrillFile(path);
  if (r.ok) return r.value.topology;
  await writeAll(Deno.stderr, encoder.encode(formatDrillIssues(r.error) + "\n"));
  throw new VlabError(
    "drill-invalid",
    `Cannot draw drill ${quote(path)}: ${count(r.error.length, "problem")} (above)`,
    { hint: `Fix ${r.error.length === 1 ? "it" : "them"}; docs/drills.md describes the format` },
  );
}

/**
 * An argument as a shell would take it back: bare when plain, else in single quotes; a path
 * that starts with `-` as `./-…`, which vlab does not take for an option.
 */
function quoteArg(arg: string): string {
  const path = arg.startsWith("-") ? `./${arg}` : arg;
  return /^[A-Za-z0-9_./:-]+$/.test(path)
    ? path
    : `'${escapeControl(path).replace(/'/g, "'\\''")}'`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
