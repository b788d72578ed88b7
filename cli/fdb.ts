/**
 * `vlab fdb [SWITCH]`: a switch's MAC table (its forwarding database, as `bridge fdb show` lists
 * a Linux bridge's): each station it learned, the port it was last seen on, the link and the
 * NIC behind that port, and how long ago. Without SWITCH, every switch of the lab.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { controlJson, namedPath, resolveLab } from "../lab/client.ts";
import { LabError } from "../lab/errors.ts";
import { quote } from "../devices/base/quote.ts";
import type { SwitchMacTable } from "../lab/switch_macs.ts";
import { count } from "../devices/base/plural.ts";
import { writeAll } from "./progress.ts";

const encoder = new TextEncoder();

async function out(text: string): Promise<void> {
  await writeAll(Deno.stdout, encoder.encode(text));
}

/**
 * One switch's table as text: a title line, then a row per station (or a line saying none).
 *
 * @example
 * ```ts
 * import { formatMacTable } from "./fdb.ts";
 * formatMacTable({ switch: "s1", agingMs: 300000, macs: [] });
 * // "switch s1: no station learned (entries age out after 300 s)\n"
 * ```
 */
export function formatMacTable(t: SwitchMacTable): string {
  const aging = `entries age out after ${Math.round(t.agingMs / 1000)} s`;
  if (t.macs.length === 0) return `switch ${t.switch}: no station learned (${aging})\n`;
  const rows = [
    ["MAC", "PORT", "LINK", "BEHIND", "AGE"],
    ...t.macs.map((
      m,
    ) => [m.mac, String(m.port), m.link, m.peer, `${(m.ageMs / 1000).toFixed(1)} s`]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = rows.map((r) =>
    "  " + r.map((cell, c) => c === r.length - 1 ? cell : cell.padEnd(widths[c])).join("  ")
  );
  return `switch ${t.switch}: ${count(t.macs.length, "station")} (${aging})\n` +
    lines.join("\n") + "\n";
}

/**
 * `vlab fdb star` reads `star` as a switch, where `vlab status star` and `vlab pingall star` read
 * a lab: when the unknown switch is the lab's own name, the hint says so and how to ask; any
 * other error is returned as it is.
 *
 * @example
 * ```ts
 * import { LabError } from "../lab/errors.ts";
 * import { labNamedAsSwitch } from "./fdb.ts";
 * const e = new LabError("unknown-switch", 'The lab has no switch "star"', "Switches: sw1");
 * (labNamedAsSwitch(e, "star", "star") as LabError).hint;
 * // '"star" is the lab, not one of its switches: `vlab fdb` shows every switch of it (Switches: sw1)'
 * ```
 */
export function labNamedAsSwitch(e: unknown, name: string, lab: string): unknown {
  if (!(e instanceof LabError) || e.code !== "unknown-switch" || name !== lab) return e;
  return new LabError(
    "unknown-switch",
    e.message,
    `${quote(name)} is the lab, not one of its switches: \`vlab fdb\` shows every switch of it ` +
      `(${e.hint})`,
  );
}

/** The `fdb` command. */
export function fdbCommand() {
  return new Command("fdb")
    .description("show a switch's MAC table (every switch without SWITCH)")
    .argument("[switch]", "a switch of the lab")
    .option("--lab <name>", "the lab (default: the only running lab)")
    .option("--json", "print the table(s) as JSON")
    .action(async (name, opts) => {
      const record = await resolveLab(opts.lab);
      const path = name === undefined ? null : namedPath("/switches", name);
      if (name !== undefined && path === null) {
        // "", "." or "..": no switch's name, and no path to ask for it; the lab's are listed.
        const all = (await controlJson<SwitchMacTable[]>(record, "/switches")).map((t) => t.switch);
        throw new LabError(
          "unknown-switch",
          `The lab has no switch ${quote(name)}`,
          all.length > 0 ? `Switches: ${all.join(", ")}` : "This lab has no switch",
        );
      }
      const tables = path === null ? await controlJson<SwitchMacTable[]>(record, "/switches") : [
        await controlJson<SwitchMacTable>(record, path).catch((e: unknown) => {
          throw labNamedAsSwitch(e, name!, record.name);
        }),
      ];
      if (opts.json) {
        await out(JSON.stringify(name === undefined ? tables : tables[0], null, 2) + "\n");
      } else if (tables.length === 0) await out("the lab has no switch\n");
      else await out(tables.map(formatMacTable).join("\n"));
    });
}
