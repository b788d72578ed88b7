/**
 * The editors' JSON Schema checks what `vlab validate` checks of a single value with a unit, an
 * IP or a MAC, and never refuses what it accepts: its patterns take exactly the strings the
 * parsers can read (their ranges aside), and its bounds on bare numbers are the parsers'.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { parseDuration, parsePercent, parsePercentList, parseRate, parseSize } from "./units.ts";
import { parseCidr, parseMac } from "./addresses.ts";
import { topologyJsonSchema } from "./mod.ts";
import { parseTopology } from "./load.ts";

const RUNS = Number(Deno.env.get("VLAB_FUZZ_RUNS") ?? "") || 2000;
/** Fixed by default so CI is repeatable; fast-check prints the seed of a failing run. */
const SEED = Number(Deno.env.get("VLAB_FUZZ_SEED") ?? "") || 0x5c4e;

type Json = Record<string, unknown>;

/** Every schema node of a property named `key`, anywhere in the JSON Schema. */
function nodesOf(schema: unknown, key: string, out: Json[] = []): Json[] {
  if (Array.isArray(schema)) {
    for (const s of schema) nodesOf(s, key, out);
  } else if (schema !== null && typeof schema === "object") {
    const props = (schema as Json).properties as Json | undefined;
    if (props !== undefined && Object.hasOwn(props, key)) out.push(props[key] as Json);
    for (const v of Object.values(schema)) nodesOf(v, key, out);
  }
  return out;
}

/** The one schema node every property named `key` has (they are generated from one zod schema). */
function nodeOf(key: string): Json {
  const nodes = nodesOf(topologyJsonSchema(), key);
  assert.ok(nodes.length > 0, `no property ${key} in the schema`);
  for (const n of nodes) assert.deepEqual(n, nodes[0], `every ${key} has the same schema`);
  return nodes[0];
}

/** Whether a JSON Schema node of a string-or-number value accepts `v` (the keywords it uses). */
function accepts(node: Json, v: string | number): boolean {
  if (typeof v === "string") {
    if (typeof node.maxLength === "number" && [...v].length > node.maxLength) return false;
    return new RegExp(node.pattern as string, "u").test(v);
  }
  if (typeof node.minimum === "number" && v < node.minimum) return false;
  if (typeof node.maximum === "number" && v > node.maximum) return false;
  return typeof node.multipleOf !== "number" || v % node.multipleOf === 0;
}

/** Strings built from the pieces unit values are made of (at most 24 digits, as the parsers). */
const unitText = fc.array(
  fc.constantFrom(
    ..."0123456789".split(""),
    ".",
    " ",
    ",",
    "%",
    "-",
    "\t",
    "B",
    "KiB",
    "MiB",
    "GiB",
    "MB",
    "us",
    "µs",
    "ms",
    "s",
    "m",
    "bit",
    "kbit",
    "mbit",
    "gbit",
    "Mbit",
    "bps",
    "e",
    "x",
  ),
  { maxLength: 10 },
).map((parts) => parts.join(""));

const EDGES = [
  "",
  " ",
  "0",
  " 0",
  "0 ",
  "00",
  "0.",
  ".5",
  "1.",
  "1.5",
  "1e3",
  "-1",
  "+1",
  "16MiB",
  " 16 MiB ",
  "16mib",
  "16MB",
  "1.5MiB",
  "1.0001KiB",
  "1.5",
  "1.5B",
  "16 B",
  "10ms",
  "250µs",
  "250 us",
  "1s",
  "1m",
  "0ms",
  "1%",
  "0.5%",
  "1 %",
  "100%",
  "150%",
  "%",
  "100mbit",
  "0mbit",
  "100mbps",
  "100Mbit",
  "1% 30%",
  ",1%,",
  "1% 30% 5% 10% 0.1%",
  "1% 30% 5% 10% 0.1% 1%",
  "1%  ,  2%",
  "1 % 2%",
];

