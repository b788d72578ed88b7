import assert from "node:assert/strict";
import { parseTopology } from "./mod.ts";
import { topologyWarnings } from "./warnings.ts";

const YAML = `name: t
vms:
  a:
    iommu: { mode: strict }
    nics:
      eth0: { ip: 10.0.0.1/24 }
  b:
    iommu: { mode: static }
    nics:
      eth0: { ip: 10.0.0.2/24, iommu: true }
  c:
    iommu: { mode: lazy }
    vsock: { cid: 3 }
links:
  - endpoints: [a:eth0, b:eth0]
`;

Deno.test("vlab validate warns about a vIOMMU no NIC is behind, at its iommu key", () => {
  const t = parseTopology(YAML, "t.yaml");
  assert.ok(t.ok, JSON.stringify(t));
  const warnings = topologyWarnings(YAML, t.value);
  assert.deepEqual(
    warnings.map((w) => [w.code, w.path, w.line, w.column]),
    [
      ["iommu-unused", "vms.a.iommu", 4, 12],
      ["iommu-unused", "vms.c.iommu", 12, 12], // a vsock device is never behind it
    ],
  );
  assert.equal(warnings[0].message, 'vIOMMU on VM "a" translates for no device');
  assert.equal(
    warnings[0].hint,
    'add iommu: true to a NIC of "a" (vms.a.nics.eth0), or remove vms.a.iommu',
  );
  assert.equal(warnings[1].hint, 'add a NIC with iommu: true to "c", or remove vms.c.iommu');
});

Deno.test("a vIOMMU with a NIC behind it (a vhost-pci frontend too) is no warning", () => {
  const yaml = Deno.readTextFileSync(new URL("../../topologies/vhost-pci.yaml", import.meta.url));
  for (
    const text of [
      yaml,
      YAML.replace("eth0: { ip: 10.0.0.1/24 }", "eth0: { ip: 10.0.0.1/24, iommu: true }"),
    ]
  ) {
    const t = parseTopology(text, "t.yaml");
    assert.ok(t.ok, JSON.stringify(t));
    const codes = topologyWarnings(text, t.value).map((w) => `${w.code} ${w.path}`);
    assert.ok(!codes.includes("iommu-unused vms.a.iommu"), codes.join(", "));
  }
});
