/**
 * The limits' errors as a user scaling a lab up reads them: each names the limit and a fix that
 * fits it (a VM with too many NICs needs a switch, not a smaller lab).
 */

import assert from "node:assert/strict";
import { checkCounts, TOPOLOGY_LIMITS } from "./limits.ts";
import { parseTopology } from "./load.ts";

const names = (n: number, prefix: string) =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, {}]));

Deno.test("a VM with 65 NICs is named, with the limit and a switch as the fix", () => {
  const nics = names(TOPOLOGY_LIMITS.nicsPerVm + 1, "e");
  const problems = checkCounts({ name: "x", vms: { a: { nics }, b: { nics: names(64, "e") } } });
  assert.equal(problems.length, 1);
  const [p] = problems;
  assert.equal(p.code, "too-many");
  assert.deepEqual(p.path, ["vms", "a", "nics"]);
  assert.equal(p.message, 'VM "a" has 65 NICs, more than the 64 a VM holds');
  assert.match(p.hint ?? "", /switch/);
  assert.doesNotMatch(p.hint ?? "", /split the lab/);
});

Deno.test("1025 VMs, 1025 switches, 4097 links: each names its limit; splitting the lab is the fix", () => {
  const links = Array.from({ length: TOPOLOGY_LIMITS.links + 1 }, () => ({}));
  const problems = checkCounts({
    name: "x",
    vms: names(TOPOLOGY_LIMITS.vms + 1, "v"),
    switches: names(TOPOLOGY_LIMITS.switches + 1, "s"),
    links,
  });
  assert.deepEqual(problems.map((p) => p.message), [
    "A lab holds at most 1024 VMs, got 1025",
    "A lab holds at most 1024 switches, got 1025",
    "A lab holds at most 4096 links, got 4097",
  ]);
  for (const p of problems) assert.match(p.hint ?? "", /^split the lab into smaller ones/);
  // At the limits exactly: nothing.
  assert.deepEqual(
    checkCounts({ name: "x", vms: names(1024, "v"), switches: names(1024, "s") }),
    [],
  );
});

Deno.test("1025 VMs in a file: the problem is at the `vms:` key, not at the first VM", () => {
  const vms = Array.from({ length: 1025 }, (_, i) => `  v${i}: {}`).join("\n");
  const r = parseTopology(`name: x\nvms:\n${vms}\n`, "big.yaml");
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((i) => [i.code, i.line, i.column]), [["too-many", 2, 1]]);
});