/**
 * Whether `parse` could read the spelling of `text`: it did, or refused it for its range or (a
 * size in KiB, MiB or GiB) for a fraction that does not come to whole bytes, which no pattern
 * can tell.
 */
function readable(
  text: string,
  r: { ok: true } | { ok: false; error: { kind: string; expected?: string } },
): boolean {
  if (r.ok || r.error.kind === "out-of-range") return true;
  return r.error.expected === "a whole number of bytes" && /[KMG]iB/.test(text);
}

const UNIT_KEYS = [
  { key: "memory", parse: parseSize },
  { key: "delay", parse: parseDuration },
  { key: "jitter", parse: parseDuration },
  { key: "tx_timeout", parse: parseDuration },
  { key: "loss", parse: parsePercent },
  { key: "reorder_correlation", parse: parsePercent },
  { key: "rate", parse: parseRate },
  { key: "loss_state", parse: (v: string | number) => parsePercentList(v, 5) },
  { key: "loss_gemodel", parse: (v: string | number) => parsePercentList(v, 4) },
] as const;

for (const { key, parse } of UNIT_KEYS) {
  Deno.test(`the schema's pattern for ${key} takes exactly the strings its parser reads`, () => {
    const node = nodeOf(key);
    const check = (text: string) =>
      assert.equal(
        accepts(node, text),
        readable(text, parse(text)),
        `${key}: ${JSON.stringify(text)}`,
      );
    for (const text of EDGES) check(text);
    fc.assert(fc.property(unitText, (text) => check(text)), { numRuns: RUNS, seed: SEED });
  });
}

Deno.test("the schema's bounds on a bare number are the loader's (memory, durations, rates, %)", () => {
  const numbers = [
    0,
    -0,
    1,
    -1,
    0.5,
    100,
    100.5,
    4096,
    2 ** 20,
    2 ** 20 + 1,
    2 ** 31,
    2 ** 31 + 4096,
  ];
  const memory = nodeOf("memory");
  for (const n of numbers) {
    const r = parseTopology(`name: t\nvms:\n  a: { memory: ${n} }\n`, "t.yaml");
    assert.equal(accepts(memory, n), r.ok, `memory: ${n}`);
  }
  for (const { key, parse } of UNIT_KEYS.filter((k) => k.key !== "memory")) {
    for (const n of numbers) assert.equal(accepts(nodeOf(key), n), parse(n).ok, `${key}: ${n}`);
  }
});

Deno.test("the schema's ip and mac patterns take what the parsers take", () => {
  const ips = [
    "10.0.0.1/24",
    " 10.0.0.1/24 ",
    "255.255.255.254/32",
    "010.0.0.1/24",
    "10.0.0.1/08",
    "10.0.0.1/0",
    "10.0.0.1/00",
    "10.0.0.1/33",
    "10.0.0.1/024",
    "256.0.0.1/24",
    "1000.0.0.1/24",
    "10.0.0.1",
    "10.0.0/24",
    "",
  ];
  const ip = nodeOf("ip");
  for (const text of ips) assert.equal(accepts(ip, text), parseCidr(text).ok, `ip ${text}`);
  const octet = fc.oneof(fc.nat(300).map(String), fc.constantFrom("", "00", "000", "0001", "x"));
  fc.assert(
    fc.property(fc.array(octet, { minLength: 4, maxLength: 4 }), octet, (parts, prefix) => {
      const text = `${parts.join(".")}/${prefix}`;
      assert.equal(accepts(ip, text), parseCidr(text).ok, text);
    }),
    { numRuns: RUNS, seed: SEED },
  );
  const mac = nodeOf("mac");
  const macs = ["02:00:00:00:00:01", "02:AB:cd:00:00:01", "01:00:00:00:00:01", "ff:ff:ff:ff:ff:ff"];
  for (const text of [...macs, "02:00:00:00:00:0", "02-00-00-00-00-01", " 02:00:00:00:00:01"]) {
    const r = parseMac(text);
    assert.equal(accepts(mac, text), r.ok || r.error.kind === "zero", `mac ${text}`);
  }
});
