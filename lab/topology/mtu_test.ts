import assert from "node:assert/strict";
import { parseTopology } from "./mod.ts";
import { mtuMismatches } from "./mtu.ts";
import { topologyWarnings } from "./warnings.ts";

const YAML = `name: t
vms:
  a: { nics: { eth0: { ip: 10.0.0.1/24, mtu: 9000 } } }
  b: { nics: { eth0: { ip: 10.0.0.2/24, mtu: 1500 } } }
  c: { nics: { eth0: { ip: 10.0.0.3/24 } } }
  d: { nics: { eth0: { ip: 10.0.1.1/24, mtu: 9000 } } }
  e: { nics: { eth0: { ip: 10.0.1.2/24 } } }
switches:
  s1: {}
  s2: {}
links:
  - endpoints: [a, s1]
  - endpoints: [s1, s2]
  - endpoints: [b, s2]
  - endpoints: [c, s2]
`;

Deno.test("vlab validate warns about each NIC whose mtu differs on its L2 segment, across switches, located", () => {
  const t = parseTopology(YAML, "t.yaml");
  assert.ok(t.ok);
  const warnings = topologyWarnings(YAML, t.value);
  assert.deepEqual(
    warnings.map((w) => [w.code, w.path, w.line, w.column]),
    [
      ["mtu-mismatch", "vms.b.nics.eth0", 4, 46], // at its mtu key
      ["mtu-mismatch", "vms.c.nics.eth0", 5, 22], // no mtu key (the default 1500): at the NIC
    ],
  );
  assert.equal(
    warnings[0].message,
    'NIC "b:eth0" has mtu 1500 but shares an L2 segment with NIC "a:eth0" (mtu 9000)',
  );
  assert.match(warnings[0].hint ?? "", /too big/);
});

Deno.test("NICs with one mtu on a segment, or different mtus on segments apart, are no mismatch", () => {
  const same = YAML.replace("mtu: 9000 } } }\n  b", "mtu: 1500 } } }\n  b");
  const t = parseTopology(same, "t.yaml");
  assert.ok(t.ok);
  assert.deepEqual(mtuMismatches(t.value), [], "d (9000) and e (1500) are not linked");
  for (const name of ["pair", "star", "two-switches", "split-vs-packed", "vhost-pci"]) {
    const text = Deno.readTextFileSync(new URL(`../../topologies/${name}.yaml`, import.meta.url));
    const s = parseTopology(text, `${name}.yaml`);
    assert.ok(s.ok, name);
    assert.deepEqual(mtuMismatches(s.value), [], name);
  }
});
