/**
 * What an editor shows of a key (the JSON Schema's description, on hover and in completion)
 * says what docs/topology.md says of it: each key's default as the docs' tables give it, and the
 * rules the docs state beside it.
 */

import assert from "node:assert/strict";
import { topologyJsonSchema } from "./mod.ts";

const DOC = Deno.readTextFileSync(new URL("../../docs/topology.md", import.meta.url));

/**
 * The docs' key tables by the heading above them, each with a key only objects of its kind have
 * (a VM's `nics`, a NIC's `mac`, …): `name` of the lab and `name` of a link are told apart so.
 */
const SECTIONS: readonly [heading: string, marker: string][] = [
  ["### Top level", "vms"],
  ["### VM", "nics"],
  ["### NIC", "mac"],
  ["### Switch", "ports_max"],
  ["### Link", "endpoints"],
  ["### Impairment keys", "gap"],
];

/** The descriptions of `key` in every object of the JSON Schema that has `marker` too. */
function descriptionsOf(key: string, marker: string): string[] {
  const out: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node === null || typeof node !== "object") return;
    const props = (node as { properties?: Record<string, { description?: string }> }).properties;
    if (props !== undefined && Object.hasOwn(props, marker) && Object.hasOwn(props, key)) {
      out.push(props[key].description ?? `(no description of ${key})`);
    }
    Object.values(node).forEach(walk);
  };
  walk(topologyJsonSchema());
  return out;
}

/** `[marker, key, default]` of the docs' key tables (a default written in backticks). */
function documentedDefaults(): [string, string, string][] {
  const out: [string, string, string][] = [];
  let marker: string | undefined;
  let defaultColumn = -1;
  for (const line of DOC.split("\n")) {
    if (line.startsWith("#")) marker = SECTIONS.find(([h]) => line.startsWith(h))?.[1];
    if (!line.startsWith("|")) {
      defaultColumn = -1;
      continue;
    }
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    if (cells[0] === "key") {
      defaultColumn = cells.indexOf("default");
      continue;
    }
    if (defaultColumn < 0 || marker === undefined) continue;
    const key = /^`([a-z_]+)`$/.exec(cells[0])?.[1];
    const dflt = /^`([^`]+)`/.exec(cells[defaultColumn] ?? "")?.[1];
    if (key !== undefined && dflt !== undefined) out.push([marker, key, dflt]);
  }
  return out;
}

Deno.test("every key's description in the JSON Schema gives the default docs/topology.md gives", () => {
  const defaults = documentedDefaults();
  assert.ok(defaults.length >= 25, `only ${defaults.length} defaults read from the docs' tables`);
  const wrong: string[] = [];
  for (const [marker, key, dflt] of defaults) {
    const found = descriptionsOf(key, marker);
    if (found.length === 0) wrong.push(`${key}: not in the schema beside ${marker}`);
    for (const d of found) {
      if (!d.includes(`default ${dflt}`)) wrong.push(`${key}: docs say ${dflt}; schema: ${d}`);
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("the schema's descriptions state the rules the docs give beside a key", () => {
  const all = (key: string, marker: string) => descriptionsOf(key, marker).join(" | ");
  // A distribution without a jitter is refused (distribution-without-jitter), as reorder's delay;
  // so is one without a delay (distribution-without-delay: tc refuses it).
  assert.match(all("distribution", "gap"), /needs jitter > 0 and delay > 0/);
  assert.match(all("reorder", "gap"), /needs delay > 0/);
  // defaults.link does not reach a vhost-pci link or a link to a vsock router.
  assert.match(all("link", "vm"), /vhost-pci links and links to a vsock router none/);
  // A vsock link's endpoints are VMs (or a router), and its default name ends in -vsock.
  assert.match(all("endpoints", "kind") + all("name", "kind"), /-vsock/);
  // A seed in another notation than decimal digits (0x10, 1e3) is refused (seed-notation), which
  // no JSON Schema can check: a number's notation is gone once it is parsed.
  assert.match(all("seed", "vms"), /in decimal digits .*seed-notation/);
});
